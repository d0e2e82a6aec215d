//! What the producer did: the orders a run sent, as it knows them, what the account
//! checks every outcome against.

use std::collections::{HashMap, HashSet};

use crate::workload::GeneratedOrder;

/// What the producer did.
pub(super) struct Produced {
    /// Every order it sent, or tried to.
    pub(super) sent: SentOrders,
    /// Orders the pipeline's entry did not take after retries (they count as lost).
    pub(super) unsent: usize,
}

/// The orders a run sent, as the producer knows them.
#[derive(Clone, Debug, Default)]
pub(super) struct SentOrders {
    /// Order and customer IDs, in the order sent.
    pub(super) orders: Vec<(String, String)>,
    /// The orders sent with a broken body on purpose.
    pub(super) poison: HashSet<String>,
    /// Each order's correlation ID, which every message about it carries.
    pub(super) correlation_to_order: HashMap<String, String>,
    /// The orders order-api refused (400): poison ones belong here.
    pub(super) refused: HashSet<String>,
}

impl SentOrders {
    /// Room for `orders` orders.
    pub(super) fn with_capacity(orders: usize) -> Self {
        SentOrders {
            orders: Vec::with_capacity(orders),
            poison: HashSet::new(),
            correlation_to_order: HashMap::with_capacity(orders),
            refused: HashSet::new(),
        }
    }

    /// Notes `order`, sent (or about to be) with the correlation ID
    /// `correlation`, by which its messages are known.
    pub(super) fn record(&mut self, order: &GeneratedOrder, correlation: Option<&str>) {
        let order_id = order.order["orderId"].as_str().unwrap_or_default().to_owned();
        let customer_id = order.order["customerId"].as_str().unwrap_or_default().to_owned();
        if let Some(correlation) = correlation {
            self.correlation_to_order
                .insert(correlation.to_owned(), order_id.clone());
        }
        if order.broken_rule.is_some() {
            self.poison.insert(order_id.clone());
        }
        self.orders.push((order_id, customer_id));
    }

    /// Notes that order-api refused `order` (400).
    pub(super) fn note_refused(&mut self, order: &GeneratedOrder) {
        let order_id = order.order["orderId"].as_str().unwrap_or_default();
        self.refused.insert(order_id.to_owned());
    }
}
