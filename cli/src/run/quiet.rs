//! Waiting for quiet: the run ends when every source queue is empty, or at
//! its time limit.

use std::time::Duration;

use super::clocks::Clocks;
use super::dead_letter_queues::dead_lettered_hint;
use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::settings::STAGES;

/// Waits until every source queue is empty (on SQS, whose counts are
/// approximate, three checks in a row), reporting progress each second:
/// orders notified or dead-lettered, of `spec.orders`. Returns whether the run
/// hit `spec.max_seconds` on its clock instead.
pub(super) async fn wait_for_quiet(
    spec: &RunSpec,
    pipeline: &Pipeline,
    clocks: &Clocks,
    progress: &dyn Fn(usize, usize),
) -> bool {
    let limit = Duration::from_secs(spec.max_seconds);
    let needed_quiet = if pipeline.backend.is_embedded() { 1 } else { 3 };
    let mut quiet_checks = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(
            pipeline.notifier.sent_count() + dead_lettered_hint(&pipeline.backend, &pipeline.queues).await,
            spec.orders,
        );
        quiet_checks = if left_in_sources(pipeline).await == 0 {
            quiet_checks + 1
        } else {
            0
        };
        if quiet_checks >= needed_quiet {
            return false;
        }
        if clocks.run_elapsed() > limit {
            return true;
        }
    }
}

/// Messages left in the stages' source queues; a queue that cannot be read
/// counts as not empty.
async fn left_in_sources(pipeline: &Pipeline) -> usize {
    let mut left = 0;
    for stage in &STAGES {
        left += pipeline
            .backend
            .outstanding(pipeline.queues.source(stage.source))
            .await
            .unwrap_or(1);
    }
    left
}
