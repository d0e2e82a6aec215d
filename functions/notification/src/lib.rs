//! `notification`: tells the customer what happened to their order.
//!
//! Consumes `ShipmentCreated` and `OrderRejected` from the notifications queue,
//! routed by the `EventType` attribute (falling back to the body's shape),
//! renders the customer message and hands it to the [`Notifier`]: an SNS topic
//! in AWS, a log line locally. Logs name the order and template, never the
//! customer's data. A shipped order's record moves to `NOTIFIED` once its
//! customer is told (a rejected one stays `REJECTED`, final).
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::sync::Arc;

use orderflow_batch::RecordError;
use orderflow_batch::config::ConfigError;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::processor::{Outgoing, RecordContext, RecordStep};
use orderflow_batch::sqs::{SqsRecord, body};
use orderflow_orders::contracts::{EventType, OrderRejected, ShipmentCreated, attribute};
use orderflow_orders::order_record::{OrderStatus, Transition};
use orderflow_orders::ports::{CustomerNotification, Notifier, OrderStore, StepPorts, Template};
use orderflow_orders::recording::{record_failure, record_transition};
use orderflow_orders::validation::decode_event;
use serde::Deserialize;
use time::OffsetDateTime;

/// The step's name: the first part of its idempotency keys.
pub const STEP: &str = "notification";

/// An event the notification step handles.
#[derive(Clone, Debug, PartialEq)]
pub enum CustomerEvent {
    /// The order shipped.
    Shipped(ShipmentCreated),
    /// The order was rejected.
    Rejected(OrderRejected),
}

impl CustomerEvent {
    fn order_id(&self) -> &str {
        match self {
            CustomerEvent::Shipped(e) => &e.order_id,
            CustomerEvent::Rejected(e) => &e.order_id,
        }
    }

    fn correlation_id(&self) -> &str {
        match self {
            CustomerEvent::Shipped(e) => &e.correlation_id,
            CustomerEvent::Rejected(e) => &e.correlation_id,
        }
    }

    fn template(&self) -> Template {
        match self {
            CustomerEvent::Shipped(_) => Template::ShipmentConfirmation,
            CustomerEvent::Rejected(_) => Template::OrderRejected,
        }
    }
}

/// Which fields a body has, to route events that lack an `EventType` attribute.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    #[serde(alias = "shipment_id")]
    shipment_id: Option<serde::de::IgnoredAny>,
    shortages: Option<serde::de::IgnoredAny>,
}

/// Decodes a notifications-queue message by its `EventType` attribute, or by
/// its shape when the attribute is missing.
fn decode_customer_event(message: &dyn SqsRecord) -> Result<CustomerEvent, RecordError> {
    let body = body(message)?;
    let event_type = match message.string_attribute(attribute::EVENT_TYPE) {
        Some(value) => EventType::parse(value).ok_or(RecordError::UnknownEventType(
            "the EventType attribute names no event of this pipeline",
        ))?,
        None => {
            let shape: Shape = serde_json::from_str(body).map_err(|e| match e.classify() {
                // serde's message for a wrong type quotes the value: say what is wrong instead.
                serde_json::error::Category::Data => {
                    RecordError::UnknownEventType("no EventType attribute, and the body is not a JSON object")
                }
                _ => RecordError::InvalidJson(e.to_string()),
            })?;
            match (shape.shipment_id, shape.shortages) {
                (Some(_), _) => EventType::ShipmentCreated,
                (None, Some(_)) => EventType::OrderRejected,
                (None, None) => {
                    return Err(RecordError::UnknownEventType(
                        "no EventType attribute, and the body is neither a shipment nor a rejection",
                    ));
                }
            }
        }
    };
    match event_type {
        EventType::ShipmentCreated => decode_event(body).map(CustomerEvent::Shipped),
        EventType::OrderRejected => decode_event(body).map(CustomerEvent::Rejected),
        EventType::OrderCreated | EventType::InventoryReserved => Err(RecordError::UnknownEventType(
            "the EventType attribute names an event that is not a notification (SHIPMENT_CREATED or ORDER_REJECTED)",
        )),
    }
}

/// The business key of a notification: the order and the template, `ord-1:shipment-confirmation`.
fn notification_key(order_id: &str, template: Template) -> String {
    format!("{order_id}:{}", template.name())
}

/// Renders the customer message for an event.
fn render(event: &CustomerEvent) -> CustomerNotification {
    match event {
        CustomerEvent::Shipped(s) => CustomerNotification {
            order_id: s.order_id.clone(),
            customer_id: s.customer_id.clone(),
            template: Template::ShipmentConfirmation,
            subject: format!("Your order {} has shipped", s.order_id),
            body: format!(
                "Your order {} is on its way with {} (shipment {}). Estimated delivery: {}.",
                s.order_id, s.carrier, s.shipment_id, s.estimated_delivery
            ),
            correlation_id: s.correlation_id.clone(),
            deduplication_id: notification_key(&s.order_id, Template::ShipmentConfirmation),
        },
        CustomerEvent::Rejected(r) => {
            let lines: Vec<String> = r
                .shortages
                .iter()
                .map(|s| format!("{} (ordered {}, {} in stock)", s.sku, s.requested, s.available))
                .collect();
            CustomerNotification {
                order_id: r.order_id.clone(),
                customer_id: r.customer_id.clone(),
                template: Template::OrderRejected,
                subject: format!("We could not fill your order {}", r.order_id),
                body: format!(
                    "Sorry, we could not fill your order {}: not enough stock of {}. You have not been charged.",
                    r.order_id,
                    lines.join(", ")
                ),
                correlation_id: r.correlation_id.clone(),
                deduplication_id: notification_key(&r.order_id, Template::OrderRejected),
            }
        }
    }
}

/// The notification step over a notifier.
pub struct NotificationStep {
    notifier: Arc<dyn Notifier>,
    orders: Arc<dyn OrderStore>,
}

impl NotificationStep {
    /// The step, delivering through `notifier` and recording in `orders`.
    pub fn new(notifier: Arc<dyn Notifier>, orders: Arc<dyn OrderStore>) -> Self {
        NotificationStep { notifier, orders }
    }
}

/// The step over `ports`: customer messages go to its notifier.
pub fn step(ports: &dyn StepPorts) -> Result<NotificationStep, ConfigError> {
    Ok(NotificationStep::new(ports.notifier()?, ports.orders()?))
}

impl RecordStep for NotificationStep {
    type Input = CustomerEvent;

    fn name(&self) -> &'static str {
        STEP
    }

    fn decode(&self, message: &dyn SqsRecord) -> Result<CustomerEvent, RecordError> {
        decode_customer_event(message)
    }

    fn key<'a>(&self, event: &'a CustomerEvent) -> Cow<'a, str> {
        Cow::Owned(notification_key(event.order_id(), event.template()))
    }

    fn correlation_id<'a>(&self, event: &'a CustomerEvent) -> &'a str {
        event.correlation_id()
    }

    fn fingerprint(&self, event: &CustomerEvent) -> Fingerprint {
        match event {
            CustomerEvent::Shipped(e) => e.fingerprint(),
            CustomerEvent::Rejected(e) => e.fingerprint(),
        }
    }

    async fn run(
        &self,
        event: CustomerEvent,
        context: &RecordContext<'_>,
    ) -> Result<Vec<Outgoing>, RecordError> {
        self.notifier.notify(&render(&event)).await?;
        if let CustomerEvent::Shipped(shipment) = &event {
            let notified = Transition::new(OrderStatus::Notified, context.started_at);
            record_transition(&*self.orders, &shipment.order_id, &notified).await?;
        }
        Ok(Vec::new())
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
    use std::collections::HashMap;

    use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};

    use super::*;

    const SHIPPED: &str = r#"{"version":"1.0","orderId":"o-1","customerId":"c-1","correlationId":"x",
        "shipmentId":"shp-1","carrier":"UPS","shippingRegion":"US","estimatedDelivery":"2026-11-08",
        "createdAt":"2026-11-05T10:00:00Z"}"#;
    const REJECTED: &str = r#"{"version":"1.0","orderId":"o-2","customerId":"c-2","correlationId":"y",
        "reason":"OUT_OF_STOCK","shortages":[{"sku":"A-1","requested":3,"available":1}],
        "rejectedAt":"2026-11-05T10:00:00Z"}"#;

    fn message(body: &str, event_type: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.body = Some(body.to_owned());
        if let Some(t) = event_type {
            let mut a = SqsMessageAttribute::default();
            a.string_value = Some(t.to_owned());
            a.data_type = Some("String".to_owned());
            m.message_attributes = HashMap::from([("EventType".to_owned(), a)]);
        }
        m
    }

    #[test]
    fn routes_by_attribute_then_by_shape() {
        assert!(matches!(
            decode_customer_event(&message(SHIPPED, Some("SHIPMENT_CREATED"))),
            Ok(CustomerEvent::Shipped(_))
        ));
        assert!(matches!(
            decode_customer_event(&message(SHIPPED, None)),
            Ok(CustomerEvent::Shipped(_))
        ));
        assert!(matches!(
            decode_customer_event(&message(REJECTED, None)),
            Ok(CustomerEvent::Rejected(_))
        ));
        // The attribute wins: a shipment body labelled as a rejection is invalid, not guessed.
        assert!(matches!(
            decode_customer_event(&message(SHIPPED, Some("ORDER_REJECTED"))),
            Err(RecordError::Invalid { .. })
        ));
        assert!(matches!(
            decode_customer_event(&message(SHIPPED, Some("ORDER_CREATED"))),
            Err(RecordError::UnknownEventType(_))
        ));
        assert!(matches!(
            decode_customer_event(&message("{}", None)),
            Err(RecordError::UnknownEventType(_))
        ));
    }

    #[test]
    fn renders_the_template_with_the_order_and_the_short_skus() {
        let CustomerEvent::Rejected(r) = decode_customer_event(&message(REJECTED, None)).unwrap() else {
            panic!()
        };
        let n = render(&CustomerEvent::Rejected(r));
        assert_eq!(n.template, Template::OrderRejected);
        assert!(n.body.contains("A-1 (ordered 3, 1 in stock)"), "{}", n.body);
        let CustomerEvent::Shipped(s) = decode_customer_event(&message(SHIPPED, None)).unwrap() else {
            panic!()
        };
        let n = render(&CustomerEvent::Shipped(s));
        assert_eq!(
            (n.template, n.order_id.as_str()),
            (Template::ShipmentConfirmation, "o-1")
        );
        assert!(n.body.contains("2026-11-08"));
    }
}
