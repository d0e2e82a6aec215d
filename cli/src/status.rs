//! `orderflow status ORDER_ID`: where an order is and how it got there, read
//! from the order of record (the orders table, or any `OrderStore`).

use std::fmt::Write as _;

use orderflow_batch::error::PortError;
use orderflow_batch::rfc3339;
use orderflow_orders::order_record::OrderRecord;
use orderflow_orders::ports::OrderStore;
use orderflow_orders::validation::Rule;
use orderflow_orders::validation::rules::ID;

/// Why an order's status could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The ID breaks the contract's `orderId` rule, so no order can have it.
    #[error("the order ID is invalid: {0}")]
    InvalidOrderId(Rule),
    /// No order has this ID.
    #[error("no order has ID {0}")]
    NotFound(String),
    /// The store did not answer.
    #[error("cannot read the order: {0}")]
    Store(#[from] PortError),
}

/// The order's record, once the ID is checked.
pub async fn order_status(store: &dyn OrderStore, order_id: &str) -> Result<OrderRecord, StatusError> {
    ID.check(order_id).map_err(StatusError::InvalidOrderId)?;
    store
        .get(order_id)
        .await?
        .ok_or_else(|| StatusError::NotFound(order_id.to_owned()))
}

/// The record for people: a line with the order, its status and correlation
/// ID, then one line a transition, oldest first, with its details.
pub fn history_text(record: &OrderRecord) -> String {
    let time = |at| rfc3339::write(at).map_or_else(String::new, |t| t.as_str().to_owned());
    let mut text = format!(
        "{}  {}  (correlation ID {})\n",
        record.order.order_id,
        record.status.as_str(),
        record.order.correlation_id
    );
    for transition in &record.history {
        let _ = write!(
            text,
            "  {}  {:<9}",
            time(transition.at),
            transition.status.as_str()
        );
        for (name, value) in &transition.details {
            let _ = write!(text, "  {name}={value}");
        }
        text = text.trim_end().to_owned();
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_embedded::InMemoryOrderStore;
    use orderflow_orders::contracts::{OrderCreated, OrderItem};
    use orderflow_orders::money::Money;
    use orderflow_orders::order_record::{OrderStatus, Transition};
    use time::macros::datetime;

    fn order() -> OrderCreated {
        OrderCreated {
            version: "1.0".into(),
            order_id: "ord-1".into(),
            customer_id: "c-1".into(),
            items: vec![OrderItem {
                sku: "A".into(),
                quantity: 1,
            }],
            total_amount: Money::from_cents(100),
            created_at: datetime!(2026-12-01 10:00 UTC),
            shipping_region: "US".into(),
            correlation_id: "corr-1".into(),
        }
    }

    #[tokio::test]
    async fn the_history_is_one_line_a_transition_with_its_details() {
        let store = InMemoryOrderStore::new();
        store
            .accept(
                &order(),
                order().fingerprint(),
                &Transition::accepted(datetime!(2026-12-01 10:00:01 UTC)),
            )
            .await
            .unwrap();
        let shipped = Transition::new(OrderStatus::Shipped, datetime!(2026-12-01 10:00:02 UTC))
            .with("shipmentId", "shp-1")
            .with("carrier", "UPS");
        store.record("ord-1", &shipped).await.unwrap();
        let record = order_status(&store, "ord-1").await.unwrap();
        assert_eq!(
            history_text(&record),
            "ord-1  SHIPPED  (correlation ID corr-1)\n  \
             2026-12-01T10:00:01Z  ACCEPTED\n  \
             2026-12-01T10:00:02Z  SHIPPED    carrier=UPS  shipmentId=shp-1\n"
        );
    }

    #[tokio::test]
    async fn an_unknown_or_impossible_id_is_an_error_saying_which() {
        let store = InMemoryOrderStore::new();
        assert_eq!(
            order_status(&store, "ord-2").await.unwrap_err().to_string(),
            "no order has ID ord-2"
        );
        let error = order_status(&store, "ord 2").await.unwrap_err();
        assert!(matches!(error, StatusError::InvalidOrderId(_)), "{error}");
    }
}
