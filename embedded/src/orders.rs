//! The order of record in a hash map, with the DynamoDB store's rules, and
//! optionally its change stream, as the orders table's stream of new images.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::stream_source::{StreamBatch, StreamBatchRecord, StreamEventName};
use orderflow_orders::contracts::OrderCreated;
use orderflow_orders::order_item::{self, ORDER_KEY};
use orderflow_orders::order_record::{Acceptance, OrderRecord, Transition, TransitionOutcome};
use orderflow_orders::ports::OrderStore;
use rustc_hash::FxHashMap;

use crate::lock;

/// One change of an order, as the table's stream carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderChange {
    /// Its position in the stream, from 1.
    pub sequence_number: u64,
    /// `INSERT` for an acceptance, `MODIFY` for a transition.
    pub event_name: StreamEventName,
    /// The order after the change.
    pub record: OrderRecord,
}

#[derive(Debug, Default)]
struct Table {
    orders: FxHashMap<String, OrderRecord>,
    /// Every change, when the stream is on.
    changes: Option<Vec<OrderChange>>,
}

impl Table {
    fn changed(&mut self, event_name: StreamEventName, record: &OrderRecord) {
        if let Some(changes) = &mut self.changes {
            changes.push(OrderChange {
                sequence_number: changes.len() as u64 + 1,
                event_name,
                record: record.clone(),
            });
        }
    }
}

/// Orders of record in memory, by order ID. Each call holds the lock for its
/// whole check-and-write, as a conditional write does in a table.
#[derive(Debug, Default)]
pub struct InMemoryOrderStore {
    table: Mutex<Table>,
    /// How many of the next calls fail (an atomic, so calls without
    /// injected failures take no second lock), and with what.
    failing_calls: AtomicUsize,
    failing_kind: Mutex<Option<PortErrorKind>>,
}

impl InMemoryOrderStore {
    /// An empty store without a change stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that keeps every change for [`InMemoryOrderStore::changes_after`].
    pub fn with_stream() -> Self {
        InMemoryOrderStore {
            table: Mutex::new(Table {
                changes: Some(Vec::new()),
                ..Table::default()
            }),
            ..Self::default()
        }
    }

    /// How many orders are recorded.
    pub fn len(&self) -> usize {
        lock(&self.table).orders.len()
    }

    /// Whether no order is recorded.
    pub fn is_empty(&self) -> bool {
        lock(&self.table).orders.is_empty()
    }

    /// Every order, in no particular order.
    pub fn records(&self) -> Vec<OrderRecord> {
        lock(&self.table).orders.values().cloned().collect()
    }

    /// Makes the next `calls` calls fail with `kind`, changing nothing.
    pub fn fail_calls(&self, calls: usize, kind: PortErrorKind) {
        *lock(&self.failing_kind) = Some(kind);
        self.failing_calls.store(calls, Ordering::SeqCst);
    }

    /// Up to `max` changes after the one numbered `after` (0: from the
    /// start), oldest first; none without a stream.
    pub fn changes_after(&self, after: u64, max: usize) -> Vec<OrderChange> {
        let table = lock(&self.table);
        let changes = table.changes.as_deref().unwrap_or_default();
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(changes.len());
        changes[start..].iter().take(max).cloned().collect()
    }

    fn injected_failure(&self, operation: &'static str) -> Result<(), PortError> {
        if self.failing_calls.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let failing = self
            .failing_calls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        match (*lock(&self.failing_kind)).filter(|_| failing) {
            Some(kind) => Err(PortError::new(kind, operation, "injected failure")),
            None => Ok(()),
        }
    }
}

/// Changes as a stream event, as Lambda's poller delivers the table's: keys
/// and new images in DynamoDB's JSON, sequence numbers zero-padded to 21
/// digits (the stream's own are decimal strings of that size).
pub fn stream_batch(changes: &[OrderChange]) -> Result<StreamBatch, PortError> {
    let invalid =
        |e: &dyn std::fmt::Display| PortError::new(PortErrorKind::Other, "GetRecords", e.to_string());
    let records = changes
        .iter()
        .map(|change| {
            let image = order_item::record_item(&change.record).map_err(|e| invalid(&e))?;
            let keys: order_item::Item = image
                .get_key_value(ORDER_KEY)
                .map(|(name, value)| (name.clone(), value.clone()))
                .into_iter()
                .collect();
            StreamBatchRecord::new(
                format!("{:021}", change.sequence_number),
                change.event_name,
                Some(order_item::item_to_json(&keys).map_err(|e| invalid(&e))?),
                Some(order_item::item_to_json(&image).map_err(|e| invalid(&e))?),
            )
            .map_err(|e| invalid(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StreamBatch { records })
}

#[async_trait]
impl OrderStore for InMemoryOrderStore {
    async fn accept(
        &self,
        order: &OrderCreated,
        fingerprint: Fingerprint,
        acceptance: &Transition,
    ) -> Result<Acceptance, PortError> {
        self.injected_failure("PutItem")?;
        let mut table = lock(&self.table);
        if let Some(stored) = table.orders.get(&order.order_id) {
            return Ok(if stored.fingerprint == fingerprint {
                Acceptance::AlreadyAccepted {
                    correlation_id: stored.order.correlation_id.clone(),
                }
            } else {
                Acceptance::Conflict
            });
        }
        let record = OrderRecord::accepted(order.clone(), fingerprint, acceptance);
        table.changed(StreamEventName::Insert, &record);
        table.orders.insert(order.order_id.clone(), record);
        Ok(Acceptance::Accepted)
    }

    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, PortError> {
        self.injected_failure("GetItem")?;
        Ok(lock(&self.table).orders.get(order_id).cloned())
    }

    async fn record(&self, order_id: &str, transition: &Transition) -> Result<TransitionOutcome, PortError> {
        self.injected_failure("UpdateItem")?;
        self.apply(order_id, transition)
    }

    async fn record_entered(
        &self,
        order: &OrderCreated,
        transition: &Transition,
    ) -> Result<TransitionOutcome, PortError> {
        self.injected_failure("UpdateItem")?;
        let mut table = lock(&self.table);
        if !table.orders.contains_key(&order.order_id) {
            let record = OrderRecord::entered(order.clone(), order.fingerprint(), transition);
            table.changed(StreamEventName::Insert, &record);
            table.orders.insert(order.order_id.clone(), record);
            return Ok(TransitionOutcome::Applied);
        }
        drop(table);
        self.apply(&order.order_id, transition)
    }
}

impl InMemoryOrderStore {
    /// Moves a known order, under one lock.
    fn apply(&self, order_id: &str, transition: &Transition) -> Result<TransitionOutcome, PortError> {
        let mut table = lock(&self.table);
        let Some(record) = table.orders.get_mut(order_id) else {
            return Ok(TransitionOutcome::UnknownOrder);
        };
        if !record.apply(transition) {
            return Ok(TransitionOutcome::Unchanged);
        }
        let record = record.clone();
        table.changed(StreamEventName::Modify, &record);
        Ok(TransitionOutcome::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_orders::contracts::OrderItem;
    use orderflow_orders::money::Money;
    use orderflow_orders::order_record::OrderStatus;
    use time::macros::datetime;

    fn order(id: &str) -> OrderCreated {
        OrderCreated {
            version: "1.0".into(),
            order_id: id.into(),
            customer_id: "c-1".into(),
            items: vec![OrderItem {
                sku: "A".into(),
                quantity: 1,
            }],
            total_amount: Money::from_cents(100),
            created_at: datetime!(2026-12-01 10:00 UTC),
            shipping_region: "US".into(),
            correlation_id: "corr".into(),
        }
    }

    #[tokio::test]
    async fn the_stream_carries_each_applied_change_once_in_order() {
        let store = InMemoryOrderStore::with_stream();
        let at = datetime!(2026-12-01 10:01 UTC);
        for id in ["o-1", "o-2"] {
            store
                .accept(&order(id), order(id).fingerprint(), &Transition::accepted(at))
                .await
                .unwrap();
        }
        // A retried acceptance and a backwards transition change nothing.
        store
            .accept(
                &order("o-1"),
                order("o-1").fingerprint(),
                &Transition::accepted(at),
            )
            .await
            .unwrap();
        let shipped = Transition::new(OrderStatus::Shipped, at);
        store.record("o-1", &shipped).await.unwrap();
        store
            .record("o-1", &Transition::new(OrderStatus::Reserved, at))
            .await
            .unwrap();
        let changes = store.changes_after(0, 10);
        let summary: Vec<(u64, StreamEventName, &str, OrderStatus)> = changes
            .iter()
            .map(|c| {
                (
                    c.sequence_number,
                    c.event_name,
                    c.record.order.order_id.as_str(),
                    c.record.status,
                )
            })
            .collect();
        use StreamEventName::{Insert, Modify};
        assert_eq!(
            summary,
            [
                (1, Insert, "o-1", OrderStatus::Accepted),
                (2, Insert, "o-2", OrderStatus::Accepted),
                (3, Modify, "o-1", OrderStatus::Shipped),
            ]
        );
        assert_eq!(store.changes_after(2, 10).len(), 1);
        assert_eq!(store.changes_after(1, 1)[0].sequence_number, 2);
        assert!(store.changes_after(9, 10).is_empty());
        assert!(InMemoryOrderStore::new().changes_after(0, 10).is_empty());

        let batch = stream_batch(&changes).unwrap();
        use orderflow_batch::stream_source::StreamRecord;
        let first = &batch.records[0];
        assert_eq!(first.sequence_number(), "000000000000000000001");
        assert_eq!(first.keys(), Some(r#"{"orderId":{"S":"o-1"}}"#));
        let image = order_item::item_from_json(first.new_image().unwrap()).unwrap();
        assert_eq!(order_item::decode_record(&image).unwrap(), changes[0].record);
    }

    #[tokio::test]
    async fn injected_failures_change_nothing_and_run_out() {
        let store = InMemoryOrderStore::with_stream();
        store.fail_calls(1, PortErrorKind::Throttled);
        let at = datetime!(2026-12-01 10:01 UTC);
        let error = store
            .accept(
                &order("o-1"),
                order("o-1").fingerprint(),
                &Transition::accepted(at),
            )
            .await
            .unwrap_err();
        assert!(error.retryable());
        assert!(store.is_empty() && store.changes_after(0, 1).is_empty());
        assert_eq!(
            store
                .accept(
                    &order("o-1"),
                    order("o-1").fingerprint(),
                    &Transition::accepted(at)
                )
                .await
                .unwrap(),
            Acceptance::Accepted
        );
    }
}
