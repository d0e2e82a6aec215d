//! Stock in memory, reserved all or nothing per order, and the reservation
//! recorded on the order of record when one is attached.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_orders::contracts::{OrderCreated, Shortage};
use orderflow_orders::order_record::Transition;
use orderflow_orders::ports::{InventoryStore, OrderStore, Reservation};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::lock;

#[derive(Debug, Default)]
struct Stock {
    units: FxHashMap<String, u32>,
    reservations: FxHashSet<String>,
}

/// Stock levels in memory: every SKU not set explicitly has `default_units`.
pub struct InMemoryInventory {
    default_units: u32,
    stock: Mutex<Stock>,
    orders: Option<Arc<dyn OrderStore>>,
}

impl std::fmt::Debug for InMemoryInventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryInventory")
            .field("default_units", &self.default_units)
            .field("keeps_orders", &self.orders.is_some())
            .finish_non_exhaustive()
    }
}

impl InMemoryInventory {
    /// Stock of `default_units` for every SKU.
    pub fn new(default_units: u32) -> Self {
        InMemoryInventory {
            default_units,
            stock: Mutex::default(),
            orders: None,
        }
    }

    /// The inventory recording each reservation on `orders` too: a
    /// reservation the store refuses to record is undone, so stock is never
    /// taken for an order the store does not show as reserved.
    pub fn with_orders(mut self, orders: Arc<dyn OrderStore>) -> Self {
        self.orders = Some(orders);
        self
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
}

impl InMemoryInventory {
    /// Takes the stock of every line, or none.
    fn take(&self, stock: &mut Stock, order: &OrderCreated) -> Reservation {
        // Recorded first (one lookup); a rejected order's record is removed again.
        if !stock.reservations.insert(order.order_id.clone()) {
            return Reservation::AlreadyReserved;
        }
        let shortages: Vec<Shortage> = order
            .items
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
            stock.reservations.remove(&order.order_id);
            return Reservation::Short(shortages);
        }
        for item in &order.items {
            match stock.units.get_mut(&item.sku) {
                Some(units) => *units -= item.quantity,
                None => {
                    let left = self.default_units - item.quantity;
                    stock.units.insert(item.sku.clone(), left);
                }
            }
        }
        Reservation::Reserved
    }

    /// Undoes [`InMemoryInventory::take`]'s reservation of `order`.
    fn give_back(&self, stock: &mut Stock, order: &OrderCreated) {
        stock.reservations.remove(&order.order_id);
        for item in &order.items {
            if let Some(units) = stock.units.get_mut(&item.sku) {
                *units += item.quantity;
            }
        }
    }
}

#[async_trait]
impl InventoryStore for InMemoryInventory {
    async fn reserve(&self, order: &OrderCreated, reserved: &Transition) -> Result<Reservation, PortError> {
        let reservation = self.take(&mut lock(&self.stock), order);
        let Some(orders) = &self.orders else {
            return Ok(reservation);
        };
        if matches!(reservation, Reservation::Short(_)) {
            return Ok(reservation);
        }
        // A retried reservation applies the transition again (unchanged); a
        // store that fails undoes a reservation made now, as a cancelled
        // transaction would never have made it.
        if let Err(e) = orders.record_entered(order, reserved).await {
            if reservation == Reservation::Reserved {
                self.give_back(&mut lock(&self.stock), order);
            }
            return Err(e);
        }
        Ok(reservation)
    }
}

#[cfg(test)]
mod tests {
    // The port's rules are the inventory contract suite's (orderflow-tests),
    // run against this adapter too; here only what is this adapter's own.
    use super::*;
    use orderflow_batch::error::PortErrorKind;
    use orderflow_orders::contracts::OrderItem;
    use orderflow_orders::money::Money;
    use orderflow_orders::order_record::OrderStatus;

    use crate::InMemoryOrderStore;

    fn order(quantity: u32) -> OrderCreated {
        OrderCreated {
            version: "1.0".into(),
            order_id: "o1".into(),
            customer_id: "c".into(),
            items: vec![OrderItem {
                sku: "UNSET".into(),
                quantity,
            }],
            total_amount: Money::from_cents(100),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            shipping_region: "US".into(),
            correlation_id: "corr".into(),
        }
    }

    fn reserved() -> Transition {
        Transition::new(OrderStatus::Reserved, time::OffsetDateTime::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn a_reservation_the_order_store_refuses_is_undone() {
        let orders = Arc::new(InMemoryOrderStore::new());
        let inventory = InMemoryInventory::new(10).with_orders(Arc::clone(&orders) as _);
        orders.fail_calls(1, PortErrorKind::Throttled);
        assert!(inventory.reserve(&order(4), &reserved()).await.is_err());
        assert_eq!(inventory.stock("UNSET"), 10, "given back");
        assert!(orders.is_empty());
        assert_eq!(
            inventory.reserve(&order(4), &reserved()).await.unwrap(),
            Reservation::Reserved
        );
        assert_eq!(inventory.stock("UNSET"), 6);
        let record = orders.get("o1").await.unwrap().unwrap();
        assert_eq!(record.status, OrderStatus::Reserved, "recorded with the stock");
        // Short: nothing taken, nothing recorded by the inventory.
        let mut big = order(7);
        big.order_id = "o2".into();
        assert!(matches!(
            inventory.reserve(&big, &reserved()).await.unwrap(),
            Reservation::Short(_)
        ));
        assert!(orders.get("o2").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_sku_never_set_has_the_default_stock() {
        let inventory = InMemoryInventory::new(10);
        let order = order(4);
        assert_eq!(inventory.stock("UNSET"), 10);
        assert_eq!(
            inventory.reserve(&order, &reserved()).await.unwrap(),
            Reservation::Reserved
        );
        assert_eq!(inventory.stock("UNSET"), 6, "taken from the default");
        assert_eq!(lock(&inventory.stock).reservations.len(), 1);
    }
}
