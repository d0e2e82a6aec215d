//! The order of record as a table item: one layout, written by the DynamoDB
//! store, read back by it, by the relay from the table's stream, and by the
//! embedded store's change stream.
//!
//! Key `orderId`. The accepted order's contract fields (`customerId`, `items`
//! as a list of `{sku, quantity}`, `totalAmount` as a number written as
//! [`Money`] prints it, `createdAt` in RFC 3339, `shippingRegion`,
//! `version`), its `fingerprint` (16 hex digits), `correlationId`, `status`
//! ([`OrderStatus::as_str`]), `history` (a list of `{status, at, details}`,
//! `details` a map of strings) and `updatedAt`.
//!
//! Values are [`ItemValue`]s, DynamoDB's attribute values in the shape its
//! JSON has (`{"S": "o-1"}`, `{"N": "12.5"}`), so a stream image decodes with
//! serde and an SDK value converts one to one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::rfc3339;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::contracts::{OrderCreated, OrderItem};
use crate::money::Money;
use crate::order_record::{OrderRecord, OrderStatus, Transition};

/// The orders table's key attribute.
pub const ORDER_KEY: &str = "orderId";

/// A DynamoDB attribute value of the kinds an order item uses, in the shape
/// of DynamoDB's JSON (`{"S": "text"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemValue {
    /// A string.
    S(String),
    /// A number, as its decimal text.
    N(String),
    /// A list.
    L(Vec<ItemValue>),
    /// A map.
    M(Item),
    /// A boolean.
    #[serde(rename = "BOOL")]
    Bool(bool),
    /// A null.
    #[serde(rename = "NULL")]
    Null(bool),
    /// A kind an order item never holds (sets, binary): read as a value of
    /// the wrong kind; never written.
    #[serde(skip)]
    Unsupported,
}

/// An item: attribute values by name.
pub type Item = BTreeMap<String, ItemValue>;

/// Why an order could not be written as an item, or an item read as an order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// The order holds something the layout cannot keep.
    #[error("cannot store the order: {0}")]
    Unwritable(&'static str),
    /// The item is not an order of record: names the attribute and the rule,
    /// never the value (values may be customer data).
    #[error("malformed order item: {0}")]
    Malformed(String),
}

fn s(text: impl Into<String>) -> ItemValue {
    ItemValue::S(text.into())
}

fn timestamp(at: OffsetDateTime) -> Result<ItemValue, ItemError> {
    rfc3339::write(at)
        .map(|text| s(text.as_str()))
        .ok_or(ItemError::Unwritable("a timestamp outside the years 0 to 9999"))
}

/// An order's lines as the `items` attribute: a list of `{sku, quantity}`
/// (the inventory's reservations keep them the same way).
pub fn order_lines(items: &[OrderItem]) -> ItemValue {
    ItemValue::L(
        items
            .iter()
            .map(|item| {
                ItemValue::M(BTreeMap::from([
                    ("sku".to_owned(), s(item.sku.clone())),
                    ("quantity".to_owned(), ItemValue::N(item.quantity.to_string())),
                ]))
            })
            .collect(),
    )
}

/// A transition as a history entry: `{status, at, details}` (a map keeps one
/// value a name, the last one, as [`Transition::normalized`] says).
pub fn history_entry(transition: &Transition) -> Result<ItemValue, ItemError> {
    let details: Item = transition
        .details
        .iter()
        .map(|(name, value)| (name.clone(), s(value.clone())))
        .collect();
    Ok(ItemValue::M(BTreeMap::from([
        ("status".to_owned(), s(transition.status.as_str())),
        ("at".to_owned(), timestamp(transition.at)?),
        ("details".to_owned(), ItemValue::M(details)),
    ])))
}

/// When a transition happened, as its item's `updatedAt` value.
pub fn updated_at(at: OffsetDateTime) -> Result<ItemValue, ItemError> {
    timestamp(at)
}

/// A newly accepted order's item: what [`OrderRecord::accepted`] holds,
/// without copying the order first.
pub fn accepted_item(
    order: &OrderCreated,
    fingerprint: Fingerprint,
    acceptance: &Transition,
) -> Result<Item, ItemError> {
    let acceptance = Transition {
        status: OrderStatus::Accepted,
        ..acceptance.normalized()
    };
    encode(
        order,
        fingerprint,
        OrderStatus::Accepted,
        std::slice::from_ref(&acceptance),
        acceptance.at,
    )
}

/// A record's item.
pub fn record_item(record: &OrderRecord) -> Result<Item, ItemError> {
    encode(
        &record.order,
        record.fingerprint,
        record.status,
        &record.history,
        record.updated_at,
    )
}

/// What an item keeps of the order itself, the key aside: its contract
/// fields, its fingerprint and its correlation ID. A transition that finds
/// no item writes these, so an order that bypassed the API is tracked too.
pub fn order_fields(order: &OrderCreated, fingerprint: Fingerprint) -> Result<Item, ItemError> {
    if order.total_amount < Money::from_cents(0) {
        return Err(ItemError::Unwritable("totalAmount is below zero"));
    }
    Ok(BTreeMap::from([
        ("customerId".to_owned(), s(order.customer_id.clone())),
        ("items".to_owned(), order_lines(&order.items)),
        (
            "totalAmount".to_owned(),
            ItemValue::N(order.total_amount.to_string()),
        ),
        ("createdAt".to_owned(), timestamp(order.created_at)?),
        ("shippingRegion".to_owned(), s(order.shipping_region.clone())),
        ("version".to_owned(), s(order.version.as_ref())),
        ("fingerprint".to_owned(), s(fingerprint.to_hex())),
        ("correlationId".to_owned(), s(order.correlation_id.clone())),
    ]))
}

fn encode(
    order: &OrderCreated,
    fingerprint: Fingerprint,
    status: OrderStatus,
    history: &[Transition],
    updated: OffsetDateTime,
) -> Result<Item, ItemError> {
    let mut item = order_fields(order, fingerprint)?;
    item.insert(ORDER_KEY.to_owned(), s(order.order_id.clone()));
    item.insert("status".to_owned(), s(status.as_str()));
    item.insert(
        "history".to_owned(),
        ItemValue::L(history.iter().map(history_entry).collect::<Result<_, _>>()?),
    );
    item.insert("updatedAt".to_owned(), timestamp(updated)?);
    Ok(item)
}

/// An item in DynamoDB's JSON (a stream's `NewImage`), as values by name. An
/// error gives the position only, never the text.
pub fn item_from_json(text: &str) -> Result<Item, ItemError> {
    serde_json::from_str(text).map_err(|e| {
        ItemError::Malformed(format!(
            "the image is not attribute-value JSON of an order item (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// An item's DynamoDB JSON.
pub fn item_to_json(item: &Item) -> Result<String, ItemError> {
    serde_json::to_string(item)
        .map_err(|_| ItemError::Unwritable("a value of a kind the layout does not write"))
}

fn malformed(what: String) -> ItemError {
    ItemError::Malformed(what)
}

fn text<'a>(map: &'a Item, name: &str) -> Result<&'a str, ItemError> {
    match map.get(name) {
        Some(ItemValue::S(text)) => Ok(text),
        _ => Err(malformed(format!("{name} is not a string"))),
    }
}

fn number<'a>(map: &'a Item, name: &str) -> Result<&'a str, ItemError> {
    match map.get(name) {
        Some(ItemValue::N(number)) => Ok(number),
        _ => Err(malformed(format!("{name} is not a number"))),
    }
}

fn list<'a>(map: &'a Item, name: &str) -> Result<&'a [ItemValue], ItemError> {
    match map.get(name) {
        Some(ItemValue::L(list)) => Ok(list),
        _ => Err(malformed(format!("{name} is not a list"))),
    }
}

fn map_of<'a>(value: &'a ItemValue, name: &str) -> Result<&'a Item, ItemError> {
    match value {
        ItemValue::M(map) => Ok(map),
        _ => Err(malformed(format!("{name} is not a map"))),
    }
}

fn time_of(map: &Item, name: &str) -> Result<OffsetDateTime, ItemError> {
    rfc3339::parse(text(map, name)?).ok_or_else(|| malformed(format!("{name} is not an RFC 3339 timestamp")))
}

fn status_of(map: &Item, name: &str) -> Result<OrderStatus, ItemError> {
    OrderStatus::parse(text(map, name)?).ok_or_else(|| malformed(format!("{name} is not an order status")))
}

/// The accepted order an item holds, its correlation ID the stored one.
pub fn decode_order(item: &Item) -> Result<OrderCreated, ItemError> {
    let items = list(item, "items")?
        .iter()
        .map(|line| {
            let line = map_of(line, "an entry of items")?;
            Ok(OrderItem {
                sku: text(line, "sku")?.to_owned(),
                quantity: number(line, "quantity")?
                    .parse()
                    .map_err(|_| malformed("quantity is not a whole number".to_owned()))?,
            })
        })
        .collect::<Result<Vec<_>, ItemError>>()?;
    Ok(OrderCreated {
        version: Cow::Owned(text(item, "version")?.to_owned()),
        order_id: text(item, ORDER_KEY)?.to_owned(),
        customer_id: text(item, "customerId")?.to_owned(),
        items,
        total_amount: Money::parse_json_number(number(item, "totalAmount")?)
            .map_err(|_| malformed("totalAmount is not an amount".to_owned()))?,
        created_at: time_of(item, "createdAt")?,
        shipping_region: text(item, "shippingRegion")?.to_owned(),
        correlation_id: text(item, "correlationId")?.to_owned(),
    })
}

/// The status an item is at.
pub fn decode_status(item: &Item) -> Result<OrderStatus, ItemError> {
    status_of(item, "status")
}

/// The fingerprint an item keeps.
pub fn decode_fingerprint(item: &Item) -> Result<Fingerprint, ItemError> {
    Fingerprint::from_hex(text(item, "fingerprint")?)
        .ok_or_else(|| malformed("fingerprint is not 16 hex digits".to_owned()))
}

/// An item back as the order of record.
pub fn decode_record(item: &Item) -> Result<OrderRecord, ItemError> {
    Ok(OrderRecord {
        order: decode_order(item)?,
        fingerprint: decode_fingerprint(item)?,
        status: status_of(item, "status")?,
        history: list(item, "history")?
            .iter()
            .map(decode_transition)
            .collect::<Result<_, _>>()?,
        updated_at: time_of(item, "updatedAt")?,
    })
}

/// A history entry back as a transition, its details in name order.
pub fn decode_transition(entry: &ItemValue) -> Result<Transition, ItemError> {
    let entry = map_of(entry, "an entry of history")?;
    let details = match entry.get("details") {
        Some(ItemValue::M(details)) => details,
        _ => return Err(malformed("details is not a map".to_owned())),
    };
    // A map iterates in name order already.
    let details = details
        .iter()
        .map(|(name, value)| match value {
            ItemValue::S(value) => Ok((name.clone(), value.clone())),
            _ => Err(malformed("a detail is not a string".to_owned())),
        })
        .collect::<Result<Vec<_>, ItemError>>()?;
    Ok(Transition {
        status: status_of(entry, "status")?,
        at: time_of(entry, "at")?,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn order() -> OrderCreated {
        OrderCreated {
            version: "1.0".into(),
            order_id: "ord-1".into(),
            customer_id: "c-1".into(),
            items: vec![
                OrderItem {
                    sku: "A-1".into(),
                    quantity: 2,
                },
                OrderItem {
                    sku: "B-2".into(),
                    quantity: 1000,
                },
            ],
            total_amount: Money::from_cents(100_050),
            created_at: datetime!(2026-11-28 09:30:00.25 +2),
            shipping_region: "EU".into(),
            correlation_id: "corr-1".into(),
        }
    }

    #[test]
    fn an_accepted_item_reads_back_as_its_record() {
        let at = datetime!(2026-11-28 09:31:00 UTC);
        let item = accepted_item(&order(), order().fingerprint(), &Transition::accepted(at)).unwrap();
        assert_eq!(
            item.get("totalAmount"),
            Some(&ItemValue::N("1000.50".into())),
            "as Money prints it"
        );
        let record = OrderRecord::accepted(order(), order().fingerprint(), &Transition::accepted(at));
        assert_eq!(decode_record(&item).unwrap(), record);
        assert_eq!(record_item(&record).unwrap(), item);
    }

    #[test]
    fn a_record_with_history_survives_its_json() {
        let at = datetime!(2026-11-28 09:31:00 UTC);
        let mut record = OrderRecord::accepted(order(), order().fingerprint(), &Transition::accepted(at));
        assert!(
            record.apply(
                &Transition::new(OrderStatus::Shipped, datetime!(2026-11-28 10:00:00 UTC))
                    .with("shipmentId", "s-1")
                    .with("carrier", "UPS")
            )
        );
        let json = item_to_json(&record_item(&record).unwrap()).unwrap();
        assert!(json.contains(r#""orderId":{"S":"ord-1"}"#), "{json}");
        assert!(json.contains(r#""totalAmount":{"N":"1000.50"}"#), "{json}");
        let item = item_from_json(&json).unwrap();
        assert_eq!(decode_record(&item).unwrap(), record);
        assert_eq!(decode_order(&item).unwrap().order_id, "ord-1");
    }

    #[test]
    fn a_malformed_item_is_an_error_naming_the_attribute_not_its_value() {
        let at = datetime!(2026-11-28 09:31:00 UTC);
        let good = accepted_item(&order(), order().fingerprint(), &Transition::accepted(at)).unwrap();
        for (name, value) in [
            ("status", s("LOST")),
            ("fingerprint", s("xyz")),
            ("totalAmount", ItemValue::N("1.001".into())),
            ("createdAt", s("yesterday")),
            ("items", s("none")),
            ("history", ItemValue::L(vec![s("ACCEPTED")])),
            ("customerId", ItemValue::Unsupported),
        ] {
            let mut item = good.clone();
            item.insert(name.to_owned(), value);
            let error = decode_record(&item).unwrap_err().to_string();
            assert!(error.contains("malformed order item"), "{name}: {error}");
            assert!(error.contains(name), "names the attribute: {error}");
            for value in ["1.001", "yesterday", "none", "\"ACCEPTED", "xyz", "LOST"] {
                assert!(!error.contains(value), "carries a value: {error}");
            }
        }
        let mut item = good;
        item.remove("updatedAt");
        assert!(
            decode_record(&item)
                .unwrap_err()
                .to_string()
                .contains("updatedAt")
        );
    }

    #[test]
    fn an_image_that_is_not_attribute_value_json_is_refused_without_its_text() {
        for text in [
            r#"{"orderId": "secret-1"}"#,
            r#"{"orderId": {"SS": ["secret-1"]}}"#,
            r#"{"orderId": {"S": 17}}"#,
            "secret-1",
        ] {
            let error = item_from_json(text).unwrap_err().to_string();
            assert!(error.contains("line 1"), "{error}");
            assert!(!error.contains("secret"), "carries a value: {error}");
        }
    }

    #[test]
    fn details_come_back_in_name_order() {
        let t = Transition::new(OrderStatus::Failed, datetime!(2026-11-28 10:00:00 UTC))
            .with("sku", "B-2")
            .with("errorCode", "OutOfStock");
        let decoded = decode_transition(&history_entry(&t).unwrap()).unwrap();
        assert_eq!(decoded, t.normalized());
    }

    #[test]
    fn a_negative_total_or_a_year_before_0_is_not_written() {
        let mut negative = order();
        negative.total_amount = Money::from_cents(-1);
        assert_eq!(
            accepted_item(
                &negative,
                negative.fingerprint(),
                &Transition::accepted(OffsetDateTime::UNIX_EPOCH)
            ),
            Err(ItemError::Unwritable("totalAmount is below zero"))
        );
        let far = datetime!(-0001-01-01 00:00:00 UTC);
        assert!(matches!(
            accepted_item(&order(), order().fingerprint(), &Transition::accepted(far)),
            Err(ItemError::Unwritable(_))
        ));
    }
}
