//! The batch processor: partial batch failures done right, for any
//! [`EventSource`].
//!
//! [`BatchProcessor::process_records`] takes a batch's records, the
//! invocation's deadline and a [`RecordStep`], and returns one outcome a
//! record and the source's answer; for SQS, [`BatchProcessor::process`] takes
//! the raw event (the lean [`SqsBatch`](crate::sqs::SqsBatch) or Lambda's
//! own type) and answers `batchItemFailures`.
//!
//! - Each record is decoded on its own: one bad body fails only that record.
//! - Failures are classified ([`RecordError::is_permanent`](crate::RecordError::is_permanent)).
//!   Permanent ones go to the source's dead-letter destination when it has
//!   one (and count as handled); retryable ones are reported, and the source
//!   delays their redelivery (SQS: visibility backoff with full jitter).
//! - Unordered sources run records concurrently up to a limit. Ordered ones
//!   (FIFO queues) run each group in order and report the rest of a group
//!   failed after its first failure (or, by setting, the rest of the batch).
//! - Records of one batch with the same business key never race: the first runs,
//!   the later ones follow its outcome (a duplicate is skipped, not failed).
//! - Each step is guarded by an idempotency record (`<step>#<key>`), claimed
//!   before it runs, released if it fails, and completed only after its outgoing
//!   messages were sent. Outgoing messages of the whole batch are sent together,
//!   ten per `SendMessageBatch` call.
//! - When the remaining time falls below a margin, no record starts and nothing
//!   unfinished is reported as done.
//! - Metrics are aggregated per invocation and published on every path.

mod decode;
mod in_span;
mod invocation;
mod outcome;
mod run;
mod settings;
mod settlement;
mod step;
mod step_results;

use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tracing::warn;

use crate::clock::unix_millis;
use crate::metrics::{InvocationMetrics, take_cold_start};
use crate::ports::{IdempotencyStore, MessageQueue, MetricsSink};
use crate::source::EventSource;

pub use invocation::InvocationContext;
pub use outcome::{BatchError, BatchReport, FailureReason, RecordOutcome};
pub use settings::{Backoff, BatchConfig, FifoFailureMode, MAX_VISIBILITY_SECONDS};
pub use settlement::DEAD_LETTERED_LOG_MESSAGE;
pub use step::{EventMessage, Outgoing, RecordContext, RecordStep, idempotency_key};

/// Runs record steps over batches with the semantics in the module docs.
pub struct BatchProcessor {
    config: BatchConfig,
    queue: Arc<dyn MessageQueue>,
    idempotency: Arc<dyn IdempotencyStore>,
    metrics: Arc<dyn MetricsSink>,
}

impl std::fmt::Debug for BatchProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchProcessor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BatchProcessor {
    /// A processor over the given queue (outgoing messages, DLQ, visibility),
    /// idempotency store and metrics sink.
    pub fn new(
        config: BatchConfig,
        queue: Arc<dyn MessageQueue>,
        idempotency: Arc<dyn IdempotencyStore>,
        metrics: Arc<dyn MetricsSink>,
    ) -> Self {
        BatchProcessor {
            config,
            queue,
            idempotency,
            metrics,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// When every call of the invocation must have ended: its deadline less the margin.
    fn settle_by(&self, context: &InvocationContext) -> Instant {
        context
            .deadline
            .checked_sub(self.config.deadline_margin)
            .unwrap_or(context.deadline)
    }

    /// The port outgoing messages go through.
    pub(crate) fn queue(&self) -> &dyn MessageQueue {
        &*self.queue
    }

    /// Processes one batch of `source`'s records and reports what happened
    /// to each (for SQS: [`BatchProcessor::process`]).
    pub async fn process_records<Src, S>(
        &self,
        source: &Src,
        records: &[Src::Record],
        context: &InvocationContext,
        step: &S,
    ) -> Result<BatchReport<Src::Response>, BatchError>
    where
        Src: EventSource,
        S: RecordStep<Src::StepRecord>,
    {
        let mut metrics = InvocationMetrics {
            service: self.config.service.clone(),
            environment: self.config.environment.clone(),
            timestamp_ms: unix_millis(),
            batch_size: records.len(),
            cold_start: take_cold_start(),
            high_resolution: self.config.high_resolution_metrics,
            ..Default::default()
        };

        if let Some(index) = records
            .iter()
            .position(|r| Src::record_id(r).is_none_or(str::is_empty))
        {
            let error = BatchError::MissingMessageId { index };
            warn!(index, error = %error, "batch rejected");
            metrics.failed = records.len();
            self.publish_metrics(&metrics, self.settle_by(context)).await;
            return Err(error);
        }

        let report = self.run_batch(source, records, context, step, metrics).await;
        self.tell_dead_letters::<Src, S>(records, &report.outcomes, step, context)
            .await;
        let all_failed_retryably = !records.is_empty()
            && report.outcomes.iter().all(
                |o| matches!(o, RecordOutcome::Failed { reason, .. } if *reason != FailureReason::Permanent),
            );
        let mut report = report;
        if all_failed_retryably && self.config.error_when_all_retryable {
            report.metrics.failed = records.len();
            self.publish_metrics(&report.metrics, self.settle_by(context))
                .await;
            let first = match &report.outcomes[0] {
                RecordOutcome::Failed { code, .. } => (*code).to_owned(),
                _ => String::new(),
            };
            let error = BatchError::AllRecordsFailed {
                count: records.len(),
                first,
            };
            warn!(error = %error, "batch failed");
            return Err(error);
        }
        self.publish_metrics(&report.metrics, self.settle_by(context))
            .await;
        Ok(report)
    }

    /// Tells the step which records went to the dead-letter destination
    /// ([`RecordStep::dead_lettered`]), one at a time, until `settle_by`.
    async fn tell_dead_letters<Src, S>(
        &self,
        records: &[Src::Record],
        outcomes: &[RecordOutcome],
        step: &S,
        context: &InvocationContext,
    ) where
        Src: EventSource,
        S: RecordStep<Src::StepRecord>,
    {
        let mut dead = records
            .iter()
            .zip(outcomes)
            .filter_map(|(record, outcome)| match outcome {
                RecordOutcome::DeadLettered { code } => Some((record, *code)),
                _ => None,
            });
        let Some(first) = dead.next() else {
            return;
        };
        // Read once, and only for a batch that dead-lettered something.
        let at = crate::clock::now_utc();
        let settle_by = self.settle_by(context);
        for (record, code) in std::iter::once(first).chain(dead) {
            let told =
                tokio::time::timeout_at(settle_by, step.dead_lettered(Src::step_record(record), code, at));
            match told.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    warn!(message_id = Src::record_id(record).unwrap_or_default(), error = %e, "could not record a dead-lettered input")
                }
                Err(_) => {
                    warn!("deadline margin reached while recording dead-lettered inputs");
                    return;
                }
            }
        }
    }

    /// Releases a claim; one left expires with its in-progress time.
    async fn release(&self, key: &str) {
        if let Err(e) = self.idempotency.release(key).await {
            // The claim expires with the invocation, so a retry can still run the step.
            warn!(key, error = %e, "could not release an idempotency claim");
        }
    }

    /// Publishes the invocation's metrics, waiting at most the metrics timeout
    /// and never past `settle_by` (a sink that answers at once, like EMF on
    /// stdout, still publishes after it).
    async fn publish_metrics(&self, metrics: &InvocationMetrics, settle_by: Instant) {
        let until = (Instant::now() + self.config.metrics_timeout).min(settle_by);
        match tokio::time::timeout_at(until, self.metrics.publish(metrics)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "could not publish metrics"),
            Err(_) => warn!(
                timeout_ms = self.config.metrics_timeout.as_millis() as u64,
                "metrics publishing timed out"
            ),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
