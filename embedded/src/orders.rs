//! The order of record in a hash map, with the DynamoDB store's rules.

use std::sync::Mutex;

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_orders::contracts::OrderCreated;
use orderflow_orders::order_record::{Acceptance, OrderRecord, Transition, TransitionOutcome};
use orderflow_orders::ports::OrderStore;
use rustc_hash::FxHashMap;
use time::OffsetDateTime;

use crate::lock;

/// Orders of record in memory, by order ID. Each call holds the lock for its
/// whole check-and-write, as a conditional write does in a table.
#[derive(Debug, Default)]
pub struct InMemoryOrderStore {
    orders: Mutex<FxHashMap<String, OrderRecord>>,
}

impl InMemoryOrderStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many orders are recorded.
    pub fn len(&self) -> usize {
        lock(&self.orders).len()
    }

    /// Whether no order is recorded.
    pub fn is_empty(&self) -> bool {
        lock(&self.orders).is_empty()
    }
}

#[async_trait]
impl OrderStore for InMemoryOrderStore {
    async fn accept(
        &self,
        order: &OrderCreated,
        fingerprint: Fingerprint,
        at: OffsetDateTime,
    ) -> Result<Acceptance, PortError> {
        let mut orders = lock(&self.orders);
        if let Some(stored) = orders.get(&order.order_id) {
            return Ok(if stored.fingerprint == fingerprint {
                Acceptance::AlreadyAccepted {
                    correlation_id: stored.order.correlation_id.clone(),
                }
            } else {
                Acceptance::Conflict
            });
        }
        orders.insert(
            order.order_id.clone(),
            OrderRecord::accepted(order.clone(), fingerprint, at),
        );
        Ok(Acceptance::Accepted)
    }

    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, PortError> {
        Ok(lock(&self.orders).get(order_id).cloned())
    }

    async fn record(&self, order_id: &str, transition: &Transition) -> Result<TransitionOutcome, PortError> {
        let mut orders = lock(&self.orders);
        let Some(record) = orders.get_mut(order_id) else {
            return Ok(TransitionOutcome::UnknownOrder);
        };
        Ok(if record.apply(transition) {
            TransitionOutcome::Applied
        } else {
            TransitionOutcome::Unchanged
        })
    }
}
