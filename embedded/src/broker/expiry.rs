//! What the passing of time does to a queue: due timers make delayed and
//! in-flight messages visible, messages past their retention are dropped,
//! and old deduplication IDs are forgotten. Every operation first brings its
//! queue up to the present with [`advance`].

use std::cmp::Reverse;

use tokio::time::Instant;

use super::fifo::forget_expired_deduplication_ids;
use super::queue::{Inner, Queue, State, make_visible, remove};

/// Fires due timers, drops expired messages and forgets old deduplication IDs.
pub(super) fn advance(queue: &Queue, inner: &mut Inner, now: Instant) {
    while let Some(Reverse((at, sequence, epoch))) = inner.timers.peek().copied() {
        if at > now {
            break;
        }
        inner.timers.pop();
        let due = inner
            .messages
            .get(&sequence)
            .is_some_and(|m| m.timer_epoch == epoch && m.state != State::Visible);
        if due {
            make_visible(inner, sequence);
        }
    }
    let retention = queue.settings.retention;
    while let Some(&(sent_at, sequence)) = inner.by_age.front() {
        if sent_at + retention > now {
            break;
        }
        inner.by_age.pop_front();
        if remove(inner, sequence).is_some() {
            inner.counters.expired += 1;
        }
    }
    forget_expired_deduplication_ids(inner, now);
}
