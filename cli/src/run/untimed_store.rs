//! An idempotency store on a real server whose calls take no time on the
//! embedded run's paused clock.
//!
//! The paused clock jumps to the next timer whenever every task waits, and a
//! call waiting on Redis leaves every task waiting: a loopback round trip
//! would last a visibility timeout, and messages would come back while their
//! claims are in flight. Kept busy while a call is out, the runtime never
//! waits, so the clock stands still, as it does for the in-memory store.
//!
//! The store itself (its connection, its timeouts and reconnection delays)
//! lives on a runtime of its own on real time: on the paused clock, kept
//! still, its timeouts would never fire and a Redis that does not answer
//! would hold the run for ever.

use std::sync::Arc;

use async_trait::async_trait;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, ClaimRequest, Completion, EntryResults, IdempotencyStore};
use orderflow_redis::{ConnectError, RedisIdempotencyStore, RedisSettings};
use tokio::runtime::Runtime;

/// A Redis store on a real-time runtime, whose calls take no time on a paused clock.
pub(super) struct UntimedStore {
    store: Arc<RedisIdempotencyStore>,
    runtime: RealTime,
}

/// A runtime of real time, dropped without waiting for its threads (it is
/// dropped inside the run's runtime, where waiting is not allowed).
struct RealTime(Option<Runtime>);

impl Drop for RealTime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl RealTime {
    /// Runs `call` on this runtime, keeping the caller's busy meanwhile;
    /// `None` if its task was lost (the runtime stopping).
    async fn run<T: Send + 'static>(&self, call: impl Future<Output = T> + Send + 'static) -> Option<T> {
        let runtime = self.0.as_ref()?;
        untimed(runtime.spawn(call)).await.ok()
    }
}

impl UntimedStore {
    /// Connects to the Redis at `url` from a runtime of real time.
    pub(super) async fn connect(url: &str, settings: RedisSettings) -> Result<Self, PortError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("orderflow-redis")
            .enable_all()
            .build()
            .map_err(|e| PortError::new(PortErrorKind::Other, "Connect", e.to_string()))?;
        let runtime = RealTime(Some(runtime));
        let url = url.to_owned();
        let connected = runtime
            .run(async move { RedisIdempotencyStore::connect(&url, settings).await })
            .await
            .unwrap_or(Err(ConnectError::Unreachable(PortErrorKind::Unavailable)))?;
        Ok(UntimedStore {
            store: Arc::new(connected),
            runtime,
        })
    }

    /// Runs `call` on the store's runtime, keeping this one busy meanwhile.
    async fn run<T: Send + 'static>(
        &self,
        call: impl Future<Output = T> + Send + 'static,
        lost: impl FnOnce() -> T,
    ) -> T {
        self.runtime.run(call).await.unwrap_or_else(lost)
    }
}

/// Runs `call`, yielding meanwhile so the runtime is never idle (and a
/// paused clock does not move).
async fn untimed<T>(call: impl Future<Output = T>) -> T {
    let busy = async {
        loop {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        out = call => out,
        never = busy => never,
    }
}

/// The answer of a call whose task was lost (the store's runtime stopping).
fn lost(operation: &'static str) -> PortError {
    PortError::new(
        PortErrorKind::Unavailable,
        operation,
        "the store's runtime stopped",
    )
}

/// A batch's keys and fingerprints, owned, for a task of the store's runtime.
struct OwnedKeys(Vec<(String, Fingerprint)>);

impl OwnedKeys {
    fn of<'a>(pairs: impl Iterator<Item = (&'a str, Fingerprint)>) -> Self {
        OwnedKeys(
            pairs
                .map(|(key, fingerprint)| (key.to_owned(), fingerprint))
                .collect(),
        )
    }

    fn claims(&self) -> Vec<ClaimRequest<'_>> {
        self.0
            .iter()
            .map(|(key, fingerprint)| ClaimRequest {
                key,
                fingerprint: *fingerprint,
            })
            .collect()
    }

    fn completions(&self) -> Vec<Completion<'_>> {
        self.0
            .iter()
            .map(|(key, fingerprint)| Completion {
                key,
                fingerprint: *fingerprint,
            })
            .collect()
    }
}

/// Redis's single claims and completions are batches of one: so are these.
#[async_trait]
impl IdempotencyStore for UntimedStore {
    fn claims_together(&self) -> bool {
        self.store.claims_together()
    }

    async fn claim(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError> {
        let request = ClaimRequest { key, fingerprint };
        self.claim_all(&[request], now, in_progress_until)
            .await
            .pop()
            .unwrap_or_else(|| Err(lost("Claim")))
    }

    async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
        now: u64,
        in_progress_until: u64,
    ) -> Vec<Result<Claim, PortError>> {
        let store = Arc::clone(&self.store);
        let keys = OwnedKeys::of(requests.iter().map(|r| (r.key, r.fingerprint)));
        let call = async move { store.claim_all(&keys.claims(), now, in_progress_until).await };
        self.run(call, || vec![Err(lost("ClaimAll")); requests.len()])
            .await
    }

    async fn complete(&self, completion: Completion<'_>, keep_until: u64) -> Result<(), PortError> {
        self.complete_all(&[completion], keep_until)
            .await
            .pop()
            .unwrap_or_else(|| Err(lost("Complete")))
    }

    async fn complete_all(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        let store = Arc::clone(&self.store);
        let keys = OwnedKeys::of(completions.iter().map(|c| (c.key, c.fingerprint)));
        let call = async move { store.complete_all(&keys.completions(), keep_until).await };
        self.run(call, || vec![Err(lost("Complete")); completions.len()])
            .await
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        let (store, key) = (Arc::clone(&self.store), key.to_owned());
        let call = async move { store.release(&key).await };
        self.run(call, || Err(lost("Release"))).await
    }
}
