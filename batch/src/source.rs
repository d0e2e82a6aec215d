//! Where a batch's records come from, and how their failures are answered.
//!
//! The processor's core (ordering, concurrency, in-batch followers,
//! idempotency, the deadline and settlement) runs on [`EventSource`]; what is
//! particular to a source lives in its implementation: how a record is
//! identified and grouped, where a permanently failed record goes, how a
//! retried one is delayed, and what the invocation answers. Two sources
//! implement it, neither a fork of the processor: SQS,
//! [`SqsSource`](crate::sqs_source::SqsSource), and DynamoDB Streams,
//! [`StreamSource`](crate::stream_source::StreamSource) (one ordered group a
//! batch, no dead-letter copy, no backoff).

use std::future::Future;

use crate::error::RecordError;
use crate::ports::EntryResults;

/// A kind of event that brings records to the processor.
pub trait EventSource: Send + Sync {
    /// One record as the source delivers it.
    type Record: Send + Sync;
    /// What a step decodes: the record, possibly as a trait object
    /// (`dyn SqsRecord` for SQS, `dyn StreamRecord` for a stream), so steps
    /// need not name the event's own type.
    type StepRecord: ?Sized + Sync;
    /// What the invocation answers (`batchItemFailures`).
    type Response;

    /// The record as a step sees it.
    fn step_record(record: &Self::Record) -> &Self::StepRecord;

    /// The ID a failure is reported by (SQS's `messageId`, a stream record's
    /// sequence number); `None` or empty when the record has none.
    fn record_id(record: &Self::Record) -> Option<&str>;

    /// A correlation ID for the logs of a record that could not be decoded.
    fn fallback_correlation_id(record: &Self::Record) -> String;

    /// Whether the batch's records must run in order within their groups
    /// (a FIFO queue, a stream shard); otherwise each runs on its own.
    fn ordered(&self, records: &[Self::Record]) -> bool;

    /// The record's X-Ray trace header, which every message it causes
    /// carries on (SQS: its `AWSTraceHeader`); `None` where a source has none.
    fn trace_header(_record: &Self::Record) -> Option<&str> {
        None
    }

    /// The ordering group of a record (a FIFO message group; empty when the
    /// whole batch is one group).
    fn group(record: &Self::Record) -> &str;

    /// Where permanently failed records go, when they go anywhere; else
    /// they are reported failed like retryable ones.
    fn dead_letter_destination(&self) -> Option<&str>;

    /// Sends permanently failed records to the dead-letter destination: one
    /// result each, in order.
    fn dead_letter(
        &self,
        failures: &[(&Self::Record, &RecordError)],
    ) -> impl Future<Output = EntryResults> + Send;

    /// The record's receive count when this receive is the last its source
    /// allows (SQS: `ApproximateReceiveCount` has reached the queue's
    /// `maxReceiveCount`): a retryable failure then goes to the dead-letter
    /// destination with its reason. `None` for other receives, and for
    /// sources that retry on their own terms.
    fn last_receive(&self, _record: &Self::Record) -> Option<u32> {
        None
    }

    /// Delays the redelivery of records that ran and failed retryably.
    fn back_off(&self, records: &[&Self::Record]) -> impl Future<Output = ()> + Send;

    /// The answer naming the failed records by [`record_id`](Self::record_id), each once.
    fn respond(&self, failed: Vec<&str>) -> Self::Response;
}
