//! A consumer from its start to its stop: the poller's task, its counters,
//! and the steps of a graceful stop (see [the consume documentation](super)).

use std::sync::Arc;
use std::time::{Duration, Instant};

use orderflow_aws::sqs::SqsQueues;
use orderflow_embedded::poller::{BatchHandler, Poller, PollerStats, heartbeat_interval};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::error::ConsumeError;
use super::give_back::GiveBack;
use super::receives::StoppableReceives;
use super::report::{ConsumeReport, InFlight, in_flight};
use super::settings::{ConsumeSpec, DRAIN_TIMEOUT, RECEIVE_END_TIMEOUT, WAIT, mapping_settings};
use super::signals::Signals;

/// A consumer polling its queue, listening for SIGINT and SIGTERM.
pub(super) struct Running {
    stats: Arc<PollerStats>,
    /// Holds true once the stop has begun: no more receives.
    stopping: watch::Sender<bool>,
    give_back: GiveBack,
    poller: JoinHandle<()>,
    signals: Signals,
    started: Instant,
}

/// How a stop went.
pub(super) struct Stop {
    /// The signal that began it.
    signal: &'static str,
    /// When it came.
    signalled: Instant,
    /// What was running then.
    at_signal: InFlight,
    /// A second signal cut it short.
    forced: bool,
    /// What was still running at its end.
    abandoned: InFlight,
}

impl Running {
    /// Starts polling `spec.queue_url` with `handler`, a heartbeat extending
    /// to `visibility`, and takes over SIGINT and SIGTERM.
    pub(super) fn start(
        spec: &ConsumeSpec,
        handler: Arc<dyn BatchHandler>,
        queues: SqsQueues,
        visibility: Duration,
    ) -> Result<Running, ConsumeError> {
        let queues = Arc::new(queues);
        let stats = Arc::new(PollerStats::default());
        let (stopping, stopped) = watch::channel(false);
        let give_back = GiveBack::new(Arc::clone(&queues));
        let poller = Poller {
            queue_url: spec.queue_url.clone(),
            consumer: Arc::new(StoppableReceives::new(give_back.clone(), stopped.clone())),
            queue: queues,
            handler,
            settings: mapping_settings(spec.concurrency, visibility),
            stats: Arc::clone(&stats),
        };
        info!(
            function = spec.function.name(),
            queue = %spec.queue_url,
            concurrency = spec.concurrency,
            visibility_timeout_s = visibility.as_secs(),
            heartbeat_every_s = heartbeat_interval(visibility).as_secs_f64(),
            "consuming until SIGINT or SIGTERM"
        );
        let signals = Signals::install().map_err(ConsumeError::Signals)?;
        let started = Instant::now();
        let poller = tokio::spawn(poller.run(stopped));
        Ok(Running {
            stats,
            stopping,
            give_back,
            poller,
            signals,
            started,
        })
    }

    /// Waits for the first signal; its name. `Err` when the poller ends first.
    pub(super) async fn until_signal(&mut self) -> Result<&'static str, ConsumeError> {
        tokio::select! {
            signal = self.signals.recv() => Ok(signal),
            ended = &mut self.poller => {
                Err(ConsumeError::Poller(match ended {
                    Ok(()) => "it returned".to_owned(),
                    Err(e) => e.to_string(),
                }))
            }
        }
    }

    /// Stops after `signal`: no more receives, in-flight batches drained,
    /// the receive in progress waited for; a second signal cuts it short.
    pub(super) async fn stop(&mut self, signal: &'static str) -> Result<Stop, ConsumeError> {
        let at_signal = in_flight(&self.stats);
        info!(
            signal,
            invocations = at_signal.invocations,
            messages = at_signal.messages,
            drain_timeout_s = DRAIN_TIMEOUT.as_secs(),
            "stopping: no more receives; finishing in-flight batches (a second signal stops at once)"
        );
        let signalled = Instant::now();
        // Send fails only when the poller is gone, which the drain sees.
        let _ = self.stopping.send(true);
        let (mut forced, abandoned) = self.drain().await?;
        if !forced && self.give_back.busy() {
            forced = self.wait_for_receives().await;
        }
        if abandoned.invocations == 0 {
            info!(
                seconds = signalled.elapsed().as_secs_f64(),
                "stopped: every in-flight batch finished"
            );
        }
        Ok(Stop {
            signal,
            signalled,
            at_signal,
            forced,
            abandoned,
        })
    }

    /// Waits for the poller to finish its in-flight batches (it abandons
    /// those still running at its drain timeout), or for a second signal,
    /// which abandons them at once. Whether a second signal came, and what
    /// was abandoned.
    async fn drain(&mut self) -> Result<(bool, InFlight), ConsumeError> {
        tokio::select! {
            ended = &mut self.poller => {
                if let Err(e) = ended {
                    return Err(ConsumeError::Poller(e.to_string()));
                }
                let abandoned = InFlight {
                    invocations: PollerStats::get(&self.stats.abandoned_invocations),
                    messages: PollerStats::get(&self.stats.abandoned_records),
                };
                Ok((false, abandoned))
            }
            second = self.signals.recv() => {
                let abandoned = in_flight(&self.stats);
                warn!(
                    signal = second,
                    invocations = abandoned.invocations,
                    messages = abandoned.messages,
                    "second signal: stopping at once; in-flight messages return after their visibility timeout"
                );
                self.poller.abort();
                Ok((true, abandoned))
            }
        }
    }

    /// Waits (at most [`RECEIVE_END_TIMEOUT`]) for the receive in progress to
    /// end and give back what it got, or for a second signal. Whether a
    /// second signal came.
    async fn wait_for_receives(&mut self) -> bool {
        info!(
            wait_s = WAIT.as_secs(),
            "waiting for the receive in progress to end; what it gets goes back to the queue at once"
        );
        tokio::select! {
            ended = tokio::time::timeout(RECEIVE_END_TIMEOUT, self.give_back.finish()) => {
                if ended.is_err() {
                    warn!(
                        timeout_s = RECEIVE_END_TIMEOUT.as_secs(),
                        "a receive did not end in time: what it gets returns after its visibility timeout"
                    );
                }
                false
            }
            second = self.signals.recv() => {
                warn!(signal = second, "second signal: stopping at once");
                true
            }
        }
    }

    /// The run's report, once `stop` ended it.
    pub(super) fn report(&self, spec: &ConsumeSpec, visibility: Duration, stop: Stop) -> ConsumeReport {
        let stats = &self.stats;
        ConsumeReport {
            function: spec.function.name(),
            queue_url: spec.queue_url.clone(),
            visibility_timeout_seconds: visibility.as_secs(),
            concurrency: spec.concurrency,
            signal: stop.signal,
            forced: stop.forced,
            ran_seconds: self.started.elapsed().as_secs_f64(),
            stop_seconds: stop.signalled.elapsed().as_secs_f64(),
            in_flight_at_signal: stop.at_signal,
            invocations: PollerStats::get(&stats.invocations),
            received: PollerStats::get(&stats.received),
            deleted: PollerStats::get(&stats.deleted),
            failed_invocations: PollerStats::get(&stats.failed_invocations),
            crashed_invocations: PollerStats::get(&stats.crashed_invocations),
            abandoned: stop.abandoned,
            returned_after_signal: self.give_back.returned(),
            call_errors: PollerStats::get(&stats.call_errors) + self.give_back.failed(),
        }
    }
}
