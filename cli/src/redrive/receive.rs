//! The receive, send, delete path: receive from the DLQ, send to the target,
//! delete from the DLQ only what was sent (see [the redrive documentation](super)).

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName};
use orderflow_aws::error::classify;
use orderflow_batch::error::PortError;
use orderflow_batch::publish::MAX_BATCH_ENTRIES;
use orderflow_batch::queue_url::is_fifo;

use super::delete::delete_all;
use super::report::RedriveReport;
use super::send::send_all;
use super::spec::RedriveSpec;

/// The state of a receive-path run.
#[derive(Default)]
struct Progress {
    /// Sent but not deleted: message ID to its latest receipt handle.
    undeleted: HashMap<String, String>,
    /// Not sent: message ID to its latest receipt handle.
    unsent: HashMap<String, String>,
}

/// Moves messages from `dlq_url` to `target_url` until two receives in a row
/// come back empty (or `spec.max` were received, or a receive or a whole send
/// fails), counting them in `report`. What could not be sent is made visible
/// in the DLQ again at the end.
pub(super) async fn receive_send_delete(
    client: &Client,
    dlq_url: &str,
    target_url: &str,
    spec: &RedriveSpec,
    report: &mut RedriveReport,
) {
    let fifo_target = is_fifo(target_url);
    let mut state = Progress::default();
    let mut empty_receives = 0;
    while empty_receives < 2 {
        let wanted = match spec.max {
            Some(max) if report.received >= max => break,
            Some(max) => (max - report.received).min(MAX_BATCH_ENTRIES as u64) as i32,
            None => MAX_BATCH_ENTRIES as i32,
        };
        let messages = match receive(client, dlq_url, wanted, spec).await {
            Ok(messages) => messages,
            Err(error) => {
                report.stopped_by = Some(error.to_string());
                break;
            }
        };
        if messages.is_empty() {
            empty_receives += 1;
            continue;
        }
        empty_receives = 0;
        if let Err(stop) = move_received(
            client,
            target_url,
            fifo_target,
            messages,
            spec,
            report,
            &mut state,
        )
        .await
        {
            report.stopped_by = Some(stop.to_string());
            break;
        }
    }
    // What could not be sent is visible in the DLQ again at once, for the next try.
    let unsent: Vec<String> = state.unsent.values().cloned().collect();
    make_visible_now(client, dlq_url, &unsent).await;
    report.failed_to_send = state.unsent.len() as u64;
    report.failed_to_delete = state.undeleted.len() as u64;
}

/// Up to `wanted` messages of the DLQ, with their attributes and message group.
async fn receive(
    client: &Client,
    dlq_url: &str,
    wanted: i32,
    spec: &RedriveSpec,
) -> Result<Vec<Message>, PortError> {
    let output = client
        .receive_message()
        .queue_url(dlq_url)
        .max_number_of_messages(wanted)
        .wait_time_seconds(spec.wait_seconds)
        .visibility_timeout(spec.visibility_timeout)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .map_err(|e| classify("ReceiveMessage", e))?;
    Ok(output.messages.unwrap_or_default())
}

/// Makes received messages (by receipt handle) visible in the DLQ at once;
/// those it fails on stay hidden until their visibility timeout.
async fn make_visible_now(client: &Client, dlq_url: &str, receipt_handles: &[String]) {
    for chunk in receipt_handles.chunks(MAX_BATCH_ENTRIES) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        let reset = client
            .change_message_visibility_batch()
            .queue_url(dlq_url)
            .set_entries(Some(entries))
            .send()
            .await;
        if let Err(e) = reset {
            tracing::warn!(error = %classify("ChangeMessageVisibilityBatch", e), "unsent messages stay hidden until their visibility timeout");
        }
    }
}

/// Sends one receive's messages to the target and deletes the sent ones from
/// the DLQ. `Err` when nothing of it could be sent: the target is unusable,
/// and going on would only cycle the same messages.
async fn move_received(
    client: &Client,
    target_url: &str,
    fifo_target: bool,
    messages: Vec<Message>,
    spec: &RedriveSpec,
    report: &mut RedriveReport,
    state: &mut Progress,
) -> Result<(), PortError> {
    let mut to_send = Vec::with_capacity(messages.len());
    let mut to_delete = Vec::with_capacity(messages.len());
    for message in messages {
        let (Some(id), Some(handle)) = (message.message_id(), message.receipt_handle()) else {
            continue;
        };
        let (id, handle) = (id.to_owned(), handle.to_owned());
        if state.undeleted.contains_key(&id) {
            // Already in the target: only the delete is left to do.
            to_delete.push((id, handle));
        } else {
            if !state.unsent.contains_key(&id) {
                report.received += 1;
            }
            to_send.push((id, handle, message));
        }
    }
    let results = send_all(client, target_url, fifo_target, &to_send, &spec.retry).await;
    let mut first_error = None;
    let mut sent_any = to_send.is_empty();
    for ((id, handle, _), result) in to_send.into_iter().zip(results) {
        match result {
            Ok(()) => {
                sent_any = true;
                state.unsent.remove(&id);
                report.moved += 1;
                to_delete.push((id, handle));
            }
            Err(e) => {
                first_error.get_or_insert(e);
                state.unsent.insert(id, handle);
            }
        }
    }
    let deletes = delete_all(client, &report.dlq_url, &to_delete, &spec.retry).await;
    for ((id, handle), result) in to_delete.into_iter().zip(deletes) {
        match result {
            Ok(()) => {
                state.undeleted.remove(&id);
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "sent to the target but not deleted from the DLQ");
                state.undeleted.insert(id, handle);
            }
        }
    }
    match first_error {
        Some(error) if !sent_any => Err(error),
        _ => Ok(()),
    }
}
