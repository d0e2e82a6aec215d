//! The relay stage of a run with `--entry api`: `order-relay`'s step reading
//! the order of record's changes as the table's event source mapping does,
//! a batch of up to 100 at a time, each batch retried from its first failed
//! record until it succeeds.
//!
//! With `--crash-rate`, a batch's invocation "dies" after its step ran (as a
//! timeout after the sends would), and the whole batch is delivered again: its
//! orders are published twice, which the consumers' idempotency makes harmless.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use order_relay::RelayStep;
use orderflow_aws::table_stream::{ShardPosition, TableStream};
use orderflow_batch::error::PortError;
use orderflow_batch::no_idempotency::NoIdempotency;
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
use orderflow_batch::stream_source::{StreamBatch, StreamRecord};
use orderflow_embedded::InMemoryOrderStore;
use orderflow_orders::pipeline::ORDERS;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::settings::FUNCTION_TIMEOUT;
use super::stores::ChangeStream;

/// Records a batch holds at most: the template's mapping's batch size.
pub(super) const BATCH_SIZE: usize = 100;
/// How long the relay waits when the stream has nothing new, or after a failed batch.
const IDLE: Duration = Duration::from_millis(250);

/// What the relay counted.
#[derive(Debug, Default)]
pub(super) struct RelayStats {
    /// Invocations, crashed or not.
    pub(super) invocations: AtomicU64,
    /// Invocations that died after their step ran.
    pub(super) crashed_invocations: AtomicU64,
    /// Records delivered again (after a failure or a crash).
    pub(super) redelivered: AtomicU64,
    /// Reads that found nothing new: the run is quiet only after the relay
    /// has read to the end of the stream since the last order went in.
    pub(super) empty_reads: AtomicU64,
}

/// The running relay, if the run has one.
pub(super) struct RunningRelay {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// Its counters.
    pub(super) stats: Arc<RelayStats>,
}

/// Where the relay has read to.
enum Reader {
    Embedded {
        store: Arc<InMemoryOrderStore>,
        after: u64,
    },
    Table {
        stream: TableStream,
        shards: Option<Vec<ShardPosition>>,
    },
}

impl Reader {
    /// The next changes, up to [`BATCH_SIZE`] (from one shard); none when
    /// every shard is read to its end.
    async fn next_batch(&mut self) -> Result<StreamBatch, PortError> {
        match self {
            Reader::Embedded { store, after } => {
                let changes = store.changes_after(*after, BATCH_SIZE);
                *after += changes.len() as u64;
                orderflow_embedded::orders::stream_batch(&changes)
            }
            Reader::Table { stream, shards } => {
                if shards.is_none() {
                    *shards = Some(stream.shards_from_start().await?);
                }
                for shard in shards.iter_mut().flatten() {
                    let batch = stream.read(shard, BATCH_SIZE as i32).await?;
                    if !batch.records.is_empty() {
                        return Ok(batch);
                    }
                }
                Ok(StreamBatch::default())
            }
        }
    }
}

/// Starts the relay when the run's orders enter through the API.
pub(super) fn start_relay(spec: &RunSpec, pipeline: &Pipeline) -> RunningRelay {
    let (stop, stopped) = watch::channel(false);
    let stats = Arc::new(RelayStats::default());
    let reader = match &pipeline.stores.changes {
        ChangeStream::None => None,
        ChangeStream::Embedded(store) => Some(Reader::Embedded {
            store: Arc::clone(store),
            after: 0,
        }),
        ChangeStream::Table(stream) => Some(Reader::Table {
            stream: stream.clone(),
            shards: None,
        }),
    };
    let task = reader.map(|reader| {
        let relay = Relay {
            processor: processor(spec, pipeline),
            step: RelayStep::new(pipeline.queues.source(ORDERS)),
            stats: Arc::clone(&stats),
            crash_rate: spec.crash_rate,
            rng: fastrand::Rng::with_seed(spec.seed ^ 0x0e1a),
        };
        tokio::spawn(relay.run(reader, stopped))
    });
    RunningRelay { stop, task, stats }
}

/// `order-relay`'s processor as deployed: no idempotency store, no DLQ (the
/// mapping's on-failure destination takes what fails for good).
fn processor(spec: &RunSpec, pipeline: &Pipeline) -> BatchProcessor {
    let config = BatchConfig {
        service: order_relay::STEP.to_owned(),
        ..BatchConfig::default()
    };
    pipeline.processor(spec, config, Arc::new(NoIdempotency))
}

struct Relay {
    processor: BatchProcessor,
    step: RelayStep,
    stats: Arc<RelayStats>,
    crash_rate: f64,
    rng: fastrand::Rng,
}

impl Relay {
    /// Reads and relays until stopped.
    async fn run(mut self, mut reader: Reader, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let batch = match reader.next_batch().await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "the relay could not read the orders table's changes");
                    idle(&mut stopped).await;
                    continue;
                }
            };
            if batch.records.is_empty() {
                self.stats.empty_reads.fetch_add(1, Ordering::SeqCst);
                idle(&mut stopped).await;
                continue;
            }
            self.deliver(batch, &mut stopped).await;
        }
    }

    /// Delivers `batch` until every record of it succeeded (or the run stops),
    /// each retry from the first failed record, as the mapping retries.
    async fn deliver(&mut self, mut batch: StreamBatch, stopped: &mut watch::Receiver<bool>) {
        loop {
            self.stats.invocations.fetch_add(1, Ordering::Relaxed);
            let context = InvocationContext::with_timeout("relay", FUNCTION_TIMEOUT);
            let response = self.processor.handle_stream(&batch, &context, &self.step).await;
            let retry_from = match response {
                Ok(response) => match response.batch_item_failures.first() {
                    None if self.rng.f64() < self.crash_rate => {
                        self.stats.crashed_invocations.fetch_add(1, Ordering::Relaxed);
                        Some(0)
                    }
                    None => return,
                    // A failure naming no record of the batch: the whole batch again.
                    Some(failed) => Some(
                        batch
                            .records
                            .iter()
                            .position(|r| r.sequence_number() == failed.item_identifier)
                            .unwrap_or(0),
                    ),
                },
                Err(error) => {
                    tracing::warn!(%error, "the relay's batch failed");
                    Some(0)
                }
            };
            let Some(from) = retry_from else { return };
            batch.records.drain(..from);
            self.stats
                .redelivered
                .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
            if *stopped.borrow() {
                return;
            }
            idle(stopped).await;
        }
    }
}

/// Waits a little, or until the run stops.
async fn idle(stopped: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(IDLE) => {}
        _ = stopped.changed() => {}
    }
}

impl RunningRelay {
    /// Whether a relay runs (`--entry api`).
    pub(super) fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Stops reading and waits for the batch in hand.
    pub(super) async fn stop(self) -> Arc<RelayStats> {
        let _ = self.stop.send(true);
        if let Some(task) = self.task {
            let _ = task.await;
        }
        self.stats
    }
}
