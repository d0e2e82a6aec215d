//! Injected faults: transient step failures (`--fail-rate`) and invocations
//! that die mid-batch (`--crash-rate`), as a timeout or a panic would.
//!
//! Both stop before a message's last allowed receives, as transient faults
//! do, so no message is dead-lettered for injected faults alone.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::processor::{Outgoing, RecordContext, RecordStep};
use orderflow_batch::sqs::SqsRecord;
use orderflow_embedded::poller::BatchHandler;

use super::settings::MAX_RECEIVE_COUNT;

tokio::task_local! {
    /// Records left to start before an injected crash, for the current invocation.
    static CRASH_COUNTDOWN: Cell<Option<usize>>;
}

/// The panic message of injected crashes (the run's panic hook keeps them quiet).
pub const INJECTED_CRASH: &str = "orderflow run: injected crash";

/// Keeps injected crashes (panics by design) out of stderr; other panics print as usual.
pub fn quiet_injected_crashes() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&INJECTED_CRASH) {
            default_hook(info);
        }
    }));
}

/// Faults are injected only before a message's last two allowed receives, so a
/// message is never dead-lettered for injected faults alone.
fn faults_allowed(message: &dyn SqsRecord) -> bool {
    message.receive_count().unwrap_or(1) + 1 < MAX_RECEIVE_COUNT
}

/// A step with transient failures and crashes injected.
pub(super) struct FaultyStep<S> {
    inner: S,
    fail_rate: f64,
    rng: Mutex<fastrand::Rng>,
    injected: Arc<AtomicU64>,
}

impl<S> FaultyStep<S> {
    /// `inner`, failing with probability `fail_rate` (seeded by `seed`) and
    /// counting its failures in `injected`.
    pub(super) fn new(inner: S, fail_rate: f64, injected: &Arc<AtomicU64>, seed: u64) -> Self {
        FaultyStep {
            inner,
            fail_rate,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            injected: Arc::clone(injected),
        }
    }
}

impl<S: RecordStep> RecordStep for FaultyStep<S> {
    type Input = S::Input;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn decode(&self, message: &(dyn SqsRecord + 'static)) -> Result<S::Input, RecordError> {
        self.inner.decode(message)
    }

    fn key<'a>(&self, input: &'a S::Input) -> std::borrow::Cow<'a, str> {
        self.inner.key(input)
    }

    fn correlation_id<'a>(&self, input: &'a S::Input) -> &'a str {
        self.inner.correlation_id(input)
    }

    fn fingerprint(&self, input: &S::Input) -> orderflow_batch::fingerprint::Fingerprint {
        self.inner.fingerprint(input)
    }

    async fn run(&self, input: S::Input, context: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        let crash = CRASH_COUNTDOWN
            .try_with(|countdown| match countdown.get() {
                Some(0) => true,
                Some(n) => {
                    countdown.set(Some(n - 1));
                    false
                }
                None => false,
            })
            .unwrap_or(false);
        if crash {
            std::panic::panic_any(INJECTED_CRASH);
        }
        let fail = faults_allowed(context.message) && {
            let mut rng = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            rng.f64() < self.fail_rate
        };
        if fail {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(PortError::new(
                PortErrorKind::Timeout,
                "InjectedFault",
                "a transient failure (--fail-rate)",
            )
            .into());
        }
        self.inner.run(input, context).await
    }
}

/// A handler whose invocations sometimes die mid-batch.
pub(super) struct CrashingHandler {
    inner: Arc<dyn BatchHandler>,
    crash_rate: f64,
    rng: Mutex<fastrand::Rng>,
}

impl CrashingHandler {
    /// `inner`, its invocations dying with probability `crash_rate` (seeded by `seed`).
    pub(super) fn new(inner: Arc<dyn BatchHandler>, crash_rate: f64, seed: u64) -> Self {
        CrashingHandler {
            inner,
            crash_rate,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }
}

#[async_trait]
impl BatchHandler for CrashingHandler {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        let crash_at = {
            let mut rng = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let crash = rng.f64() < self.crash_rate && event.records.iter().all(|m| faults_allowed(m));
            crash.then(|| rng.usize(..event.records.len().max(1)))
        };
        CRASH_COUNTDOWN
            .scope(Cell::new(crash_at), self.inner.invoke(event))
            .await
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::sqs::SqsMessage;

    use super::*;

    #[test]
    fn faults_stop_before_the_last_receives() {
        let mut m = SqsMessage::default();
        for (count, allowed) in [("1", true), ("3", true), ("4", false), ("5", false)] {
            m.attributes
                .insert("ApproximateReceiveCount".into(), count.into());
            assert_eq!(faults_allowed(&m), allowed, "{count}");
        }
    }
}
