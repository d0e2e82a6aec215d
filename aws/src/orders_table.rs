//! The order of record on a DynamoDB table, in the layout of
//! [`orderflow_orders::order_item`].
//!
//! Every write is one conditional call: acceptance a `PutItem` that only
//! creates, a transition an `UpdateItem` that only applies from the statuses
//! that may become the new one. A failed condition is then told apart by one
//! consistent read.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_orders::contracts::OrderCreated;
use orderflow_orders::order_item;
use orderflow_orders::order_record::{Acceptance, OrderRecord, Transition, TransitionOutcome};
use orderflow_orders::ports::OrderStore;

use crate::dynamodb::create_keyed_table;
use crate::error::{classify, invalid};
use crate::item_value::{from_sdk_item, s, to_sdk_item};
use crate::transition_write::{TransitionWrite, item_error};

pub use orderflow_orders::order_item::ORDER_KEY;

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

    /// After a failed acceptance: what the order already under this ID
    /// means, from the item the refused write answered with (else read).
    async fn existing_acceptance(
        &self,
        order_id: &str,
        fingerprint: Fingerprint,
        answered: Option<Item>,
    ) -> Result<Acceptance, PortError> {
        // Whose answer a malformed item came in: the refused write's, or the read's.
        let (operation, stored) = match answered {
            Some(item) => ("PutItem", Some(item)),
            None => ("GetItem", self.read(order_id).await?),
        };
        let Some(stored) = stored else {
            // Orders are never deleted; a table emptied meanwhile is worth another try.
            return Err(PortError::new(
                PortErrorKind::Conflict,
                "PutItem",
                "the order's item was gone after its conditional write failed",
            ));
        };
        let stored = from_sdk_item(&stored);
        let stored_fingerprint =
            order_item::decode_fingerprint(&stored).map_err(|e| item_error(operation, e))?;
        Ok(if stored_fingerprint == fingerprint {
            let order = order_item::decode_order(&stored).map_err(|e| item_error(operation, e))?;
            Acceptance::AlreadyAccepted {
                correlation_id: order.correlation_id,
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
        acceptance: &Transition,
    ) -> Result<Acceptance, PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_sdk_item(
                order_item::accepted_item(order, fingerprint, acceptance)
                    .map_err(|e| item_error("PutItem", e))?,
            )))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", ORDER_KEY)
            // A refused write answers with the stored item: a retry is told
            // from a conflict without a second call.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Acceptance::Accepted),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let answered = match e.into_err() {
                    PutItemError::ConditionalCheckFailedException(refused) => refused.item,
                    _ => None,
                };
                self.existing_acceptance(&order.order_id, fingerprint, answered)
                    .await
            }
            Err(e) => Err(classify("PutItem", e)),
        }
    }

    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, PortError> {
        self.read(order_id)
            .await?
            .map(|item| {
                order_item::decode_record(&from_sdk_item(&item)).map_err(|e| item_error("GetItem", e))
            })
            .transpose()
    }

    async fn record(&self, order_id: &str, transition: &Transition) -> Result<TransitionOutcome, PortError> {
        let Some(write) = TransitionWrite::new(order_id, transition, None)? else {
            // No status may become this one (Accepted): nothing to write.
            return self.not_applied(order_id).await;
        };
        match self.update(write).await? {
            true => Ok(TransitionOutcome::Applied),
            false => self.not_applied(order_id).await,
        }
    }

    async fn record_entered(
        &self,
        order: &OrderCreated,
        transition: &Transition,
    ) -> Result<TransitionOutcome, PortError> {
        let Some(write) = TransitionWrite::new(&order.order_id, transition, Some(order))? else {
            return self.not_applied(&order.order_id).await;
        };
        // The condition holds for a missing item, so a refusal means the
        // order exists and is past this status: no read needed.
        Ok(match self.update(write).await? {
            true => TransitionOutcome::Applied,
            false => TransitionOutcome::Unchanged,
        })
    }
}

impl DynamoOrderStore {
    /// Sends a transition's conditional update: whether its condition held.
    async fn update(&self, write: TransitionWrite) -> Result<bool, PortError> {
        const OP: &str = "UpdateItem";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(write.key))
            .update_expression(write.update_expression)
            .condition_expression(write.condition_expression)
            .set_expression_attribute_names(Some(write.names))
            .set_expression_attribute_values(Some(write.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(classify(OP, e)),
        }
    }
}

/// Creates the orders table (key [`ORDER_KEY`], on demand) with a stream of
/// new images, as the template declares it; an existing table is left alone.
/// For local runs and tests: deployments get it from the template.
pub async fn create_orders_table(client: &Client, table: &str) -> Result<(), PortError> {
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .map_err(|e| invalid("CreateTable", e))?;
    create_keyed_table(client, table, ORDER_KEY, Some(stream))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_orders::contracts::OrderItem;
    use orderflow_orders::money::Money;
    use time::macros::datetime;

    fn order() -> OrderCreated {
        OrderCreated {
            version: "1.0".into(),
            order_id: "ord-1".into(),
            customer_id: "c-1".into(),
            items: vec![OrderItem {
                sku: "A-1".into(),
                quantity: 2,
            }],
            total_amount: Money::from_cents(100_050),
            created_at: datetime!(2026-11-28 09:30:00.25 +2),
            shipping_region: "EU".into(),
            correlation_id: "corr-1".into(),
        }
    }

    #[test]
    fn an_item_converts_to_the_sdk_and_back_unchanged() {
        let at = datetime!(2026-11-28 09:31:00 UTC);
        let item =
            order_item::accepted_item(&order(), order().fingerprint(), &Transition::accepted(at)).unwrap();
        let sdk = to_sdk_item(item.clone());
        assert_eq!(sdk.get("totalAmount"), Some(&AttributeValue::N("1000.50".into())));
        assert_eq!(from_sdk_item(&sdk), item);
    }

    #[test]
    fn a_value_of_another_kind_reads_as_unsupported_and_fails_naming_the_attribute() {
        let at = datetime!(2026-11-28 09:31:00 UTC);
        let mut sdk = to_sdk_item(
            order_item::accepted_item(&order(), order().fingerprint(), &Transition::accepted(at)).unwrap(),
        );
        sdk.insert("customerId".into(), AttributeValue::Ss(vec!["c-secret".into()]));
        let error = item_error(
            "GetItem",
            order_item::decode_record(&from_sdk_item(&sdk)).unwrap_err(),
        );
        assert!(!error.retryable());
        assert!(error.message.contains("customerId"), "{error}");
        assert!(!error.message.contains("secret"), "{error}");
    }
}
