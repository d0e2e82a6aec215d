//! The downstream events (`InventoryReserved`, `OrderRejected`,
//! `ShipmentCreated`), decoded by the conventions of `OrderCreated`: field by
//! field, every broken rule reported at once under its path and never with
//! its value, `version` optional, unknown fields ignored, snake_case
//! spellings accepted.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::fields::{self, EntryField, FieldNames, capture_body, chars, raw_with, text_with};
use super::rules::{self, CARRIER, CORRELATION_ID, ID, REGION, SKU};
use super::{Rule, ValidationErrors};
use crate::contracts::{
    EventType, InventoryReserved, OrderRejected, RejectionReason, ShipmentCreated, Shortage,
};
use orderflow_batch::error::RecordError;

/// An event this pipeline writes, decoded and validated from a message body.
pub trait DecodeEvent: Sized {
    /// The event this type is.
    const EVENT: EventType;

    /// Decodes `body`, reporting every broken rule.
    fn decode(body: &str) -> Result<Self, RecordError>;
}

/// Decodes a downstream event from a message body.
pub fn decode_event<T: DecodeEvent>(body: &str) -> Result<T, RecordError> {
    T::decode(body)
}

/// The fields every downstream event starts with (the first four of its field table), decoded.
struct Common<'a> {
    version: Cow<'static, str>,
    order_id: Option<Cow<'a, str>>,
    customer_id: Option<Cow<'a, str>>,
    correlation_id: Option<Cow<'a, str>>,
}

/// Captures an event's fields (the common ones first in `table`), records
/// repeated fields and reads the common ones; the rest are left to the event.
fn start<'a, const N: usize>(
    body: &'a str,
    table: &'static [FieldNames; N],
    event: EventType,
) -> Result<([Option<&'a RawValue>; N], Common<'a>, ValidationErrors), RecordError> {
    let captured = capture_body(body, table, event)?;
    let mut errors = ValidationErrors::default();
    captured.report_repeats(table, "", &mut errors);
    let raw = captured.values;
    let common = Common {
        version: fields::version(raw[0], &mut errors)?,
        order_id: chars(&"orderId", raw[1], &ID, &mut errors),
        customer_id: chars(&"customerId", raw[2], &ID, &mut errors),
        correlation_id: chars(&"correlationId", raw[3], &CORRELATION_ID, &mut errors),
    };
    Ok((raw, common, errors))
}

/// The event, or every rule it breaks.
fn finish<T>(event: EventType, value: Option<T>, errors: ValidationErrors) -> Result<T, RecordError> {
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(RecordError::Invalid {
            event: event.name(),
            errors: errors.into(),
        }),
    }
}

fn owned(value: Cow<'_, str>) -> String {
    value.into_owned()
}

impl DecodeEvent for InventoryReserved {
    const EVENT: EventType = EventType::InventoryReserved;

    fn decode(body: &str) -> Result<Self, RecordError> {
        const FIELDS: [FieldNames; 9] = [
            &["version"],
            &["orderId", "order_id"],
            &["customerId", "customer_id"],
            &["correlationId", "correlation_id"],
            &["items"],
            &["totalAmount", "total_amount"],
            &["shippingRegion", "shipping_region"],
            &["orderCreatedAt", "order_created_at"],
            &["reservedAt", "reserved_at"],
        ];
        let (raw, common, mut errors) = start(body, &FIELDS, Self::EVENT)?;
        let items = fields::items(raw[4], &mut errors);
        let total_amount = raw_with(&"totalAmount", raw[5], rules::amount, &mut errors);
        let shipping_region = chars(&"shippingRegion", raw[6], &REGION, &mut errors);
        let order_created_at = text_with(&"orderCreatedAt", raw[7], rules::timestamp, &mut errors);
        let reserved_at = text_with(&"reservedAt", raw[8], rules::timestamp, &mut errors);
        let value = (|| {
            Some(InventoryReserved {
                version: common.version,
                order_id: owned(common.order_id?),
                customer_id: owned(common.customer_id?),
                correlation_id: owned(common.correlation_id?),
                items: items?,
                total_amount: total_amount?,
                shipping_region: owned(shipping_region?),
                order_created_at: order_created_at?,
                reserved_at: reserved_at?,
            })
        })();
        finish(Self::EVENT, value, errors)
    }
}

impl DecodeEvent for OrderRejected {
    const EVENT: EventType = EventType::OrderRejected;

    fn decode(body: &str) -> Result<Self, RecordError> {
        const FIELDS: [FieldNames; 7] = [
            &["version"],
            &["orderId", "order_id"],
            &["customerId", "customer_id"],
            &["correlationId", "correlation_id"],
            &["reason"],
            &["shortages"],
            &["rejectedAt", "rejected_at"],
        ];
        let (raw, common, mut errors) = start(body, &FIELDS, Self::EVENT)?;
        let reason = text_with(
            &"reason",
            raw[4],
            |text| match text {
                "OUT_OF_STOCK" => Ok(RejectionReason::OutOfStock),
                _ => Err(Rule::OneOf("OUT_OF_STOCK")),
            },
            &mut errors,
        );
        let shortages = shortages(raw[5], &mut errors);
        let rejected_at = text_with(&"rejectedAt", raw[6], rules::timestamp, &mut errors);
        let value = (|| {
            Some(OrderRejected {
                version: common.version,
                order_id: owned(common.order_id?),
                customer_id: owned(common.customer_id?),
                correlation_id: owned(common.correlation_id?),
                reason: reason?,
                shortages: shortages?,
                rejected_at: rejected_at?,
            })
        })();
        finish(Self::EVENT, value, errors)
    }
}

/// A rejection's `shortages`: 1 to 100 entries, each a SKU, what the order
/// asked for (1 to 1000) and what was in stock.
fn shortages(raw: Option<&RawValue>, errors: &mut ValidationErrors) -> Option<Vec<Shortage>> {
    const SHORTAGES: &str = "shortages";
    const ENTRY: [FieldNames; 3] = [&["sku"], &["requested"], &["available"]];
    let entries = fields::array(&SHORTAGES, raw, (1, rules::MAX_ITEMS), errors)?;
    let before = errors.0.len();
    let mut shortages = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let at = |field| EntryField {
            array: SHORTAGES,
            index,
            field,
        };
        let Some(captured) = fields::object(&at(""), entry, &ENTRY, errors) else {
            continue;
        };
        let [sku, requested, available] = captured.values;
        let sku = chars(&at("sku"), sku, &SKU, errors);
        let requested = raw_with(&at("requested"), requested, rules::quantity, errors);
        let available = raw_with(
            &at("available"),
            available,
            |text| rules::integer(text, 0, u32::MAX.into()),
            errors,
        );
        if let (Some(sku), Some(requested), Some(available)) = (sku, requested, available) {
            shortages.push(Shortage {
                sku: sku.into_owned(),
                requested,
                available: available as u32,
            });
        }
    }
    (errors.0.len() == before).then_some(shortages)
}

impl DecodeEvent for ShipmentCreated {
    const EVENT: EventType = EventType::ShipmentCreated;

    fn decode(body: &str) -> Result<Self, RecordError> {
        const FIELDS: [FieldNames; 9] = [
            &["version"],
            &["orderId", "order_id"],
            &["customerId", "customer_id"],
            &["correlationId", "correlation_id"],
            &["shipmentId", "shipment_id"],
            &["carrier"],
            &["shippingRegion", "shipping_region"],
            &["estimatedDelivery", "estimated_delivery"],
            &["createdAt", "created_at"],
        ];
        let (raw, common, mut errors) = start(body, &FIELDS, Self::EVENT)?;
        let shipment_id = chars(&"shipmentId", raw[4], &ID, &mut errors);
        let carrier = chars(&"carrier", raw[5], &CARRIER, &mut errors);
        let shipping_region = chars(&"shippingRegion", raw[6], &REGION, &mut errors);
        let estimated_delivery = fields::required(&"estimatedDelivery", raw[7], &mut errors)
            .and_then(|raw| fields::string(&"estimatedDelivery", raw, &mut errors))
            .and_then(|text| {
                fields::checked(&"estimatedDelivery", rules::date(&text), &mut errors).map(|()| text)
            });
        let created_at = text_with(&"createdAt", raw[8], rules::timestamp, &mut errors);
        let value = (|| {
            Some(ShipmentCreated {
                version: common.version,
                order_id: owned(common.order_id?),
                customer_id: owned(common.customer_id?),
                correlation_id: owned(common.correlation_id?),
                shipment_id: owned(shipment_id?),
                carrier: owned(carrier?),
                shipping_region: owned(shipping_region?),
                estimated_delivery: owned(estimated_delivery?),
                created_at: created_at?,
            })
        })();
        finish(Self::EVENT, value, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESERVED: &str = r#"{"version":"1.0","orderId":"o","customerId":"c","correlationId":"x",
        "items":[{"sku":"A","quantity":1}],"totalAmount":1,"shippingRegion":"US",
        "orderCreatedAt":"2026-11-05T10:00:00Z","reservedAt":"2026-11-05T10:00:00Z"}"#;
    const REJECTED: &str = r#"{"orderId":"o","customerId":"c","correlationId":"x","reason":"OUT_OF_STOCK",
        "shortages":[{"sku":"A","requested":5,"available":0}],"rejectedAt":"2026-11-05T10:00:00Z"}"#;
    const SHIPPED: &str = r#"{"version":"1.0","orderId":"o","customerId":"c","correlationId":"x",
        "shipmentId":"shp-1","carrier":"FedEx International","shippingRegion":"EU",
        "estimatedDelivery":"2026-11-08","createdAt":"2026-11-05T10:00:00Z"}"#;

    fn fields_of<T: DecodeEvent + std::fmt::Debug>(body: &str) -> Vec<(String, &'static str)> {
        match decode_event::<T>(body) {
            Err(RecordError::Invalid { errors, .. }) => {
                errors.iter().map(|e| (e.field.clone(), e.rule)).collect()
            }
            other => panic!("expected broken rules, got {other:?}"),
        }
    }

    #[test]
    fn valid_events_decode() {
        let reserved = decode_event::<InventoryReserved>(RESERVED).unwrap();
        assert_eq!((reserved.order_id.as_str(), reserved.items.len()), ("o", 1));
        let rejected = decode_event::<OrderRejected>(REJECTED).unwrap();
        assert_eq!(rejected.version, "1.0", "version is optional");
        assert_eq!(rejected.shortages[0].requested, 5);
        let shipped = decode_event::<ShipmentCreated>(SHIPPED).unwrap();
        assert_eq!(shipped.carrier, "FedEx International");
        let snake = SHIPPED
            .replace("orderId", "order_id")
            .replace("estimatedDelivery", "estimated_delivery");
        assert_eq!(decode_event::<ShipmentCreated>(&snake).unwrap(), shipped);
    }

    #[test]
    fn every_broken_rule_is_reported_at_once_without_its_value() {
        let sentinel = "alice@example.com 4111111111111111";
        let body = RESERVED
            .replace(r#""quantity":1"#, &format!(r#""quantity":"{sentinel}""#))
            .replace(r#""orderId":"o""#, &format!(r#""orderId":"{sentinel}""#))
            .replace(r#","customerId":"c""#, "");
        assert_eq!(
            fields_of::<InventoryReserved>(&body),
            [
                ("orderId".to_owned(), "charset"),
                ("customerId".to_owned(), "required"),
                ("items[0].quantity".to_owned(), "type"),
            ]
        );
        let message = decode_event::<InventoryReserved>(&body).unwrap_err().to_string();
        assert!(!message.contains("alice"), "{message}");

        let body = REJECTED
            .replace("OUT_OF_STOCK", sentinel)
            .replace(r#""available":0"#, r#""available":-1"#)
            .replace("2026-11-05T10:00:00Z", sentinel);
        assert_eq!(
            fields_of::<OrderRejected>(&body),
            [
                ("reason".to_owned(), "enum"),
                ("shortages[0].available".to_owned(), "range"),
                ("rejectedAt".to_owned(), "timestamp"),
            ]
        );
        let body = SHIPPED
            .replace("2026-11-08", sentinel)
            .replace("FedEx International", r"Fed\nEx")
            .replace(r#""shipmentId":"shp-1""#, r#""shipmentId":7"#);
        assert_eq!(
            fields_of::<ShipmentCreated>(&body),
            [
                ("shipmentId".to_owned(), "type"),
                ("carrier".to_owned(), "charset"),
                ("estimatedDelivery".to_owned(), "date"),
            ]
        );
    }

    #[test]
    fn versions_and_bodies_follow_the_order_rules() {
        assert!(matches!(
            decode_event::<InventoryReserved>(&RESERVED.replace(r#""1.0""#, r#""2.1""#)),
            Err(RecordError::UnsupportedVersion)
        ));
        assert_eq!(
            fields_of::<InventoryReserved>(&RESERVED.replace(r#""1.0""#, r#""01.0""#)),
            [("version".to_owned(), "version")]
        );
        assert_eq!(
            fields_of::<ShipmentCreated>("[1]"),
            [("(body)".to_owned(), "type")]
        );
        assert!(matches!(
            decode_event::<ShipmentCreated>("{"),
            Err(RecordError::InvalidJson(_))
        ));
        assert_eq!(
            fields_of::<OrderRejected>(
                &REJECTED.replace(r#""orderId":"o","#, r#""orderId":"o","orderId":"o","#)
            ),
            [("orderId".to_owned(), "duplicate")]
        );
    }
}
