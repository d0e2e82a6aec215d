//! An idempotency store on a real server whose calls take no time on the
//! embedded run's paused clock.
//!
//! The paused clock jumps to the next timer whenever every task waits, and a
//! call waiting on Redis leaves every task waiting: a loopback round trip
//! would last a visibility timeout, and messages would come back while their
//! claims are in flight. Kept busy while a call is out, the runtime never
//! waits, so the clock stands still, as it does for the in-memory store.

use std::sync::Arc;

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, ClaimRequest, Completion, EntryResults, IdempotencyStore};

/// `store`, whose calls take no time on a paused clock.
pub(super) struct UntimedStore(pub(super) Arc<dyn IdempotencyStore>);

/// Runs `call`, yielding meanwhile so the runtime is never idle (and a
/// paused clock does not move).
pub(super) async fn untimed<T>(call: impl Future<Output = T>) -> T {
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

#[async_trait]
impl IdempotencyStore for UntimedStore {
    fn claims_together(&self) -> bool {
        self.0.claims_together()
    }

    async fn claim(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError> {
        untimed(self.0.claim(key, fingerprint, now, in_progress_until)).await
    }

    async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
        now: u64,
        in_progress_until: u64,
    ) -> Vec<Result<Claim, PortError>> {
        untimed(self.0.claim_all(requests, now, in_progress_until)).await
    }

    async fn complete(&self, completion: Completion<'_>, keep_until: u64) -> Result<(), PortError> {
        untimed(self.0.complete(completion, keep_until)).await
    }

    async fn complete_all(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        untimed(self.0.complete_all(completions, keep_until)).await
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        untimed(self.0.release(key)).await
    }
}
