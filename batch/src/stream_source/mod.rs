//! DynamoDB Streams as an [`EventSource`]: a change record is identified by
//! its sequence number and reported in `batchItemFailures`
//! ([`StreamBatchResponse`]).
//!
//! What is particular to a stream:
//! - A batch comes from one shard and must run in order: the whole batch is
//!   one group, so after a record fails it and every later record are
//!   reported failed (whatever the [`FifoFailureMode`](crate::processor::FifoFailureMode):
//!   with one group, the rest of the group is the rest of the batch), and
//!   Lambda retries from the first failed sequence number. When that is the
//!   first record and its failure is retryable, every record is failed, so
//!   with `FAIL_ON_ALL_RETRYABLE` (the default) the invocation fails instead:
//!   Lambda retries the same records either way.
//! - There is no dead-letter copy and no backoff: the event source mapping's
//!   bounded retries and on-failure destination take records that keep
//!   failing, so a permanent failure is reported like a retryable one.
//! - One item changes many times: a step's business key should name the
//!   change (the item's key and its version, or the sequence number), not
//!   only the item, or a later change of the same item is refused as a reuse
//!   of the key.
//!
//! [`BatchProcessor::process_stream`](crate::BatchProcessor::process_stream)
//! and [`BatchProcessor::handle_stream`](crate::BatchProcessor::handle_stream)
//! run a step on a [`StreamBatch`] with this source; a step reads records
//! through [`StreamRecord`].

mod entry;
mod event;

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::correlation::{is_correlation_id, new_correlation_id};
use crate::error::RecordError;
use crate::ports::EntryResults;
use crate::source::EventSource;

pub use event::{StreamBatch, StreamBatchRecord, StreamEventError, StreamEventName, StreamRecord};

/// The DynamoDB Streams event source over records of type `R`.
pub struct StreamSource<R> {
    records: PhantomData<fn() -> R>,
}

impl<R> StreamSource<R> {
    /// The source; it needs no settings or ports.
    pub fn new() -> Self {
        StreamSource { records: PhantomData }
    }
}

impl<R> Default for StreamSource<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a stream invocation answers: `{"batchItemFailures": [{"itemIdentifier": "<sequence number>"}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatchResponse {
    /// The failed records, in shard order.
    pub batch_item_failures: Vec<StreamItemFailure>,
}

/// One failed record of a [`StreamBatchResponse`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamItemFailure {
    /// The record's sequence number.
    pub item_identifier: String,
}

impl<R: StreamRecord + 'static> EventSource for StreamSource<R> {
    type Record = R;
    type StepRecord = dyn StreamRecord;
    type Response = StreamBatchResponse;

    fn step_record(record: &R) -> &(dyn StreamRecord + 'static) {
        record
    }

    fn record_id(record: &R) -> Option<&str> {
        Some(record.sequence_number())
    }

    /// The event ID (or else the sequence number) when it keeps the rule of
    /// correlation IDs, else a new one.
    fn fallback_correlation_id(record: &R) -> String {
        [record.event_id(), Some(record.sequence_number())]
            .into_iter()
            .flatten()
            .find(|id| is_correlation_id(id))
            .map_or_else(new_correlation_id, str::to_owned)
    }

    /// Always: a batch is one shard's changes, in order.
    fn ordered(&self, _: &[R]) -> bool {
        true
    }

    /// One group: the whole batch.
    fn group(_: &R) -> &str {
        ""
    }

    /// None: the event source mapping's on-failure destination takes
    /// records that keep failing.
    fn dead_letter_destination(&self) -> Option<&str> {
        None
    }

    async fn dead_letter(&self, _: &[(&R, &RecordError)]) -> EntryResults {
        Vec::new()
    }

    /// Nothing: a stream has no visibility timeout; the mapping retries.
    async fn back_off(&self, _: &[&R]) {}

    fn respond(&self, failed: Vec<&str>) -> StreamBatchResponse {
        StreamBatchResponse {
            batch_item_failures: failed
                .into_iter()
                .map(|id| StreamItemFailure {
                    item_identifier: id.to_owned(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_is_lambdas_batch_item_failures() {
        let source = StreamSource::<StreamBatchRecord>::new();
        let response = source.respond(vec!["2", "3"]);
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"batchItemFailures":[{"itemIdentifier":"2"},{"itemIdentifier":"3"}]}"#
        );
        assert_eq!(
            serde_json::to_string(&source.respond(Vec::new())).unwrap(),
            r#"{"batchItemFailures":[]}"#
        );
    }

    #[test]
    fn an_undecodable_record_is_logged_under_its_event_id_or_sequence_number() {
        let batch = StreamBatch::from_json(
            r#"{"Records":[
                {"eventID":"e-1","eventName":"INSERT","dynamodb":{"SequenceNumber":"1"}},
                {"eventID":"has space","eventName":"INSERT","dynamodb":{"SequenceNumber":"2"}},
                {"eventName":"INSERT","dynamodb":{"SequenceNumber":"with space"}}]}"#,
        )
        .unwrap();
        let ids: Vec<String> = batch
            .records
            .iter()
            .map(StreamSource::<StreamBatchRecord>::fallback_correlation_id)
            .collect();
        assert_eq!(ids[..2], ["e-1", "2"]);
        assert_eq!(ids[2].len(), 36, "a new one: {}", ids[2]);
    }

    #[test]
    fn a_stream_batch_is_one_ordered_group_without_dead_letters() {
        let batch = StreamBatch::from_json(
            r#"{"Records":[{"eventName":"INSERT","dynamodb":{"SequenceNumber":"1"}}]}"#,
        )
        .unwrap();
        let source = StreamSource::<StreamBatchRecord>::new();
        assert!(source.ordered(&batch.records));
        assert!(source.ordered(&[]));
        assert_eq!(StreamSource::group(&batch.records[0]), "");
        assert_eq!(StreamSource::record_id(&batch.records[0]), Some("1"));
        assert_eq!(source.dead_letter_destination(), None);
    }
}
