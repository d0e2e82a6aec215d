//! Reading the dead-letter queues without emptying them: their depth for the
//! progress bar, and every message for the account.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::ports::VisibilityChange;
use orderflow_batch::publish::change_visibility;
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};

use super::backend::Backend;
use super::queues::Queues;

/// How long counting hides each dead letter it received, so that none is
/// received twice; far longer than counting takes.
const COUNTING_VISIBILITY: Duration = Duration::from_secs(600);

/// How many messages sit in the DLQs now (for the progress bar).
pub(super) async fn dead_lettered_hint(backend: &Backend, queues: &Queues) -> usize {
    let mut n = 0;
    for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
        n += backend.outstanding(queues.dlq(name)).await.unwrap_or(0);
    }
    n
}

/// Receives everything in a DLQ to count it, each message once, then makes
/// the messages visible again: they stay in the queue for inspection.
pub(super) async fn read_dead_letters(backend: &Backend, url: &str) -> Vec<SqsMessage> {
    let all = receive_each_once(backend, url).await;
    make_visible_again(backend, url, &all).await;
    all
}

/// Receives until the DLQ answers empty twice in a row; a message received
/// again (counting outlasted its visibility) counts once, by its newer receipt.
async fn receive_each_once(backend: &Backend, url: &str) -> Vec<SqsMessage> {
    let consumer = backend.consumer();
    let mut all: Vec<SqsMessage> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut empty = 0;
    while empty < 2 {
        match consumer
            .receive(url, 10, Duration::from_secs(1), Some(COUNTING_VISIBILITY))
            .await
        {
            Ok(batch) if batch.is_empty() => empty += 1,
            Ok(batch) => {
                empty = 0;
                for message in batch {
                    // Received again (counting outlasted its visibility): the newer receipt counts.
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
            Err(e) => {
                tracing::warn!(queue = url, error = %e, "could not read a dead-letter queue");
                break;
            }
        }
    }
    all
}

/// Ends the counting's hiding of `received`, so people can inspect them.
async fn make_visible_again(backend: &Backend, url: &str, received: &[SqsMessage]) {
    let visible_again: Vec<VisibilityChange> = received
        .iter()
        .filter_map(|m| m.receipt_handle.clone())
        .map(|receipt_handle| VisibilityChange {
            receipt_handle,
            timeout_seconds: 0,
        })
        .collect();
    let failed = change_visibility(&*backend.queue(), url, &visible_again)
        .await
        .iter()
        .filter(|r| r.is_err())
        .count();
    if failed > 0 {
        tracing::warn!(
            queue = url,
            failed,
            hidden_for_s = COUNTING_VISIBILITY.as_secs(),
            "could not make counted dead letters visible again"
        );
    }
}
