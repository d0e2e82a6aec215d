//! Reading the dead-letter queues without emptying them: their depth for the
//! progress bar, and every message for the account.

use aws_lambda_events::sqs::SqsMessage;
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};

use super::backend::Backend;
use super::queues::Queues;
use crate::dead_letters::read_without_consuming;

/// How many messages sit in the DLQs now (for the progress bar).
pub(super) async fn dead_lettered_hint(backend: &Backend, queues: &Queues) -> usize {
    let mut n = 0;
    for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
        n += backend.outstanding(queues.dlq(name)).await.unwrap_or(0);
    }
    n
}

/// Every message in a DLQ, each once; they stay in the queue for inspection.
pub(super) async fn read_dead_letters(backend: &Backend, url: &str) -> Vec<SqsMessage> {
    match read_without_consuming(&*backend.consumer(), &*backend.queue(), url).await {
        Ok((messages, _)) => messages,
        Err(e) => {
            tracing::warn!(queue = url, error = %e, "could not read a dead-letter queue");
            Vec::new()
        }
    }
}
