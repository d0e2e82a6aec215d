//! An idempotency store in a hash map, with the DynamoDB store's rules.

use std::sync::Mutex;

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, Completion, EntryResults, IdempotencyStore};
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
}

impl InMemoryIdempotencyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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
    async fn claim(
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
