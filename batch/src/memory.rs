//! Embedded adapters for every port: the local runner, `orderflow invoke` and
//! the tests use them, so business steps run without AWS.

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::contracts::{OrderItem, Shortage};
use crate::error::{PortError, PortErrorKind};
use crate::fingerprint::Fingerprint;
use crate::metrics::InvocationMetrics;
use crate::ports::{
    Claim, Completion, CustomerNotification, EntryResults, IdempotencyStore, InventoryStore, MessageQueue,
    MetricsSink, Notifier, OutgoingMessage, Reservation, Undelivered, VisibilityChange,
};

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (every critical section here leaves the data consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Queues that keep what is sent to them and the visibility changes asked of
/// them, with failures that tests can inject.
#[derive(Debug, Default)]
pub struct InMemoryQueues {
    sent: Mutex<HashMap<String, Vec<OutgoingMessage>>>,
    visibility: Mutex<Vec<(String, VisibilityChange)>>,
    /// How many of the next entries fail (an atomic, so sends without
    /// injected failures take no lock), and with what.
    failing_entries: AtomicUsize,
    failing_kind: Mutex<Option<PortErrorKind>>,
    send_calls: AtomicUsize,
}

impl InMemoryQueues {
    /// Empty queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `entries` sent entries fail with `kind`.
    pub fn fail_sends(&self, entries: usize, kind: PortErrorKind) {
        *lock(&self.failing_kind) = Some(kind);
        self.failing_entries.store(entries, Ordering::SeqCst);
    }

    /// Every message sent to `queue_url`, in order.
    pub fn messages(&self, queue_url: &str) -> Vec<OutgoingMessage> {
        lock(&self.sent).get(queue_url).cloned().unwrap_or_default()
    }

    /// How many messages each queue received, by queue URL.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<_> = lock(&self.sent)
            .iter()
            .map(|(q, m)| (q.clone(), m.len()))
            .collect();
        counts.sort();
        counts
    }

    /// Every visibility change, with its queue URL.
    pub fn visibility_changes(&self) -> Vec<(String, VisibilityChange)> {
        lock(&self.visibility).clone()
    }

    /// How many `send_batch` calls were made.
    pub fn send_calls(&self) -> usize {
        self.send_calls.load(Ordering::Relaxed)
    }

    fn next_entry_fails(&self) -> Option<PortErrorKind> {
        self.failing_entries
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .and(*lock(&self.failing_kind))
    }

    /// Appends accepted messages to the queue's list.
    fn keep(&self, queue_url: &str, mut messages: Vec<OutgoingMessage>) {
        let mut sent = lock(&self.sent);
        match sent.get_mut(queue_url) {
            Some(queue) => queue.append(&mut messages),
            None => {
                sent.insert(queue_url.to_owned(), messages);
            }
        }
    }
}

#[async_trait]
impl MessageQueue for InMemoryQueues {
    async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        self.send_calls.fetch_add(1, Ordering::Relaxed);
        if self.failing_entries.load(Ordering::SeqCst) == 0 {
            self.keep(queue_url, messages);
            return Vec::new();
        }
        let mut undelivered = Vec::new();
        let mut accepted = Vec::with_capacity(messages.len());
        for (index, message) in messages.into_iter().enumerate() {
            match self.next_entry_fails() {
                Some(kind) => undelivered.push(Undelivered {
                    index,
                    message,
                    error: PortError::new(kind, "SendMessageBatch", "injected failure"),
                }),
                None => accepted.push(message),
            }
        }
        self.keep(queue_url, accepted);
        undelivered
    }

    async fn change_visibility_batch(
        &self,
        queue_url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        let mut log = lock(&self.visibility);
        log.extend(changes.iter().map(|c| (queue_url.to_owned(), c.clone())));
        Ok(vec![Ok(()); changes.len()])
    }
}

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

#[derive(Debug, Default)]
struct Stock {
    units: FxHashMap<String, u32>,
    reservations: FxHashSet<String>,
}

/// Stock levels in memory: every SKU not set explicitly has `default_units`.
#[derive(Debug)]
pub struct InMemoryInventory {
    default_units: u32,
    stock: Mutex<Stock>,
}

impl InMemoryInventory {
    /// Stock of `default_units` for every SKU.
    pub fn new(default_units: u32) -> Self {
        InMemoryInventory {
            default_units,
            stock: Mutex::default(),
        }
    }

    /// Sets one SKU's stock.
    pub fn set_stock(&self, sku: &str, units: u32) {
        lock(&self.stock).units.insert(sku.to_owned(), units);
    }

    /// One SKU's current stock.
    pub fn stock(&self, sku: &str) -> u32 {
        lock(&self.stock)
            .units
            .get(sku)
            .copied()
            .unwrap_or(self.default_units)
    }

    /// How many orders hold a reservation.
    pub fn reservations(&self) -> usize {
        lock(&self.stock).reservations.len()
    }
}

#[async_trait]
impl InventoryStore for InMemoryInventory {
    async fn reserve(&self, order_id: &str, items: &[OrderItem]) -> Result<Reservation, PortError> {
        let mut stock = lock(&self.stock);
        // Recorded first (one lookup); a rejected order's record is removed again.
        if !stock.reservations.insert(order_id.to_owned()) {
            return Ok(Reservation::AlreadyReserved);
        }
        let shortages: Vec<Shortage> = items
            .iter()
            .filter_map(|item| {
                let available = stock.units.get(&item.sku).copied().unwrap_or(self.default_units);
                (available < item.quantity).then(|| Shortage {
                    sku: item.sku.clone(),
                    requested: item.quantity,
                    available,
                })
            })
            .collect();
        if !shortages.is_empty() {
            stock.reservations.remove(order_id);
            return Ok(Reservation::Short(shortages));
        }
        for item in items {
            match stock.units.get_mut(&item.sku) {
                Some(units) => *units -= item.quantity,
                None => {
                    let left = self.default_units - item.quantity;
                    stock.units.insert(item.sku.clone(), left);
                }
            }
        }
        Ok(Reservation::Reserved)
    }
}

/// A notifier that keeps every message and logs which order and template (never the text).
#[derive(Debug, Default)]
pub struct InMemoryNotifier {
    sent: Mutex<(Vec<CustomerNotification>, std::collections::HashSet<String>)>,
    deduplicated: AtomicUsize,
}

impl InMemoryNotifier {
    /// A notifier with nothing sent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message delivered, in order.
    pub fn sent(&self) -> Vec<CustomerNotification> {
        lock(&self.sent).0.clone()
    }

    /// How many messages were delivered.
    pub fn sent_count(&self) -> usize {
        lock(&self.sent).0.len()
    }

    /// Deliveries dropped because their deduplication ID was delivered before.
    pub fn deduplicated(&self) -> usize {
        self.deduplicated.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Notifier for InMemoryNotifier {
    async fn notify(&self, notification: &CustomerNotification) -> Result<(), PortError> {
        let mut sent = lock(&self.sent);
        if !sent.1.insert(notification.deduplication_id.clone()) {
            self.deduplicated.fetch_add(1, Ordering::Relaxed);
            tracing::info!(orderId = %notification.order_id, "notification already delivered: deduplicated");
            return Ok(());
        }
        tracing::info!(
            orderId = %notification.order_id,
            template = notification.template.name(),
            "customer notified"
        );
        sent.0.push(notification.clone());
        Ok(())
    }
}

/// A notifier that only logs which order and template (for functions without a topic).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, notification: &CustomerNotification) -> Result<(), PortError> {
        tracing::info!(
            orderId = %notification.order_id,
            template = notification.template.name(),
            "customer notified (no topic configured: logged only)"
        );
        Ok(())
    }
}

/// A metrics sink that keeps each invocation's metrics.
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    published: Mutex<Vec<InvocationMetrics>>,
}

impl InMemoryMetrics {
    /// A sink with nothing published.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every invocation's metrics, in order.
    pub fn published(&self) -> Vec<InvocationMetrics> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl MetricsSink for InMemoryMetrics {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        lock(&self.published).push(metrics.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(pairs: &[(&str, u32)]) -> Vec<OrderItem> {
        pairs
            .iter()
            .map(|(sku, quantity)| OrderItem {
                sku: (*sku).to_owned(),
                quantity: *quantity,
            })
            .collect()
    }

    #[tokio::test]
    async fn reservation_is_all_or_nothing_and_never_twice() {
        let inventory = InMemoryInventory::new(10);
        inventory.set_stock("B", 1);
        let order = items(&[("A", 5), ("B", 2)]);
        let Reservation::Short(short) = inventory.reserve("o1", &order).await.unwrap() else {
            panic!("B is short")
        };
        assert_eq!(
            short,
            vec![Shortage {
                sku: "B".into(),
                requested: 2,
                available: 1
            }]
        );
        assert_eq!(inventory.stock("A"), 10, "nothing taken when one line is short");

        let order = items(&[("A", 5), ("B", 1)]);
        assert_eq!(
            inventory.reserve("o2", &order).await.unwrap(),
            Reservation::Reserved
        );
        assert_eq!(
            inventory.reserve("o2", &order).await.unwrap(),
            Reservation::AlreadyReserved
        );
        assert_eq!((inventory.stock("A"), inventory.stock("B")), (5, 0));
    }

    #[tokio::test]
    async fn idempotency_claims_expire_and_completed_keys_are_skipped() {
        let store = InMemoryIdempotencyStore::new();
        let fp = Fingerprint::of(|f| {
            f.str("order");
        });
        assert_eq!(store.claim("k", fp, 100, 130).await.unwrap(), Claim::Acquired);
        assert_eq!(store.claim("k", fp, 120, 150).await.unwrap(), Claim::InProgress);
        assert_eq!(
            store.claim("k", fp, 130, 160).await.unwrap(),
            Claim::Acquired,
            "expired claim"
        );
        let completion = Completion {
            key: "k",
            fingerprint: fp,
        };
        store.complete(completion, 1000).await.unwrap();
        assert_eq!(store.claim("k", fp, 999, 1030).await.unwrap(), Claim::Completed);
        assert_eq!(
            store.claim("k", fp, 1000, 1030).await.unwrap(),
            Claim::Acquired,
            "past its TTL"
        );
        store.release("k").await.unwrap();
        assert!(!store.contains("k"));
    }

    #[tokio::test]
    async fn a_live_key_with_another_fingerprint_is_reused_never_a_duplicate() {
        let store = InMemoryIdempotencyStore::new();
        let (first, other) = (
            Fingerprint::of(|f| {
                f.str("alice's order");
            }),
            Fingerprint::of(|f| {
                f.str("mallory's order");
            }),
        );
        assert_eq!(store.claim("k", first, 100, 130).await.unwrap(), Claim::Acquired);
        assert_eq!(
            store.claim("k", other, 101, 131).await.unwrap(),
            Claim::Reused,
            "in progress"
        );
        store
            .complete_all(
                &[Completion {
                    key: "k",
                    fingerprint: first,
                }],
                1000,
            )
            .await;
        assert_eq!(
            store.claim("k", other, 200, 230).await.unwrap(),
            Claim::Reused,
            "completed"
        );
        assert_eq!(store.claim("k", first, 200, 230).await.unwrap(), Claim::Completed);
        assert_eq!(
            store.claim("k", other, 1000, 1030).await.unwrap(),
            Claim::Acquired,
            "expired"
        );
    }
}
