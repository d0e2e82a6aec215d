//! `orderflow consume`: a function's handler as a long-running SQS consumer,
//! for running outside Lambda (in a container).
//!
//! It runs the handler the Lambda runs: the function's step, built from the
//! same environment by its `step` over [`EnvPorts`], under the same [`BatchProcessor`]
//! settings ([`batch_config`]: idempotency, the DLQ fast path with `DLQ_URL`,
//! backoff, metrics). A [`Poller`] stands in for the event source mapping:
//! long polls ([`WAIT`]) of up to [`BATCH_SIZE`] messages, one batch per
//! receive, up to `--concurrency` batches at once; what succeeded is deleted,
//! failures are left to their visibility timeout (or the processor's backoff).
//!
//! There is no Lambda deadline: each batch gets [`INVOCATION_TIMEOUT`], and a
//! heartbeat keeps its messages hidden meanwhile, extending their visibility
//! to the queue's `VisibilityTimeout` every half of it.
//!
//! On SIGINT or SIGTERM it stops receiving, gives in-flight batches up to
//! [`DRAIN_TIMEOUT`] to finish (and be deleted), then abandons the rest: their
//! heartbeats stop, so their messages come back at most one visibility timeout
//! after the last extension. A long poll waiting at the signal cannot be
//! called back: SQS hands it whatever arrives until its wait ends. So it is
//! waited for (at most [`WAIT`], alongside the drain), and whatever a receive
//! gets once the stop has begun goes back to the queue at once (visibility 0),
//! unprocessed ([`StoppableReceives`]). A second signal stops at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orderflow_aws::sqs::SqsQueues;
use orderflow_aws::step_ports::EnvPorts;
use orderflow_aws::wiring::{self, Adapters, Mode};
use orderflow_batch::BatchProcessor;
use orderflow_batch::config::{ConfigError, Env, batch_config};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::ports::{EntryResults, QueueConsumer, VisibilityChange};
use orderflow_batch::processor::RecordStep;
use orderflow_batch::publish::change_visibility;
use orderflow_embedded::poller::{
    BatchHandler, MappingSettings, Poller, PollerStats, ProcessorHandler, heartbeat_interval,
};
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::invoke::Function;

/// Most messages per receive call and per batch (SQS's limit of a receive).
pub const BATCH_SIZE: usize = 10;
/// The long-poll wait of each receive (SQS's longest).
pub const WAIT: Duration = Duration::from_secs(20);
/// How long in-flight batches may take to finish after a stop signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The time each batch gets (Lambda's longest timeout): the processor's
/// deadline and its idempotency claims. Its messages stay hidden meanwhile
/// thanks to the heartbeat, not to their visibility timeout. A batch abandoned
/// in the middle of a record leaves that record's claim in progress until
/// then: a redelivery meanwhile fails as a duplicate in progress, and is
/// retried with backoff.
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a stop waits for a receive in progress to end: its long poll,
/// and time for the call to come back.
pub const RECEIVE_END_TIMEOUT: Duration = Duration::from_secs(WAIT.as_secs() + 10);
/// Batches at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// What to consume, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumeSpec {
    /// The function whose handler runs.
    pub function: Function,
    /// The queue to consume (the function's source queue).
    pub queue_url: String,
    /// Most batches in flight at once.
    pub concurrency: usize,
    /// An endpoint for every AWS client (a local server); else the environment's.
    pub endpoint_url: Option<String>,
    /// Test only: hold each batch this long before its handler runs, so that a
    /// test can stop the consumer with work in flight. `None` in real use.
    pub simulated_latency: Option<Duration>,
}

/// Why the consumer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The function is not an SQS consumer.
    #[error("{0} answers HTTP requests; it has no queue to consume")]
    NotAConsumer(&'static str),
    /// A variable of the function's environment is missing or invalid.
    #[error("{function} cannot start: {source}")]
    Config {
        /// The function.
        function: &'static str,
        /// The variable and what it should hold.
        source: ConfigError,
    },
    /// The queue's visibility timeout could not be read.
    #[error("cannot read the visibility timeout of {queue_url}: {source}")]
    Queue {
        /// The queue.
        queue_url: String,
        /// The call's error.
        source: PortError,
    },
    /// The queue hides received messages for no time at all.
    #[error(
        "{queue_url} has a visibility timeout of 0 s: its messages would be delivered again while they run; give the queue a VisibilityTimeout of at least 1 s"
    )]
    NoVisibilityTimeout {
        /// The queue.
        queue_url: String,
    },
    /// SIGINT and SIGTERM handlers could not be installed.
    #[error("cannot listen for SIGINT and SIGTERM: {0}")]
    Signals(std::io::Error),
    /// The poller ended on its own (it never should).
    #[error("the poller stopped unexpectedly: {0}")]
    Poller(String),
}

impl ConsumeError {
    /// The process exit code: 2 for configuration (fix the setup and start
    /// again), 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConsumeError::Config { .. } | ConsumeError::NoVisibilityTimeout { .. } => 2,
            _ => 1,
        }
    }
}

/// The poller's settings for `concurrency` batches on a queue whose
/// visibility timeout is `visibility_timeout`.
pub fn mapping_settings(concurrency: usize, visibility_timeout: Duration) -> MappingSettings {
    MappingSettings {
        batch_size: BATCH_SIZE,
        batching_window: Duration::ZERO,
        max_concurrency: concurrency.max(1),
        receive_max: BATCH_SIZE,
        wait: WAIT,
        heartbeat: Some(visibility_timeout),
        drain_timeout: DRAIN_TIMEOUT,
    }
}

/// The handler and the queue client, built from the environment before any
/// call to AWS.
pub struct Prepared {
    /// The function's handler, as the Lambda runs it.
    pub handler: Arc<dyn BatchHandler>,
    /// Receives, deletes and visibility changes on the source queue.
    pub queues: SqsQueues,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

/// Reads the function's environment (as its Lambda does) and builds its
/// handler. AWS adapters only: messages taken from a real queue must go on to
/// real queues and tables.
pub async fn prepare(spec: &ConsumeSpec, env: &Env) -> Result<Prepared, ConsumeError> {
    let function = spec.function.name();
    let config_error = |source| ConsumeError::Config { function, source };
    let mut config = batch_config(env, function).map_err(config_error)?;
    if let Some(url) = &spec.endpoint_url {
        config.sqs_endpoint_url = Some(url.clone());
    }
    let adapters = Adapters::from_env_at(env, spec.endpoint_url.as_deref())
        .await
        .map_err(config_error)?;
    let sdk = match (adapters.mode, &adapters.sdk) {
        (Mode::Aws, Some(sdk)) => sdk.clone(),
        _ => {
            return Err(config_error(ConfigError::Invalid {
                name: wiring::var::ORDERFLOW_ADAPTERS.to_owned(),
                value: env
                    .optional(wiring::var::ORDERFLOW_ADAPTERS)
                    .unwrap_or_default(),
                expected: "aws (consume takes messages from a real queue, so their results must go to real queues and tables)"
                    .to_owned(),
            }));
        }
    };
    let processor = adapters.processor(config);
    let ports = EnvPorts::new(env, &adapters);
    let handler = match spec.function {
        Function::Inventory => processor_handler(processor, inventory::step(&ports).map_err(config_error)?),
        Function::Shipping => processor_handler(processor, shipping::step(&ports).map_err(config_error)?),
        Function::Notification => {
            processor_handler(processor, notification::step(&ports).map_err(config_error)?)
        }
        Function::OrderApi => return Err(ConsumeError::NotAConsumer(spec.function.name())),
    };
    let handler = match spec.simulated_latency {
        Some(latency) if !latency.is_zero() => Arc::new(Delayed {
            inner: handler,
            latency,
        }),
        _ => handler,
    };
    Ok(Prepared {
        handler,
        queues: SqsQueues::new(aws_sdk_sqs::Client::new(&sdk)),
    })
}

fn processor_handler<S: RecordStep + 'static>(processor: BatchProcessor, step: S) -> Arc<dyn BatchHandler> {
    Arc::new(ProcessorHandler {
        processor,
        step,
        timeout: INVOCATION_TIMEOUT,
    })
}

/// A handler held `latency` before it runs (the hidden `--simulate-latency-ms`).
struct Delayed {
    inner: Arc<dyn BatchHandler>,
    latency: Duration,
}

#[async_trait]
impl BatchHandler for Delayed {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        tokio::time::sleep(self.latency).await;
        self.inner.invoke(event).await
    }
}

/// Gives received messages back to their queue at once (visibility 0), and
/// keeps the tasks of receives and give-backs, for a stop to wait for.
#[derive(Clone)]
struct GiveBack {
    queues: Arc<SqsQueues>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    /// Messages given back.
    returned: Arc<AtomicU64>,
    /// Give-backs that failed (those messages come back after their visibility timeout).
    failed: Arc<AtomicU64>,
}

impl GiveBack {
    fn new(queues: Arc<SqsQueues>) -> Self {
        GiveBack {
            queues,
            tasks: Arc::default(),
            returned: Arc::default(),
            failed: Arc::default(),
        }
    }

    /// Makes `records` visible again now.
    async fn now(&self, queue_url: &str, records: Vec<SqsMessage>) {
        let changes: Vec<VisibilityChange> = records
            .into_iter()
            .filter_map(|r| r.receipt_handle)
            .map(|receipt_handle| VisibilityChange {
                receipt_handle,
                timeout_seconds: 0,
            })
            .collect();
        if changes.is_empty() {
            return;
        }
        let results: EntryResults = change_visibility(&*self.queues, queue_url, &changes).await;
        let failed = results.iter().filter(|r| r.is_err()).count() as u64;
        let returned = results.len() as u64 - failed;
        self.returned.fetch_add(returned, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
        info!(
            queue = %queue_url,
            messages = returned,
            "received after the stop signal: back in the queue at once, unprocessed"
        );
        if failed > 0 {
            warn!(
                queue = %queue_url,
                messages = failed,
                "received after the stop signal and not given back: they return after their visibility timeout"
            );
        }
    }

    /// Runs `task` in the background, kept for [`GiveBack::finish`]. Outside
    /// a runtime (while it shuts down) there is nothing left to run it.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .spawn_on(task, &runtime);
        }
    }

    /// Whether tasks are running.
    fn busy(&self) -> bool {
        !self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Waits until every task has ended, those they start included.
    async fn finish(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// What a receive task hands to the poller.
type Received = Result<Vec<SqsMessage>, PortError>;

/// The poller's side of a receive task. Dropped before the answer was taken
/// (the poller stopped waiting), it gives back whatever the task had already
/// handed over; anything later, the task gives back itself.
struct PendingReceive {
    answer: oneshot::Receiver<Received>,
    taken: bool,
    queue_url: String,
    give_back: GiveBack,
}

impl PendingReceive {
    async fn answer(&mut self) -> Received {
        let answer = (&mut self.answer).await;
        self.taken = true;
        answer.unwrap_or_else(|_| {
            Err(PortError::new(
                PortErrorKind::Other,
                "ReceiveMessage",
                "the receive ended without an answer",
            ))
        })
    }
}

impl Drop for PendingReceive {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        // From here on the task's send fails, and it gives back what it gets.
        self.answer.close();
        if let Ok(Ok(records)) = self.answer.try_recv()
            && !records.is_empty()
        {
            let (give_back, url) = (self.give_back.clone(), self.queue_url.clone());
            self.give_back
                .spawn(async move { give_back.now(&url, records).await });
        }
    }
}

/// The source queue as the poller sees it: each receive runs in a task of
/// its own, which outlives a poller that stopped waiting for it. Whatever a
/// receive gets once the stop has begun goes back to the queue at once
/// instead of to a batch: not processed, and not hidden for a visibility
/// timeout (the consumer may be gone by then).
struct StoppableReceives {
    give_back: GiveBack,
    stopped: watch::Receiver<bool>,
}

#[async_trait]
impl QueueConsumer for StoppableReceives {
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        let (sender, answer) = oneshot::channel();
        let (give_back, stopped, url) = (self.give_back.clone(), self.stopped.clone(), queue_url.to_owned());
        self.give_back.spawn(async move {
            let received = match give_back
                .queues
                .receive(&url, max, wait, visibility_timeout)
                .await
            {
                Ok(records) if *stopped.borrow() => {
                    give_back.now(&url, records).await;
                    Ok(Vec::new())
                }
                other => other,
            };
            if let Err(Ok(records)) = sender.send(received) {
                give_back.now(&url, records).await;
            }
        });
        PendingReceive {
            answer,
            taken: false,
            queue_url: queue_url.to_owned(),
            give_back: self.give_back.clone(),
        }
        .answer()
        .await
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<EntryResults, PortError> {
        self.give_back
            .queues
            .delete_batch(queue_url, receipt_handles)
            .await
    }
}

/// SIGINT and SIGTERM (Ctrl-C only, off Unix).
#[derive(Debug)]
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening (inside a Tokio runtime). From then on these signals no
    /// longer kill the process: [`Signals::recv`] gets them.
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal and names it.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            // Without a handler, an interrupt would kill the process: wait forever instead.
            match tokio::signal::ctrl_c().await {
                Ok(()) => "SIGINT",
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Invocations and their messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InFlight {
    /// Batches.
    pub invocations: u64,
    /// Their messages.
    pub messages: u64,
}

/// How a run went, from start to stop.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeReport {
    /// The function.
    pub function: &'static str,
    /// The queue.
    pub queue_url: String,
    /// The queue's visibility timeout, which the heartbeat extends to.
    pub visibility_timeout_seconds: u64,
    /// Most batches at once.
    pub concurrency: usize,
    /// The signal that stopped it.
    pub signal: &'static str,
    /// A second signal cut the drain short.
    pub forced: bool,
    /// From the start of polling to the end, in seconds.
    pub ran_seconds: f64,
    /// From the signal to the end, in seconds.
    pub stop_seconds: f64,
    /// What was running when the signal came.
    pub in_flight_at_signal: InFlight,
    /// Batches handled (started).
    pub invocations: u64,
    /// Messages received.
    pub received: u64,
    /// Messages deleted after their handler succeeded.
    pub deleted: u64,
    /// Batches whose handler returned an error (nothing deleted).
    pub failed_invocations: u64,
    /// Batches whose handler panicked (nothing deleted).
    pub crashed_invocations: u64,
    /// Batches still running at the end of the drain (or at a second signal),
    /// and their messages: back in the queue within a visibility timeout.
    pub abandoned: InFlight,
    /// Messages a receive got once the stop had begun, made visible again
    /// at once without running.
    pub returned_after_signal: u64,
    /// Receive, delete or visibility calls that failed.
    pub call_errors: u64,
}

impl ConsumeReport {
    /// One paragraph for people (stderr).
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{}: stopped by {} after {:.1} s: {} invocations, {} messages received, {} deleted, {} failed invocations, {} crashed",
            self.function,
            self.signal,
            self.ran_seconds,
            self.invocations,
            self.received,
            self.deleted,
            self.failed_invocations,
            self.crashed_invocations,
        );
        if self.call_errors > 0 {
            text.push_str(&format!(", {} failed SQS calls", self.call_errors));
        }
        let at_signal = self.in_flight_at_signal;
        text.push_str(&format!(
            "; at the signal {} invocations ({} messages) were in flight",
            at_signal.invocations, at_signal.messages
        ));
        if self.returned_after_signal > 0 {
            text.push_str(&format!(
                "; {} received after the signal, back in the queue at once",
                self.returned_after_signal
            ));
        }
        if self.abandoned.invocations == 0 {
            text.push_str(&format!("; all finished within {:.1} s", self.stop_seconds));
        } else {
            let why = if self.forced {
                "a second signal".to_owned()
            } else {
                format!("the {} s drain timeout", DRAIN_TIMEOUT.as_secs())
            };
            text.push_str(&format!(
                "; {} abandoned at {why} ({} messages, back in the queue within {} s)",
                self.abandoned.invocations, self.abandoned.messages, self.visibility_timeout_seconds
            ));
        }
        text
    }
}

fn in_flight(stats: &PollerStats) -> InFlight {
    InFlight {
        invocations: PollerStats::get(&stats.in_flight_invocations),
        messages: PollerStats::get(&stats.in_flight_records),
    }
}

/// Consumes `spec.queue_url` with the function's handler until SIGINT or
/// SIGTERM, then stops gracefully (see the module's documentation). Until
/// consuming starts, the signals keep their default action: nothing is in
/// flight yet, and a startup stuck on an unreachable endpoint still stops.
pub async fn consume(spec: &ConsumeSpec, env: &Env) -> Result<ConsumeReport, ConsumeError> {
    let Prepared { handler, queues } = prepare(spec, env).await?;
    let visibility = queues
        .visibility_timeout(&spec.queue_url)
        .await
        .map_err(|source| ConsumeError::Queue {
            queue_url: spec.queue_url.clone(),
            source,
        })?;
    if visibility.as_secs() == 0 {
        return Err(ConsumeError::NoVisibilityTimeout {
            queue_url: spec.queue_url.clone(),
        });
    }
    let queues = Arc::new(queues);
    let stats = Arc::new(PollerStats::default());
    let (stop, stopped) = watch::channel(false);
    let give_back = GiveBack::new(Arc::clone(&queues));
    let poller = Poller {
        queue_url: spec.queue_url.clone(),
        consumer: Arc::new(StoppableReceives {
            give_back: give_back.clone(),
            stopped: stopped.clone(),
        }),
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
    let mut signals = Signals::install().map_err(ConsumeError::Signals)?;
    let started = Instant::now();
    let mut run = tokio::spawn(poller.run(stopped));
    let signal = tokio::select! {
        signal = signals.recv() => signal,
        ended = &mut run => {
            return Err(ConsumeError::Poller(match ended {
                Ok(()) => "it returned".to_owned(),
                Err(e) => e.to_string(),
            }));
        }
    };
    let at_signal = in_flight(&stats);
    info!(
        signal,
        invocations = at_signal.invocations,
        messages = at_signal.messages,
        drain_timeout_s = DRAIN_TIMEOUT.as_secs(),
        "stopping: no more receives; finishing in-flight batches (a second signal stops at once)"
    );
    let signalled = Instant::now();
    // Send fails only when the poller is gone, which the select below sees.
    let _ = stop.send(true);
    let (mut forced, abandoned) = tokio::select! {
        ended = &mut run => {
            if let Err(e) = ended {
                return Err(ConsumeError::Poller(e.to_string()));
            }
            let abandoned = InFlight {
                invocations: PollerStats::get(&stats.abandoned_invocations),
                messages: PollerStats::get(&stats.abandoned_records),
            };
            (false, abandoned)
        }
        second = signals.recv() => {
            let abandoned = in_flight(&stats);
            warn!(
                signal = second,
                invocations = abandoned.invocations,
                messages = abandoned.messages,
                "second signal: stopping at once; in-flight messages return after their visibility timeout"
            );
            run.abort();
            (true, abandoned)
        }
    };
    if !forced && give_back.busy() {
        info!(
            wait_s = WAIT.as_secs(),
            "waiting for the receive in progress to end; what it gets goes back to the queue at once"
        );
        tokio::select! {
            ended = tokio::time::timeout(RECEIVE_END_TIMEOUT, give_back.finish()) => {
                if ended.is_err() {
                    warn!(
                        timeout_s = RECEIVE_END_TIMEOUT.as_secs(),
                        "a receive did not end in time: what it gets returns after its visibility timeout"
                    );
                }
            }
            second = signals.recv() => {
                warn!(signal = second, "second signal: stopping at once");
                forced = true;
            }
        }
    }
    if abandoned.invocations == 0 {
        info!(
            seconds = signalled.elapsed().as_secs_f64(),
            "stopped: every in-flight batch finished"
        );
    }
    Ok(ConsumeReport {
        function: spec.function.name(),
        queue_url: spec.queue_url.clone(),
        visibility_timeout_seconds: visibility.as_secs(),
        concurrency: spec.concurrency,
        signal,
        forced,
        ran_seconds: started.elapsed().as_secs_f64(),
        stop_seconds: signalled.elapsed().as_secs_f64(),
        in_flight_at_signal: at_signal,
        invocations: PollerStats::get(&stats.invocations),
        received: PollerStats::get(&stats.received),
        deleted: PollerStats::get(&stats.deleted),
        failed_invocations: PollerStats::get(&stats.failed_invocations),
        crashed_invocations: PollerStats::get(&stats.crashed_invocations),
        abandoned,
        returned_after_signal: give_back.returned.load(Ordering::Relaxed),
        call_errors: PollerStats::get(&stats.call_errors) + give_back.failed.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(function: Function) -> ConsumeSpec {
        ConsumeSpec {
            function,
            queue_url: "http://127.0.0.1:1/123456789012/work".to_owned(),
            concurrency: DEFAULT_CONCURRENCY,
            endpoint_url: Some("http://127.0.0.1:1".to_owned()),
            simulated_latency: None,
        }
    }

    async fn config_error(function: Function, vars: &[(&str, &str)]) -> String {
        let env = Env::from_pairs(vars.iter().copied());
        let error = prepare(&spec(function), &env).await.unwrap_err();
        assert_eq!(error.exit_code(), 2, "{error}");
        error.to_string()
    }

    #[test]
    fn the_heartbeat_extends_to_the_queue_timeout_every_half_of_it() {
        let settings = mapping_settings(4, Duration::from_secs(30));
        assert_eq!(settings.heartbeat, Some(Duration::from_secs(30)));
        assert_eq!(
            heartbeat_interval(settings.heartbeat.unwrap()),
            Duration::from_secs(15)
        );
        assert_eq!((settings.receive_max, settings.batch_size), (10, 10));
        assert_eq!(settings.batching_window, Duration::ZERO);
        assert_eq!(settings.wait, Duration::from_secs(20));
        assert_eq!(settings.max_concurrency, 4);
        assert_eq!(settings.drain_timeout, Duration::from_secs(30));
    }

    #[tokio::test]
    async fn config_errors_name_the_variable() {
        let aws = ("ORDERFLOW_ADAPTERS", "aws");
        let no_metrics = ("METRICS_SINK", "off");
        let table = ("IDEMPOTENCY_TABLE", "idempotency");

        let error = config_error(Function::Shipping, &[aws, no_metrics]).await;
        assert_eq!(
            error,
            "shipping cannot start: environment variable IDEMPOTENCY_TABLE is not set: the idempotency table's name"
        );
        let error = config_error(Function::Shipping, &[aws, no_metrics, table]).await;
        assert!(error.contains("NOTIFICATIONS_QUEUE_URL"), "{error}");
        let error = config_error(Function::Inventory, &[aws, no_metrics, table]).await;
        assert!(error.contains("INVENTORY_QUEUE_URL"), "{error}");
        let error = config_error(
            Function::Notification,
            &[aws, no_metrics, table, ("MAX_CONCURRENCY", "0")],
        )
        .await;
        assert!(error.contains("MAX_CONCURRENCY"), "{error}");
        let error = config_error(Function::Notification, &[("ORDERFLOW_ADAPTERS", "embedded")]).await;
        assert!(error.contains("ORDERFLOW_ADAPTERS=\"embedded\""), "{error}");

        let env = Env::from_pairs([aws, no_metrics, table]);
        assert!(prepare(&spec(Function::Notification), &env).await.is_ok());
    }

    #[test]
    fn the_summary_accounts_for_in_flight_work() {
        let mut report = ConsumeReport {
            function: "shipping",
            queue_url: "q".to_owned(),
            visibility_timeout_seconds: 30,
            concurrency: 2,
            signal: "SIGTERM",
            forced: false,
            ran_seconds: 12.34,
            stop_seconds: 2.9,
            in_flight_at_signal: InFlight {
                invocations: 2,
                messages: 20,
            },
            invocations: 5,
            received: 50,
            deleted: 50,
            failed_invocations: 0,
            crashed_invocations: 0,
            abandoned: InFlight::default(),
            returned_after_signal: 0,
            call_errors: 0,
        };
        assert_eq!(
            report.summary(),
            "shipping: stopped by SIGTERM after 12.3 s: 5 invocations, 50 messages received, 50 deleted, \
             0 failed invocations, 0 crashed; at the signal 2 invocations (20 messages) were in flight; \
             all finished within 2.9 s"
        );
        report.returned_after_signal = 3;
        assert!(
            report.summary().contains(
                "were in flight; 3 received after the signal, back in the queue at once; all finished"
            ),
            "{}",
            report.summary()
        );
        report.abandoned = InFlight {
            invocations: 1,
            messages: 10,
        };
        assert!(
            report.summary().ends_with(
                "; 1 abandoned at the 30 s drain timeout (10 messages, back in the queue within 30 s)"
            ),
            "{}",
            report.summary()
        );
    }
}
