//! The pipeline's event contracts: JSON bodies in camelCase, version `1.0`.
//!
//! `OrderCreated` comes from producers outside our control, so it is decoded
//! field by field with precise errors ([`crate::validation`]). The downstream
//! events are written by this pipeline; they are decoded with serde and then
//! checked with the same identifier rules.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::event_json::{EventBody, ObjectWriter, field};
use crate::money::Money;
use orderflow_batch::fingerprint::{Fingerprint, FingerprintBuilder};

/// The version every event this pipeline writes carries.
pub const EVENT_VERSION: &str = "1.0";

/// Names of the SQS message attributes the pipeline reads and writes: the
/// batch processor's own, and the order's.
pub mod attribute {
    pub use orderflow_batch::attributes::{
        CORRELATION_ID, ERROR_CODE, ERROR_MESSAGE, EVENT_TYPE, FAILED_AT, LAST_ERROR_CODE,
        ORIGINAL_MESSAGE_ID, SOURCE_QUEUE,
    };
    /// `high` when the order's total is over 1000, else `normal`. On orders.
    pub const PRIORITY: &str = "Priority";
    /// The shipping region. On orders; a fallback for the body's `shippingRegion`.
    pub const REGION: &str = "Region";
}

/// The kind of an event, as written in the `EventType` message attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A new order, on the orders queue.
    OrderCreated,
    /// Stock was reserved, on the inventory queue.
    InventoryReserved,
    /// The order cannot be filled, on the notifications queue.
    OrderRejected,
    /// A shipment was created, on the notifications queue.
    ShipmentCreated,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 4] = [
        EventType::OrderCreated,
        EventType::InventoryReserved,
        EventType::OrderRejected,
        EventType::ShipmentCreated,
    ];

    /// The attribute value, e.g. `ORDER_CREATED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "ORDER_CREATED",
            EventType::InventoryReserved => "INVENTORY_RESERVED",
            EventType::OrderRejected => "ORDER_REJECTED",
            EventType::ShipmentCreated => "SHIPMENT_CREATED",
        }
    }

    /// The contract's name, e.g. `OrderCreated`.
    pub fn name(self) -> &'static str {
        match self {
            EventType::OrderCreated => "OrderCreated",
            EventType::InventoryReserved => "InventoryReserved",
            EventType::OrderRejected => "OrderRejected",
            EventType::ShipmentCreated => "ShipmentCreated",
        }
    }

    /// Parses an attribute value; the contract's name is accepted too.
    pub fn parse(value: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == value || t.name() == value)
    }
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// 1 to 32 characters of `[A-Z0-9-]`, unique within the order.
    pub sku: String,
    /// 1 to 1000.
    pub quantity: u32,
}

/// A new order, as validated from the orders queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// The contract version, `1.0` unless the producer sent another 1.x.
    pub version: Cow<'static, str>,
    /// The business key of the whole pipeline.
    pub order_id: String,
    /// The customer; also the FIFO message group downstream.
    pub customer_id: String,
    /// 1 to 100 lines with unique SKUs.
    pub items: Vec<OrderItem>,
    /// 0 to 1,000,000 with at most two decimals.
    pub total_amount: Money,
    /// When the customer placed the order.
    #[serde(with = "orderflow_batch::rfc3339")]
    pub created_at: OffsetDateTime,
    /// From the body, else the `Region` attribute, else `US`.
    pub shipping_region: String,
    /// From the body, else the `CorrelationId` attribute, else a new UUID.
    pub correlation_id: String,
}

impl OrderCreated {
    /// The `Priority` attribute value: `high` when the total is over 1000.
    pub fn priority(&self) -> &'static str {
        if self.total_amount > Money::from_cents(100_000) {
            "high"
        } else {
            "normal"
        }
    }

    /// The deduplication ID of the order's message on a FIFO queue: its ID and
    /// fingerprint (`ord-1#<16 hex digits>`), so a producer's retry of the
    /// same order within SQS's 5-minute window is delivered once, and a
    /// different order reusing the ID is not dropped as its duplicate.
    pub fn deduplication_id(&self) -> String {
        format!("{}#{}", self.order_id, self.fingerprint())
    }

    /// What defines this order besides its ID (not its correlation ID or
    /// contract version): the same order sent twice has one fingerprint,
    /// another order under the same ID another. Fingerprints are only ever
    /// compared under one idempotency key, which names the order already.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(|f| {
            write_order(
                f,
                &self.customer_id,
                &self.items,
                self.total_amount,
                &self.shipping_region,
                self.created_at,
            );
        })
    }
}

/// An order's defining fields besides its ID, as `OrderCreated` and `InventoryReserved` carry them.
#[inline]
fn write_order(
    f: &mut FingerprintBuilder,
    customer_id: &str,
    items: &[OrderItem],
    total: Money,
    region: &str,
    created_at: OffsetDateTime,
) {
    f.str(customer_id).count(items.len());
    for item in items {
        f.str_and_u32(&item.sku, item.quantity);
    }
    f.i64(total.cents())
        .str(region)
        .i128(created_at.unix_timestamp_nanos());
}

/// Stock for every line of an order was reserved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryReserved {
    /// The contract version.
    pub version: Cow<'static, str>,
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// Carried from the order.
    pub correlation_id: String,
    /// The reserved lines.
    pub items: Vec<OrderItem>,
    /// The order's total.
    pub total_amount: Money,
    /// Where to ship.
    pub shipping_region: String,
    /// When the order was placed.
    #[serde(with = "orderflow_batch::rfc3339")]
    pub order_created_at: OffsetDateTime,
    /// When the stock was reserved.
    #[serde(with = "orderflow_batch::rfc3339")]
    pub reserved_at: OffsetDateTime,
}

/// Why an order was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionReason {
    /// At least one SKU has less stock than the order asks for.
    OutOfStock,
}

/// A SKU that has less stock than an order asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shortage {
    /// The SKU.
    pub sku: String,
    /// What the order asked for.
    pub requested: u32,
    /// What was in stock.
    pub available: u32,
}

/// An order that cannot be filled; nothing was reserved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRejected {
    /// The contract version.
    pub version: Cow<'static, str>,
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// Carried from the order.
    pub correlation_id: String,
    /// Why.
    pub reason: RejectionReason,
    /// Which SKUs are short, and by how much.
    pub shortages: Vec<Shortage>,
    /// When the order was rejected.
    #[serde(with = "orderflow_batch::rfc3339")]
    pub rejected_at: OffsetDateTime,
}

/// A shipment was created for a reserved order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentCreated {
    /// The contract version.
    pub version: Cow<'static, str>,
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// Carried from the order.
    pub correlation_id: String,
    /// Derived from the order ID: the same order always gets the same shipment.
    pub shipment_id: String,
    /// The carrier chosen for the region.
    pub carrier: String,
    /// Where it ships.
    pub shipping_region: String,
    /// The estimated delivery date, `YYYY-MM-DD`.
    pub estimated_delivery: String,
    /// When the shipment was created.
    #[serde(with = "orderflow_batch::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl InventoryReserved {
    /// The order's defining fields, as [`OrderCreated::fingerprint`] (not when it was reserved).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(|f| {
            write_order(
                f,
                &self.customer_id,
                &self.items,
                self.total_amount,
                &self.shipping_region,
                self.order_created_at,
            );
        })
    }
}

impl OrderRejected {
    /// The customer, the reason and what the order asked for (not what was
    /// in stock or when: a rerun of the reservation may see other numbers).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(&self.customer_id)
                .str(match self.reason {
                    RejectionReason::OutOfStock => "OUT_OF_STOCK",
                })
                .count(self.shortages.len());
            for shortage in &self.shortages {
                f.str_and_u32(&shortage.sku, shortage.requested);
            }
        })
    }
}

impl ShipmentCreated {
    /// The customer, the shipment, its carrier and region (not its dates,
    /// which follow the day the shipment was planned).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(&self.customer_id)
                .str(&self.shipment_id)
                .str(&self.carrier)
                .str(&self.shipping_region);
        })
    }
}

/// Starts a downstream event's object with the fields every one begins with,
/// in their order: version, order ID, customer ID, correlation ID.
fn start_event<'a>(
    out: &'a mut String,
    [version, order_id, customer_id, correlation_id]: [&str; 4],
) -> ObjectWriter<'a> {
    let mut o = ObjectWriter::new(out);
    o.string(field!("version"), version);
    o.string(field!("orderId"), order_id);
    o.string(field!("customerId"), customer_id);
    o.string(field!("correlationId"), correlation_id);
    o
}

/// `common_fields()`: the fields [`start_event`] writes, of each downstream event.
macro_rules! common_fields {
    ($($event:ty),*) => {$(
        impl $event {
            fn common_fields(&self) -> [&str; 4] {
                [&self.version, &self.order_id, &self.customer_id, &self.correlation_id]
            }
        }
    )*};
}

common_fields!(InventoryReserved, OrderRejected, ShipmentCreated);

impl EventBody for InventoryReserved {
    fn write_json(&self, out: &mut String) -> serde_json::Result<()> {
        let mut o = start_event(out, self.common_fields());
        o.objects(field!("items"), &self.items, |o, item| {
            o.string(field!("sku"), &item.sku);
            o.unsigned(field!("quantity"), item.quantity);
        });
        o.money(field!("totalAmount"), self.total_amount);
        o.string(field!("shippingRegion"), &self.shipping_region);
        o.timestamp(field!("orderCreatedAt"), self.order_created_at)?;
        o.timestamp(field!("reservedAt"), self.reserved_at)?;
        o.finish();
        Ok(())
    }
}

impl EventBody for OrderRejected {
    fn write_json(&self, out: &mut String) -> serde_json::Result<()> {
        let mut o = start_event(out, self.common_fields());
        o.string(
            field!("reason"),
            match self.reason {
                RejectionReason::OutOfStock => "OUT_OF_STOCK",
            },
        );
        o.objects(field!("shortages"), &self.shortages, |o, shortage| {
            o.string(field!("sku"), &shortage.sku);
            o.unsigned(field!("requested"), shortage.requested);
            o.unsigned(field!("available"), shortage.available);
        });
        o.timestamp(field!("rejectedAt"), self.rejected_at)?;
        o.finish();
        Ok(())
    }
}

impl EventBody for ShipmentCreated {
    fn write_json(&self, out: &mut String) -> serde_json::Result<()> {
        let mut o = start_event(out, self.common_fields());
        o.string(field!("shipmentId"), &self.shipment_id);
        o.string(field!("carrier"), &self.carrier);
        o.string(field!("shippingRegion"), &self.shipping_region);
        o.string(field!("estimatedDelivery"), &self.estimated_delivery);
        o.timestamp(field!("createdAt"), self.created_at)?;
        o.finish();
        Ok(())
    }
}

/// With serde: so an `OrderCreated` can be [`encode`](crate::event_json::encode)d
/// (callers cannot add this impl themselves; both types are this crate's).
impl EventBody for OrderCreated {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_attribute_values() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(EventType::parse(t.name()), Some(t));
        }
        assert_eq!(EventType::parse("ORDER_SHIPPED"), None);
    }

    #[test]
    fn events_write_the_same_json_as_serde() {
        let at = OffsetDateTime::parse(
            "2026-11-28T09:30:00.25+02:00",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let item = |sku: &str, quantity| OrderItem {
            sku: sku.into(),
            quantity,
        };
        // One plain set of values, and one with text that must be escaped.
        for (id, text) in [("ord-1", "corr-1"), ("ord-\"2\"", "caf\u{e9} \\ \n \u{1}")] {
            let reserved = InventoryReserved {
                version: EVENT_VERSION.into(),
                order_id: id.into(),
                customer_id: "c-1".into(),
                correlation_id: text.into(),
                items: vec![item("A-1", 1), item(text, 1000)],
                total_amount: Money::from_cents(1999),
                shipping_region: "EU".into(),
                order_created_at: at,
                reserved_at: OffsetDateTime::UNIX_EPOCH,
            };
            let rejected = OrderRejected {
                version: "1.2".into(),
                order_id: id.into(),
                customer_id: "c-1".into(),
                correlation_id: text.into(),
                reason: RejectionReason::OutOfStock,
                shortages: vec![Shortage {
                    sku: "B".into(),
                    requested: 7,
                    available: 0,
                }],
                rejected_at: at,
            };
            let shipment = ShipmentCreated {
                version: EVENT_VERSION.into(),
                order_id: id.into(),
                customer_id: "c-1".into(),
                correlation_id: text.into(),
                shipment_id: "shp-1".into(),
                carrier: text.into(),
                shipping_region: "US".into(),
                estimated_delivery: "2026-12-01".into(),
                created_at: at,
            };
            let no_items = InventoryReserved {
                items: Vec::new(),
                total_amount: Money::from_cents(0),
                ..reserved.clone()
            };
            fn check<T: EventBody>(event: &T) {
                let mut ours = String::new();
                event.write_json(&mut ours).unwrap();
                assert_eq!(ours, serde_json::to_string(event).unwrap());
            }
            check(&reserved);
            check(&no_items);
            check(&rejected);
            check(&shipment);
        }
    }

    #[test]
    fn priority_is_high_only_above_one_thousand() {
        let mut order = crate::validation::order::tests::valid_order();
        order.total_amount = Money::from_cents(100_000);
        assert_eq!(order.priority(), "normal");
        order.total_amount = Money::from_cents(100_001);
        assert_eq!(order.priority(), "high");
    }
}
