//! What a business step implements ([`RecordStep`]) and what it sees
//! ([`RecordContext`]) and returns ([`Outgoing`]).

use std::borrow::Cow;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::attributes;
use crate::error::{PortError, RecordError};
use crate::fingerprint::Fingerprint;
use crate::metrics::StepMetrics;
use crate::ports::OutgoingMessage;
use crate::sqs::SqsRecord;

/// A message a step wants sent when its record succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The destination queue.
    pub queue_url: Arc<str>,
    /// The message.
    pub message: OutgoingMessage,
}

/// An event for a queue: its JSON body, its type and correlation ID (sent as
/// the `EventType` and `CorrelationId` attributes), and the group and
/// deduplication ID it gets on a FIFO queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMessage {
    /// The event type, e.g. `INVENTORY_RESERVED`.
    pub event_type: &'static str,
    /// The event's JSON text.
    pub body: String,
    /// Carried from the record the event comes from.
    pub correlation_id: String,
    /// The FIFO message group (events of one group stay in order).
    pub group_id: String,
    /// The FIFO deduplication ID (the step's idempotency key is a good one:
    /// a rerun of the step sends the same ID).
    pub deduplication_id: String,
}

impl Outgoing {
    /// `event` for `queue_url`, with its attributes, group and deduplication ID.
    pub fn event(queue_url: &Arc<str>, event: EventMessage) -> Outgoing {
        let mut message = OutgoingMessage::new(event.body);
        // Exactly the two attributes (pushing them one by one makes room for four).
        message.attributes = vec![
            (attributes::EVENT_TYPE.into(), event.event_type.into()),
            (attributes::CORRELATION_ID.into(), event.correlation_id.into()),
        ];
        message.group_id = Some(event.group_id);
        message.deduplication_id = Some(event.deduplication_id);
        Outgoing {
            queue_url: Arc::clone(queue_url),
            message,
        }
    }
}

/// What a step sees of the record it runs for (`R`: the source's record,
/// an SQS message by default).
#[derive(Debug)]
pub struct RecordContext<'a, R: ?Sized = dyn SqsRecord> {
    /// The record's ID (SQS: its message ID).
    pub message_id: &'a str,
    /// The resolved correlation ID.
    pub correlation_id: &'a str,
    /// The record's idempotency key, `<step>#<key>`: also the deduplication
    /// ID of the messages the step sends to FIFO queues.
    pub idempotency_key: &'a str,
    /// The whole record, attributes included.
    pub message: &'a R,
    /// When the record started, on the batch's clock (which follows tokio's,
    /// so paused tests and local runs agree with their timers). Steps stamp
    /// their events with it: one clock read a batch instead of one a record.
    pub started_at: OffsetDateTime,
    /// Where the step records its own metrics (`OrdersRejected`, ...): they
    /// count if the record ends processed, and are published with the
    /// invocation's.
    pub metrics: StepMetrics<'a>,
}

/// One business step, run once per record of the source whose records it
/// decodes (`R`: SQS messages by default).
pub trait RecordStep<R: ?Sized = dyn SqsRecord>: Send + Sync {
    /// The decoded input.
    type Input: Send;

    /// The step's name, the first part of its idempotency keys (`billing`).
    fn name(&self) -> &'static str;

    /// Decodes and validates a record. Contract violations must be permanent errors.
    fn decode(&self, message: &R) -> Result<Self::Input, RecordError>;

    /// The input's business key (an invoice ID, say): its idempotency key is
    /// `<name>#<key>`, and records of a batch with the same key never race.
    fn key<'a>(&self, input: &'a Self::Input) -> Cow<'a, str>;

    /// The input's resolved correlation ID, for its logs.
    fn correlation_id<'a>(&self, input: &'a Self::Input) -> &'a str;

    /// What defines the input (not delivery details such as its correlation
    /// ID): a key seen again with the same fingerprint is a duplicate, with
    /// another it is [`RecordError::IdempotencyKeyReused`].
    fn fingerprint(&self, input: &Self::Input) -> Fingerprint;

    /// Runs the step on the input it owns. Returned messages are sent after
    /// the batch's steps ran; the record succeeds only if they all are sent.
    fn run(
        &self,
        input: Self::Input,
        context: &RecordContext<'_, R>,
    ) -> impl Future<Output = Result<Vec<Outgoing>, RecordError>> + Send;

    /// Called once the record is in the dead-letter destination, with the
    /// code it was dead-lettered with (its `ErrorCode`): a step that keeps a
    /// record of its inputs can mark the input failed. The record may not
    /// decode (often why it is there). An error is logged and not retried:
    /// the record is safe in the DLQ either way. By default, nothing.
    fn dead_lettered(
        &self,
        record: &R,
        code: &'static str,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        let _ = (record, code, at);
        std::future::ready(Ok(()))
    }
}

/// The idempotency key of a step's business key, `<step>#<key>` (also the
/// deduplication ID of the messages the step sends to FIFO queues).
pub fn idempotency_key(step: &str, key: &str) -> String {
    idempotency_key_parts(step, key).concat()
}

/// [`idempotency_key`] as the parts it is written from, end to end.
pub(super) fn idempotency_key_parts<'a>(step: &'a str, key: &'a str) -> [&'a str; 3] {
    [step, "#", key]
}
