//! The pipeline's queues by name, and where they live when embedded.
//!
//! The embedded adapters address queues by URL like SQS does; they use
//! [`EMBEDDED_ENDPOINT`] so an event source ARN maps to the same URL
//! ([`crate::queue_url::QueueArn::url`]) in memory as on a real endpoint.

/// The orders queue (OrderCreated), consumed by `inventory`.
pub const ORDERS: &str = "orders";
/// The inventory queue (InventoryReserved), consumed by `shipping`.
pub const INVENTORY: &str = "inventory";
/// The notifications queue (OrderRejected, ShipmentCreated), consumed by `notification`.
pub const NOTIFICATIONS: &str = "notifications";

/// The endpoint of embedded queue URLs.
pub const EMBEDDED_ENDPOINT: &str = "embedded://sqs";
/// The account of embedded queue URLs and ARNs.
pub const EMBEDDED_ACCOUNT: &str = "000000000000";
/// The region of embedded queue ARNs.
pub const EMBEDDED_REGION: &str = "us-east-1";

/// The name of a queue's dead-letter queue (`orders-dlq`, `orders-dlq.fifo`).
pub fn dlq_name(queue: &str) -> String {
    match queue.strip_suffix(".fifo") {
        Some(base) => format!("{base}-dlq.fifo"),
        None => format!("{queue}-dlq"),
    }
}

/// The URL of an embedded queue.
pub fn embedded_queue_url(name: &str) -> String {
    format!("{EMBEDDED_ENDPOINT}/{EMBEDDED_ACCOUNT}/{name}")
}

/// The ARN of an embedded queue.
pub fn embedded_queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{EMBEDDED_REGION}:{EMBEDDED_ACCOUNT}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue_url::QueueArn;

    #[test]
    fn embedded_arns_map_to_embedded_urls() {
        let arn = embedded_queue_arn("orders");
        let parsed = QueueArn::parse(&arn).unwrap();
        assert_eq!(parsed.url(Some(EMBEDDED_ENDPOINT)), embedded_queue_url("orders"));
        assert_eq!(dlq_name("orders"), "orders-dlq");
        assert_eq!(dlq_name("orders.fifo"), "orders-dlq.fifo");
    }
}
