//! An embedded SQS broker: SQS's semantics in memory, behind the same ports
//! the functions use ([`MessageQueue`] to send, [`QueueConsumer`] to receive).
//!
//! What it keeps from SQS: visibility timeouts and `ApproximateReceiveCount`;
//! redrive to a dead-letter queue once a message was received
//! `maxReceiveCount` times; `DelaySeconds`; long-poll waits; retention;
//! FIFO queues (one message group in flight at a time, order kept within a
//! group, five-minute deduplication by ID or by content). Time is tokio's, so
//! a runtime with a paused clock runs retries and timeouts in no real time.

mod errors;
mod queue;
mod settings;
mod statistics;

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::address::{EMBEDDED_ACCOUNT, EMBEDDED_ENDPOINT, EMBEDDED_REGION};
use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use md5::{Digest, Md5};
use orderflow_batch::clock::unix_millis;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::{
    EntryResults, MessageQueue, OutgoingMessage, QueueConsumer, Undelivered, VisibilityChange,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use errors::{not_found, rejected};
use queue::{Inner, Queue, State, Stored, make_visible, remove};

pub use settings::{QueueSettings, Redrive};
pub use statistics::{QueueCounters, QueueDepth};

/// How long a FIFO queue remembers deduplication IDs.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);
/// The longest delay SQS allows.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// A message moved out of a queue by redrive, on its way to the dead-letter queue.
struct Moved {
    to: String,
    message: OutgoingMessage,
}

/// The broker: named queues, addressed by URL (`embedded://sqs/<account>/<name>`).
#[derive(Clone, Default)]
pub struct Broker {
    queues: Arc<Mutex<HashMap<String, Arc<Queue>>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker with no queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a queue (or returns the existing one's URL).
    pub fn create_queue(&self, settings: QueueSettings) -> String {
        let url = format!("{EMBEDDED_ENDPOINT}/{EMBEDDED_ACCOUNT}/{}", settings.name);
        let arn = format!(
            "arn:aws:sqs:{EMBEDDED_REGION}:{EMBEDDED_ACCOUNT}:{}",
            settings.name
        );
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.entry(url.clone()).or_insert_with(|| {
            Arc::new(Queue {
                arn,
                settings,
                inner: Mutex::default(),
                changed: Notify::new(),
            })
        });
        url
    }

    fn queue(&self, operation: &'static str, url: &str) -> Result<Arc<Queue>, PortError> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(url)
            .cloned()
            .ok_or_else(|| not_found(operation, url))
    }

    /// What the queue holds now.
    pub fn depth(&self, url: &str) -> Result<QueueDepth, PortError> {
        let queue = self.queue("GetQueueAttributes", url)?;
        let depth = {
            let mut inner = queue.lock();
            advance(&queue, &mut inner, Instant::now());
            let mut depth = QueueDepth::default();
            for m in inner.messages.values() {
                match m.state {
                    State::Visible => depth.visible += 1,
                    State::InFlight => depth.in_flight += 1,
                    State::Delayed => depth.delayed += 1,
                }
            }
            depth
        };
        Ok(depth)
    }

    /// What happened in the queue so far.
    pub fn counters(&self, url: &str) -> Result<QueueCounters, PortError> {
        Ok(self.queue("GetQueueAttributes", url)?.lock().counters)
    }

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

    /// Deletes a received message by its receipt handle.
    pub fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), PortError> {
        const OP: &str = "DeleteMessage";
        let queue = self.queue(OP, url)?;
        {
            let mut inner = queue.lock();
            let sequence = find_in_flight(&inner, receipt_handle).ok_or_else(|| {
                rejected(
                    OP,
                    format!("ReceiptHandleIsInvalid: {receipt_handle} is not a current receipt handle"),
                )
            })?;
            remove(&mut inner, sequence);
            inner.counters.deleted += 1;
        }
        queue.changed.notify_waiters();
        Ok(())
    }

    /// Hides a received message for `timeout` from now (0 makes it visible at once).
    pub fn change_visibility(
        &self,
        url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), PortError> {
        const OP: &str = "ChangeMessageVisibility";
        if timeout > Duration::from_secs(43_200) {
            return Err(rejected(
                OP,
                "InvalidParameterValue: VisibilityTimeout must be at most 43200",
            ));
        }
        let queue = self.queue(OP, url)?;
        {
            let mut inner = queue.lock();
            let sequence = find_in_flight(&inner, receipt_handle).ok_or_else(|| {
                rejected(
                    OP,
                    format!(
                        "ReceiptHandleIsInvalid: {receipt_handle} is not the handle of an in-flight message"
                    ),
                )
            })?;
            if timeout.is_zero() {
                make_visible(&mut inner, sequence);
            } else if let Some(m) = inner.messages.get_mut(&sequence) {
                m.timer_epoch += 1;
                let epoch = m.timer_epoch;
                inner
                    .timers
                    .push(Reverse((Instant::now() + timeout, sequence, epoch)));
            }
        }
        queue.changed.notify_waiters();
        Ok(())
    }

    /// Receives up to `max` messages, waiting up to `wait` for the first.
    pub async fn receive_messages(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        const OP: &str = "ReceiveMessage";
        let queue = self.queue(OP, url)?;
        let deadline = Instant::now() + wait;
        let visibility = visibility_timeout.unwrap_or(queue.settings.visibility_timeout);
        loop {
            let changed = queue.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let mut moved = Vec::new();
            let (taken, next_timer) = {
                let mut inner = queue.lock();
                advance(&queue, &mut inner, now);
                let taken = take(&queue, &mut inner, now, max.max(1), visibility, &mut moved);
                (taken, inner.timers.peek().map(|Reverse((at, _, _))| *at))
            };
            self.deliver_moved(moved);
            if !taken.is_empty() || now >= deadline {
                return Ok(taken);
            }
            let wake = next_timer.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Sends messages moved by redrive to their dead-letter queues.
    fn deliver_moved(&self, moved: Vec<Moved>) {
        for Moved { to, message } in moved {
            if let Err(e) = self.send(&to, &message) {
                // A redrive policy naming a missing queue: SQS would keep the message; so do we, in the logs.
                tracing::error!(dead_letter_queue = %to, error = %e, "could not move a message to its dead-letter queue");
            }
        }
    }
}

fn find_in_flight(inner: &Inner, receipt_handle: &str) -> Option<u64> {
    let sequence: u64 = receipt_handle.split(':').next()?.parse().ok()?;
    let m = inner.messages.get(&sequence)?;
    (m.state == State::InFlight && m.receipt.as_deref() == Some(receipt_handle)).then_some(sequence)
}

/// Fires due timers, drops expired messages and forgets old deduplication IDs.
fn advance(queue: &Queue, inner: &mut Inner, now: Instant) {
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
    while let Some((at, _)) = inner.dedup_order.front() {
        if *at + DEDUPLICATION_WINDOW > now {
            break;
        }
        if let Some((_, dedup)) = inner.dedup_order.pop_front() {
            inner.dedup.remove(&dedup);
        }
    }
}

/// Whether a visible message has used up its receives and must move to the DLQ.
fn spent(queue: &Queue, m: &Stored) -> bool {
    queue
        .settings
        .redrive
        .as_ref()
        .is_some_and(|r| m.receive_count >= r.max_receive_count)
}

/// Moves a spent message to its queue's DLQ (sent after the lock is released).
fn dead_letter(queue: &Queue, inner: &mut Inner, sequence: u64, moved: &mut Vec<Moved>) {
    let Some(redrive) = queue.settings.redrive.clone() else {
        return;
    };
    let Some(stored) = remove(inner, sequence) else {
        return;
    };
    inner.counters.dead_lettered += 1;
    let mut message = OutgoingMessage::new(stored.body);
    message.attributes = stored
        .attributes
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    message.group_id = stored.group;
    message.deduplication_id = stored.deduplication_id.map(|d| format!("{d}-{}", stored.id));
    moved.push(Moved {
        to: redrive.dead_letter_queue_url,
        message,
    });
}

/// Takes up to `max` receivable messages, marking them in flight.
fn take(
    queue: &Queue,
    inner: &mut Inner,
    now: Instant,
    max: usize,
    visibility: Duration,
    moved: &mut Vec<Moved>,
) -> Vec<SqsMessage> {
    let mut out = Vec::new();
    if queue.settings.fifo() {
        let mut tried = 0;
        while out.len() < max && tried < inner.ready_groups.len() {
            let Some(group) = inner.ready_groups.pop_front() else {
                break;
            };
            let locked = inner.groups.get(&group).is_none_or(|g| g.in_flight > 0);
            if locked {
                continue; // stale entry: it returns when the group unlocks
            }
            let mut took_any = false;
            while out.len() < max {
                let Some(&head) = inner.groups.get(&group).and_then(|g| {
                    g.messages
                        .iter()
                        .find(|s| inner.messages.get(s).is_some_and(|m| m.state != State::InFlight))
                }) else {
                    break;
                };
                let Some(m) = inner.messages.get(&head) else { break };
                if m.state != State::Visible {
                    break; // delayed head: the group waits
                }
                if spent(queue, m) {
                    dead_letter(queue, inner, head, moved);
                    continue;
                }
                out.push(deliver(queue, inner, head, now, visibility));
                if let Some(g) = inner.groups.get_mut(&group) {
                    g.in_flight += 1;
                }
                took_any = true;
            }
            if !took_any {
                tried += 1;
                if inner
                    .groups
                    .get(&group)
                    .is_some_and(|g| g.in_flight == 0 && !g.messages.is_empty())
                {
                    inner.ready_groups.push_back(group);
                }
            }
        }
    } else {
        while out.len() < max {
            let Some(sequence) = inner.ready.pop_front() else {
                break;
            };
            let Some(m) = inner.messages.get(&sequence) else {
                continue;
            };
            if m.state != State::Visible {
                continue; // stale entry
            }
            if spent(queue, m) {
                dead_letter(queue, inner, sequence, moved);
                continue;
            }
            out.push(deliver(queue, inner, sequence, now, visibility));
        }
    }
    out
}

/// Marks one message in flight and builds its Lambda record.
fn deliver(
    queue: &Queue,
    inner: &mut Inner,
    sequence: u64,
    now: Instant,
    visibility: Duration,
) -> SqsMessage {
    let receipt = format!("{sequence}:{:016x}", fastrand::u64(..));
    inner.counters.received += 1;
    let Some(m) = inner.messages.get_mut(&sequence) else {
        return SqsMessage::default();
    };
    if m.receive_count > 0 {
        inner.counters.redelivered += 1;
    }
    m.receive_count += 1;
    m.state = State::InFlight;
    m.timer_epoch += 1;
    m.receipt = Some(receipt.clone());
    let first_received = *m.first_received_ms.get_or_insert_with(unix_millis);
    inner
        .timers
        .push(Reverse((now + visibility, sequence, m.timer_epoch)));

    let mut record = SqsMessage::default();
    record.message_id = Some(m.id.clone());
    record.receipt_handle = Some(receipt);
    record.body = Some(m.body.clone());
    record.md5_of_body = Some(
        Md5::digest(m.body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    );
    let mut attributes = HashMap::from([
        ("ApproximateReceiveCount".to_owned(), m.receive_count.to_string()),
        ("SentTimestamp".to_owned(), m.sent_ms.to_string()),
        ("SenderId".to_owned(), "AIDAEMBEDDEDBROKER".to_owned()),
        (
            "ApproximateFirstReceiveTimestamp".to_owned(),
            first_received.to_string(),
        ),
    ]);
    if let Some(group) = &m.group {
        attributes.insert("MessageGroupId".to_owned(), group.clone());
        attributes.insert("SequenceNumber".to_owned(), format!("{:020}", m.sequence));
        if let Some(dedup) = &m.deduplication_id {
            attributes.insert("MessageDeduplicationId".to_owned(), dedup.clone());
        }
    }
    record.attributes = attributes;
    record.message_attributes = m
        .attributes
        .iter()
        .map(|(name, value)| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = Some(value.clone());
            a.data_type = Some("String".to_owned());
            (name.clone(), a)
        })
        .collect();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(queue.arn.clone());
    record.aws_region = Some(EMBEDDED_REGION.to_owned());
    record
}

#[async_trait]
impl MessageQueue for Broker {
    async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        const OP: &str = "SendMessageBatch";
        if messages.len() > 10 {
            let error = rejected(OP, "TooManyEntriesInBatchRequest: at most 10 entries");
            return Undelivered::all(messages, &error);
        }
        if let Err(error) = self.queue(OP, queue_url) {
            return Undelivered::all(messages, &error);
        }
        messages
            .into_iter()
            .enumerate()
            .filter_map(|(index, message)| match self.send(queue_url, &message) {
                Ok(_) => None,
                Err(error) => Some(Undelivered {
                    index,
                    message,
                    error,
                }),
            })
            .collect()
    }

    async fn change_visibility_batch(
        &self,
        queue_url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        self.queue("ChangeMessageVisibilityBatch", queue_url)?;
        Ok(changes
            .iter()
            .map(|c| {
                self.change_visibility(
                    queue_url,
                    &c.receipt_handle,
                    Duration::from_secs(u64::from(c.timeout_seconds)),
                )
            })
            .collect())
    }
}

#[async_trait]
impl QueueConsumer for Broker {
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        self.receive_messages(queue_url, max, wait, visibility_timeout)
            .await
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<EntryResults, PortError> {
        self.queue("DeleteMessageBatch", queue_url)?;
        Ok(receipt_handles
            .iter()
            .map(|h| self.delete(queue_url, h))
            .collect())
    }
}
