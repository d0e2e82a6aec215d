//! Idempotency turned off, for steps whose every effect is harmless to
//! repeat downstream (the order relay: a second `OrderCreated` is dropped by
//! the consumers' own idempotency), so a batch makes no store calls at all.

use async_trait::async_trait;

use crate::error::PortError;
use crate::fingerprint::Fingerprint;
use crate::ports::{Claim, Completion, EntryResults, IdempotencyStore};

/// Keeps no records: every claim is acquired, completions and releases do
/// nothing. A redelivered record runs its step again.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIdempotency;

#[async_trait]
impl IdempotencyStore for NoIdempotency {
    async fn claim(&self, _: &str, _: Fingerprint, _: u64, _: u64) -> Result<Claim, PortError> {
        Ok(Claim::Acquired)
    }

    async fn complete(&self, _: Completion<'_>, _: u64) -> Result<(), PortError> {
        Ok(())
    }

    async fn complete_all(&self, completions: &[Completion<'_>], _: u64) -> EntryResults {
        vec![Ok(()); completions.len()]
    }

    async fn release(&self, _: &str) -> Result<(), PortError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_claim_is_acquired_even_after_a_completion() {
        let store = NoIdempotency;
        let fingerprint = Fingerprint::of(|f| {
            f.str("order");
        });
        assert_eq!(
            store.claim("k", fingerprint, 0, 10).await.unwrap(),
            Claim::Acquired
        );
        let completion = Completion {
            key: "k",
            fingerprint,
        };
        assert_eq!(store.complete_all(&[completion, completion], 100).await.len(), 2);
        assert_eq!(
            store.claim("k", fingerprint, 1, 10).await.unwrap(),
            Claim::Acquired
        );
    }
}
