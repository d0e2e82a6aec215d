//! The pipeline's queues by name.

/// The orders queue (OrderCreated), consumed by `inventory`.
pub const ORDERS: &str = "orders";
/// The inventory queue (InventoryReserved), consumed by `shipping`.
pub const INVENTORY: &str = "inventory";
/// The notifications queue (OrderRejected, ShipmentCreated), consumed by `notification`.
pub const NOTIFICATIONS: &str = "notifications";

/// One of the pipeline's queues, as a step names where its events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    /// [`ORDERS`].
    Orders,
    /// [`INVENTORY`].
    Inventory,
    /// [`NOTIFICATIONS`].
    Notifications,
}

impl Queue {
    /// Every queue, in pipeline order.
    pub const ALL: [Queue; 3] = [Queue::Orders, Queue::Inventory, Queue::Notifications];

    /// The queue's name (`orders`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Queue::Orders => ORDERS,
            Queue::Inventory => INVENTORY,
            Queue::Notifications => NOTIFICATIONS,
        }
    }
}

/// The name of a queue's dead-letter queue (`orders-dlq`, `orders-dlq.fifo`).
pub fn dlq_name(queue: &str) -> String {
    match queue.strip_suffix(".fifo") {
        Some(base) => format!("{base}-dlq.fifo"),
        None => format!("{queue}-dlq"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_queues_are_named_after_their_queue() {
        assert_eq!(dlq_name("orders"), "orders-dlq");
        assert_eq!(dlq_name("orders.fifo"), "orders-dlq.fifo");
    }
}
