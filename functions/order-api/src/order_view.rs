//! What `GET /orders/{orderId}` answers: where the order is, how it got
//! there and its shipment. Not the customer or the order's lines: those stay
//! with the systems that own them.

use std::collections::BTreeMap;

use orderflow_batch::rfc3339;
use orderflow_orders::order_record::{OrderRecord, OrderStatus, Transition, detail};
use serde::Serialize;

/// The shipment facts a `SHIPPED` transition records.
const SHIPMENT_DETAILS: [&str; 3] = ["shipmentId", "carrier", "estimatedDelivery"];

/// An order as the API shows it.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    order_id: &'a str,
    correlation_id: &'a str,
    status: &'static str,
    updated_at: String,
    history: Vec<TransitionView<'a>>,
    /// The shipment, once the order shipped.
    shipment: Option<BTreeMap<&'a str, &'a str>>,
}

/// One transition as the API shows it.
#[derive(Debug, PartialEq, Serialize)]
pub struct TransitionView<'a> {
    status: &'static str,
    at: String,
    details: BTreeMap<&'a str, &'a str>,
}

/// A time as RFC 3339 text; the stores keep no other.
fn text(at: time::OffsetDateTime) -> String {
    rfc3339::write(at)
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default()
}

/// A transition's details as a client sees them: the facts of the order,
/// without the trace header its acceptance keeps for the relay and operators.
fn details(transition: &Transition) -> BTreeMap<&str, &str> {
    transition
        .details
        .iter()
        .filter(|(name, _)| name != detail::TRACE_HEADER)
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

impl<'a> OrderView<'a> {
    /// The view of `record`.
    pub fn of(record: &'a OrderRecord) -> Self {
        let shipment = record
            .history
            .iter()
            .rev()
            .find(|t| t.status == OrderStatus::Shipped)
            .map(|shipped| {
                details(shipped)
                    .into_iter()
                    .filter(|(name, _)| SHIPMENT_DETAILS.contains(name))
                    .collect()
            });
        OrderView {
            order_id: &record.order.order_id,
            correlation_id: &record.order.correlation_id,
            status: record.status.as_str(),
            updated_at: text(record.updated_at),
            history: record
                .history
                .iter()
                .map(|t| TransitionView {
                    status: t.status.as_str(),
                    at: text(t.at),
                    details: details(t),
                })
                .collect(),
            shipment,
        }
    }
}
