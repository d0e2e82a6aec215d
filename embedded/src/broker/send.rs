//! Sending: a message is checked as SQS checks it, then stored visible or
//! delayed; a FIFO duplicate within the deduplication window is dropped.

use std::cmp::Reverse;
use std::time::Duration;

use md5::{Digest, Md5};
use orderflow_batch::clock::unix_millis;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::OutgoingMessage;
use tokio::time::Instant;

use super::errors::rejected;
use super::expiry::advance;
use super::queue::{State, Stored};
use super::registry::Broker;

/// The longest delay SQS allows.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

impl Broker {
    /// Sends one message; returns its message ID (the original's, for a FIFO duplicate).
    pub fn send(&self, url: &str, message: &OutgoingMessage) -> Result<String, PortError> {
        const OP: &str = "SendMessage";
        let queue = self.queue(OP, url)?;
        let settings = &queue.settings;
        if message.body.is_empty() {
            return Err(rejected(
                OP,
                "InvalidParameterValue: the message body must not be empty",
            ));
        }
        let delay = match message.delay_seconds {
            Some(_) if settings.fifo() => {
                return Err(rejected(
                    OP,
                    "InvalidParameterValue: FIFO queues take no per-message DelaySeconds",
                ));
            }
            Some(seconds) if Duration::from_secs(u64::from(seconds)) > MAX_DELAY => {
                return Err(rejected(
                    OP,
                    "InvalidParameterValue: DelaySeconds must be from 0 to 900",
                ));
            }
            Some(seconds) => Duration::from_secs(u64::from(seconds)),
            None => settings.delay,
        };
        let (group, deduplication_id) = if settings.fifo() {
            let group = message
                .group_id
                .clone()
                .ok_or_else(|| rejected(OP, "MissingParameter: a FIFO queue needs MessageGroupId"))?;
            let dedup = match (&message.deduplication_id, settings.content_based_deduplication) {
                (Some(id), _) => id.clone(),
                (None, true) => {
                    let digest = Md5::digest(message.body.as_bytes());
                    digest.iter().map(|b| format!("{b:02x}")).collect()
                }
                (None, false) => {
                    return Err(rejected(
                        OP,
                        "InvalidParameterValue: no MessageDeduplicationId and no content-based deduplication",
                    ));
                }
            };
            (Some(group), Some(dedup))
        } else {
            (None, None)
        };

        let now = Instant::now();
        let id = {
            let mut inner = queue.lock();
            advance(&queue, &mut inner, now);
            if let Some(dedup) = &deduplication_id
                && let Some((_, id)) = inner.dedup.get(dedup).cloned()
            {
                inner.counters.deduplicated += 1;
                return Ok(id);
            }
            let id = uuid::Uuid::new_v4().to_string();
            let sequence = inner.next_sequence;
            inner.next_sequence += 1;
            if let Some(dedup) = &deduplication_id {
                inner.dedup.insert(dedup.clone(), (now, id.clone()));
                inner.dedup_order.push_back((now, dedup.clone()));
            }
            let delayed = !delay.is_zero();
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
            match &group {
                Some(group) => {
                    inner
                        .groups
                        .entry(group.clone())
                        .or_default()
                        .messages
                        .push_back(sequence);
                    inner.ready_groups.push_back(group.clone());
                }
                None if !delayed => inner.ready.push_back(sequence),
                None => {}
            }
            if delayed {
                inner.timers.push(Reverse((now + delay, sequence, 0)));
            }
            id
        };
        queue.changed.notify_waiters();
        Ok(id)
    }
}
