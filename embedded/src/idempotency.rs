//! An idempotency store in a hash map, with the DynamoDB store's rules.

use std::sync::Mutex;

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, ClaimRequest, Completion, EntryResults, IdempotencyStore};
use rustc_hash::FxHashMap;

use crate::lock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyRecord {
    completed: bool,
    until: u64,
    fingerprint: Fingerprint,
}

/// An idempotency store in a hash map, with the same expiry rules as the DynamoDB one.
#[derive(Debug, Default)]
pub struct InMemoryIdempotencyStore {
    keys: Mutex<FxHashMap<String, KeyRecord>>,
    /// Whether it answers a batch's claims together, as a pipelining store
    /// does (the processor then claims before running): for tests of that path.
    together: bool,
    /// Calls of `claim` and of `claim_all`.
    claim_calls: std::sync::atomic::AtomicUsize,
    claim_all_calls: std::sync::atomic::AtomicUsize,
}

impl InMemoryIdempotencyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that claims a batch's keys together (as Redis's pipeline
    /// does), so the processor claims every ready record before running any.
    pub fn claiming_together() -> Self {
        InMemoryIdempotencyStore {
            together: true,
            ..Self::default()
        }
    }

    /// How many times a single key was claimed, and a batch's keys together.
    pub fn claim_calls(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.claim_calls.load(Relaxed), self.claim_all_calls.load(Relaxed))
    }

    /// A claim, answered at once (one lock).
    fn claim_one(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError> {
        let claimed = KeyRecord {
            completed: false,
            until: in_progress_until,
            fingerprint,
        };
        let mut keys = lock(&self.keys);
        match keys.get_mut(key) {
            Some(live) if live.until > now => Ok(Claim::of_live_record(
                live.completed,
                Some(live.fingerprint),
                fingerprint,
            )),
            Some(expired) => {
                *expired = claimed;
                Ok(Claim::Acquired)
            }
            None => {
                keys.insert(key.to_owned(), claimed);
                Ok(Claim::Acquired)
            }
        }
    }

    /// How many keys are recorded as completed.
    pub fn completed(&self) -> usize {
        lock(&self.keys).values().filter(|r| r.completed).count()
    }

    /// Whether `key` has a record (in progress or completed).
    pub fn contains(&self, key: &str) -> bool {
        lock(&self.keys).contains_key(key)
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    fn claims_together(&self) -> bool {
        self.together
    }

    async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
        now: u64,
        in_progress_until: u64,
    ) -> Vec<Result<Claim, PortError>> {
        self.claim_all_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        requests
            .iter()
            .map(|r| self.claim_one(r.key, r.fingerprint, now, in_progress_until))
            .collect()
    }

    async fn claim(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError> {
        if self.together {
            self.claim_calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.claim_one(key, fingerprint, now, in_progress_until)
    }

    async fn complete(&self, completion: Completion<'_>, keep_until: u64) -> Result<(), PortError> {
        mark_completed(&mut lock(&self.keys), completion, keep_until);
        Ok(())
    }

    async fn complete_all(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        // One lock for the batch, as the DynamoDB store makes one call per 25 keys.
        let mut stored = lock(&self.keys);
        for completion in completions {
            mark_completed(&mut stored, *completion, keep_until);
        }
        vec![Ok(()); completions.len()]
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        let mut keys = lock(&self.keys);
        // As in DynamoDB: only a claim in progress is released, never a completed record.
        if keys.get(key).is_some_and(|record| !record.completed) {
            keys.remove(key);
        }
        Ok(())
    }
}

fn mark_completed(keys: &mut FxHashMap<String, KeyRecord>, completion: Completion<'_>, keep_until: u64) {
    let completed = KeyRecord {
        completed: true,
        until: keep_until,
        fingerprint: completion.fingerprint,
    };
    match keys.get_mut(completion.key) {
        Some(record) => *record = completed,
        None => {
            keys.insert(completion.key.to_owned(), completed);
        }
    }
}
