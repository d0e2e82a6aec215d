//! The orders a run sent, as the producer knows them: what the account
//! checks every outcome against.

use std::collections::{HashMap, HashSet};

use orderflow_batch::ports::OutgoingMessage;
use orderflow_orders::contracts::attribute;

use crate::workload::GeneratedOrder;

/// The orders a run sent, as the producer knows them.
#[derive(Clone, Debug, Default)]
pub(super) struct SentOrders {
    /// Order and customer IDs, in the order sent.
    pub(super) orders: Vec<(String, String)>,
    /// The orders sent with a broken body on purpose.
    pub(super) poison: HashSet<String>,
    /// Each order's correlation ID, which every message about it carries.
    pub(super) correlation_to_order: HashMap<String, String>,
}

impl SentOrders {
    /// Room for `orders` orders.
    pub(super) fn with_capacity(orders: usize) -> Self {
        SentOrders {
            orders: Vec::with_capacity(orders),
            poison: HashSet::new(),
            correlation_to_order: HashMap::with_capacity(orders),
        }
    }

    /// Notes `order`, about to be sent as `message`.
    pub(super) fn record(&mut self, order: &GeneratedOrder, message: &OutgoingMessage) {
        let order_id = order.order["orderId"].as_str().unwrap_or_default().to_owned();
        let customer_id = order.order["customerId"].as_str().unwrap_or_default().to_owned();
        if let Some(correlation) = message.attribute(attribute::CORRELATION_ID) {
            self.correlation_to_order
                .insert(correlation.to_owned(), order_id.clone());
        }
        if order.broken_rule.is_some() {
            self.poison.insert(order_id.clone());
        }
        self.orders.push((order_id, customer_id));
    }
}
