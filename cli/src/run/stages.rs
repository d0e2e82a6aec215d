//! The pipeline's stages: an event source mapping per function, each a
//! poller invoking the function's handler as Lambda's pollers would.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use orderflow_embedded::poller::{MappingSettings, Poller, PollerStats};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::handler::stage_handler;
use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::settings::{self, STAGES, Stage};

/// One running stage.
struct RunningStage {
    stats: Arc<PollerStats>,
    task: JoinHandle<()>,
}

/// The running stages, and the switch that stops them.
pub(super) struct RunningStages {
    stop: watch::Sender<bool>,
    stages: Vec<RunningStage>,
}

/// What the stages counted, once stopped.
pub(super) struct StoppedStages {
    stats: Vec<Arc<PollerStats>>,
}

/// Starts a poller per stage, upstream first, each with its own fault seed.
pub(super) fn start_stages(spec: &RunSpec, pipeline: &Pipeline) -> RunningStages {
    let (stop, stopped) = watch::channel(false);
    let mut stages = Vec::with_capacity(STAGES.len());
    for (i, stage) in STAGES.iter().enumerate() {
        let seed = spec.seed.wrapping_add(1 + i as u64);
        let handler = stage_handler(stage, spec, pipeline, seed);
        let stats = Arc::new(PollerStats::default());
        let poller = Poller {
            queue_url: pipeline.queues.source(stage.source).to_owned(),
            consumer: pipeline.backend.consumer(),
            queue: pipeline.backend.queue(),
            handler,
            settings: mapping_settings(stage, spec, pipeline),
            stats: Arc::clone(&stats),
        };
        stages.push(RunningStage {
            stats,
            task: tokio::spawn(poller.run(stopped.clone())),
        });
    }
    RunningStages { stop, stages }
}

/// How `stage`'s mapping polls: the template's batch size and window (FIFO:
/// ten, no window), and Lambda's receives on SQS.
fn mapping_settings(stage: &Stage, spec: &RunSpec, pipeline: &Pipeline) -> MappingSettings {
    let (batch_size, batching_window) = if spec.fifo {
        (settings::FIFO_BATCH_SIZE, Duration::ZERO)
    } else {
        (stage.batch_size, stage.batching_window)
    };
    let embedded = pipeline.backend.is_embedded();
    MappingSettings {
        batch_size,
        batching_window,
        max_concurrency: settings::MAX_CONCURRENCY,
        // Lambda's pollers take 10 a call from SQS; the broker hands over a whole batch.
        receive_max: if embedded { batch_size } else { 10 },
        wait: Duration::from_secs(if embedded { 20 } else { 2 }),
        heartbeat: None,
        drain_timeout: settings::FUNCTION_TIMEOUT,
    }
}

impl RunningStages {
    /// Stops polling and waits for every stage's in-flight invocations to end
    /// (up to the drain timeout).
    pub(super) async fn stop(self) -> StoppedStages {
        let _ = self.stop.send(true);
        let mut stats = Vec::with_capacity(self.stages.len());
        for stage in self.stages {
            let _ = stage.task.await;
            stats.push(stage.stats);
        }
        StoppedStages { stats }
    }
}

impl StoppedStages {
    /// One of the pollers' counters, summed over the stages.
    pub(super) fn total(&self, counter: fn(&PollerStats) -> &AtomicU64) -> u64 {
        self.stats.iter().map(|s| PollerStats::get(counter(s))).sum()
    }
}
