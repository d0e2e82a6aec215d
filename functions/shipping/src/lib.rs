//! `shipping`: creates a shipment for each reserved order.
//!
//! Consumes `InventoryReserved` from the inventory queue and sends
//! `ShipmentCreated` to the notifications queue. The shipment ID is derived from
//! the order ID, so the same order always gets the same shipment; the carrier
//! and delivery estimate follow the shipping region. The order of record moves
//! to `SHIPPED` with the shipment's ID, carrier and estimated delivery.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::sync::Arc;

use orderflow_batch::RecordError;
use orderflow_batch::config::ConfigError;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::Metric;
use orderflow_batch::processor::{EventMessage, Outgoing, RecordContext, RecordStep};
use orderflow_batch::sqs::{SqsRecord, body};
use orderflow_orders::contracts::{EVENT_VERSION, EventType, InventoryReserved, ShipmentCreated};
use orderflow_orders::event_json::encode;
use orderflow_orders::order_record::{OrderStatus, Transition, detail};
use orderflow_orders::pipeline::Queue;
use orderflow_orders::ports::{OrderStore, StepPorts};
use orderflow_orders::recording::{record_failure, record_transition};
use orderflow_orders::validation::decode_event;
use time::{Duration, OffsetDateTime};

/// The step's name: the first part of its idempotency keys.
pub const STEP: &str = "shipping";

/// Shipments created, counted per invocation by [`CARRIER`].
pub const SHIPMENTS_CREATED: Metric = Metric::counter("ShipmentsCreated");

/// The dimension [`SHIPMENTS_CREATED`] is split by: the carrier's name.
pub const CARRIER: &str = "Carrier";

/// The shipment ID of an order: `shp-` and 16 hex digits of a stable hash of the order ID.
pub fn shipment_id(order_id: &str) -> String {
    // FNV-1a, 64 bits: stable across builds and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in order_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("shp-{hash:016x}")
}

/// The carrier and the days to deliver for a shipping region.
fn carrier_for(region: &str) -> (&'static str, i64) {
    let area = region.split('-').next().unwrap_or(region);
    match area {
        "US" => ("UPS", 3),
        "EU" => ("DHL", 4),
        "APAC" => ("SF Express", 6),
        "LATAM" => ("FedEx", 7),
        _ => ("FedEx International", 10),
    }
}

/// Plans the shipment of a reserved order: ID, carrier, and delivery estimate
/// counted from when the order was placed (the event takes the order's fields over).
fn plan_shipment(reserved: InventoryReserved, now: OffsetDateTime) -> ShipmentCreated {
    let (carrier, days) = carrier_for(&reserved.shipping_region);
    let delivery = reserved
        .order_created_at
        .date()
        .saturating_add(Duration::days(days));
    ShipmentCreated {
        version: EVENT_VERSION.into(),
        shipment_id: shipment_id(&reserved.order_id),
        order_id: reserved.order_id,
        customer_id: reserved.customer_id,
        correlation_id: reserved.correlation_id,
        carrier: carrier.to_owned(),
        shipping_region: reserved.shipping_region,
        estimated_delivery: format!(
            "{:04}-{:02}-{:02}",
            delivery.year(),
            u8::from(delivery.month()),
            delivery.day()
        ),
        created_at: now,
    }
}

/// The shipping step.
#[derive(Clone)]
pub struct ShippingStep {
    notifications: Arc<str>,
    orders: Arc<dyn OrderStore>,
}

impl ShippingStep {
    /// The step, sending `ShipmentCreated` to `notifications_queue_url` and
    /// recording shipments in `orders`.
    pub fn new(notifications_queue_url: Arc<str>, orders: Arc<dyn OrderStore>) -> Self {
        ShippingStep {
            notifications: notifications_queue_url,
            orders,
        }
    }
}

/// The step over `ports`: `ShipmentCreated` goes to the notifications queue.
pub fn step(ports: &dyn StepPorts) -> Result<ShippingStep, ConfigError> {
    Ok(ShippingStep::new(
        ports.queue_url(Queue::Notifications)?,
        ports.orders()?,
    ))
}

impl RecordStep for ShippingStep {
    type Input = InventoryReserved;

    fn name(&self) -> &'static str {
        STEP
    }

    fn decode(&self, message: &dyn SqsRecord) -> Result<InventoryReserved, RecordError> {
        decode_event(body(message)?)
    }

    fn key<'a>(&self, reserved: &'a InventoryReserved) -> Cow<'a, str> {
        Cow::Borrowed(&reserved.order_id)
    }

    fn correlation_id<'a>(&self, reserved: &'a InventoryReserved) -> &'a str {
        &reserved.correlation_id
    }

    fn fingerprint(&self, reserved: &InventoryReserved) -> Fingerprint {
        reserved.fingerprint()
    }

    async fn run(
        &self,
        reserved: InventoryReserved,
        context: &RecordContext<'_>,
    ) -> Result<Vec<Outgoing>, RecordError> {
        let shipment = plan_shipment(reserved, context.started_at);
        let shipped = Transition::new(OrderStatus::Shipped, context.started_at)
            .with(detail::SHIPMENT_ID, shipment.shipment_id.clone())
            .with(detail::CARRIER, shipment.carrier.clone())
            .with(detail::ESTIMATED_DELIVERY, shipment.estimated_delivery.clone());
        record_transition(&*self.orders, &shipment.order_id, &shipped).await?;
        if let Err(e) = context
            .metrics
            .record_by(&SHIPMENTS_CREATED, &[(CARRIER, &shipment.carrier)], 1.0)
        {
            tracing::warn!(error = %e, "metric not recorded");
        }
        let event = EventMessage {
            event_type: EventType::ShipmentCreated.as_str(),
            body: encode(&shipment)?,
            correlation_id: shipment.correlation_id,
            group_id: shipment.customer_id,
            deduplication_id: context.idempotency_key.to_owned(),
        };
        Ok(vec![Outgoing::event(&self.notifications, event)])
    }

    /// A dead-lettered input's order, when its body names one, is `FAILED`.
    async fn dead_lettered(
        &self,
        message: &(dyn SqsRecord + 'static),
        code: &'static str,
        at: OffsetDateTime,
    ) -> Result<(), PortError> {
        record_failure(&*self.orders, message.body(), code, at)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use orderflow_orders::money::Money;
    use time::macros::datetime;

    use super::*;

    fn reserved(order_id: &str, region: &str) -> InventoryReserved {
        InventoryReserved {
            version: EVENT_VERSION.into(),
            order_id: order_id.into(),
            customer_id: "c".into(),
            correlation_id: "corr".into(),
            items: vec![],
            total_amount: Money::from_cents(100),
            shipping_region: region.into(),
            order_created_at: datetime!(2026-12-30 10:00 UTC),
            reserved_at: datetime!(2026-12-30 10:01 UTC),
        }
    }

    #[test]
    fn the_same_order_always_gets_the_same_shipment() {
        assert_eq!(shipment_id("ord-1"), shipment_id("ord-1"));
        assert_ne!(shipment_id("ord-1"), shipment_id("ord-2"));
        assert_eq!(shipment_id("").len(), 20);
        // Pinned to FNV-1a's published value for "a": a change of hash would re-ID every shipment.
        assert_eq!(shipment_id("a"), "shp-af63dc4c8601ec8c");
    }

    #[test]
    fn carrier_and_delivery_follow_the_region() {
        let now = datetime!(2026-12-30 10:05 UTC);
        let us = plan_shipment(reserved("o", "US-WEST"), now);
        assert_eq!(
            (us.carrier.as_str(), us.estimated_delivery.as_str()),
            ("UPS", "2027-01-02")
        );
        let eu = plan_shipment(reserved("o", "EU"), now);
        assert_eq!(
            (eu.carrier.as_str(), eu.estimated_delivery.as_str()),
            ("DHL", "2027-01-03")
        );
        let other = plan_shipment(reserved("o", "MARS"), now);
        assert_eq!(other.carrier, "FedEx International");
        assert_eq!(us.correlation_id, "corr");
    }

    #[tokio::test]
    async fn shipments_are_counted_by_carrier() {
        use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
        use orderflow_batch::sqs::SqsBatch;
        use orderflow_embedded::{
            InMemoryIdempotencyStore, InMemoryMetrics, InMemoryOrderStore, InMemoryQueues,
        };

        let metrics = Arc::new(InMemoryMetrics::new());
        let processor = BatchProcessor::new(
            BatchConfig::default(),
            Arc::new(InMemoryQueues::new()),
            Arc::new(InMemoryIdempotencyStore::new()),
            Arc::clone(&metrics) as _,
        );
        let step = ShippingStep::new(
            "https://sqs.us-east-1.amazonaws.com/1/notifications".into(),
            Arc::new(InMemoryOrderStore::new()),
        );
        let records: Vec<serde_json::Value> = [("o-1", "US-WEST"), ("o-2", "EU"), ("o-3", "US-EAST")]
            .iter()
            .enumerate()
            .map(|(i, (id, region))| {
                let reserved = InventoryReserved {
                    items: vec![orderflow_orders::contracts::OrderItem {
                        sku: "SKU-1".into(),
                        quantity: 1,
                    }],
                    ..reserved(id, region)
                };
                serde_json::json!({"messageId": format!("m-{i}"), "body": encode(&reserved).unwrap()})
            })
            .collect();
        let event: SqsBatch = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        let context = InvocationContext::with_timeout("r", std::time::Duration::from_secs(60));
        let report = processor.process(&event, &context, &step).await.unwrap();
        assert_eq!(report.metrics.processed, 3, "{:?}", report.outcomes);
        let published = metrics.published();
        let by_carrier: Vec<(&str, Vec<f64>)> = published[0]
            .steps
            .iter()
            .map(|s| {
                assert_eq!(s.metric, SHIPMENTS_CREATED);
                assert_eq!(s.dimensions[0].0, CARRIER);
                (s.dimensions[0].1.as_str(), s.values.clone())
            })
            .collect();
        assert_eq!(by_carrier, [("UPS", vec![2.0]), ("DHL", vec![1.0])]);
    }
}
