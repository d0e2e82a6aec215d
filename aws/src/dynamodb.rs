//! DynamoDB adapters: the idempotency store and the inventory.
//!
//! Idempotency table: partition key `id` (String), attributes `status`
//! (`IN_PROGRESS` or `COMPLETED`), `fingerprint` (16 hex digits, the input's
//! [`Fingerprint`]) and `expiresAt` (Unix seconds, the table's TTL
//! attribute). TTL deletion is lazy, so every read also compares `expiresAt`.
//!
//! Inventory table: partition key `pk` (String); stock items `SKU#<sku>` with
//! `units`, and reservation records `RESERVATION#<orderId>` written in the same
//! transaction as the stock decrements.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, StreamSpecification, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, Completion, EntryResults, IdempotencyStore};
use orderflow_orders::contracts::{OrderCreated, OrderItem, Shortage};
use orderflow_orders::order_item;
use orderflow_orders::order_record::Transition;
use orderflow_orders::ports::{InventoryStore, Reservation};

use crate::error::{classify, invalid, service_error};
use crate::item_value::{n, s, to_sdk};
use crate::transition_write::TransitionWrite;

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";
/// The idempotency table's key attribute.
pub const IDEMPOTENCY_KEY: &str = "id";
/// The idempotency table's TTL attribute.
pub const EXPIRY_ATTRIBUTE: &str = "expiresAt";
/// The idempotency record's fingerprint attribute.
const FINGERPRINT_ATTRIBUTE: &str = "fingerprint";
/// The inventory table's key attribute.
pub const INVENTORY_KEY: &str = "pk";
/// DynamoDB's limit of actions in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// The idempotency store on a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoIdempotencyStore {
    /// The store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoIdempotencyStore {
            client,
            table: table.into(),
        }
    }

    async fn status_of(&self, key: &str, fingerprint: Fingerprint, now: u64) -> Result<Claim, PortError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(IDEMPOTENCY_KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(claim_of(item.item(), fingerprint, now))
    }
}

/// Most items in one `BatchWriteItem` call.
const MAX_BATCH_WRITE: usize = 25;

impl DynamoIdempotencyStore {
    /// Completes up to 25 keys in one `BatchWriteItem`, resending unprocessed items a few times.
    async fn complete_chunk(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        const OP: &str = "BatchWriteItem";
        let keys: Vec<&str> = completions.iter().map(|c| c.key).collect();
        let request = |completion: &Completion<'_>| -> Result<WriteRequest, PortError> {
            let put = PutRequest::builder()
                .item(IDEMPOTENCY_KEY, s(completion.key))
                .item("status", s(COMPLETED))
                .item(FINGERPRINT_ATTRIBUTE, s(completion.fingerprint.to_hex()))
                .item(EXPIRY_ATTRIBUTE, n(keep_until))
                .build()
                .map_err(|e| invalid(OP, e))?;
            Ok(WriteRequest::builder().put_request(put).build())
        };
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        let mut results: EntryResults = vec![Ok(()); keys.len()];
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let requests: Result<Vec<WriteRequest>, PortError> =
                pending.iter().map(|&i| request(&completions[i])).collect();
            let requests = match requests {
                Ok(r) => r,
                Err(e) => return vec![Err(e); keys.len()],
            };
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await;
            let unprocessed: Vec<String> = match output {
                Err(e) => {
                    let error = classify(OP, e);
                    for &i in &pending {
                        results[i] = Err(error.clone());
                    }
                    if !error.retryable() {
                        return results;
                    }
                    continue;
                }
                Ok(out) => out
                    .unprocessed_items()
                    .and_then(|items| items.get(&self.table))
                    .map(|requests| {
                        requests
                            .iter()
                            .filter_map(|r| {
                                r.put_request()?.item().get(IDEMPOTENCY_KEY)?.as_s().ok().cloned()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let mut still = Vec::new();
            for &i in &pending {
                if unprocessed.iter().any(|u| u == keys[i]) {
                    results[i] = Err(PortError::new(PortErrorKind::Throttled, OP, "unprocessed item"));
                    still.push(i);
                } else {
                    results[i] = Ok(());
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
        }
        results
    }
}

/// What an existing record means to a new claim for `fingerprint`.
fn claim_of(item: Option<&HashMap<String, AttributeValue>>, fingerprint: Fingerprint, now: u64) -> Claim {
    let Some(item) = item else {
        // Deleted since the conditional write failed: someone else is between claim and release.
        return Claim::InProgress;
    };
    let expires = item
        .get(EXPIRY_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let stored = item
        .get(FINGERPRINT_ATTRIBUTE)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| Fingerprint::from_hex(v));
    if expires <= now {
        // Expired, yet our conditional write failed: someone else is replacing it right now.
        return Claim::InProgress;
    }
    let completed = item.get("status").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(COMPLETED);
    Claim::of_live_record(completed, stored, fingerprint)
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(IDEMPOTENCY_KEY, s(key))
            .item("status", s(IN_PROGRESS))
            .item(FINGERPRINT_ATTRIBUTE, s(fingerprint.to_hex()))
            .item(EXPIRY_ATTRIBUTE, n(in_progress_until))
            .condition_expression("attribute_not_exists(#id) OR #exp <= :now")
            .expression_attribute_names("#id", IDEMPOTENCY_KEY)
            .expression_attribute_names("#exp", EXPIRY_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                match e.err() {
                    PutItemError::ConditionalCheckFailedException(c) if c.item().is_some() => {
                        Ok(claim_of(c.item(), fingerprint, now))
                    }
                    // Not every endpoint returns the old item: read it.
                    _ => self.status_of(key, fingerprint, now).await,
                }
            }
            Err(e) => Err(classify("PutItem", e)),
        }
    }

    async fn complete(&self, completion: Completion<'_>, keep_until: u64) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(IDEMPOTENCY_KEY, s(completion.key))
            .item("status", s(COMPLETED))
            .item(FINGERPRINT_ATTRIBUTE, s(completion.fingerprint.to_hex()))
            .item(EXPIRY_ATTRIBUTE, n(keep_until))
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(())
    }

    async fn complete_all(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        let mut results: EntryResults = Vec::with_capacity(completions.len());
        for chunk in completions.chunks(MAX_BATCH_WRITE) {
            results.extend(self.complete_chunk(chunk, keep_until).await);
        }
        results
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(IDEMPOTENCY_KEY, s(key))
            .condition_expression("#s = :in_progress")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already gone, or completed meanwhile: nothing to release.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(classify("DeleteItem", e)),
        }
    }
}

/// The inventory on a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoInventory {
    client: Client,
    table: String,
    /// Where reservations' transitions go, when recorded.
    orders_table: Option<String>,
}

fn sku_key(sku: &str) -> AttributeValue {
    s(format!("SKU#{sku}"))
}

fn reservation_key(order_id: &str) -> AttributeValue {
    s(format!("RESERVATION#{order_id}"))
}

impl DynamoInventory {
    /// The inventory on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoInventory {
            client,
            table: table.into(),
            orders_table: None,
        }
    }

    /// The inventory recording each reservation's transition on the orders
    /// table `orders_table`, in the reservation's own transaction.
    pub fn with_orders_table(mut self, orders_table: impl Into<String>) -> Self {
        self.orders_table = Some(orders_table.into());
        self
    }

    /// Sets a SKU's stock (seeding and restocking).
    pub async fn set_stock(&self, sku: &str, units: u32) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(INVENTORY_KEY, sku_key(sku))
            .item("units", n(units))
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(())
    }

    /// A SKU's stock (0 when it has no stock item).
    pub async fn stock(&self, sku: &str) -> Result<u32, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(INVENTORY_KEY, sku_key(sku))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(out
            .item()
            .and_then(|i| i.get("units"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    async fn is_reserved(&self, order_id: &str) -> Result<bool, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(INVENTORY_KEY, reservation_key(order_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(out.item().is_some())
    }

    /// After a cancelled transaction: which SKUs are short now (empty after a lost race).
    async fn shortages(&self, items: &[&OrderItem]) -> Result<Vec<Shortage>, PortError> {
        let mut shortages = Vec::new();
        for item in items {
            let available = self.stock(&item.sku).await?;
            if available < item.quantity {
                shortages.push(Shortage {
                    sku: item.sku.clone(),
                    requested: item.quantity,
                    available,
                });
            }
        }
        Ok(shortages)
    }

    fn transaction(
        &self,
        order_id: &str,
        items: &[OrderItem],
        order_write: Option<TransitionWrite>,
    ) -> Result<Vec<TransactWriteItem>, PortError> {
        const OP: &str = "TransactWriteItems";
        let reservation = Put::builder()
            .table_name(&self.table)
            .item(INVENTORY_KEY, reservation_key(order_id))
            .item("items", to_sdk(order_item::order_lines(items)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", INVENTORY_KEY)
            .build()
            .map_err(|e| invalid(OP, e))?;
        let mut actions = vec![TransactWriteItem::builder().put(reservation).build()];
        for item in items {
            let update = Update::builder()
                .table_name(&self.table)
                .key(INVENTORY_KEY, sku_key(&item.sku))
                .update_expression("SET #u = #u - :q")
                .condition_expression("#u >= :q")
                .expression_attribute_names("#u", "units")
                .expression_attribute_values(":q", n(item.quantity))
                .build()
                .map_err(|e| invalid(OP, e))?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        if let (Some(table), Some(write)) = (&self.orders_table, order_write) {
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(write.key))
                .update_expression(write.update_expression)
                .condition_expression(write.condition_expression)
                .set_expression_attribute_names(Some(write.names))
                .set_expression_attribute_values(Some(write.values))
                .build()
                .map_err(|e| invalid(OP, e))?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(actions)
    }
}

/// Transactions on a hot SKU conflict; this many attempts before the record is retried later.
const CONFLICT_ATTEMPTS: u32 = 4;

#[async_trait]
impl InventoryStore for DynamoInventory {
    async fn reserve(&self, order: &OrderCreated, reserved: &Transition) -> Result<Reservation, PortError> {
        let write = match &self.orders_table {
            Some(_) => TransitionWrite::new(&order.order_id, reserved, Some(order))?,
            None => None,
        };
        let mut attempt = 1;
        loop {
            match self
                .reserve_once(&order.order_id, &order.items, write.clone())
                .await
            {
                Err(e) if e.kind == PortErrorKind::Conflict && attempt < CONFLICT_ATTEMPTS => {
                    let ceiling = 20u64 << attempt;
                    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(
                        ceiling / 2..=ceiling,
                    )))
                    .await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl DynamoInventory {
    /// One reservation transaction: the reservation, each SKU's stock and,
    /// with `order_write`, the order's transition. When only the order's
    /// condition failed (it is past `RESERVED`), the stock is reserved without it.
    async fn reserve_once(
        &self,
        order_id: &str,
        items: &[OrderItem],
        order_write: Option<TransitionWrite>,
    ) -> Result<Reservation, PortError> {
        const OP: &str = "TransactWriteItems";
        let with_order = order_write.is_some() && self.orders_table.is_some();
        let actions = items.len() + 1 + usize::from(with_order);
        if actions > MAX_TRANSACTION_ITEMS {
            return Err(invalid(
                OP,
                format!(
                    "an order of {} lines needs {actions} transaction actions; DynamoDB allows {MAX_TRANSACTION_ITEMS}",
                    items.len(),
                ),
            ));
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(self.transaction(order_id, items, order_write)?))
            .send()
            .await;
        let cancelled = match result {
            Ok(_) => return Ok(Reservation::Reserved),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(c) => c,
                other => return Err(service_error(OP, &other)),
            },
            Err(e) => return Err(classify(OP, e)),
        };
        let reasons: Vec<Option<&str>> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code())
            .collect();
        let failed = |code: Option<&str>| code == Some("ConditionalCheckFailed");
        if reasons.len() == actions {
            if failed(reasons[0]) {
                return Ok(Reservation::AlreadyReserved);
            }
            let stock_reasons = &reasons[1..=items.len()];
            if with_order && failed(reasons[actions - 1]) && !stock_reasons.iter().any(|r| failed(*r)) {
                // The order is past RESERVED (a late redelivery, or FAILED): the stock alone.
                return Box::pin(self.reserve_once(order_id, items, None)).await;
            }
            if reasons
                .iter()
                .any(|r| matches!(r, Some("TransactionConflict" | "ThrottlingError")))
            {
                return Err(PortError::new(
                    PortErrorKind::Conflict,
                    OP,
                    "a concurrent transaction touched the same SKUs",
                ));
            }
            let short: Vec<&OrderItem> = items
                .iter()
                .zip(stock_reasons)
                .filter(|(_, r)| failed(**r))
                .map(|(i, _)| i)
                .collect();
            let shortages = self.shortages(&short).await?;
            if !shortages.is_empty() {
                return Ok(Reservation::Short(shortages));
            }
        } else {
            // No per-action reasons from this endpoint: find out what failed by reading.
            if self.is_reserved(order_id).await? {
                return Ok(Reservation::AlreadyReserved);
            }
            let all: Vec<&OrderItem> = items.iter().collect();
            let shortages = self.shortages(&all).await?;
            if !shortages.is_empty() {
                return Ok(Reservation::Short(shortages));
            }
            if with_order {
                // Neither reserved nor short: the order's condition, most likely.
                return Box::pin(self.reserve_once(order_id, items, None)).await;
            }
        }
        Err(PortError::new(
            PortErrorKind::Conflict,
            OP,
            format!("transaction cancelled ({reasons:?}) but stock is now sufficient: retry"),
        ))
    }
}

/// Creates a table keyed by one string attribute, on demand; does nothing if it exists.
pub async fn create_table(
    client: &Client,
    table: &str,
    key: &str,
    ttl_attribute: Option<&str>,
) -> Result<(), PortError> {
    if !create_keyed_table(client, table, key, None).await? {
        return Ok(());
    }
    if let Some(attribute) = ttl_attribute {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| invalid("UpdateTimeToLive", e))?,
            )
            .send()
            .await
            .map_err(|e| classify("UpdateTimeToLive", e))?;
    }
    Ok(())
}

/// Creates an on-demand table keyed by the string attribute `key`, with
/// `stream` when given: whether it was created now (false: it existed).
pub(crate) async fn create_keyed_table(
    client: &Client,
    table: &str,
    key: &str,
    stream: Option<StreamSpecification>,
) -> Result<bool, PortError> {
    const OP: &str = "CreateTable";
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| invalid(OP, e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| invalid(OP, e))?,
        )
        .set_stream_specification(stream)
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => Ok(false),
        Err(e) => Err(classify(OP, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_record_is_completed_only_while_unexpired() {
        let ours = Fingerprint::of(|f| {
            f.str("ours");
        });
        let theirs = Fingerprint::of(|f| {
            f.str("theirs");
        });
        let item = |status: &str, exp: u64, fingerprint: Option<Fingerprint>| {
            let mut item = HashMap::from([
                ("status".to_owned(), s(status)),
                (EXPIRY_ATTRIBUTE.to_owned(), n(exp)),
            ]);
            if let Some(f) = fingerprint {
                item.insert(FINGERPRINT_ATTRIBUTE.to_owned(), s(f.to_hex()));
            }
            item
        };
        let claim = |status, exp, stored| claim_of(Some(&item(status, exp, stored)), ours, 100);
        assert_eq!(claim(COMPLETED, 200, Some(ours)), Claim::Completed);
        assert_eq!(claim(IN_PROGRESS, 200, Some(ours)), Claim::InProgress);
        assert_eq!(claim(COMPLETED, 200, Some(theirs)), Claim::Reused);
        assert_eq!(claim(IN_PROGRESS, 200, Some(theirs)), Claim::Reused);
        // Records written before fingerprints match any input.
        assert_eq!(claim(COMPLETED, 200, None), Claim::Completed);
        assert_eq!(
            claim(COMPLETED, 100, Some(theirs)),
            Claim::InProgress,
            "expired: being replaced"
        );
        assert_eq!(claim_of(None, ours, 100), Claim::InProgress);
    }
}
