//! Stock in memory, reserved all or nothing per order.

use std::sync::Mutex;

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_orders::contracts::{OrderItem, Shortage};
use orderflow_orders::ports::{InventoryStore, Reservation};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::lock;

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

#[cfg(test)]
mod tests {
    // The port's rules are the inventory contract suite's (orderflow-tests),
    // run against this adapter too; here only what is this adapter's own.
    use super::*;

    #[tokio::test]
    async fn a_sku_never_set_has_the_default_stock() {
        let inventory = InMemoryInventory::new(10);
        let order = [OrderItem {
            sku: "UNSET".into(),
            quantity: 4,
        }];
        assert_eq!(inventory.stock("UNSET"), 10);
        assert_eq!(
            inventory.reserve("o1", &order).await.unwrap(),
            Reservation::Reserved
        );
        assert_eq!(inventory.stock("UNSET"), 6, "taken from the default");
        assert_eq!(lock(&inventory.stock).reservations.len(), 1);
    }
}
