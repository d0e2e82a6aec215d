//! Sending: a message is checked as SQS checks it, then stored visible or
//! delayed; a FIFO duplicate within the deduplication window is dropped.

use std::cmp::Reverse;
use std::time::Duration;

use orderflow_batch::clock::unix_millis;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::OutgoingMessage;
use tokio::time::Instant;

use super::errors::rejected;
use super::expiry::advance;
use super::fifo::{FifoKeys, duplicate_of, fifo_keys, remember_deduplication_id};
use super::queue::{Inner, State, Stored};
use super::registry::Broker;
use super::settings::QueueSettings;

/// The longest delay SQS allows.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// The operation whose errors a send returns.
const OP: &str = "SendMessage";

impl Broker {
    /// Sends one message; returns its message ID (the original's, for a FIFO duplicate).
    pub fn send(&self, url: &str, message: &OutgoingMessage) -> Result<String, PortError> {
        let queue = self.queue(OP, url)?;
        let settings = &queue.settings;
        if message.body.is_empty() {
            return Err(rejected(
                OP,
                "InvalidParameterValue: the message body must not be empty",
            ));
        }
        let delay = delay(settings, message)?;
        let keys = fifo_keys(OP, settings, message)?;

        let now = Instant::now();
        let id = {
            let mut inner = queue.lock();
            advance(&queue, &mut inner, now);
            if let Some(id) = duplicate_of(&mut inner, keys.deduplication_id.as_deref()) {
                return Ok(id);
            }
            store(&mut inner, message, keys, delay, now)
        };
        queue.changed.notify_waiters();
        Ok(id)
    }
}

/// How long the message waits before it can be received: its own
/// `DelaySeconds` (standard queues only, at most [`MAX_DELAY`]) or the queue's.
fn delay(settings: &QueueSettings, message: &OutgoingMessage) -> Result<Duration, PortError> {
    match message.delay_seconds {
        Some(_) if settings.fifo() => Err(rejected(
            OP,
            "InvalidParameterValue: FIFO queues take no per-message DelaySeconds",
        )),
        Some(seconds) if Duration::from_secs(u64::from(seconds)) > MAX_DELAY => Err(rejected(
            OP,
            "InvalidParameterValue: DelaySeconds must be from 0 to 900",
        )),
        Some(seconds) => Ok(Duration::from_secs(u64::from(seconds))),
        None => Ok(settings.delay),
    }
}

/// Stores a new message, visible or delayed; returns its message ID.
fn store(
    inner: &mut Inner,
    message: &OutgoingMessage,
    keys: FifoKeys,
    delay: Duration,
    now: Instant,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let sequence = inner.next_sequence;
    inner.next_sequence += 1;
    if let Some(dedup) = &keys.deduplication_id {
        remember_deduplication_id(inner, dedup, now, &id);
    }
    let delayed = !delay.is_zero();
    let FifoKeys {
        group,
        deduplication_id,
    } = keys;
    inner.messages.insert(
        sequence,
        Stored {
            id: id.clone(),
            body: message.body.clone(),
            attributes: message
                .attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            group: group.clone(),
            deduplication_id,
            trace_header: message.trace_header.clone(),
            sequence,
            sent_ms: unix_millis(),
            first_received_ms: None,
            receive_count: 0,
            state: if delayed { State::Delayed } else { State::Visible },
            timer_epoch: 0,
            receipt: None,
        },
    );
    inner.by_age.push_back((now, sequence));
    inner.counters.sent += 1;
    enqueue(inner, sequence, group.as_deref(), delayed);
    if delayed {
        inner.timers.push(Reverse((now + delay, sequence, 0)));
    }
    id
}

/// Puts a new message where receives look for it: its FIFO group, or a
/// standard queue's visible order (a delayed one gets there when its timer fires).
fn enqueue(inner: &mut Inner, sequence: u64, group: Option<&str>, delayed: bool) {
    match group {
        Some(group) => {
            inner
                .groups
                .entry(group.to_owned())
                .or_default()
                .messages
                .push_back(sequence);
            inner.ready_groups.push_back(group.to_owned());
        }
        None if !delayed => inner.ready.push_back(sequence),
        None => {}
    }
}
