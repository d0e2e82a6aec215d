//! Event source mappings: poll a queue, build the SQS event Lambda builds,
//! invoke the handler, delete what the response says succeeded.
//!
//! Failures are left alone: they come back after their visibility timeout (or
//! the backoff the batch processor set). An invocation that errs or panics
//! deletes nothing, as when a Lambda invocation fails or times out. The same
//! poller drives the embedded pipeline, a run against an SQS endpoint, and the
//! long-running consumer (with a visibility heartbeat).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use orderflow_batch::ports::{MessageQueue, QueueConsumer, VisibilityChange};
use orderflow_batch::processor::{BatchProcessor, InvocationContext, RecordStep};
use orderflow_batch::publish::change_visibility;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;
use tracing::{debug, info, warn};

/// How a mapping polls and invokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingSettings {
    /// Most records in one invocation.
    pub batch_size: usize,
    /// How long to keep gathering records for a batch after the first arrives.
    pub batching_window: Duration,
    /// Most invocations in flight at once.
    pub max_concurrency: usize,
    /// Most messages one receive call returns (SQS: 10).
    pub receive_max: usize,
    /// Long-poll wait of a receive call (SQS: at most 20 s).
    pub wait: Duration,
    /// Keep in-flight messages hidden while their batch runs: extend their
    /// visibility to this timeout every half of it, counted from their receipt
    /// (the long-running consumer). Below one second (SQS counts whole
    /// seconds) there is nothing to extend to, and no heartbeat runs.
    pub heartbeat: Option<Duration>,
    /// After a stop, how long in-flight invocations may take to finish; the
    /// rest are abandoned (their heartbeats end with them).
    pub drain_timeout: Duration,
}

/// How often the heartbeat extends in-flight messages to `timeout`: every half
/// of it, so one late or failed extension still leaves the other half.
pub fn heartbeat_interval(timeout: Duration) -> Duration {
    timeout / 2
}

/// One function invocation per batch.
#[async_trait]
pub trait BatchHandler: Send + Sync {
    /// Handles one SQS event; `Err` is a failed invocation (nothing is deleted).
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String>;
}

/// A [`BatchProcessor`] and its step as a handler, each invocation with `timeout` to run.
pub struct ProcessorHandler<S> {
    /// The processor.
    pub processor: BatchProcessor,
    /// The function's step.
    pub step: S,
    /// The function's timeout.
    pub timeout: Duration,
}

#[async_trait]
impl<S: RecordStep + 'static> BatchHandler for ProcessorHandler<S> {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let span = orderflow_batch::telemetry::invocation_span(&request_id, None);
        let context = InvocationContext::with_timeout(request_id, self.timeout);
        self.processor
            .handle(&event, &context, &self.step)
            .instrument(span)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What a poller did.
#[derive(Debug, Default)]
pub struct PollerStats {
    /// Invocations started.
    pub invocations: AtomicU64,
    /// Invocations that returned an error.
    pub failed_invocations: AtomicU64,
    /// Invocations that panicked (or were killed).
    pub crashed_invocations: AtomicU64,
    /// Records received.
    pub received: AtomicU64,
    /// Records received before (their `ApproximateReceiveCount` above 1): retries.
    pub redelivered: AtomicU64,
    /// Records deleted after success.
    pub deleted: AtomicU64,
    /// Receive, delete or visibility calls that failed.
    pub call_errors: AtomicU64,
    /// Invocations running now.
    pub in_flight_invocations: AtomicU64,
    /// Records of the invocations running now.
    pub in_flight_records: AtomicU64,
    /// Invocations still running at the end of the drain timeout, aborted:
    /// their records return to the queue when their visibility ends.
    pub abandoned_invocations: AtomicU64,
    /// Records of the abandoned invocations.
    pub abandoned_records: AtomicU64,
}

impl PollerStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Counts an invocation and its records as in flight while it lives (also
/// when it is aborted).
struct InFlight {
    stats: Arc<PollerStats>,
    records: u64,
}

impl InFlight {
    fn new(stats: &Arc<PollerStats>, records: u64) -> Self {
        PollerStats::add(&stats.in_flight_invocations, 1);
        PollerStats::add(&stats.in_flight_records, records);
        InFlight {
            stats: Arc::clone(stats),
            records,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.in_flight_invocations.fetch_sub(1, Ordering::Relaxed);
        self.stats
            .in_flight_records
            .fetch_sub(self.records, Ordering::Relaxed);
    }
}

/// Aborts a task when dropped: a heartbeat must never outlive its invocation,
/// even one that is itself aborted (dropping a `JoinHandle` only detaches it).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Polls one queue for one function.
pub struct Poller {
    /// The source queue.
    pub queue_url: String,
    /// Where records come from.
    pub consumer: Arc<dyn QueueConsumer>,
    /// For the visibility heartbeat.
    pub queue: Arc<dyn MessageQueue>,
    /// The function.
    pub handler: Arc<dyn BatchHandler>,
    /// How to poll.
    pub settings: MappingSettings,
    /// Counters, shared with whoever watches the run.
    pub stats: Arc<PollerStats>,
}

impl Poller {
    /// Polls until `stop` turns true, then waits for in-flight invocations (up
    /// to the drain timeout; the rest are abandoned and their messages return
    /// to the queue when their visibility ends).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.settings.max_concurrency.max(1)));
        let mut invocations = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = stop.changed() => break,
            };
            // A receive cut short here may already hold messages: they stay
            // hidden for their visibility timeout, then come back.
            let (batch, received_at) = tokio::select! {
                batch = this.gather() => batch,
                _ = stop.changed() => break,
            };
            while invocations.try_join_next().is_some() {}
            if batch.is_empty() {
                continue;
            }
            let poller = Arc::clone(&this);
            let in_flight = InFlight::new(&this.stats, batch.len() as u64);
            invocations.spawn(async move {
                poller.invoke(batch, received_at).await;
                drop(in_flight);
                drop(permit);
            });
        }
        let stats = &this.stats;
        if !invocations.is_empty() {
            info!(
                queue = %this.queue_url,
                invocations = PollerStats::get(&stats.in_flight_invocations),
                records = PollerStats::get(&stats.in_flight_records),
                drain_timeout_s = this.settings.drain_timeout.as_secs_f64(),
                "stopped receiving; waiting for in-flight invocations"
            );
        }
        let drained = tokio::time::timeout(this.settings.drain_timeout, async {
            while invocations.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            let (left, records) = (
                PollerStats::get(&stats.in_flight_invocations),
                PollerStats::get(&stats.in_flight_records),
            );
            PollerStats::add(&stats.abandoned_invocations, left);
            PollerStats::add(&stats.abandoned_records, records);
            warn!(
                queue = %this.queue_url,
                invocations = left,
                records,
                "drain timeout reached: abandoning in-flight invocations; their messages return after their visibility timeout"
            );
            invocations.abort_all();
            // Aborted tasks end at their next await: wait, so that their
            // heartbeats are stopped when this returns.
            while invocations.join_next().await.is_some() {}
        }
    }

    /// Receives a batch: up to `batch_size` records, gathered for at most the
    /// batching window after the first one, and when the first ones arrived
    /// (their visibility timeout runs from then). Empty when nothing arrived.
    async fn gather(&self) -> (Vec<SqsMessage>, Instant) {
        let settings = &self.settings;
        let mut batch = match self.receive(settings.batch_size, settings.wait).await {
            Some(records) if !records.is_empty() => records,
            _ => return (Vec::new(), Instant::now()),
        };
        let received_at = Instant::now();
        let window_end = received_at + settings.batching_window;
        while batch.len() < settings.batch_size {
            let left = window_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self
                .receive(settings.batch_size - batch.len(), left.min(settings.wait))
                .await
            {
                Some(more) => batch.extend(more),
                None => break,
            }
        }
        (batch, received_at)
    }

    async fn receive(&self, wanted: usize, wait: Duration) -> Option<Vec<SqsMessage>> {
        let max = wanted.min(self.settings.receive_max).max(1);
        match self.consumer.receive(&self.queue_url, max, wait, None).await {
            Ok(records) => {
                PollerStats::add(&self.stats.received, records.len() as u64);
                let again = records
                    .iter()
                    .filter(|r| {
                        r.attributes
                            .get("ApproximateReceiveCount")
                            .is_some_and(|c| c != "1")
                    })
                    .count();
                PollerStats::add(&self.stats.redelivered, again as u64);
                Some(records)
            }
            Err(e) => {
                PollerStats::add(&self.stats.call_errors, 1);
                warn!(queue = %self.queue_url, error = %e, "receive failed; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        }
    }

    /// Extends the visibility of `handles` to `timeout` every half of it from
    /// `received_at`, until aborted.
    fn heartbeat(
        &self,
        handles: &[(String, String)],
        timeout: Duration,
        received_at: Instant,
    ) -> JoinHandle<()> {
        let queue = Arc::clone(&self.queue);
        let url = self.queue_url.clone();
        let changes: Vec<VisibilityChange> = handles
            .iter()
            .map(|(_, handle)| VisibilityChange {
                receipt_handle: handle.clone(),
                timeout_seconds: u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX),
            })
            .collect();
        let stats = Arc::clone(&self.stats);
        let every = heartbeat_interval(timeout);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(received_at + every, every);
            loop {
                tick.tick().await;
                let failed = change_visibility(&*queue, &url, &changes)
                    .await
                    .iter()
                    .filter(|r| r.is_err())
                    .count();
                PollerStats::add(&stats.call_errors, failed as u64);
                if failed > 0 {
                    warn!(queue = %url, failed, of = changes.len(), "could not extend the visibility of in-flight messages");
                } else {
                    debug!(queue = %url, messages = changes.len(), "visibility extended");
                }
            }
        })
    }

    /// One invocation: run the handler (with a heartbeat, if set), then delete what succeeded.
    async fn invoke(&self, records: Vec<SqsMessage>, received_at: Instant) {
        PollerStats::add(&self.stats.invocations, 1);
        let handles: Vec<(String, String)> = records
            .iter()
            .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let heartbeat = self
            .settings
            .heartbeat
            .filter(|timeout| timeout.as_secs() > 0)
            .map(|timeout| AbortOnDrop(self.heartbeat(&handles, timeout, received_at)));
        let outcome = AssertUnwindSafe(self.handler.invoke(event)).catch_unwind().await;
        drop(heartbeat);
        let failed: HashSet<String> = match outcome {
            Ok(Ok(response)) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Ok(Err(error)) => {
                PollerStats::add(&self.stats.failed_invocations, 1);
                warn!(queue = %self.queue_url, %error, "invocation failed: the whole batch will be retried");
                return;
            }
            Err(_) => {
                PollerStats::add(&self.stats.crashed_invocations, 1);
                warn!(queue = %self.queue_url, "invocation crashed: the whole batch will be retried");
                return;
            }
        };
        let done: Vec<&str> = handles
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, handle)| handle.as_str())
            .collect();
        if done.is_empty() {
            return;
        }
        match self.consumer.delete_batch(&self.queue_url, &done).await {
            Ok(results) => {
                let ok = results.iter().filter(|r| r.is_ok()).count();
                PollerStats::add(&self.stats.deleted, ok as u64);
                PollerStats::add(&self.stats.call_errors, (results.len() - ok) as u64);
            }
            Err(e) => {
                PollerStats::add(&self.stats.call_errors, 1);
                warn!(queue = %self.queue_url, error = %e, "delete failed: those messages will be delivered again");
            }
        }
    }
}
