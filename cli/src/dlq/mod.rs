//! `orderflow dlq inspect`: what a dead-letter queue holds and why, read
//! without consuming it (every message is visible again at once), so the
//! decision to redrive is an informed one.
//!
//! Messages are grouped by their `ErrorCode` (the reason the function gave
//! when it dead-lettered them; `RetriesExhausted` ones also by their
//! `LastErrorCode`), largest group first, with a few samples each: the
//! original message ID, the order ID and correlation ID, when it failed, and
//! the error. A message without `ErrorCode` was moved by the queue's redrive,
//! with no reason recorded ([`MOVED_BY_REDRIVE`]).

mod report;

use orderflow_batch::error::PortError;
use orderflow_batch::ports::{MessageQueue, QueueConsumer};
use orderflow_batch::queue_url::queue_name;

pub use report::{DeadLetterSample, DlqReport, ErrorGroup, MOVED_BY_REDRIVE};

use crate::dead_letters::read_without_consuming;

/// Reads the DLQ at `url` without consuming it and groups its messages by
/// reason, keeping up to `samples` samples a group.
pub async fn inspect(
    consumer: &dyn QueueConsumer,
    queue: &dyn MessageQueue,
    url: &str,
    samples: usize,
) -> Result<DlqReport, PortError> {
    let (messages, still_hidden) = read_without_consuming(consumer, queue, url).await?;
    Ok(DlqReport::of(queue_name(url), &messages, samples, still_hidden))
}
