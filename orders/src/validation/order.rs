//! `OrderCreated`: decoded from producers outside our control, with a fast
//! path for valid bodies and a precise one that names every broken rule.
//!
//! Both paths call the same rules ([`super::rules`]); a property test
//! (`parity_tests`) holds them to the same verdict and the same value on
//! generated bodies and their mutations.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::fields::{self, FieldNames, capture_body, chars, raw_with, text_with};
use super::rules::{self, CORRELATION_ID, DEFAULT_REGION, ID, REGION, SKU};
use super::{MessageAttributes, ValidationErrors};
use crate::contracts::{EVENT_VERSION, EventType, OrderCreated, OrderItem, attribute};
use crate::json_scan::Cursor;
use orderflow_batch::error::RecordError;

const ORDER_FIELDS: [FieldNames; 8] = [
    &["version"],
    &["orderId", "order_id"],
    &["customerId", "customer_id"],
    &["items"],
    &["totalAmount", "total_amount"],
    &["createdAt", "created_at"],
    &["shippingRegion", "shipping_region"],
    &["correlationId", "correlation_id"],
];

/// Where `items` and `totalAmount` sit in [`ORDER_FIELDS`].
const ITEMS: usize = 3;
const TOTAL_AMOUNT: usize = 4;

/// Decodes and validates an `OrderCreated` body, resolving the shipping
/// region and correlation ID from the message attributes when the body has none.
///
/// Valid bodies take a fast path (one pass, borrowing the input); any
/// body that fails it is decoded again field by field for the precise errors.
pub fn decode_order_created(
    body: &str,
    attributes: &(impl MessageAttributes + ?Sized),
) -> Result<OrderCreated, RecordError> {
    match decode_valid_order(body, attributes) {
        Ok(order) => Ok(order),
        Err(_) => decode_order_precisely(body, attributes),
    }
}

/// Why the fast path gave a body to the precise one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Declined {
    /// The body breaks a rule (or is not JSON): the precise path says which.
    Invalid,
    /// Valid JSON the fast reader does not read: escaped strings, deep nesting.
    Deferred,
}

/// The order when `body` is valid; else whether it is invalid, or valid JSON
/// the fast reader leaves to the precise path.
pub(crate) fn decode_valid_order(
    body: &str,
    attributes: &(impl MessageAttributes + ?Sized),
) -> Result<OrderCreated, Declined> {
    let mut cursor = Cursor::new(body);
    read_valid_order(&mut cursor, attributes).ok_or(if cursor.deferred() {
        Declined::Deferred
    } else {
        Declined::Invalid
    })
}

fn read_valid_order(
    cursor: &mut Cursor<'_>,
    attributes: &(impl MessageAttributes + ?Sized),
) -> Option<OrderCreated> {
    let mut text: [Option<&str>; ORDER_FIELDS.len()] = [None; ORDER_FIELDS.len()];
    let mut given = [false; ORDER_FIELDS.len()];
    let mut items: Option<Vec<OrderItem>> = None;
    cursor.object(|c, key| {
        let Some(slot) = ORDER_FIELDS.iter().position(|names| names.contains(&key)) else {
            return c.skip_value();
        };
        if std::mem::replace(&mut given[slot], true) {
            return None; // given twice
        }
        match slot {
            ITEMS => items = Some(read_valid_items(c)?),
            TOTAL_AMOUNT => text[slot] = Some(c.number()?),
            // As in the precise path, `null` is absent: an error only where the field is required.
            _ => text[slot] = c.string_or_null()?,
        }
        Some(())
    })?;
    cursor.end()?;
    let [
        version,
        order_id,
        customer_id,
        _,
        total_amount,
        created_at,
        region,
        correlation,
    ] = text;

    let version = match version {
        None | Some(EVENT_VERSION) => EVENT_VERSION.into(),
        Some(v) => {
            rules::version(v).ok()?;
            Cow::Owned(v.to_owned())
        }
    };
    let (order_id, customer_id) = (order_id?, customer_id?);
    if !ID.accepts(order_id) || !ID.accepts(customer_id) {
        return None;
    }
    let items = items?;
    let total_amount = rules::amount(total_amount?).ok()?;
    let created_at = rules::timestamp(created_at?).ok()?;
    let shipping_region = region
        .or_else(|| attributes.string_attribute(attribute::REGION))
        .unwrap_or(DEFAULT_REGION);
    if !REGION.accepts(shipping_region) {
        return None;
    }
    let correlation_id = match correlation.or_else(|| attributes.string_attribute(attribute::CORRELATION_ID))
    {
        Some(c) if CORRELATION_ID.accepts(c) => c.to_owned(),
        Some(_) => return None,
        None => orderflow_batch::correlation::new_correlation_id(),
    };
    Some(OrderCreated {
        version,
        order_id: order_id.to_owned(),
        customer_id: customer_id.to_owned(),
        items,
        total_amount,
        created_at,
        shipping_region: shipping_region.to_owned(),
        correlation_id,
    })
}

/// A valid `items` array, or `None` (the precise path says what is wrong).
fn read_valid_items(cursor: &mut Cursor<'_>) -> Option<Vec<OrderItem>> {
    // Most orders have a few lines: one allocation, not a doubling series.
    let mut items: Vec<OrderItem> = Vec::with_capacity(4);
    cursor.array(|c| {
        let (mut sku, mut quantity) = (None, None);
        c.object(|c, key| match key {
            "sku" if sku.is_none() => {
                sku = Some(c.string()?);
                Some(())
            }
            "quantity" if quantity.is_none() => {
                quantity = Some(c.number()?);
                Some(())
            }
            "sku" | "quantity" => None, // given twice
            _ => c.skip_value(),
        })?;
        let sku = sku?;
        let quantity = rules::quantity(quantity?).ok()?;
        if !SKU.accepts(sku)
            || items.len() == rules::MAX_ITEMS
            || items.iter().any(|earlier| earlier.sku == sku)
        {
            return None;
        }
        items.push(OrderItem {
            sku: sku.to_owned(),
            quantity,
        });
        Some(())
    })?;
    (!items.is_empty()).then_some(items)
}

/// Decodes an `OrderCreated` field by field, reporting every broken rule.
pub(crate) fn decode_order_precisely(
    body: &str,
    attributes: &(impl MessageAttributes + ?Sized),
) -> Result<OrderCreated, RecordError> {
    let fields = capture_body(body, &ORDER_FIELDS, EventType::OrderCreated)?;
    let mut errors = ValidationErrors::default();
    fields.report_repeats(&ORDER_FIELDS, "", &mut errors);
    let [
        version,
        order_id,
        customer_id,
        items,
        total,
        created_at,
        region,
        correlation,
    ] = fields.values;
    let version = fields::version(version, &mut errors)?;
    let order_id = chars(&"orderId", order_id, &ID, &mut errors);
    let customer_id = chars(&"customerId", customer_id, &ID, &mut errors);
    let items = fields::items(items, &mut errors);
    let total_amount = raw_with(&"totalAmount", total, rules::amount, &mut errors);
    let created_at = text_with(&"createdAt", created_at, rules::timestamp, &mut errors);
    let shipping_region = resolve(
        ("shippingRegion", region),
        (
            "messageAttributes.Region",
            attributes.string_attribute(attribute::REGION),
        ),
        &REGION,
        &mut errors,
    )
    .map(|r| r.unwrap_or(Cow::Borrowed(DEFAULT_REGION)));
    let correlation_id = resolve(
        ("correlationId", correlation),
        (
            "messageAttributes.CorrelationId",
            attributes.string_attribute(attribute::CORRELATION_ID),
        ),
        &CORRELATION_ID,
        &mut errors,
    )
    .map(|c| c.unwrap_or_else(|| Cow::Owned(orderflow_batch::correlation::new_correlation_id())));

    match (
        order_id,
        customer_id,
        items,
        total_amount,
        created_at,
        shipping_region,
        correlation_id,
    ) {
        (
            Some(order_id),
            Some(customer_id),
            Some(items),
            Some(total_amount),
            Some(created_at),
            Some(region),
            Some(cid),
        ) if errors.is_empty() => Ok(OrderCreated {
            version,
            order_id: order_id.into_owned(),
            customer_id: customer_id.into_owned(),
            items,
            total_amount,
            created_at,
            shipping_region: region.into_owned(),
            correlation_id: cid.into_owned(),
        }),
        _ => Err(RecordError::Invalid {
            event: EventType::OrderCreated.name(),
            errors: errors.into(),
        }),
    }
}

/// An optional body field with an attribute as its fallback, both by `rule`:
/// `Some(None)` when neither is given, `None` when the one given breaks it.
fn resolve<'a>(
    (field, raw): (&'static str, Option<&'a RawValue>),
    (attribute_field, attribute): (&'static str, Option<&'a str>),
    rule: &rules::Chars,
    errors: &mut ValidationErrors,
) -> Option<Option<Cow<'a, str>>> {
    if let Some(raw) = raw {
        let value = fields::string(&field, raw, errors)?;
        return fields::checked(&field, rule.check(&value), errors).map(|()| Some(value));
    }
    match attribute {
        Some(value) => {
            fields::checked(&attribute_field, rule.check(value), errors).map(|()| Some(Cow::Borrowed(value)))
        }
        None => Some(None),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::money::Money;
    use crate::validation::Rule;

    pub(crate) fn valid_order() -> OrderCreated {
        decode_order_created(VALID, &()).expect("the sample order is valid")
    }

    const VALID: &str = r#"{"version":"1.0","orderId":"ord-1","customerId":"cust-1",
        "items":[{"sku":"SKU-0001","quantity":2},{"sku":"SKU-0002","quantity":1}],
        "totalAmount":19.99,"createdAt":"2026-11-05T10:00:00Z","shippingRegion":"EU",
        "correlationId":"corr-1","giftWrap":true}"#;

    struct Attrs(HashMap<&'static str, &'static str>);
    impl MessageAttributes for Attrs {
        fn string_attribute(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
    }

    /// Replaces `"key":value` in the valid body (the first match) with `replacement`.
    fn with(key_value: &str, replacement: &str) -> String {
        assert!(VALID.contains(key_value), "{key_value} not in the sample");
        VALID.replacen(key_value, replacement, 1)
    }

    fn errors_of(body: &str) -> Vec<(String, &'static str)> {
        match decode_order_created(body, &()) {
            Err(RecordError::Invalid { errors, .. }) => {
                errors.iter().map(|e| (e.field.clone(), e.rule)).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn single(body: &str) -> (String, &'static str) {
        let errors = errors_of(body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn a_valid_order_decodes_with_every_field() {
        let order = valid_order();
        assert_eq!(order.order_id, "ord-1");
        assert_eq!(order.customer_id, "cust-1");
        assert_eq!(order.items.len(), 2);
        assert_eq!(order.items[0].quantity, 2);
        assert_eq!(order.total_amount, Money::from_cents(1999));
        assert_eq!(order.shipping_region, "EU");
        assert_eq!(order.correlation_id, "corr-1");
        assert_eq!(order.created_at.year(), 2026);
    }

    #[test]
    fn snake_case_spellings_are_accepted() {
        let body = r#"{"order_id":"ord-2","customer_id":"c_2","items":[{"sku":"A-1","quantity":1}],
            "total_amount":1.1,"created_at":"2026-11-05T10:00:00+02:00","shipping_region":"APAC"}"#;
        let order = decode_order_created(body, &()).unwrap();
        assert_eq!(order.order_id, "ord-2");
        assert_eq!(order.total_amount, Money::from_cents(110));
        assert_eq!(order.shipping_region, "APAC");
    }

    #[test]
    fn both_spellings_at_once_are_rejected() {
        let body = with(r#""orderId":"ord-1""#, r#""orderId":"ord-1","order_id":"ord-1""#);
        assert_eq!(single(&body), ("orderId".into(), "duplicate"));
    }

    #[test]
    fn ids_have_length_and_charset_rules() {
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, r#""orderId":"""#)),
            ("orderId".into(), "length")
        );
        let long = format!(r#""orderId":"{}""#, "a".repeat(65));
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, &long)),
            ("orderId".into(), "length")
        );
        let max = format!(r#""orderId":"{}""#, "a".repeat(64));
        assert!(decode_order_created(&with(r#""orderId":"ord-1""#, &max), &()).is_ok());
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, r#""orderId":"ord 1; DROP TABLE""#)),
            ("orderId".into(), "charset")
        );
        assert_eq!(
            single(&with(r#""customerId":"cust-1""#, r#""customerId":"cüst""#)),
            ("customerId".into(), "charset")
        );
        assert_eq!(
            single(&with(r#""orderId":"ord-1","#, "")),
            ("orderId".into(), "required")
        );
        assert_eq!(
            single(&with(r#""customerId":"cust-1""#, r#""customerId":null"#)),
            ("customerId".into(), "required")
        );
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, r#""orderId":17"#)),
            ("orderId".into(), "type")
        );
    }

    #[test]
    fn items_rules_name_the_item_and_field() {
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":0"#)),
            ("items[0].quantity".into(), "range")
        );
        assert_eq!(
            single(&with(r#""quantity":1}"#, r#""quantity":1001}"#)),
            ("items[1].quantity".into(), "range")
        );
        assert!(decode_order_created(&with(r#""quantity":2"#, r#""quantity":1000"#), &()).is_ok());
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":2.5"#)),
            ("items[0].quantity".into(), "type")
        );
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":"2""#)),
            ("items[0].quantity".into(), "type")
        );
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":-3"#)),
            ("items[0].quantity".into(), "range")
        );
        assert_eq!(
            single(&with(r#""sku":"SKU-0002""#, r#""sku":"sku-2""#)),
            ("items[1].sku".into(), "charset")
        );
        let long_sku = format!(r#""sku":"{}""#, "A".repeat(33));
        assert_eq!(
            single(&with(r#""sku":"SKU-0002""#, &long_sku)),
            ("items[1].sku".into(), "length")
        );
        assert_eq!(
            single(&with(r#""sku":"SKU-0002","#, "")),
            ("items[1].sku".into(), "required")
        );
        assert_eq!(
            single(&with(r#""sku":"SKU-0002""#, r#""sku":"SKU-0001""#)),
            ("items[1].sku".into(), "unique")
        );
        assert_eq!(
            single(&with(r#"{"sku":"SKU-0002","quantity":1}"#, "7")),
            ("items[1]".into(), "type")
        );
    }

    #[test]
    fn items_must_be_a_non_empty_array_of_at_most_100() {
        let items = r#""items":[{"sku":"SKU-0001","quantity":2},{"sku":"SKU-0002","quantity":1}]"#;
        assert_eq!(single(&with(items, r#""items":[]"#)), ("items".into(), "count"));
        assert_eq!(
            single(&with(items, r#""items":"SKU-0001""#)),
            ("items".into(), "type")
        );
        assert_eq!(
            single(&with(items, r#""lines":[]"#)),
            ("items".into(), "required")
        );
        let many: Vec<String> = (0..101)
            .map(|i| format!(r#"{{"sku":"S-{i}","quantity":1}}"#))
            .collect();
        let body = with(items, &format!(r#""items":[{}]"#, many.join(",")));
        assert_eq!(single(&body), ("items".into(), "count"));
        let hundred = format!(r#""items":[{}]"#, many[..100].join(","));
        assert!(decode_order_created(&with(items, &hundred), &()).is_ok());
    }

    #[test]
    fn total_amount_is_exact_money() {
        let t = r#""totalAmount":19.99"#;
        assert!(decode_order_created(&with(t, r#""totalAmount":1.1"#), &()).is_ok());
        assert!(decode_order_created(&with(t, r#""totalAmount":0"#), &()).is_ok());
        assert!(decode_order_created(&with(t, r#""totalAmount":1000000"#), &()).is_ok());
        assert_eq!(
            single(&with(t, r#""totalAmount":0.30000000000000004"#)),
            ("totalAmount".into(), "decimals")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":10.125"#)),
            ("totalAmount".into(), "decimals")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":-1.5"#)),
            ("totalAmount".into(), "range")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":1000000.01"#)),
            ("totalAmount".into(), "range")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":"19.99""#)),
            ("totalAmount".into(), "type")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":null"#)),
            ("totalAmount".into(), "required")
        );
    }

    #[test]
    fn created_at_is_rfc3339() {
        let c = r#""createdAt":"2026-11-05T10:00:00Z""#;
        assert_eq!(
            single(&with(c, r#""createdAt":"yesterday""#)),
            ("createdAt".into(), "timestamp")
        );
        assert_eq!(
            single(&with(c, r#""createdAt":"2026-11-05""#)),
            ("createdAt".into(), "timestamp")
        );
        assert_eq!(
            single(&with(c, r#""createdAt":1764230400"#)),
            ("createdAt".into(), "type")
        );
        assert!(
            decode_order_created(&with(c, r#""createdAt":"2026-11-05T10:00:00.123-05:00""#), &()).is_ok()
        );
    }

    #[test]
    fn shipping_region_comes_from_body_then_attribute_then_default() {
        let r = r#""shippingRegion":"EU","#;
        let no_region = with(r, "");
        assert_eq!(
            decode_order_created(&no_region, &()).unwrap().shipping_region,
            "US"
        );
        let attrs = Attrs(HashMap::from([("Region", "LATAM")]));
        assert_eq!(
            decode_order_created(&no_region, &attrs).unwrap().shipping_region,
            "LATAM"
        );
        assert_eq!(decode_order_created(VALID, &attrs).unwrap().shipping_region, "EU");
        let bad_attr = Attrs(HashMap::from([("Region", "x")]));
        match decode_order_created(&no_region, &bad_attr) {
            Err(RecordError::Invalid { errors, .. }) => {
                assert_eq!(errors.0[0].field, "messageAttributes.Region");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            single(&with(r, r#""shippingRegion":"E","#)),
            ("shippingRegion".into(), "length")
        );
        assert_eq!(
            single(&with(r, r#""shippingRegion":"eu","#)),
            ("shippingRegion".into(), "charset")
        );
        let long = format!(r#""shippingRegion":"{}","#, "A".repeat(17));
        assert_eq!(single(&with(r, &long)), ("shippingRegion".into(), "length"));
    }

    #[test]
    fn correlation_id_comes_from_body_then_attribute_then_a_new_uuid() {
        let c = r#""correlationId":"corr-1","#;
        let none = with(c, "");
        let attrs = Attrs(HashMap::from([("CorrelationId", "from-attr")]));
        assert_eq!(
            decode_order_created(&none, &attrs).unwrap().correlation_id,
            "from-attr"
        );
        assert_eq!(
            decode_order_created(VALID, &attrs).unwrap().correlation_id,
            "corr-1"
        );
        let generated = decode_order_created(&none, &()).unwrap().correlation_id;
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
        let long = format!(r#""correlationId":"{}","#, "c".repeat(129));
        assert_eq!(single(&with(c, &long)), ("correlationId".into(), "length"));
        assert_eq!(
            single(&with(c, r#""correlationId":"","#)),
            ("correlationId".into(), "length")
        );
    }

    #[test]
    fn correlation_ids_with_control_characters_are_refused_where_they_enter() {
        let c = r#""correlationId":"corr-1","#;
        let none = with(c, "");
        // JSON escapes for CR, LF, NUL and BEL, a space and a non-ASCII letter.
        for bad in [
            r"a\rb",
            r"a\nInjected: line",
            r"a\u0000b",
            r"a\u0007b",
            "a b",
            r"caf\u00e9",
        ] {
            assert_eq!(
                single(&with(c, &format!(r#""correlationId":"{bad}","#))),
                ("correlationId".into(), "charset"),
                "{bad}"
            );
        }
        for value in ["a\rb", "a\nb", "a\0b", "a\x07b", "a b", ""] {
            let attrs = Attrs(HashMap::from([("CorrelationId", value)]));
            let field = match decode_order_created(&none, &attrs) {
                Err(RecordError::Invalid { errors, .. }) => errors.0[0].field.clone(),
                other => panic!("{value:?}: {other:?}"),
            };
            assert_eq!(field, "messageAttributes.CorrelationId");
        }
    }

    #[test]
    fn a_key_given_twice_is_named_as_such() {
        let body = with(r#""orderId":"ord-1""#, r#""orderId":"ord-1","orderId":"ord-2""#);
        match decode_order_created(&body, &()) {
            Err(RecordError::Invalid { errors, .. }) => {
                assert_eq!(errors.0[0].rule, Rule::Repeated.code());
                assert_eq!(errors.to_string(), "orderId: appears twice in the object");
            }
            other => panic!("{other:?}"),
        }
        let body = with(r#""quantity":2"#, r#""quantity":2,"quantity":3"#);
        assert_eq!(single(&body), ("items[0].quantity".into(), "duplicate"));
    }

    #[test]
    fn timestamps_without_an_offset_are_utc_and_other_separators_are_refused() {
        let c = r#""createdAt":"2026-11-05T10:00:00Z""#;
        let python = with(c, r#""createdAt":"2026-12-02T03:19:09.312121""#);
        let order = decode_order_created(&python, &()).unwrap();
        assert_eq!(
            order.created_at,
            time::macros::datetime!(2026-12-02 03:19:09.312121 UTC)
        );
        for separator in ["X", "_", "/", "1", r"\t", r"\u0000"] {
            let body = with(c, &format!(r#""createdAt":"2026-11-01{separator}10:00:00Z""#));
            assert_eq!(single(&body), ("createdAt".into(), "timestamp"), "{separator}");
        }
    }

    #[test]
    fn version_major_must_be_one() {
        let v = r#""version":"1.0""#;
        assert!(decode_order_created(&with(v, r#""version":"1.7""#), &()).is_ok());
        assert!(decode_order_created(&with(r#""version":"1.0","#, ""), &()).is_ok());
        assert!(matches!(
            decode_order_created(&with(v, r#""version":"2.0""#), &()),
            Err(RecordError::UnsupportedVersion)
        ));
        for leading_zero in ["01.0", "001", "1.01"] {
            assert_eq!(
                single(&with(v, &format!(r#""version":"{leading_zero}""#))),
                ("version".into(), "version"),
                "{leading_zero}"
            );
        }
        assert_eq!(
            single(&with(v, r#""version":"one""#)),
            ("version".into(), "version")
        );
        assert_eq!(single(&with(v, r#""version":1"#)), ("version".into(), "type"));
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let body = r#"{"orderId":"","customerId":"c","items":[{"sku":"A","quantity":0}],"totalAmount":1.001,"createdAt":"x"}"#;
        let fields: Vec<String> = errors_of(body).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["orderId", "items[0].quantity", "totalAmount", "createdAt"]
        );
        let message = decode_order_created(body, &()).unwrap_err().to_string();
        assert!(
            message.contains("items[0].quantity: must be from 1 to 1000"),
            "{message}"
        );
    }

    #[test]
    fn non_json_and_non_object_bodies() {
        assert!(matches!(
            decode_order_created(r#"{"orderId": "ord-1", "items": ["#, &()),
            Err(RecordError::InvalidJson(_))
        ));
        assert!(matches!(
            decode_order_created("not json", &()),
            Err(RecordError::InvalidJson(_))
        ));
        assert!(matches!(
            decode_order_created(&format!("{VALID} trailing"), &()),
            Err(RecordError::InvalidJson(_))
        ));
        assert_eq!(single("[1,2]"), ("(body)".into(), "type"));
        assert_eq!(single("\"order\""), ("(body)".into(), "type"));
    }

    #[test]
    fn the_fast_path_accepts_what_the_precise_path_accepts_and_decodes_it_alike() {
        let bodies = [
            VALID.to_owned(),
            with(r#""quantity":2"#, r#""quantity":2.0"#),
            with(r#""quantity":2"#, r#""quantity":1001"#),
            with(r#""orderId":"ord-1""#, r#""orderId":null"#),
            with(r#""version":"1.0""#, r#""version":"01.2""#),
            with(r#""version":"1.0""#, r#""version":"2.0""#),
            with(r#""shippingRegion":"EU","#, r#""shippingRegion":null,"#),
            with(r#""orderId":"ord-1""#, r#""orderId":"ord-1","order_id":"ord-1""#),
            with(r#""sku":"SKU-0002""#, r#""sku":"SKU-0001""#),
            with(r#""totalAmount":19.99"#, r#""totalAmount":1e2"#),
            with(r#""correlationId":"corr-1","#, r#""correlationId":"","#),
            with(r#""correlationId":"corr-1","#, r#""correlationId":null,"#),
            with(r#""version":"1.0""#, r#""version":"001""#),
            with(r#""orderId":"ord-1""#, r#""orderId":"ord-1","orderId":null"#),
            with(
                r#""createdAt":"2026-11-05T10:00:00Z""#,
                r#""createdAt":"2026-11-05X10:00:00Z""#,
            ),
            with(
                r#""createdAt":"2026-11-05T10:00:00Z""#,
                r#""createdAt":"2026-11-05 10:00:00.5""#,
            ),
            with(r#""customerId":"cust-1""#, r#""customerId":"cust\u002d1""#),
            with(r#""quantity":2"#, r#""quantity":"2""#),
            with(r#""quantity":2"#, r#""quantity":02"#),
            with(r#""quantity":2"#, r#""quantity":-2"#),
            with(r#""quantity":2"#, r#""quantity":2,"quantity":3"#),
            with(
                r#""sku":"SKU-0001""#,
                r#""sku":"SKU-0001","note":{"a":[1,{"b":null}]}"#,
            ),
            with(r#""giftWrap":true"#, r#""giftWrap":tru"#),
            with(r#""totalAmount":19.99"#, r#""totalAmount":"19.99""#),
            with(r#""totalAmount":19.99"#, r#""totalAmount":19.999"#),
            with(r#""items":["#, r#""items": [ "#),
            with(r#""shippingRegion":"EU","#, r#""shippingRegion":"","#),
            with(
                r#""createdAt":"2026-11-05T10:00:00Z""#,
                r#""createdAt":"2026-11-05 10:00""#,
            ),
            format!("{VALID} x"),
            format!(" \n{VALID}\t"),
            VALID.replace(':', " : ").replace(',', " ,\n"),
        ];
        for body in &bodies {
            let fast = decode_valid_order(body, &());
            let precise = decode_order_precisely(body, &());
            // Only escapes send a valid body to the precise path.
            let expected = if body.contains('\\') {
                Err(Declined::Deferred)
            } else if precise.is_ok() {
                Ok(())
            } else {
                Err(Declined::Invalid)
            };
            assert_eq!(fast.as_ref().map(drop).map_err(|d| *d), expected, "{body}");
            if let (Ok(fast), Ok(precise)) = (fast, precise) {
                assert_eq!(fast.order_id, precise.order_id);
                assert_eq!(fast.items, precise.items);
                assert_eq!(fast.total_amount, precise.total_amount);
                assert_eq!(fast.shipping_region, precise.shipping_region);
                assert_eq!(fast.version, precise.version);
                assert_eq!(fast.customer_id, precise.customer_id);
                assert_eq!(fast.created_at, precise.created_at);
                if !body.contains(r#""correlationId":null"#) {
                    assert_eq!(fast.correlation_id, precise.correlation_id); // else a new UUID each
                }
            }
        }
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let body = with(r#""customerId":"cust-1""#, r#""customerId":"cust\u002d1""#);
        assert_eq!(decode_order_created(&body, &()).unwrap().customer_id, "cust-1");
    }
}
