//! Waiting for quiet: the run ends when the relay has read the order of
//! record's changes to their end and every source queue is empty, or at its
//! time limit.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::clocks::Clocks;
use super::dead_letter_queues::dead_lettered_hint;
use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::relay::RunningRelay;
use super::settings::STAGES;

/// Waits until the relay (if any) has twice found nothing new since the
/// producer ended, and every source queue is empty (on SQS, whose counts are
/// approximate, three checks in a row), reporting progress each second:
/// orders notified or dead-lettered, of `spec.orders`. Returns whether the run
/// hit `spec.max_seconds` on its clock instead.
pub(super) async fn wait_for_quiet(
    spec: &RunSpec,
    pipeline: &Pipeline,
    relay: &RunningRelay,
    clocks: &Clocks,
    progress: &dyn Fn(usize, usize),
) -> bool {
    let limit = Duration::from_secs(spec.max_seconds);
    let needed_quiet = if pipeline.backend.is_embedded() { 1 } else { 3 };
    let mut quiet_checks = 0;
    let empty_reads = || relay.stats.empty_reads.load(Ordering::SeqCst);
    // The second empty read after this one began after every order was in.
    let caught_up_at = empty_reads() + 2;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(
            pipeline.notifier.sent_count() + dead_lettered_hint(&pipeline.backend, &pipeline.queues).await,
            spec.orders,
        );
        let relayed = !relay.is_running() || empty_reads() >= caught_up_at;
        quiet_checks = if relayed && left_in_sources(pipeline).await == 0 {
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
