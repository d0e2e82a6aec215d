//! FIFO deduplication: a send whose deduplication ID was seen in the last
//! five minutes is dropped.

use std::time::Duration;

use tokio::time::Instant;

use super::queue::Inner;

/// How long a FIFO queue remembers deduplication IDs.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);

/// Forgets the deduplication IDs remembered for longer than the window.
pub(super) fn forget_expired_deduplication_ids(inner: &mut Inner, now: Instant) {
    while let Some((at, _)) = inner.dedup_order.front() {
        if *at + DEDUPLICATION_WINDOW > now {
            break;
        }
        if let Some((_, dedup)) = inner.dedup_order.pop_front() {
            inner.dedup.remove(&dedup);
        }
    }
}
