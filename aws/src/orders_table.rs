//! The order of record on a DynamoDB table.
//!
//! Partition key `orderId` (String). An item holds the accepted order's
//! contract fields (`customerId`, `items` as a list of `{sku, quantity}`,
//! `totalAmount` as a number written as [`Money`] prints it, `createdAt` in
//! RFC 3339, `shippingRegion`, `version`), its `fingerprint` (16 hex digits,
//! the [`Fingerprint`]), `correlationId`, `status` ([`OrderStatus::as_str`]),
//! `history` (a list of `{status, at, details}`, `details` a map of strings)
//! and `updatedAt`.
//!
//! Every write is one conditional call: acceptance a `PutItem` that only
//! creates, a transition an `UpdateItem` that only applies from the statuses
//! that may become the new one. A failed condition is then told apart by one
//! consistent read.

use std::borrow::Cow;
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::rfc3339;
use orderflow_orders::contracts::{OrderCreated, OrderItem};
use orderflow_orders::money::Money;
use orderflow_orders::order_record::{Acceptance, OrderRecord, OrderStatus, Transition, TransitionOutcome};
use orderflow_orders::ports::OrderStore;
use time::OffsetDateTime;

use crate::dynamodb::{invalid, n, order_lines, s};
use crate::error::classify;

/// The orders table's key attribute.
pub const ORDER_KEY: &str = "orderId";

type Item = HashMap<String, AttributeValue>;

/// The order of record on a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoOrderStore {
    client: Client,
    table: String,
}

impl DynamoOrderStore {
    /// The store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoOrderStore {
            client,
            table: table.into(),
        }
    }

    /// The order's item, read consistently.
    async fn read(&self, order_id: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ORDER_KEY, s(order_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(out.item)
    }

    /// After a failed acceptance: what the order already under this ID means.
    async fn existing_acceptance(
        &self,
        order_id: &str,
        fingerprint: Fingerprint,
    ) -> Result<Acceptance, PortError> {
        let Some(stored) = self.read(order_id).await? else {
            // Orders are never deleted; a table emptied meanwhile is worth another try.
            return Err(PortError::new(
                PortErrorKind::Conflict,
                "PutItem",
                "the order's item was gone after its conditional write failed",
            ));
        };
        let stored_fingerprint = Fingerprint::from_hex(text(&stored, "fingerprint")?)
            .ok_or_else(|| malformed("fingerprint is not 16 hex digits"))?;
        Ok(if stored_fingerprint == fingerprint {
            Acceptance::AlreadyAccepted {
                correlation_id: text(&stored, "correlationId")?.to_owned(),
            }
        } else {
            Acceptance::Conflict
        })
    }

    /// After a transition was not applied: whether the order exists.
    async fn not_applied(&self, order_id: &str) -> Result<TransitionOutcome, PortError> {
        Ok(match self.read(order_id).await? {
            Some(_) => TransitionOutcome::Unchanged,
            None => TransitionOutcome::UnknownOrder,
        })
    }
}

#[async_trait]
impl OrderStore for DynamoOrderStore {
    async fn accept(
        &self,
        order: &OrderCreated,
        fingerprint: Fingerprint,
        at: OffsetDateTime,
    ) -> Result<Acceptance, PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(accepted_item(order, fingerprint, at)?))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", ORDER_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Acceptance::Accepted),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                self.existing_acceptance(&order.order_id, fingerprint).await
            }
            Err(e) => Err(classify("PutItem", e)),
        }
    }

    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, PortError> {
        self.read(order_id)
            .await?
            .map(|item| decode_record(&item))
            .transpose()
    }

    async fn record(&self, order_id: &str, transition: &Transition) -> Result<TransitionOutcome, PortError> {
        const OP: &str = "UpdateItem";
        let from: Vec<OrderStatus> = OrderStatus::ALL
            .into_iter()
            .filter(|status| status.may_become(transition.status))
            .collect();
        if from.is_empty() {
            // No status may become this one (Accepted): nothing to write.
            return self.not_applied(order_id).await;
        }
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ORDER_KEY, s(order_id))
            .update_expression(
                "SET #status = :status, #history = list_append(#history, :entry), #updated = :at",
            )
            .condition_expression(format!(
                "attribute_exists(#id) AND #status IN ({})",
                placeholders.join(", ")
            ))
            .expression_attribute_names("#id", ORDER_KEY)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#history", "history")
            .expression_attribute_names("#updated", "updatedAt")
            .expression_attribute_values(":status", s(transition.status.as_str()))
            .expression_attribute_values(
                ":entry",
                AttributeValue::L(vec![transition_value(OP, transition)?]),
            )
            .expression_attribute_values(":at", timestamp(OP, transition.at)?);
        for (placeholder, status) in placeholders.into_iter().zip(from) {
            update = update.expression_attribute_values(placeholder, s(status.as_str()));
        }
        match update.send().await {
            Ok(_) => Ok(TransitionOutcome::Applied),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                self.not_applied(order_id).await
            }
            Err(e) => Err(classify(OP, e)),
        }
    }
}

/// A timestamp as RFC 3339 text; years RFC 3339 cannot write are refused.
fn timestamp(operation: &'static str, at: OffsetDateTime) -> Result<AttributeValue, PortError> {
    rfc3339::write(at)
        .map(|text| s(text.as_str()))
        .ok_or_else(|| invalid(operation, "a timestamp outside the years 0 to 9999"))
}

/// A transition as a history entry: `{status, at, details}`.
fn transition_value(operation: &'static str, transition: &Transition) -> Result<AttributeValue, PortError> {
    // A map keeps one value a name, the last one, as `Transition::normalized` says.
    let details: Item = transition
        .details
        .iter()
        .map(|(name, value)| (name.clone(), s(value.clone())))
        .collect();
    Ok(AttributeValue::M(HashMap::from([
        ("status".to_owned(), s(transition.status.as_str())),
        ("at".to_owned(), timestamp(operation, transition.at)?),
        ("details".to_owned(), AttributeValue::M(details)),
    ])))
}

/// A newly accepted order's item.
fn accepted_item(
    order: &OrderCreated,
    fingerprint: Fingerprint,
    at: OffsetDateTime,
) -> Result<Item, PortError> {
    const OP: &str = "PutItem";
    if order.total_amount < Money::from_cents(0) {
        return Err(invalid(OP, "totalAmount is below zero"));
    }
    // What `OrderRecord::accepted` holds: status Accepted, its acceptance the one entry.
    let acceptance = transition_value(OP, &Transition::new(OrderStatus::Accepted, at))?;
    let accepted_at = timestamp(OP, at)?;
    Ok(HashMap::from([
        (ORDER_KEY.to_owned(), s(order.order_id.clone())),
        ("customerId".to_owned(), s(order.customer_id.clone())),
        ("items".to_owned(), order_lines(&order.items)),
        ("totalAmount".to_owned(), n(order.total_amount)),
        ("createdAt".to_owned(), timestamp(OP, order.created_at)?),
        ("shippingRegion".to_owned(), s(order.shipping_region.clone())),
        ("version".to_owned(), s(order.version.as_ref())),
        ("fingerprint".to_owned(), s(fingerprint.to_hex())),
        ("correlationId".to_owned(), s(order.correlation_id.clone())),
        ("status".to_owned(), s(OrderStatus::Accepted.as_str())),
        ("history".to_owned(), AttributeValue::L(vec![acceptance])),
        ("updatedAt".to_owned(), accepted_at),
    ]))
}

/// A stored item that does not hold an order of record: named by the broken
/// attribute, never its value (values may be customer data).
fn malformed(what: &str) -> PortError {
    PortError::new(
        PortErrorKind::Other,
        "GetItem",
        format!("malformed order item: {what}"),
    )
}

fn text<'a>(map: &'a Item, name: &str) -> Result<&'a str, PortError> {
    match map.get(name) {
        Some(AttributeValue::S(text)) => Ok(text),
        _ => Err(malformed(&format!("{name} is not a string"))),
    }
}

fn number<'a>(map: &'a Item, name: &str) -> Result<&'a str, PortError> {
    match map.get(name) {
        Some(AttributeValue::N(number)) => Ok(number),
        _ => Err(malformed(&format!("{name} is not a number"))),
    }
}

fn list<'a>(map: &'a Item, name: &str) -> Result<&'a [AttributeValue], PortError> {
    match map.get(name) {
        Some(AttributeValue::L(list)) => Ok(list),
        _ => Err(malformed(&format!("{name} is not a list"))),
    }
}

fn map_of<'a>(value: &'a AttributeValue, name: &str) -> Result<&'a Item, PortError> {
    match value {
        AttributeValue::M(map) => Ok(map),
        _ => Err(malformed(&format!("{name} is not a map"))),
    }
}

fn time_of(map: &Item, name: &str) -> Result<OffsetDateTime, PortError> {
    rfc3339::parse(text(map, name)?).ok_or_else(|| malformed(&format!("{name} is not an RFC 3339 timestamp")))
}

fn status_of(map: &Item, name: &str) -> Result<OrderStatus, PortError> {
    OrderStatus::parse(text(map, name)?).ok_or_else(|| malformed(&format!("{name} is not an order status")))
}

/// A stored item back as the order of record.
fn decode_record(item: &Item) -> Result<OrderRecord, PortError> {
    let items = list(item, "items")?
        .iter()
        .map(|line| {
            let line = map_of(line, "an entry of items")?;
            Ok(OrderItem {
                sku: text(line, "sku")?.to_owned(),
                quantity: number(line, "quantity")?
                    .parse()
                    .map_err(|_| malformed("quantity is not a whole number"))?,
            })
        })
        .collect::<Result<Vec<_>, PortError>>()?;
    let order = OrderCreated {
        version: Cow::Owned(text(item, "version")?.to_owned()),
        order_id: text(item, ORDER_KEY)?.to_owned(),
        customer_id: text(item, "customerId")?.to_owned(),
        items,
        total_amount: Money::parse_json_number(number(item, "totalAmount")?)
            .map_err(|_| malformed("totalAmount is not an amount"))?,
        created_at: time_of(item, "createdAt")?,
        shipping_region: text(item, "shippingRegion")?.to_owned(),
        correlation_id: text(item, "correlationId")?.to_owned(),
    };
    Ok(OrderRecord {
        order,
        fingerprint: Fingerprint::from_hex(text(item, "fingerprint")?)
            .ok_or_else(|| malformed("fingerprint is not 16 hex digits"))?,
        status: status_of(item, "status")?,
        history: list(item, "history")?
            .iter()
            .map(decode_transition)
            .collect::<Result<_, _>>()?,
        updated_at: time_of(item, "updatedAt")?,
    })
}

/// A history entry back as a transition, its details in name order.
fn decode_transition(entry: &AttributeValue) -> Result<Transition, PortError> {
    let entry = map_of(entry, "an entry of history")?;
    let details = match entry.get("details") {
        Some(AttributeValue::M(details)) => details,
        _ => return Err(malformed("details is not a map")),
    };
    let mut details = details
        .iter()
        .map(|(name, value)| match value {
            AttributeValue::S(value) => Ok((name.clone(), value.clone())),
            _ => Err(malformed("a detail is not a string")),
        })
        .collect::<Result<Vec<_>, PortError>>()?;
    details.sort();
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
        let item = accepted_item(&order(), order().fingerprint(), at).unwrap();
        assert_eq!(item.get("totalAmount"), Some(&n("1000.50")), "as Money prints it");
        assert_eq!(
            decode_record(&item).unwrap(),
            OrderRecord::accepted(order(), order().fingerprint(), at)
        );
    }

    #[test]
    fn a_malformed_item_is_an_error_naming_the_attribute() {
        let at = datetime!(2026-11-28 09:31:00 UTC);
        let good = accepted_item(&order(), order().fingerprint(), at).unwrap();
        for (name, value) in [
            ("status", s("LOST")),
            ("fingerprint", s("xyz")),
            ("totalAmount", n("1.001")),
            ("createdAt", s("yesterday")),
            ("items", s("none")),
            ("history", AttributeValue::L(vec![s("ACCEPTED")])),
        ] {
            let mut item = good.clone();
            item.insert(name.to_owned(), value);
            let error = decode_record(&item).unwrap_err();
            assert!(!error.retryable(), "{name}");
            assert!(error.message.contains("malformed order item"), "{name}: {error}");
            assert!(error.message.contains(name), "names the attribute: {error}");
            for value in ["1.001", "yesterday", "none", "ACCEPTED\"", "\"ACCEPTED"] {
                assert!(!error.message.contains(value), "carries a value: {error}");
            }
        }
        let mut item = good;
        item.remove("updatedAt");
        assert!(decode_record(&item).unwrap_err().message.contains("updatedAt"));
    }

    #[test]
    fn details_come_back_in_name_order() {
        let t = Transition::new(OrderStatus::Failed, datetime!(2026-11-28 10:00:00 UTC))
            .with("sku", "B-2")
            .with("errorCode", "OutOfStock");
        let decoded = decode_transition(&transition_value("UpdateItem", &t).unwrap()).unwrap();
        assert_eq!(decoded, t.normalized());
    }
}
