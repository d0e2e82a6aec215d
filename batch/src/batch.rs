//! The SQS batch processor: partial batch failures done right.
//!
//! [`BatchProcessor::process`] takes the raw SQS event (any [`SqsBatchEvent`]:
//! the lean [`SqsBatch`](crate::sqs::SqsBatch) or Lambda's own type), the invocation's
//! deadline and a [`RecordStep`], and returns the `batchItemFailures` response:
//!
//! - Each record is decoded on its own: one bad body fails only that record.
//! - Failures are classified ([`RecordError::is_permanent`]). Permanent ones go
//!   to the dead-letter queue when one is configured (and count as handled);
//!   retryable ones are reported, with their visibility timeout raised by
//!   exponential backoff with full jitter.
//! - Standard queues run records concurrently up to a limit. FIFO queues run each
//!   message group in order and report the rest of a group failed after its first
//!   failure (or, by setting, the rest of the batch).
//! - Records of one batch with the same business key never race: the first runs,
//!   the later ones follow its outcome (a duplicate is skipped, not failed).
//! - Each step is guarded by an idempotency record (`<step>#<key>`), claimed
//!   before it runs, released if it fails, and completed only after its outgoing
//!   messages were sent. Outgoing messages of the whole batch are sent together,
//!   ten per `SendMessageBatch` call.
//! - When the remaining time falls below a margin, no record starts and nothing
//!   unfinished is reported as done.
//! - Metrics are aggregated per invocation and published on every path.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rustc_hash::FxHashMap;
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::attributes;
use crate::clock::{unix_millis, unix_seconds};
use crate::correlation::fallback_correlation_id;
use crate::error::RecordError;
use crate::fingerprint::Fingerprint;
use crate::metrics::{InvocationMetrics, take_cold_start};
use crate::ports::{
    Claim, Completion, IdempotencyStore, MessageQueue, MetricsSink, OutgoingMessage, VisibilityChange,
};
use crate::publish::{RetryPolicy, change_visibility, publish_batch};
use crate::queue_url::{QueueArn, is_fifo, queue_name};
use crate::sqs::{SqsBatchEvent, SqsRecord};

/// What a FIFO batch does after a record fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FifoFailureMode {
    /// Report the rest of that message group failed; other groups go on.
    #[default]
    SkipGroup,
    /// Report every record after the failed one failed, in batch order.
    StopBatch,
}

/// Exponential backoff with full jitter for the visibility timeout of retried records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay, seconds.
    pub base_seconds: u32,
    /// The largest delay, seconds (at most SQS's 12 hours).
    pub cap_seconds: u32,
}

/// SQS's largest visibility timeout: 12 hours.
pub const MAX_VISIBILITY_SECONDS: u32 = 43_200;

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_seconds: 2,
            cap_seconds: 900,
        }
    }
}

impl Backoff {
    /// The visibility timeout for a message received `receive_count` times:
    /// uniformly random in `1..=min(cap, base * 2^(receive_count - 1))`.
    pub fn visibility_timeout(&self, receive_count: u32) -> u32 {
        let ceiling = self.ceiling(receive_count);
        fastrand::u32(1..=ceiling.max(1))
    }

    /// The upper bound of [`Backoff::visibility_timeout`] for a receive count.
    pub fn ceiling(&self, receive_count: u32) -> u32 {
        let doublings = receive_count.saturating_sub(1).min(31);
        let exp = u64::from(self.base_seconds) << doublings;
        let cap = self.cap_seconds.min(MAX_VISIBILITY_SECONDS);
        u32::try_from(exp.min(u64::from(cap))).unwrap_or(cap)
    }
}

/// How the batch processor behaves; every field has a production default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// The `Service` metric dimension.
    pub service: String,
    /// The `Environment` metric dimension.
    pub environment: String,
    /// Most records (standard queues) or message groups (FIFO) in flight at once.
    pub max_concurrency: usize,
    /// What a FIFO batch does after a failure.
    pub fifo_failure_mode: FifoFailureMode,
    /// The handler answers at the latest this long before the invocation's
    /// deadline: every call after the records (dead-letter sends, outgoing
    /// sends, completions, visibility changes, metrics) ends by then.
    pub deadline_margin: Duration,
    /// Time kept for settling the batch: no record starts, and running steps
    /// are cut off, once less than `deadline_margin + settlement_reserve` is left.
    pub settlement_reserve: Duration,
    /// Return an error (so Lambda backs off) when every record failed retryably.
    pub error_when_all_retryable: bool,
    /// Where permanently failed records go; `None` reports them as failures.
    pub dead_letter_queue_url: Option<String>,
    /// Raise the visibility timeout of retryable failures.
    pub visibility_backoff: Option<Backoff>,
    /// How long a completed idempotency record is kept.
    pub idempotency_ttl: Duration,
    /// Retries of outgoing sends.
    pub send_retry: RetryPolicy,
    /// Longest wait for the metrics sink before giving up on it.
    pub metrics_timeout: Duration,
    /// A custom SQS endpoint, for queue URLs derived from event source ARNs.
    pub sqs_endpoint_url: Option<String>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            service: "orderflow".to_owned(),
            environment: "development".to_owned(),
            max_concurrency: 10,
            fifo_failure_mode: FifoFailureMode::SkipGroup,
            deadline_margin: Duration::from_secs(2),
            settlement_reserve: Duration::from_secs(1),
            error_when_all_retryable: true,
            dead_letter_queue_url: None,
            visibility_backoff: Some(Backoff::default()),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            send_retry: RetryPolicy::default(),
            metrics_timeout: Duration::from_secs(1),
            sqs_endpoint_url: None,
        }
    }
}

/// The invocation's identity and deadline.
#[derive(Clone, Debug)]
pub struct InvocationContext {
    /// The Lambda request ID.
    pub request_id: String,
    /// When Lambda will stop the invocation.
    pub deadline: Instant,
}

impl InvocationContext {
    /// The context of a Lambda invocation.
    pub fn from_lambda(context: &lambda_runtime::Context) -> Self {
        // Lambda sends the deadline in Unix milliseconds; `cargo lambda watch`
        // sends a fixed 600000 (ten minutes from now). No real deadline is before 2001.
        let remaining = if context.deadline < 1_000_000_000_000 {
            Duration::from_millis(context.deadline)
        } else {
            Duration::from_millis(context.deadline.saturating_sub(unix_millis()))
        };
        InvocationContext {
            request_id: context.request_id.clone(),
            deadline: Instant::now() + remaining,
        }
    }

    /// A context with `timeout` left, for local runs and tests.
    pub fn with_timeout(request_id: impl Into<String>, timeout: Duration) -> Self {
        InvocationContext {
            request_id: request_id.into(),
            deadline: Instant::now() + timeout,
        }
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

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

/// What a step sees of the record it runs for.
#[derive(Debug)]
pub struct RecordContext<'a> {
    /// The SQS message ID.
    pub message_id: &'a str,
    /// The resolved correlation ID.
    pub correlation_id: &'a str,
    /// The record's idempotency key, `<step>#<key>`: also the deduplication
    /// ID of the messages the step sends to FIFO queues.
    pub idempotency_key: &'a str,
    /// The whole record, attributes included.
    pub message: &'a dyn SqsRecord,
    /// When the record started, on the batch's clock (which follows tokio's,
    /// so paused tests and local runs agree with their timers). Steps stamp
    /// their events with it: one clock read a batch instead of one a record.
    pub started_at: OffsetDateTime,
}

/// One business step, run once per record.
pub trait RecordStep: Send + Sync {
    /// The decoded input.
    type Input: Send;

    /// The step's name, the first part of its idempotency keys (`billing`).
    fn name(&self) -> &'static str;

    /// Decodes and validates a record. Contract violations must be permanent errors.
    fn decode(&self, message: &dyn SqsRecord) -> Result<Self::Input, RecordError>;

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
        context: &RecordContext<'_>,
    ) -> impl Future<Output = Result<Vec<Outgoing>, RecordError>> + Send;
}

/// The body of a record, or [`RecordError::MissingBody`].
pub fn body<R: SqsRecord + ?Sized>(message: &R) -> Result<&str, RecordError> {
    message.body().ok_or(RecordError::MissingBody)
}

/// Why a record was reported failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// Its own fault, and it could not be dead-lettered.
    Permanent,
    /// It failed and may succeed later.
    Retryable,
    /// An earlier record of its FIFO group (or batch) failed, so it did not run.
    Skipped,
    /// The invocation ran out of time before it finished.
    Deadline,
}

/// What happened to one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The step ran and its messages were sent.
    Processed,
    /// The step had already run for this business key.
    Duplicate,
    /// Moved to the dead-letter queue by the fast path.
    DeadLettered {
        /// The error's code.
        code: &'static str,
    },
    /// Reported in `batchItemFailures`.
    Failed {
        /// Why.
        reason: FailureReason,
        /// The error's code.
        code: &'static str,
    },
}

/// The response and what the batch did.
#[derive(Clone, Debug)]
pub struct BatchReport {
    /// What Lambda gets.
    pub response: SqsBatchResponse,
    /// One outcome per record, in batch order.
    pub outcomes: Vec<RecordOutcome>,
    /// The invocation's metrics, as published.
    pub metrics: InvocationMetrics,
    /// Messages sent, by destination queue URL (the DLQ included).
    pub forwarded: BTreeMap<String, usize>,
}

/// Why an invocation fails as a whole (Lambda then retries the whole batch).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A record has no `messageId`, so it could not be reported alone.
    #[error(
        "record {index} has no messageId, so it cannot be reported; failing the invocation so the whole batch is retried"
    )]
    MissingMessageId {
        /// The record's index in the batch.
        index: usize,
    },
    /// Every record failed retryably: fail so Lambda backs off.
    #[error(
        "all {count} records failed with retryable errors (first: {first}); failing the invocation so Lambda backs off"
    )]
    AllRecordsFailed {
        /// Records in the batch.
        count: usize,
        /// The first record's error.
        first: String,
    },
}

impl BatchError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            BatchError::MissingMessageId { .. } => "BatchError.MissingMessageId",
            BatchError::AllRecordsFailed { .. } => "BatchError.AllRecordsFailed",
        }
    }
}

impl From<BatchError> for lambda_runtime::Diagnostic {
    fn from(error: BatchError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// How a record enters the run.
enum Stage {
    /// Decoded; runs under its idempotency key.
    Ready,
    /// Same business key and fingerprint as an earlier record: its outcome follows that one's.
    Follower { leader: usize },
    /// Same business key as an earlier record, other content: refused as a
    /// reuse of the key when the leader's content holds the key, else retried
    /// (the store decides next time).
    Rival { leader: usize },
    /// Not run: it could not be decoded, or reuses an earlier record's key for other content.
    Refused(RecordError),
}

/// The batch, decoded: how each record enters the run, the decoded inputs
/// (taken by the run), and each record's idempotency key (empty when undecodable).
struct Decoding<T> {
    stages: Vec<Stage>,
    inputs: Vec<Option<T>>,
    keys: RecordStrings,
    /// Each record's correlation ID (empty when undecodable).
    correlation_ids: RecordStrings,
    /// Each decoded record's fingerprint.
    fingerprints: Vec<Option<Fingerprint>>,
}

/// What the steps left for settlement: each record's status, and whether its
/// key is held for its fingerprint (which decides its rivals).
struct StepResults {
    statuses: Vec<StepStatus>,
    held: Vec<bool>,
    /// Every call of the settlement ends by then (the deadline less its margin).
    settle_by: Instant,
}

/// Where a record stands after the steps ran.
enum StepStatus {
    NotRun,
    Skipped,
    /// Claimed and running; if it stays so, the deadline cut it off.
    Claimed,
    Succeeded(Vec<Outgoing>),
    Duplicate,
    Failed(RecordError),
}

/// Runs record steps over SQS batches with the semantics in the module docs.
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

/// What the workers take and record as records run, under one lock.
struct Progress<T> {
    /// The decoded inputs, each taken by the record's run.
    inputs: Vec<Option<T>>,
    statuses: Vec<StepStatus>,
    /// Whether the record's key is held for its fingerprint: its claim was
    /// acquired, or found completed or in progress for the same fingerprint.
    held: Vec<bool>,
    /// Milliseconds, one a record that ran (and one a record that failed to decode).
    latencies: Vec<f64>,
}

/// Shared state of one run of the steps.
struct Run<'a, S: RecordStep, R> {
    step: &'a S,
    records: &'a [R],
    stages: &'a [Stage],
    keys: &'a RecordStrings,
    correlation_ids: &'a RecordStrings,
    fingerprints: &'a [Option<Fingerprint>],
    progress: Mutex<Progress<S::Input>>,
    cutoff: Instant,
    fifo: bool,
    in_progress_until: u64,
    /// The wall-clock time at `started`: a record's time is derived from the
    /// deadline check's clock read instead of reading the wall clock again.
    wall_at_start: OffsetDateTime,
    started: Instant,
}

impl<S: RecordStep, R> Run<'_, S, R> {
    /// The wall-clock time at `instant`.
    fn wall_at(&self, instant: Instant) -> OffsetDateTime {
        time::Duration::try_from(instant.saturating_duration_since(self.started))
            .ok()
            .and_then(|elapsed| self.wall_at_start.checked_add(elapsed))
            .unwrap_or(self.wall_at_start)
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

    /// Processes one batch and returns what Lambda gets.
    pub async fn handle<E: SqsBatchEvent, S: RecordStep>(
        &self,
        event: &E,
        context: &InvocationContext,
        step: &S,
    ) -> Result<SqsBatchResponse, BatchError> {
        self.process(event, context, step).await.map(|r| r.response)
    }

    /// Processes one batch and reports what happened to each record.
    pub async fn process<E: SqsBatchEvent, S: RecordStep>(
        &self,
        event: &E,
        context: &InvocationContext,
        step: &S,
    ) -> Result<BatchReport, BatchError> {
        let records = event.records();
        let mut metrics = InvocationMetrics {
            service: self.config.service.clone(),
            environment: self.config.environment.clone(),
            timestamp_ms: unix_millis(),
            batch_size: records.len(),
            cold_start: take_cold_start(),
            ..Default::default()
        };

        if let Some(index) = records
            .iter()
            .position(|r| r.message_id().is_none_or(str::is_empty))
        {
            let error = BatchError::MissingMessageId { index };
            warn!(index, error = %error, "batch rejected");
            metrics.failed = records.len();
            self.publish_metrics(&metrics, self.settle_by(context)).await;
            return Err(error);
        }

        let report = self.run_batch(records, context, step, metrics).await;
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

    async fn run_batch<R: SqsRecord, S: RecordStep>(
        &self,
        records: &[R],
        context: &InvocationContext,
        step: &S,
        mut metrics: InvocationMetrics,
    ) -> BatchReport {
        let fifo = records.iter().any(|r| r.event_source_arn().is_some_and(is_fifo));
        let mut latencies = Vec::with_capacity(records.len());
        let Decoding {
            stages,
            inputs,
            keys,
            correlation_ids,
            fingerprints,
        } = decode_all(step, records, &mut latencies);

        let settle_by = self.settle_by(context);
        let cutoff = settle_by
            .checked_sub(self.config.settlement_reserve)
            .unwrap_or(settle_by);
        let remaining = context.remaining().as_secs() + 1;
        let wall_now = crate::clock::now_utc();
        let unix_now = u64::try_from(wall_now.unix_timestamp()).unwrap_or(0);
        let run = Run {
            step,
            records,
            stages: &stages,
            keys: &keys,
            correlation_ids: &correlation_ids,
            fingerprints: &fingerprints,
            progress: Mutex::new(Progress {
                inputs,
                statuses: (0..records.len()).map(|_| StepStatus::NotRun).collect(),
                held: vec![false; records.len()],
                latencies,
            }),
            cutoff,
            fifo,
            in_progress_until: unix_now + remaining,
            wall_at_start: wall_now,
            started: Instant::now(),
        };
        let (order, chains) = self.chains(records, &stages, fifo);
        // `limit` workers take the chains in order: one future per worker, not
        // per record, so a large batch costs no per-record task allocation.
        let next_chain = AtomicUsize::new(0);
        let worker_count = self.config.max_concurrency.max(1).min(chains.len());
        let workers: FuturesUnordered<_> = (0..worker_count)
            .map(|_| async {
                let mut now = Instant::now();
                while let Some(chain) = chains.get(next_chain.fetch_add(1, Ordering::Relaxed)) {
                    now = self.run_chain(&run, &order[chain.clone()], now).await;
                }
            })
            .collect();
        let steps = workers.collect::<()>();
        if tokio::time::timeout_at(cutoff, steps).await.is_err() {
            warn!("deadline margin reached: unfinished records are reported failed");
        }

        let Progress {
            statuses,
            held,
            latencies,
            ..
        } = run
            .progress
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        metrics.latencies_ms = latencies;
        let steps = StepResults {
            statuses,
            held,
            settle_by,
        };
        self.settle(records, stages, (&keys, &fingerprints), steps, metrics, fifo)
            .await
    }

    /// Which records run one after another: every record alone on standard
    /// queues, each message group (or the whole batch) on FIFO queues. Returns
    /// record indices in run order, and each chain's range of them.
    fn chains(
        &self,
        records: &[impl SqsRecord],
        stages: &[Stage],
        fifo: bool,
    ) -> (Vec<usize>, Vec<Range<usize>>) {
        if !fifo {
            let order: Vec<usize> = (0..records.len())
                .filter(|&i| matches!(stages[i], Stage::Ready))
                .collect();
            let chains = (0..order.len()).map(|i| i..i + 1).collect();
            return (order, chains);
        }
        if self.config.fifo_failure_mode == FifoFailureMode::StopBatch {
            let all = 0..records.len();
            return (all.clone().collect(), std::iter::once(all).collect());
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let g = *index.entry(group_of(r)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        let mut order = Vec::with_capacity(records.len());
        let mut chains = Vec::with_capacity(groups.len());
        for group in groups {
            chains.push(order.len()..order.len() + group.len());
            order.extend(group);
        }
        (order, chains)
    }

    /// Runs one chain's records in order, from `now` (the clock as the last
    /// record of this worker ended, so a record's start costs no clock read);
    /// returns the time its last record ended.
    async fn run_chain<S: RecordStep, R: SqsRecord>(
        &self,
        run: &Run<'_, S, R>,
        chain: &[usize],
        mut now: Instant,
    ) -> Instant {
        for (pos, &i) in chain.iter().enumerate() {
            let ok = match &run.stages[i] {
                Stage::Refused(e) => e.is_permanent() && self.config.dead_letter_queue_url.is_some(),
                Stage::Follower { .. } | Stage::Rival { .. } => true,
                Stage::Ready => {
                    if now >= run.cutoff {
                        return now; // the rest stays NotRun: reported as cut off by the deadline
                    }
                    let (ok, ended) = self.run_record(run, i, now).await;
                    now = ended;
                    ok
                }
            };
            if !ok && run.fifo {
                let statuses = &mut lock(&run.progress).statuses;
                for &j in &chain[pos + 1..] {
                    statuses[j] = StepStatus::Skipped;
                }
                return now;
            }
        }
        now
    }

    /// Claims, runs and records one step, which starts `started`; returns
    /// whether it succeeded or was a duplicate, and when it ended.
    async fn run_record<S: RecordStep, R: SqsRecord>(
        &self,
        run: &Run<'_, S, R>,
        i: usize,
        started: Instant,
    ) -> (bool, Instant) {
        let record = &run.records[i];
        let message_id = record.message_id().unwrap_or_default();
        let Some(input) = lock(&run.progress).inputs[i].take() else {
            return (false, started); // never: each ready record runs once
        };
        let key = run.keys.get(i);
        let Some(fingerprint) = run.fingerprints[i] else {
            return (false, started); // never: every decoded record has one
        };
        let correlation_id = run.correlation_ids.get(i);
        let started_at = run.wall_at(started);
        let span = info_span!("record", messageId = message_id, correlationId = correlation_id);
        async {
            let claim = self
                .idempotency
                .claim(
                    key,
                    fingerprint,
                    u64::try_from(started_at.unix_timestamp()).unwrap_or(0),
                    run.in_progress_until,
                )
                .await;
            // Whether this record's fingerprint holds the key (its rivals depend on it);
            // recorded with the status, under the lock taken for it anyway.
            let held = matches!(claim, Ok(Claim::Acquired | Claim::Completed | Claim::InProgress));
            let status = match claim {
                Err(e) => StepStatus::Failed(e.into()),
                Ok(Claim::Completed) => {
                    debug!(key, "already done: skipped");
                    StepStatus::Duplicate
                }
                Ok(Claim::InProgress) => StepStatus::Failed(RecordError::InProgress { key: key.to_owned() }),
                Ok(Claim::Reused) => StepStatus::Failed(RecordError::IdempotencyKeyReused),
                Ok(Claim::Acquired) => {
                    {
                        let mut progress = lock(&run.progress);
                        progress.statuses[i] = StepStatus::Claimed;
                        progress.held[i] = true;
                    }
                    let context = RecordContext {
                        message_id,
                        correlation_id,
                        idempotency_key: key,
                        message: record,
                        started_at,
                    };
                    match run.step.run(input, &context).await {
                        Ok(messages) => StepStatus::Succeeded(messages),
                        Err(e) => {
                            self.release(key).await;
                            StepStatus::Failed(e)
                        }
                    }
                }
            };
            let ok = matches!(status, StepStatus::Succeeded(_) | StepStatus::Duplicate);
            if let StepStatus::Failed(e) = &status {
                warn!(code = e.code(), error = %e, permanent = e.is_permanent(), "record failed");
            }
            let ended = Instant::now();
            let mut progress = lock(&run.progress);
            progress.latencies.push((ended - started).as_secs_f64() * 1000.0);
            progress.statuses[i] = status;
            progress.held[i] = held;
            (ok, ended)
        }
        .instrument(span)
        .await
    }

    /// Turns step statuses into outcomes: dead-letters, FIFO cuts, sends,
    /// idempotency completion, visibility backoff, the response and metrics.
    async fn settle(
        &self,
        records: &[impl SqsRecord],
        stages: Vec<Stage>,
        (keys, fingerprints): (&RecordStrings, &[Option<Fingerprint>]),
        steps: StepResults,
        mut metrics: InvocationMetrics,
        fifo: bool,
    ) -> BatchReport {
        let n = records.len();
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; n];
        let mut pending: Vec<Option<Vec<Outgoing>>> = (0..n).map(|_| None).collect();
        let mut releases: Vec<&str> = Vec::new();
        let mut retry_backoff: Vec<usize> = Vec::new();
        let mut dead_letters: Vec<(usize, RecordError)> = Vec::new();
        let mut followers: Vec<(usize, usize)> = Vec::new();

        let StepResults {
            statuses,
            held,
            settle_by,
        } = steps;
        for (i, (stage, status)) in stages.into_iter().zip(statuses).enumerate() {
            let failed = |reason, code| Some(RecordOutcome::Failed { reason, code });
            outcomes[i] = match (stage, status) {
                (Stage::Refused(e), _) if e.is_permanent() && self.config.dead_letter_queue_url.is_some() => {
                    dead_letters.push((i, e));
                    None
                }
                (Stage::Refused(e), _) => {
                    let reason = if e.is_permanent() {
                        FailureReason::Permanent
                    } else {
                        FailureReason::Retryable
                    };
                    failed(reason, e.code())
                }
                (Stage::Follower { leader }, _) => {
                    followers.push((i, leader));
                    None
                }
                (Stage::Rival { leader }, _) if held[leader] => {
                    let e = RecordError::IdempotencyKeyReused;
                    warn!(
                        messageId = records[i].message_id().unwrap_or_default(),
                        code = e.code(),
                        error = %e,
                        "record rejected"
                    );
                    if self.config.dead_letter_queue_url.is_some() {
                        dead_letters.push((i, e));
                        None
                    } else {
                        failed(FailureReason::Permanent, e.code())
                    }
                }
                (Stage::Rival { .. }, _) => failed(FailureReason::Retryable, "KeyContended"),
                (Stage::Ready, StepStatus::Succeeded(messages)) => {
                    pending[i] = Some(messages);
                    None
                }
                (Stage::Ready, StepStatus::Duplicate) => Some(RecordOutcome::Duplicate),
                (Stage::Ready, StepStatus::Failed(e))
                    if e.is_permanent() && self.config.dead_letter_queue_url.is_some() =>
                {
                    dead_letters.push((i, e));
                    None
                }
                (Stage::Ready, StepStatus::Failed(e)) => {
                    if e.is_permanent() {
                        failed(FailureReason::Permanent, e.code())
                    } else {
                        retry_backoff.push(i);
                        failed(FailureReason::Retryable, e.code())
                    }
                }
                (Stage::Ready, StepStatus::Skipped) => failed(FailureReason::Skipped, "GroupFailed"),
                (Stage::Ready, StepStatus::NotRun) => failed(FailureReason::Deadline, DEADLINE_REACHED),
                (Stage::Ready, StepStatus::Claimed) => {
                    releases.push(keys.get(i));
                    failed(FailureReason::Deadline, DEADLINE_REACHED)
                }
            };
        }

        let mut forwarded: BTreeMap<String, usize> = BTreeMap::new();
        self.dead_letter(records, dead_letters, settle_by, &mut outcomes, &mut forwarded)
            .await;

        if fifo {
            self.cut_failed_groups(records, keys, &mut outcomes, &mut pending, &mut releases);
        }
        let mut completions = Vec::new();
        self.send_pending(
            pending,
            (keys, fingerprints),
            settle_by,
            &mut outcomes,
            &mut releases,
            &mut completions,
            &mut forwarded,
        )
        .await;

        for (i, leader) in followers {
            outcomes[i] = Some(match &outcomes[leader] {
                Some(RecordOutcome::Processed | RecordOutcome::Duplicate) => RecordOutcome::Duplicate,
                _ => RecordOutcome::Failed {
                    reason: FailureReason::Retryable,
                    code: "DuplicateOfFailed",
                },
            });
        }

        let keep_until = unix_seconds() + self.config.idempotency_ttl.as_secs();
        let limit = self.config.max_concurrency.max(1);
        if !completions.is_empty() {
            match before(settle_by, self.idempotency.complete_all(&completions, keep_until)).await {
                Some(results) => {
                    for (completion, result) in completions.iter().zip(results) {
                        if let Err(e) = result {
                            // The effect happened; a redelivery after the claim expires may repeat it.
                            warn!(key = completion.key, error = %e, "could not mark the step completed");
                        }
                    }
                }
                None => warn!(
                    steps = completions.len(),
                    "deadline margin reached before the steps were marked completed; their claims expire"
                ),
            }
        }
        let released = futures::stream::iter(releases).for_each_concurrent(limit, |key| self.release(key));
        if before(settle_by, released).await.is_none() {
            warn!("deadline margin reached before every claim was released; the rest expire");
        }

        let outcomes: Vec<RecordOutcome> = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(RecordOutcome::Failed {
                    reason: FailureReason::Retryable,
                    code: "Unsettled",
                })
            })
            .collect();
        if before(settle_by, self.back_off(records, &retry_backoff, &outcomes))
            .await
            .is_none()
        {
            warn!("deadline margin reached before every failed record was backed off");
        }

        let mut response = SqsBatchResponse::default();
        let mut reported: HashSet<&str> = HashSet::new();
        for (record, outcome) in records.iter().zip(&outcomes) {
            if let RecordOutcome::DeadLettered { code } | RecordOutcome::Failed { code, .. } = outcome
                && *code == RecordError::IdempotencyKeyReused.code()
            {
                metrics.keys_reused += 1;
            }
            match outcome {
                RecordOutcome::Processed => metrics.processed += 1,
                RecordOutcome::Duplicate => metrics.duplicates_skipped += 1,
                RecordOutcome::DeadLettered { .. } => metrics.sent_to_dlq += 1,
                RecordOutcome::Failed { .. } => {
                    metrics.failed += 1;
                    let id = record.message_id().unwrap_or_default();
                    if !id.is_empty() && reported.insert(id) {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id.to_owned();
                        response.batch_item_failures.push(failure);
                    }
                }
            }
        }
        info!(
            records = n,
            processed = metrics.processed,
            duplicates = metrics.duplicates_skipped,
            deadLettered = metrics.sent_to_dlq,
            failed = metrics.failed,
            "batch done"
        );
        BatchReport {
            response,
            outcomes,
            metrics,
            forwarded,
        }
    }

    async fn dead_letter(
        &self,
        records: &[impl SqsRecord],
        dead_letters: Vec<(usize, RecordError)>,
        settle_by: Instant,
        outcomes: &mut [Option<RecordOutcome>],
        forwarded: &mut BTreeMap<String, usize>,
    ) {
        let Some(dlq) = self.config.dead_letter_queue_url.as_deref() else {
            return;
        };
        if dead_letters.is_empty() {
            return;
        }
        let failed_at = now_rfc3339();
        let messages: Vec<OutgoingMessage> = dead_letters
            .iter()
            .map(|(i, e)| dead_letter_message(&records[*i], e, &failed_at))
            .collect();
        let Some(results) = before(
            settle_by,
            publish_batch(&*self.queue, dlq, messages, &self.config.send_retry),
        )
        .await
        else {
            warn!(
                records = dead_letters.len(),
                "deadline margin reached before the dead-letter sends finished; those records are reported failed"
            );
            for (i, _) in dead_letters {
                outcomes[i] = Some(RecordOutcome::Failed {
                    reason: FailureReason::Deadline,
                    code: DEADLINE_REACHED,
                });
            }
            return;
        };
        let delivered = results.iter().filter(|r| r.is_ok()).count();
        if delivered > 0 {
            *forwarded.entry(dlq.to_owned()).or_default() += delivered;
        }
        for ((i, error), result) in dead_letters.into_iter().zip(results) {
            outcomes[i] = Some(match result {
                Ok(()) => RecordOutcome::DeadLettered { code: error.code() },
                Err(send_error) => {
                    warn!(
                        messageId = records[i].message_id().unwrap_or_default(),
                        error = %send_error,
                        "could not dead-letter a permanently failed record; reporting it failed"
                    );
                    RecordOutcome::Failed {
                        reason: FailureReason::Permanent,
                        code: error.code(),
                    }
                }
            });
        }
    }

    /// FIFO: after a record is reported failed, every later record of its
    /// group (or of the batch) is too, and their unsent messages are dropped.
    fn cut_failed_groups<'k>(
        &self,
        records: &[impl SqsRecord],
        keys: &'k RecordStrings,
        outcomes: &mut [Option<RecordOutcome>],
        pending: &mut [Option<Vec<Outgoing>>],
        releases: &mut Vec<&'k str>,
    ) {
        let whole_batch = self.config.fifo_failure_mode == FifoFailureMode::StopBatch;
        let mut failed_groups: HashSet<&str> = HashSet::new();
        let mut batch_failed = false;
        for (i, record) in records.iter().enumerate() {
            let group = group_of(record);
            let cut = batch_failed || failed_groups.contains(group);
            if cut
                && !matches!(
                    outcomes[i],
                    Some(RecordOutcome::DeadLettered { .. } | RecordOutcome::Failed { .. })
                )
            {
                if pending[i].take().is_some() {
                    releases.push(keys.get(i));
                }
                outcomes[i] = Some(RecordOutcome::Failed {
                    reason: FailureReason::Skipped,
                    code: "GroupFailed",
                });
            }
            if matches!(outcomes[i], Some(RecordOutcome::Failed { .. })) {
                failed_groups.insert(group);
                batch_failed |= whole_batch;
            }
        }
    }

    /// Sends every succeeded record's messages, per destination queue, and
    /// decides those records' outcomes.
    #[allow(clippy::too_many_arguments)] // until settlement owns its state (the architecture issue)
    async fn send_pending<'k>(
        &self,
        pending: Vec<Option<Vec<Outgoing>>>,
        (keys, fingerprints): (&'k RecordStrings, &[Option<Fingerprint>]),
        settle_by: Instant,
        outcomes: &mut [Option<RecordOutcome>],
        releases: &mut Vec<&'k str>,
        completions: &mut Vec<Completion<'k>>,
        forwarded: &mut BTreeMap<String, usize>,
    ) {
        // Per queue, in batch order: the messages and the record each came from.
        let mut queues: Vec<(Arc<str>, Vec<OutgoingMessage>, Vec<usize>)> = Vec::new();
        let mut sent: Vec<usize> = Vec::with_capacity(pending.len());
        for (i, entry) in pending.into_iter().enumerate() {
            let Some(messages) = entry else { continue };
            sent.push(i);
            outcomes[i] = Some(RecordOutcome::Processed);
            for outgoing in messages {
                let slot = match queues.iter().position(|(q, _, _)| *q == outgoing.queue_url) {
                    Some(slot) => slot,
                    None => {
                        queues.push((outgoing.queue_url.clone(), Vec::new(), Vec::new()));
                        queues.len() - 1
                    }
                };
                queues[slot].1.push(outgoing.message);
                queues[slot].2.push(i);
            }
        }
        let retry = &self.config.send_retry;
        let (destinations, sends): (Vec<_>, Vec<_>) = queues
            .into_iter()
            .map(|(url, messages, owners)| {
                let destination = Arc::clone(&url);
                let send = async move {
                    before(
                        settle_by,
                        publish_batch(&*self.queue, &destination, messages, retry),
                    )
                    .await
                };
                ((url, owners), send)
            })
            .unzip();
        let results = futures::future::join_all(sends).await;
        for ((url, owners), results) in destinations.iter().zip(results) {
            let Some(results) = results else {
                // Some may have gone out before the cut: the retry's duplicates are skipped downstream.
                warn!(
                    queue = queue_name(url),
                    "deadline margin reached before a destination's sends finished; their records will be retried"
                );
                for &i in owners {
                    outcomes[i] = Some(RecordOutcome::Failed {
                        reason: FailureReason::Deadline,
                        code: DEADLINE_REACHED,
                    });
                }
                continue;
            };
            let mut delivered = 0;
            for (&i, result) in owners.iter().zip(results) {
                match result {
                    Ok(()) => delivered += 1,
                    Err(e) => {
                        if outcomes[i] == Some(RecordOutcome::Processed) {
                            warn!(queue = queue_name(url), error = %e, "could not send a record's message; the record will be retried");
                        }
                        outcomes[i] = Some(RecordOutcome::Failed {
                            reason: FailureReason::Retryable,
                            code: e.kind.code(),
                        });
                    }
                }
            }
            if delivered > 0 {
                *forwarded.entry(url.to_string()).or_default() += delivered;
            }
        }
        for i in sent {
            if let (Some(RecordOutcome::Processed), Some(fingerprint)) = (&outcomes[i], fingerprints[i]) {
                completions.push(Completion {
                    key: keys.get(i),
                    fingerprint,
                });
            } else {
                releases.push(keys.get(i));
            }
        }
    }

    /// Raises the visibility timeout of records that ran and failed retryably.
    async fn back_off(&self, records: &[impl SqsRecord], retried: &[usize], outcomes: &[RecordOutcome]) {
        let Some(backoff) = self.config.visibility_backoff else {
            return;
        };
        let mut by_queue: BTreeMap<String, Vec<VisibilityChange>> = BTreeMap::new();
        for &i in retried {
            if !matches!(
                outcomes[i],
                RecordOutcome::Failed {
                    reason: FailureReason::Retryable,
                    ..
                }
            ) {
                continue;
            }
            let record = &records[i];
            let (Some(arn), Some(handle)) = (
                record.event_source_arn().and_then(QueueArn::parse),
                record.receipt_handle(),
            ) else {
                continue;
            };
            let receive_count = record.receive_count().unwrap_or(1);
            by_queue
                .entry(arn.url(self.config.sqs_endpoint_url.as_deref()))
                .or_default()
                .push(VisibilityChange {
                    receipt_handle: handle.to_owned(),
                    timeout_seconds: backoff.visibility_timeout(receive_count),
                });
        }
        for (url, changes) in by_queue {
            let results = change_visibility(&*self.queue, &url, &changes).await;
            for result in results {
                if let Err(e) = result {
                    warn!(queue = queue_name(&url), error = %e, "could not back off a failed record");
                }
            }
        }
    }

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

/// Decodes every record, in order, and marks records whose business key an
/// earlier record of the batch has as its followers.
fn decode_all<S: RecordStep>(
    step: &S,
    records: &[impl SqsRecord],
    latencies: &mut Vec<f64>,
) -> Decoding<S::Input> {
    let n = records.len();
    let mut inputs = Vec::with_capacity(n);
    let mut keys = RecordStrings::with_capacity(n);
    let mut correlation_ids = RecordStrings::with_capacity(n);
    let mut fingerprints = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    for record in records {
        let started = std::time::Instant::now();
        match step.decode(record) {
            Ok(input) => {
                keys.push(&idempotency_key_parts(step.name(), &step.key(&input)));
                correlation_ids.push(&[step.correlation_id(&input)]);
                fingerprints.push(Some(step.fingerprint(&input)));
                inputs.push(Some(input));
                errors.push(None);
            }
            Err(e) => {
                let correlation_id = fallback_correlation_id(record);
                let span = info_span!(
                    "record",
                    messageId = record.message_id().unwrap_or_default(),
                    correlationId = %correlation_id
                );
                span.in_scope(
                    || warn!(code = e.code(), error = %e, permanent = e.is_permanent(), "record rejected"),
                );
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                keys.push(&[]);
                correlation_ids.push(&[]);
                fingerprints.push(None);
                inputs.push(None);
                errors.push(Some(e));
            }
        }
    }
    let mut leaders: FxHashMap<&str, usize> = FxHashMap::default();
    leaders.reserve(n);
    let stages: Vec<Stage> = errors
        .into_iter()
        .enumerate()
        .map(|(i, error)| match error {
            Some(e) => Stage::Refused(e),
            None => match leaders.get(keys.get(i)) {
                Some(&leader) if fingerprints[leader] == fingerprints[i] => {
                    debug!(
                        messageId = records[i].message_id(),
                        "same business key as an earlier record"
                    );
                    Stage::Follower { leader }
                }
                Some(&leader) => Stage::Rival { leader },
                None => {
                    leaders.insert(keys.get(i), i);
                    Stage::Ready
                }
            },
        })
        .collect();
    drop(leaders);
    for (stage, input) in std::iter::zip(&stages, &mut inputs) {
        if !matches!(stage, Stage::Ready) {
            *input = None; // never runs
        }
    }
    Decoding {
        stages,
        inputs,
        keys,
        correlation_ids,
        fingerprints,
    }
}

/// One string per record, end to end in one buffer: a batch's keys or
/// correlation IDs cost one growing allocation instead of one each.
struct RecordStrings {
    text: String,
    ends: Vec<usize>,
}

impl RecordStrings {
    fn with_capacity(records: usize) -> Self {
        RecordStrings {
            // Keys and UUIDs run to a few dozen bytes.
            text: String::with_capacity(records * 40),
            ends: Vec::with_capacity(records),
        }
    }

    /// Appends the next record's string, written as the concatenation of `parts`.
    fn push(&mut self, parts: &[&str]) {
        for part in parts {
            self.text.push_str(part);
        }
        self.ends.push(self.text.len());
    }

    /// Record `i`'s string (empty past the last record).
    fn get(&self, i: usize) -> &str {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or_default()
    }
}

/// The idempotency key of a step's business key, `<step>#<key>` (also the
/// deduplication ID of the messages the step sends to FIFO queues).
pub fn idempotency_key(step: &str, key: &str) -> String {
    idempotency_key_parts(step, key).concat()
}

/// [`idempotency_key`] as the parts it is written from, end to end.
fn idempotency_key_parts<'a>(step: &'a str, key: &'a str) -> [&'a str; 3] {
    [step, "#", key]
}

/// The FIFO message group of a record (empty on standard queues).
fn group_of(record: &impl SqsRecord) -> &str {
    record.message_group_id().unwrap_or_default()
}

/// The code of records the invocation's deadline margin cut off.
const DEADLINE_REACHED: &str = "DeadlineReached";

/// Runs one call of the settlement unless `bound` passes first; starts
/// nothing once it has passed.
async fn before<T>(bound: Instant, call: impl Future<Output = T>) -> Option<T> {
    if Instant::now() >= bound {
        return None;
    }
    tokio::time::timeout_at(bound, call).await.ok()
}

/// Longest `ErrorMessage` attribute on a dead-lettered message.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1024;
/// SQS allows at most 10 message attributes per message.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// The DLQ copy of a failed record: its body, the error attributes, and as
/// many of its own string attributes as SQS's limit of 10 leaves room for.
pub fn dead_letter_message(
    record: &(impl SqsRecord + ?Sized),
    error: &RecordError,
    failed_at: &str,
) -> OutgoingMessage {
    let body = match record.body() {
        Some(b) if !b.is_empty() => b.to_owned(),
        _ => "(no body)".to_owned(),
    };
    let mut message_text = error.to_string();
    if let Some((cut, _)) = message_text.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        message_text.truncate(cut);
    }
    let source = record
        .event_source_arn()
        .map_or_else(String::new, |arn| queue_name(arn).to_owned());
    let mut message = OutgoingMessage::new(body)
        .with_attribute(attributes::ERROR_CODE, error.code())
        .with_attribute(attributes::ERROR_MESSAGE, message_text)
        .with_attribute(attributes::FAILED_AT, failed_at.to_owned())
        .with_attribute(attributes::SOURCE_QUEUE, source)
        .with_attribute(
            attributes::ORIGINAL_MESSAGE_ID,
            record.message_id().unwrap_or_default().to_owned(),
        );
    let mut originals = record.string_attributes();
    originals.retain(|(name, _)| message.attribute(name).is_none());
    originals.sort();
    for (name, value) in originals
        .into_iter()
        .take(MAX_MESSAGE_ATTRIBUTES - message.attributes.len())
    {
        message
            .attributes
            .push((name.to_owned().into(), value.to_owned().into()));
    }
    if record.event_source_arn().is_some_and(is_fifo) {
        message.group_id = record
            .message_group_id()
            .filter(|g| !g.is_empty())
            .map(str::to_owned);
        message.deduplication_id = record.message_id().map(str::to_owned);
    }
    message
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The current time as RFC 3339, UTC, on the batch's clock (which follows
/// tokio's, so a paused local run stamps its dead letters with its own time).
pub fn now_rfc3339() -> String {
    crate::rfc3339::write(crate::clock::now_utc()).map_or_else(String::new, |t| t.as_str().to_owned())
}
