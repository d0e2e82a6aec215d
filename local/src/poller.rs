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
use orderflow_shared::batch::{BatchProcessor, InvocationContext, RecordStep};
use orderflow_shared::ports::{MessageQueue, QueueConsumer, VisibilityChange};
use orderflow_shared::publish::change_visibility;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, warn};

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
    /// visibility to this timeout every half of it (the long-running consumer).
    pub heartbeat: Option<Duration>,
    /// After a stop, how long in-flight invocations may take to finish.
    pub drain_timeout: Duration,
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
        let context = InvocationContext::with_timeout(uuid::Uuid::new_v4().to_string(), self.timeout);
        self.processor
            .handle(&event, &context, &self.step)
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
            let batch = tokio::select! {
                batch = this.gather() => batch,
                _ = stop.changed() => break,
            };
            while invocations.try_join_next().is_some() {}
            if batch.is_empty() {
                continue;
            }
            let poller = Arc::clone(&this);
            invocations.spawn(async move {
                poller.invoke(batch).await;
                drop(permit);
            });
        }
        let drained = tokio::time::timeout(this.settings.drain_timeout, async {
            while invocations.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(queue = %this.queue_url, left = invocations.len(), "stopping with invocations still running");
            invocations.abort_all();
        }
    }

    /// Receives a batch: up to `batch_size` records, gathered for at most the
    /// batching window after the first one. Empty when nothing arrived.
    async fn gather(&self) -> Vec<SqsMessage> {
        let settings = &self.settings;
        let mut batch = match self.receive(settings.batch_size, settings.wait).await {
            Some(records) if !records.is_empty() => records,
            _ => return Vec::new(),
        };
        let window_end = Instant::now() + settings.batching_window;
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
        batch
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

    /// One invocation: run the handler (with a heartbeat, if set), then delete what succeeded.
    async fn invoke(&self, records: Vec<SqsMessage>) {
        PollerStats::add(&self.stats.invocations, 1);
        let handles: Vec<(String, String)> = records
            .iter()
            .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let heartbeat = self.settings.heartbeat.map(|timeout| {
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
            tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(Instant::now() + timeout / 2, timeout / 2);
                loop {
                    tick.tick().await;
                    let failed = change_visibility(&*queue, &url, &changes)
                        .await
                        .iter()
                        .filter(|r| r.is_err())
                        .count();
                    PollerStats::add(&stats.call_errors, failed as u64);
                    debug!(queue = %url, messages = changes.len(), "visibility extended");
                }
            })
        });
        let outcome = AssertUnwindSafe(self.handler.invoke(event)).catch_unwind().await;
        if let Some(heartbeat) = heartbeat {
            heartbeat.abort();
        }
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
