//! A queue's state: its stored messages and the indexes over them (the
//! receivable order, FIFO groups, timers, send order, deduplication IDs),
//! which [`remove`] and [`make_visible`] keep consistent with each other.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::settings::QueueSettings;
use super::statistics::QueueCounters;

/// Where a stored message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Delayed,
    Visible,
    InFlight,
}

/// A message in a queue, with what SQS tracks about it.
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) id: String,
    pub(super) body: String,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) group: Option<String>,
    pub(super) deduplication_id: Option<String>,
    /// The `AWSTraceHeader` system attribute it was sent with.
    pub(super) trace_header: Option<String>,
    pub(super) sequence: u64,
    pub(super) sent_ms: u64,
    pub(super) first_received_ms: Option<u64>,
    pub(super) receive_count: u32,
    pub(super) state: State,
    /// Bumped whenever a timer is set, so older timers of this message are ignored.
    pub(super) timer_epoch: u32,
    pub(super) receipt: Option<String>,
}

/// A FIFO message group.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// Messages of the group not yet deleted, in send order.
    pub(super) messages: VecDeque<u64>,
    pub(super) in_flight: usize,
}

/// A queue's mutable state, behind its lock.
#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) messages: HashMap<u64, Stored>,
    /// Standard queues: visible messages, in the order they became visible (may hold stale entries).
    pub(super) ready: VecDeque<u64>,
    /// FIFO queues: each group's messages.
    pub(super) groups: HashMap<String, Group>,
    /// FIFO queues: groups that may have a receivable head (may hold stale entries).
    pub(super) ready_groups: VecDeque<String>,
    pub(super) timers: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    /// Send order, for retention.
    pub(super) by_age: VecDeque<(Instant, u64)>,
    pub(super) dedup: HashMap<String, (Instant, String)>,
    pub(super) dedup_order: VecDeque<(Instant, String)>,
    pub(super) next_sequence: u64,
    pub(super) counters: QueueCounters,
}

/// One queue: its identity, its settings and its state.
pub(super) struct Queue {
    pub(super) arn: String,
    pub(super) settings: QueueSettings,
    pub(super) inner: Mutex<Inner>,
    /// Woken on every change, for long polls.
    pub(super) changed: Notify,
}

impl Queue {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes a message from every structure that holds it.
pub(super) fn remove(inner: &mut Inner, sequence: u64) -> Option<Stored> {
    let stored = inner.messages.remove(&sequence)?;
    if let Some(group) = &stored.group
        && let Some(g) = inner.groups.get_mut(group)
    {
        if let Some(pos) = g.messages.iter().position(|&s| s == sequence) {
            g.messages.remove(pos);
        }
        if stored.state == State::InFlight {
            g.in_flight = g.in_flight.saturating_sub(1);
        }
        if g.messages.is_empty() {
            inner.groups.remove(group);
        } else if g.in_flight == 0 {
            inner.ready_groups.push_back(group.clone());
        }
    }
    Some(stored)
}

/// Makes a delayed or in-flight message visible.
pub(super) fn make_visible(inner: &mut Inner, sequence: u64) {
    let Some(m) = inner.messages.get_mut(&sequence) else {
        return;
    };
    let was = m.state;
    m.state = State::Visible;
    m.timer_epoch += 1;
    match m.group.clone() {
        Some(group) => {
            if let Some(g) = inner.groups.get_mut(&group)
                && was == State::InFlight
            {
                g.in_flight = g.in_flight.saturating_sub(1);
            }
            inner.ready_groups.push_back(group);
        }
        None => inner.ready.push_back(sequence),
    }
}
