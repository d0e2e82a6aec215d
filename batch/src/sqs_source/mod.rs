//! SQS as an [`EventSource`]: records are identified by `messageId` and
//! reported in `batchItemFailures`; FIFO queues run each message group in
//! order; permanently failed records are copied to the DLQ with the reason
//! ([`dead_letter_message`]); retried ones get a longer visibility timeout.
//! [`BatchProcessor::process`] and [`BatchProcessor::handle`] run a step on an
//! SQS event with this source.

mod dead_letter;
mod entry;

use std::collections::BTreeMap;
use std::marker::PhantomData;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use tracing::warn;

use crate::correlation;
use crate::error::RecordError;
use crate::ports::{EntryResults, MessageQueue, OutgoingMessage, VisibilityChange};
use crate::processor::BatchConfig;
use crate::publish::{change_visibility, publish_batch};
use crate::queue_url::{QueueArn, is_fifo, queue_name};
use crate::source::EventSource;
use crate::sqs::SqsRecord;

pub use dead_letter::{MAX_ERROR_MESSAGE_CHARS, dead_letter_message, now_rfc3339};

/// The SQS event source over records of type `R`, with the DLQ, send retry
/// and backoff settings of a [`BatchConfig`] and the queue port they use.
pub struct SqsSource<'a, R> {
    config: &'a BatchConfig,
    queue: &'a dyn MessageQueue,
    records: PhantomData<fn() -> R>,
}

impl<'a, R> SqsSource<'a, R> {
    /// The source as `config` describes it, sending through `queue`.
    pub fn new(config: &'a BatchConfig, queue: &'a dyn MessageQueue) -> Self {
        SqsSource {
            config,
            queue,
            records: PhantomData,
        }
    }
}

impl<R: SqsRecord + 'static> EventSource for SqsSource<'_, R> {
    type Record = R;
    type StepRecord = dyn SqsRecord;
    type Response = SqsBatchResponse;

    fn step_record(record: &R) -> &(dyn SqsRecord + 'static) {
        record
    }

    fn record_id(record: &R) -> Option<&str> {
        record.message_id()
    }

    fn fallback_correlation_id(record: &R) -> String {
        correlation::fallback_correlation_id(record)
    }

    /// A batch from a FIFO queue.
    fn ordered(&self, records: &[R]) -> bool {
        records.iter().any(|r| r.event_source_arn().is_some_and(is_fifo))
    }

    fn trace_header(record: &R) -> Option<&str> {
        record.trace_header()
    }

    fn group(record: &R) -> &str {
        record.message_group_id().unwrap_or_default()
    }

    fn dead_letter_destination(&self) -> Option<&str> {
        self.config.dead_letter_queue_url.as_deref()
    }

    fn last_receive(&self, record: &R) -> Option<u32> {
        let max = self.config.max_receive_count?;
        record.receive_count().filter(|count| *count >= max)
    }

    async fn dead_letter(&self, failures: &[(&R, &RecordError)]) -> EntryResults {
        let Some(dlq) = self.dead_letter_destination() else {
            return Vec::new();
        };
        let failed_at = now_rfc3339();
        let messages: Vec<OutgoingMessage> = failures
            .iter()
            .map(|(record, error)| dead_letter_message(*record, error, &failed_at))
            .collect();
        publish_batch(self.queue, dlq, messages, &self.config.send_retry).await
    }

    /// Raises each record's visibility timeout by the backoff for its receive count.
    async fn back_off(&self, records: &[&R]) {
        let Some(backoff) = self.config.visibility_backoff else {
            return;
        };
        let mut by_queue: BTreeMap<String, Vec<VisibilityChange>> = BTreeMap::new();
        for record in records {
            let (Some(arn), Some(handle)) = (
                record.event_source_arn().and_then(QueueArn::parse),
                record.receipt_handle(),
            ) else {
                continue;
            };
            by_queue
                .entry(arn.url(self.config.sqs_endpoint_url.as_deref()))
                .or_default()
                .push(VisibilityChange {
                    receipt_handle: handle.to_owned(),
                    timeout_seconds: backoff.visibility_timeout(record.receive_count().unwrap_or(1)),
                });
        }
        for (url, changes) in by_queue {
            for result in change_visibility(self.queue, &url, &changes).await {
                if let Err(e) = result {
                    warn!(queue = queue_name(&url), error = %e, "could not back off a failed record");
                }
            }
        }
    }

    fn respond(&self, failed: Vec<&str>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.to_owned();
                failure
            })
            .collect();
        response
    }
}
