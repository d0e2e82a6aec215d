//! `inventory`: reserves stock for each new order, all or nothing.
//!
//! Consumes `OrderCreated` from the orders queue. When every line is in stock it
//! reserves them in one step and sends `InventoryReserved` to the inventory
//! queue; otherwise it reserves nothing and sends `OrderRejected` (naming the
//! short SKUs) to the notifications queue. The reservation is recorded under the
//! order ID, so a redelivered order never takes stock twice.
//!
//! The order of record follows: `RESERVED` in the reservation's own atomic
//! write, `REJECTED` (with the short SKUs) by one more write. An order that
//! entered without the API (sent to the queue directly) is recorded here.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::sync::Arc;

use orderflow_batch::RecordError;
use orderflow_batch::config::ConfigError;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::{Metric, Unit};
use orderflow_batch::processor::{EventMessage, Outgoing, RecordContext, RecordStep};
use orderflow_batch::sqs::{SqsRecord, body};
use orderflow_orders::contracts::{
    EVENT_VERSION, EventType, InventoryReserved, OrderCreated, OrderRejected, RejectionReason,
};
use orderflow_orders::event_json::encode;
use orderflow_orders::order_record::{OrderStatus, Transition, detail};
use orderflow_orders::pipeline::Queue;
use orderflow_orders::ports::{InventoryStore, OrderStore, Reservation, StepPorts};
use orderflow_orders::recording::record_failure;
use orderflow_orders::validation::decode_order_created;
use time::OffsetDateTime;

/// The step's name: the first part of its idempotency keys.
pub const STEP: &str = "inventory";

/// Orders rejected for stock, counted per invocation.
pub const ORDERS_REJECTED: Metric = Metric::counter("OrdersRejected");

/// The total amount of each reserved order (a distribution: its sum is the
/// invocation's revenue, its percentiles the order sizes).
pub const ORDER_VALUE: Metric = Metric::distribution("OrderValue", Unit::None);

/// What the reservation decided for an order.
#[derive(Clone, Debug, PartialEq)]
enum StockDecision {
    /// Every line is reserved.
    Reserved(InventoryReserved),
    /// Not enough stock; nothing reserved.
    Rejected(OrderRejected),
}

/// Reserves an order's stock all or nothing, records the outcome on the
/// order of record, and says what to announce (the event takes the order's
/// fields over).
async fn reserve_stock(
    order: OrderCreated,
    inventory: &dyn InventoryStore,
    orders: &dyn OrderStore,
    now: OffsetDateTime,
) -> Result<StockDecision, RecordError> {
    let reserved = Transition::new(OrderStatus::Reserved, now);
    match inventory.reserve(&order, &reserved).await? {
        Reservation::Reserved | Reservation::AlreadyReserved => {
            Ok(StockDecision::Reserved(InventoryReserved {
                version: EVENT_VERSION.into(),
                order_id: order.order_id,
                customer_id: order.customer_id,
                correlation_id: order.correlation_id,
                items: order.items,
                total_amount: order.total_amount,
                shipping_region: order.shipping_region,
                order_created_at: order.created_at,
                reserved_at: now,
            }))
        }
        Reservation::Short(shortages) => {
            let short: Vec<&str> = shortages.iter().map(|s| s.sku.as_str()).collect();
            let rejected =
                Transition::new(OrderStatus::Rejected, now).with(detail::SHORT_SKUS, short.join(","));
            orders.record_entered(&order, &rejected).await?;
            Ok(StockDecision::Rejected(OrderRejected {
                version: EVENT_VERSION.into(),
                order_id: order.order_id,
                customer_id: order.customer_id,
                correlation_id: order.correlation_id,
                reason: RejectionReason::OutOfStock,
                shortages,
                rejected_at: now,
            }))
        }
    }
}

/// Where the step's events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routes {
    /// `InventoryReserved` goes here (the inventory queue).
    pub reserved: Arc<str>,
    /// `OrderRejected` goes here (the notifications queue).
    pub rejected: Arc<str>,
}

/// The inventory step over an inventory store and the order of record.
pub struct InventoryStep {
    inventory: Arc<dyn InventoryStore>,
    orders: Arc<dyn OrderStore>,
    routes: Routes,
}

impl InventoryStep {
    /// The step, reserving in `inventory` (which records reservations on the
    /// order of record), recording rejections in `orders`, and sending along `routes`.
    pub fn new(inventory: Arc<dyn InventoryStore>, orders: Arc<dyn OrderStore>, routes: Routes) -> Self {
        InventoryStep {
            inventory,
            orders,
            routes,
        }
    }
}

/// The step over `ports`: stock from its inventory, `InventoryReserved` to
/// the inventory queue and `OrderRejected` to the notifications queue.
pub fn step(ports: &dyn StepPorts) -> Result<InventoryStep, ConfigError> {
    let routes = Routes {
        reserved: ports.queue_url(Queue::Inventory)?,
        rejected: ports.queue_url(Queue::Notifications)?,
    };
    Ok(InventoryStep::new(ports.inventory()?, ports.orders()?, routes))
}

impl RecordStep for InventoryStep {
    type Input = OrderCreated;

    fn name(&self) -> &'static str {
        STEP
    }

    fn decode(&self, message: &dyn SqsRecord) -> Result<OrderCreated, RecordError> {
        decode_order_created(body(message)?, message)
    }

    fn key<'a>(&self, order: &'a OrderCreated) -> Cow<'a, str> {
        Cow::Borrowed(&order.order_id)
    }

    fn correlation_id<'a>(&self, order: &'a OrderCreated) -> &'a str {
        &order.correlation_id
    }

    fn fingerprint(&self, order: &OrderCreated) -> Fingerprint {
        order.fingerprint()
    }

    async fn run(
        &self,
        order: OrderCreated,
        context: &RecordContext<'_>,
    ) -> Result<Vec<Outgoing>, RecordError> {
        // Each event is encoded, then gives its correlation and customer IDs
        // to the message's attributes and group.
        let (queue, event) = match reserve_stock(order, &*self.inventory, &*self.orders, context.started_at)
            .await?
        {
            StockDecision::Reserved(event) => {
                let value = event.total_amount.cents() as f64 / 100.0;
                if let Err(e) = context.metrics.record(&ORDER_VALUE, value) {
                    tracing::warn!(error = %e, "metric not recorded");
                }
                (
                    &self.routes.reserved,
                    EventMessage {
                        event_type: EventType::InventoryReserved.as_str(),
                        body: encode(&event)?,
                        correlation_id: event.correlation_id,
                        group_id: event.customer_id,
                        deduplication_id: context.idempotency_key.to_owned(),
                    },
                )
            }
            StockDecision::Rejected(event) => {
                tracing::info!(order_id = %event.order_id, short = event.shortages.len(), "order rejected for stock");
                if let Err(e) = context.metrics.record(&ORDERS_REJECTED, 1.0) {
                    tracing::warn!(error = %e, "metric not recorded");
                }
                (
                    &self.routes.rejected,
                    EventMessage {
                        event_type: EventType::OrderRejected.as_str(),
                        body: encode(&event)?,
                        correlation_id: event.correlation_id,
                        group_id: event.customer_id,
                        deduplication_id: context.idempotency_key.to_owned(),
                    },
                )
            }
        };
        Ok(vec![Outgoing::event(queue, event)])
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
    use orderflow_embedded::{InMemoryInventory, InMemoryOrderStore};
    use orderflow_orders::validation::decode_order_created;

    use super::*;

    fn order(quantity: u32) -> OrderCreated {
        let body = format!(
            r#"{{"orderId":"ord-1","customerId":"c-1","items":[{{"sku":"A","quantity":{quantity}}},{{"sku":"B","quantity":1}}],
            "totalAmount":10,"createdAt":"2026-11-05T10:00:00Z","correlationId":"corr"}}"#
        );
        decode_order_created(&body, &()).unwrap()
    }

    #[tokio::test]
    async fn reserves_every_line_or_rejects_naming_the_short_skus() {
        let orders = InMemoryOrderStore::new();
        let inventory = InMemoryInventory::new(5);
        let now = OffsetDateTime::UNIX_EPOCH;
        let StockDecision::Rejected(rejected) =
            reserve_stock(order(6), &inventory, &orders, now).await.unwrap()
        else {
            panic!("6 of A is more than 5")
        };
        assert_eq!(rejected.shortages.len(), 1);
        assert_eq!(rejected.shortages[0].sku, "A");
        assert_eq!(
            (rejected.shortages[0].requested, rejected.shortages[0].available),
            (6, 5)
        );
        assert_eq!(inventory.stock("B"), 5, "nothing reserved on rejection");

        let StockDecision::Reserved(reserved) =
            reserve_stock(order(5), &inventory, &orders, now).await.unwrap()
        else {
            panic!("5 of A is in stock")
        };
        assert_eq!(reserved.order_id, "ord-1");
        assert_eq!(reserved.correlation_id, "corr");
        assert_eq!((inventory.stock("A"), inventory.stock("B")), (0, 4));

        // A redelivery of the same order does not take stock again.
        assert!(matches!(
            reserve_stock(order(5), &inventory, &orders, now).await.unwrap(),
            StockDecision::Reserved(_)
        ));
        assert_eq!((inventory.stock("A"), inventory.stock("B")), (0, 4));
    }

    #[tokio::test]
    async fn the_order_of_record_follows_the_reservation() {
        let orders = Arc::new(InMemoryOrderStore::new());
        let inventory = InMemoryInventory::new(5).with_orders(Arc::clone(&orders) as _);
        let at = OffsetDateTime::UNIX_EPOCH;
        reserve_stock(order(5), &inventory, &*orders, at).await.unwrap();
        let record = orders.get("ord-1").await.unwrap().unwrap();
        assert_eq!(record.status, OrderStatus::Reserved, "entered at its first stage");
        assert_eq!(record.fingerprint, order(5).fingerprint());

        let mut short = order(6);
        short.order_id = "ord-2".into();
        reserve_stock(short, &inventory, &*orders, at).await.unwrap();
        let record = orders.get("ord-2").await.unwrap().unwrap();
        assert_eq!(record.status, OrderStatus::Rejected);
        assert_eq!(
            record.history[0].details,
            [(detail::SHORT_SKUS.to_owned(), "A".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_dead_lettered_order_is_failed_with_its_error_code() {
        use orderflow_batch::metrics::NoMetrics;
        use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext, RecordOutcome};
        use orderflow_batch::sqs::SqsBatch;
        use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryQueues};

        const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/1/orders-dlq";
        let orders = Arc::new(InMemoryOrderStore::new());
        let kept = order(1);
        orders
            .accept(
                &kept,
                kept.fingerprint(),
                &Transition::accepted(OffsetDateTime::UNIX_EPOCH),
            )
            .await
            .unwrap();
        let processor = BatchProcessor::new(
            BatchConfig {
                dead_letter_queue_url: Some(DLQ.into()),
                ..BatchConfig::default()
            },
            Arc::new(InMemoryQueues::new()),
            Arc::new(InMemoryIdempotencyStore::new()),
            Arc::new(NoMetrics),
        );
        let step = InventoryStep::new(
            Arc::new(InMemoryInventory::new(5).with_orders(Arc::clone(&orders) as _)),
            Arc::clone(&orders) as _,
            Routes {
                reserved: "https://sqs.us-east-1.amazonaws.com/1/inventory".into(),
                rejected: "https://sqs.us-east-1.amazonaws.com/1/notifications".into(),
            },
        );
        let broken = serde_json::json!({"orderId": "ord-1", "customerId": "c-1", "items": [], "totalAmount": 10,
            "createdAt": "2026-11-05T10:00:00Z"});
        let event: SqsBatch = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m-1", "body": broken.to_string()}
        ]}))
        .unwrap();
        let context = InvocationContext::with_timeout("r", std::time::Duration::from_secs(60));
        let report = processor.process(&event, &context, &step).await.unwrap();
        assert!(matches!(report.outcomes[0], RecordOutcome::DeadLettered { .. }));
        let record = orders.get("ord-1").await.unwrap().unwrap();
        assert_eq!(record.status, OrderStatus::Failed);
        assert_eq!(
            record.history[1].details,
            [(detail::ERROR_CODE.to_owned(), "ValidationFailed".to_owned())]
        );
    }
}
