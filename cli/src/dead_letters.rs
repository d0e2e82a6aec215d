//! Reading a queue's messages without consuming them: each is received once
//! (hidden while the reading goes on, so none is read twice), then made
//! visible again at once. What `orderflow run` counts its DLQs with, and
//! what `orderflow dlq inspect` reads.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::{MessageQueue, QueueConsumer, VisibilityChange};
use orderflow_batch::publish::change_visibility;

/// How long reading hides each message it received; far longer than reading takes.
pub const READING_VISIBILITY: Duration = Duration::from_secs(600);

/// Every message of `url`, each once, left in the queue and visible again;
/// also how many could not be made visible again (they come back after
/// [`READING_VISIBILITY`]). An error only when the first receive fails.
pub async fn read_without_consuming(
    consumer: &dyn QueueConsumer,
    queue: &dyn MessageQueue,
    url: &str,
) -> Result<(Vec<SqsMessage>, usize), PortError> {
    let all = receive_each_once(consumer, url).await?;
    let still_hidden = make_visible_again(queue, url, &all).await;
    Ok((all, still_hidden))
}

/// Receives until the queue answers empty twice in a row; a message received
/// again (reading outlasted its visibility) counts once, by its newer receipt.
async fn receive_each_once(consumer: &dyn QueueConsumer, url: &str) -> Result<Vec<SqsMessage>, PortError> {
    let mut all: Vec<SqsMessage> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut empty = 0;
    while empty < 2 {
        let batch = match consumer
            .receive(url, 10, Duration::from_secs(1), Some(READING_VISIBILITY))
            .await
        {
            Ok(batch) => batch,
            Err(e) if all.is_empty() && empty == 0 => return Err(e),
            Err(e) => {
                tracing::warn!(queue = url, error = %e, "stopped reading a queue midway");
                break;
            }
        };
        if batch.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for message in batch {
            match message.message_id.clone().and_then(|id| by_id.get(&id).copied()) {
                Some(seen) => all[seen] = message,
                None => {
                    if let Some(id) = message.message_id.clone() {
                        by_id.insert(id, all.len());
                    }
                    all.push(message);
                }
            }
        }
    }
    Ok(all)
}

/// Ends the reading's hiding of `received`; returns how many stay hidden.
async fn make_visible_again(queue: &dyn MessageQueue, url: &str, received: &[SqsMessage]) -> usize {
    let visible_again: Vec<VisibilityChange> = received
        .iter()
        .filter_map(|m| m.receipt_handle.clone())
        .map(|receipt_handle| VisibilityChange {
            receipt_handle,
            timeout_seconds: 0,
        })
        .collect();
    let failed = change_visibility(queue, url, &visible_again)
        .await
        .iter()
        .filter(|r| r.is_err())
        .count();
    if failed > 0 {
        tracing::warn!(
            queue = url,
            failed,
            hidden_for_s = READING_VISIBILITY.as_secs(),
            "could not make messages read visible again"
        );
    }
    failed
}
