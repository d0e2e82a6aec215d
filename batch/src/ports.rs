//! The ports: small traits the business steps and the batch processor talk to.
//!
//! AWS adapters (the `orderflow-aws` crate) implement them with the AWS SDK;
//! the `orderflow-embedded` crate implements them in memory. Nothing that
//! uses a port knows which one it got.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::SqsMessage;

use crate::error::PortError;
use crate::fingerprint::Fingerprint;
/// Defined beside the metrics it publishes, so `metrics` needs nothing from here.
pub use crate::metrics::MetricsSink;

/// A message to send to a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The JSON body.
    pub body: String,
    /// String message attributes (name, value), in the order they were added;
    /// constant names and values (`EventType`, `ORDER_CREATED`) cost no copy.
    pub attributes: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The FIFO message group; used only when the queue is FIFO.
    pub group_id: Option<String>,
    /// The FIFO deduplication ID; used only when the queue is FIFO.
    pub deduplication_id: Option<String>,
    /// Seconds before the message becomes visible (0 to 900; standard queues).
    pub delay_seconds: Option<u32>,
    /// The X-Ray trace header it carries as the `AWSTraceHeader` system
    /// attribute; the batch processor gives each message its record's.
    pub trace_header: Option<String>,
}

impl OutgoingMessage {
    /// A message with a body and no attributes.
    pub fn new(body: impl Into<String>) -> Self {
        OutgoingMessage {
            body: body.into(),
            attributes: Vec::new(),
            group_id: None,
            deduplication_id: None,
            delay_seconds: None,
            trace_header: None,
        }
    }

    /// Adds a string message attribute.
    pub fn with_attribute(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// The value of a string attribute, if set.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The size SQS counts against its limits: body plus attribute names, types and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(n, v)| n.len() + v.len() + "String".len())
                .sum::<usize>()
    }
}

/// A new visibility timeout for a received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisibilityChange {
    /// The receipt handle from the SQS record.
    pub receipt_handle: String,
    /// Seconds until the message becomes visible again.
    pub timeout_seconds: u32,
}

/// The result of one entry of a batch call, in entry order.
pub type EntryResults = Vec<Result<(), PortError>>;

/// A message a queue did not take, given back with why, so it can be sent again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undelivered {
    /// Its position in the batch that was sent.
    pub index: usize,
    /// The message.
    pub message: OutgoingMessage,
    /// Why it was not delivered.
    pub error: PortError,
}

impl Undelivered {
    /// Every message of a batch call that failed as a whole, with the same error.
    pub fn all(messages: Vec<OutgoingMessage>, error: &PortError) -> Vec<Undelivered> {
        messages
            .into_iter()
            .enumerate()
            .map(|(index, message)| Undelivered {
                index,
                message,
                error: error.clone(),
            })
            .collect()
    }
}

/// A message queue (SQS or the embedded broker): send and change visibility, in batches.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends at most 10 messages (within SQS's batch size limit) to one queue.
    ///
    /// The queue takes the messages over (one that keeps them, like the
    /// embedded queue, need not copy them) and gives back those it did not
    /// deliver, each with its index in `messages`; an empty list means every
    /// message was delivered. A call that fails as a whole gives back all of them.
    async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered>;

    /// Changes the visibility timeout of at most 10 received messages.
    async fn change_visibility_batch(
        &self,
        queue_url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError>;
}

/// Receiving and deleting a queue's messages, as an event source mapping or a
/// long-running consumer does (SQS, or the embedded broker).
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Receives up to `max` messages (SQS gives at most 10 a call), waiting up
    /// to `wait` for the first, hidden for `visibility_timeout` (else the
    /// queue's). Records come in the shape Lambda gives them, attributes included.
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError>;

    /// Deletes received messages by receipt handle; one result per handle.
    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<EntryResults, PortError>;
}

/// What an idempotency claim found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No live record existed; this caller now holds the key (in progress).
    Acquired,
    /// The step already completed for this key and this fingerprint: skip it.
    Completed,
    /// Another invocation holds the key for this fingerprint and its claim has not expired.
    InProgress,
    /// A live record holds the key for another fingerprint: a different input
    /// reuses the key. Never skipped as a duplicate.
    Reused,
}

impl Claim {
    /// What a live record (completed or in progress) means to a claim with
    /// `fingerprint`; a record without one (written before fingerprints) matches any.
    pub fn of_live_record(completed: bool, stored: Option<Fingerprint>, fingerprint: Fingerprint) -> Claim {
        match (completed, stored) {
            (_, Some(stored)) if stored != fingerprint => Claim::Reused,
            (true, _) => Claim::Completed,
            (false, _) => Claim::InProgress,
        }
    }
}

/// One step's completion: its key, and the fingerprint its record keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion<'a> {
    /// The idempotency key.
    pub key: &'a str,
    /// The fingerprint of the input the step ran for.
    pub fingerprint: Fingerprint,
}

/// One record's claim among a batch's ([`IdempotencyStore::claim_all`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    /// The idempotency key.
    pub key: &'a str,
    /// The fingerprint of the record's input.
    pub fingerprint: Fingerprint,
}

/// Records which business steps have run, so a redelivered message is not
/// applied twice, and with what input ([`Fingerprint`]), so a different input
/// under a known key is not taken for a redelivery.
///
/// Times are Unix seconds; the caller passes `now` so expiry is testable.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `fingerprint` unless a completed or unexpired
    /// in-progress record exists; a live record of another fingerprint is [`Claim::Reused`].
    async fn claim(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError>;
    /// Whether [`IdempotencyStore::claim_all`] claims a batch's keys in one
    /// round trip (Redis's pipeline): the processor then claims every ready
    /// record of a batch together before running any, instead of each as it
    /// starts. By default, no.
    fn claims_together(&self) -> bool {
        false
    }
    /// Claims each key as [`IdempotencyStore::claim`] does: one answer per
    /// request, in order. Stores that can send them together override it.
    async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
        now: u64,
        in_progress_until: u64,
    ) -> Vec<Result<Claim, PortError>> {
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            answers.push(
                self.claim(request.key, request.fingerprint, now, in_progress_until)
                    .await,
            );
        }
        answers
    }
    /// Marks a key completed, kept until `keep_until` (the store's TTL).
    async fn complete(&self, completion: Completion<'_>, keep_until: u64) -> Result<(), PortError>;
    /// Marks many keys completed; stores with batch writes override this to
    /// save calls. Returns one result per key, in order.
    async fn complete_all(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        let mut results = Vec::with_capacity(completions.len());
        for completion in completions {
            results.push(self.complete(*completion, keep_until).await);
        }
        results
    }
    /// Removes the claim on `key` after the step failed, so a retry can run it.
    async fn release(&self, key: &str) -> Result<(), PortError>;
}
