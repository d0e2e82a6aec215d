//! Sending many messages to one queue in as few calls as SQS allows.
//!
//! [`publish_batch`] splits messages into `SendMessageBatch`-sized chunks (10
//! entries, 256 KiB), resends only the entries that failed with a retryable
//! error, with exponential backoff, a bounded number of times, and returns one
//! result per message in input order. Every adapter gets the same semantics.

use std::time::Duration;

use crate::error::{PortError, PortErrorKind};
use crate::ports::{EntryResults, MessageQueue, OutgoingMessage, Undelivered, VisibilityChange};

/// Most entries in one SQS batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes (bodies and attributes) in one `SendMessageBatch` call.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// How often and how patiently failed calls and entries are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per entry, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Longest delay between retries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The jittered delay before retry number `retry` (1-based): the base
    /// delay doubled each retry up to the maximum, half of it fixed and half random.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Equal jitter: half fixed, half random, so retries never bunch up at zero.
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Splits `messages` into consecutive chunks that fit one batch call.
pub fn chunk_ranges(messages: &[OutgoingMessage]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        let size = m.size();
        if i > start && (i - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < messages.len() {
        ranges.push(start..messages.len());
    }
    ranges
}

/// Sends every message to `queue_url`, in batch calls, retrying what failed
/// retryably; returns one result per message, in order.
pub async fn publish_batch(
    queue: &dyn MessageQueue,
    queue_url: &str,
    messages: Vec<OutgoingMessage>,
    policy: &RetryPolicy,
) -> EntryResults {
    let mut results: EntryResults = vec![Ok(()); messages.len()];
    let ranges = chunk_ranges(&messages);
    let mut messages = messages.into_iter();
    for range in ranges {
        let chunk: Vec<OutgoingMessage> = messages.by_ref().take(range.len()).collect();
        send_chunk(queue, queue_url, chunk, policy, &mut results[range]).await;
    }
    results
}

/// Sends one chunk, resending what came back with a retryable error, and
/// writes each message's outcome to `results` (one slot per message).
async fn send_chunk(
    queue: &dyn MessageQueue,
    queue_url: &str,
    chunk: Vec<OutgoingMessage>,
    policy: &RetryPolicy,
    results: &mut [Result<(), PortError>],
) {
    // Which slot of `results` each message of the call in flight belongs to.
    let mut slots: Vec<usize> = (0..chunk.len()).collect();
    let mut pending = chunk;
    for attempt in 1..=policy.attempts.max(1) {
        let sent = pending.len();
        let undelivered = queue.send_batch(queue_url, pending).await;
        if !valid_indices(&undelivered, sent) {
            // An adapter that names entries it was not sent cannot be trusted
            // on any of them: fail them all, so their records are retried.
            let error = PortError::new(
                PortErrorKind::Other,
                "SendMessageBatch",
                format!("the queue reported entries outside the {sent} sent"),
            );
            for &slot in &slots {
                results[slot] = Err(error.clone());
            }
            return;
        }
        let mut again = Vec::new();
        let mut again_slots = Vec::new();
        for Undelivered {
            index,
            message,
            error,
        } in undelivered
        {
            let slot = slots[index];
            if error.retryable() && attempt < policy.attempts {
                again.push(message);
                again_slots.push(slot);
            } else {
                results[slot] = Err(error);
            }
        }
        if again.is_empty() {
            return;
        }
        tokio::time::sleep(policy.delay(attempt)).await;
        tracing::debug!(
            queue_url,
            entries = again.len(),
            retry = attempt,
            "resending failed entries"
        );
        pending = again;
        slots = again_slots;
    }
}

/// Whether every index names a distinct message of the `sent` ones.
fn valid_indices(undelivered: &[Undelivered], sent: usize) -> bool {
    if undelivered.is_empty() {
        return true; // the usual case: everything was delivered
    }
    let mut seen = vec![false; sent];
    undelivered
        .iter()
        .all(|u| u.index < sent && !std::mem::replace(&mut seen[u.index], true))
}

/// Turns a batch call's outcome into one result per entry.
fn expand(outcome: Result<EntryResults, PortError>, n: usize, operation: &'static str) -> EntryResults {
    match outcome {
        Ok(r) if r.len() == n => r,
        Ok(r) => vec![
            Err(PortError::new(
                PortErrorKind::Other,
                operation,
                format!("{} results for {n} entries", r.len())
            ));
            n
        ],
        Err(e) => vec![Err(e); n],
    }
}

/// Changes the visibility of many messages of one queue, 10 per call, once
/// (a failed change only means the message returns sooner).
pub async fn change_visibility(
    queue: &dyn MessageQueue,
    queue_url: &str,
    changes: &[VisibilityChange],
) -> EntryResults {
    let mut results = Vec::with_capacity(changes.len());
    for chunk in changes.chunks(MAX_BATCH_ENTRIES) {
        let outcome = queue.change_visibility_batch(queue_url, chunk).await;
        results.extend(expand(outcome, chunk.len(), "ChangeMessageVisibilityBatch"));
    }
    results
}
