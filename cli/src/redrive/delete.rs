//! Deleting moved messages from the DLQ: batch calls of at most ten receipt
//! handles, retryable failures resent.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use orderflow_aws::error::{classify, failed_entries};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::publish::{MAX_BATCH_ENTRIES, RetryPolicy};

const OP: &str = "DeleteMessageBatch";

/// Deletes received messages (by receipt handle) in batch calls, resending
/// retryable failures; one result per message, in order.
pub(super) async fn delete_all(
    client: &Client,
    dlq_url: &str,
    messages: &[(String, String)],
    policy: &RetryPolicy,
) -> Vec<Result<(), PortError>> {
    let mut results: Vec<Result<(), PortError>> = vec![Ok(()); messages.len()];
    for (chunk, chunk_results) in messages
        .chunks(MAX_BATCH_ENTRIES)
        .zip(results.chunks_mut(MAX_BATCH_ENTRIES))
    {
        delete_chunk(client, dlq_url, chunk, policy, chunk_results).await;
    }
    results
}

/// Deletes one call's worth of messages, with retries of what failed
/// retryably; `results` has one slot per message of `chunk`.
async fn delete_chunk(
    client: &Client,
    dlq_url: &str,
    chunk: &[(String, String)],
    policy: &RetryPolicy,
    results: &mut [Result<(), PortError>],
) {
    let mut pending: Vec<usize> = (0..chunk.len()).collect();
    for attempt in 1..=policy.attempts.max(1) {
        if attempt > 1 {
            tokio::time::sleep(policy.delay(attempt - 1)).await;
        }
        let entries = entries(chunk, &mut pending, results);
        if entries.is_empty() {
            break;
        }
        let failed = failed_deletes(client, dlq_url, entries, &pending).await;
        let mut again = Vec::new();
        for &i in &pending {
            match failed.get(&i.to_string()) {
                None => results[i] = Ok(()),
                Some(error) => {
                    if error.retryable() {
                        again.push(i);
                    }
                    results[i] = Err(error.clone());
                }
            }
        }
        if again.is_empty() {
            break;
        }
        pending = again;
    }
}

/// The delete entries of the `pending` messages of `chunk`, each with its
/// index as ID. A message without a valid entry gets its error in `results`
/// and leaves `pending`.
fn entries(
    chunk: &[(String, String)],
    pending: &mut Vec<usize>,
    results: &mut [Result<(), PortError>],
) -> Vec<DeleteMessageBatchRequestEntry> {
    let mut entries = Vec::with_capacity(pending.len());
    pending.retain(|&i| {
        match DeleteMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .receipt_handle(&chunk[i].1)
            .build()
        {
            Ok(entry) => {
                entries.push(entry);
                true
            }
            Err(e) => {
                results[i] = Err(PortError::new(PortErrorKind::Rejected, OP, e.to_string()));
                false
            }
        }
    });
    entries
}

/// Sends one delete call; the failed entries' errors by entry ID (every
/// pending one when the whole call failed).
async fn failed_deletes(
    client: &Client,
    dlq_url: &str,
    entries: Vec<DeleteMessageBatchRequestEntry>,
    pending: &[usize],
) -> HashMap<String, PortError> {
    match client
        .delete_message_batch()
        .queue_url(dlq_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(output) => failed_entries(OP, output.failed()),
        Err(e) => {
            let error = classify(OP, e);
            pending.iter().map(|i| (i.to_string(), error.clone())).collect()
        }
    }
}
