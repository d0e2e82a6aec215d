//! The pipeline's queues by name.

/// The orders queue (OrderCreated), consumed by `inventory`.
pub const ORDERS: &str = "orders";
/// The inventory queue (InventoryReserved), consumed by `shipping`.
pub const INVENTORY: &str = "inventory";
/// The notifications queue (OrderRejected, ShipmentCreated), consumed by `notification`.
pub const NOTIFICATIONS: &str = "notifications";

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
