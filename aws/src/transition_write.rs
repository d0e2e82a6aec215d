//! A transition of the order of record as a conditional update, for
//! `UpdateItem` and for the inventory's transaction alike.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_orders::contracts::OrderCreated;
use orderflow_orders::order_item::{self, ItemError, ORDER_KEY};
use orderflow_orders::order_record::{OrderStatus, Transition};

use crate::error::invalid;
use crate::item_value::{Item, s, to_sdk};

/// The conditional update that applies a transition to an order's item, for
/// `UpdateItem` or as one action of a transaction (the inventory's): the
/// status and `updatedAt` set, the entry appended to the history, only from
/// the statuses that may become the new one
/// ([`OrderStatus::may_become`]). With the order known, a missing item is
/// created too, its order fields written where absent.
#[derive(Clone, Debug, PartialEq)]
pub struct TransitionWrite {
    /// The item's key.
    pub key: Item,
    /// The `SET` expression.
    pub update_expression: String,
    /// When the write applies.
    pub condition_expression: String,
    /// `#name` placeholders.
    pub names: HashMap<String, String>,
    /// `:value` placeholders.
    pub values: Item,
}

impl TransitionWrite {
    /// The write of `transition` on `order_id`'s item, creating it from
    /// `known` when missing; `None` when no status may become the transition's.
    pub fn new(
        order_id: &str,
        transition: &Transition,
        known: Option<&OrderCreated>,
    ) -> Result<Option<TransitionWrite>, PortError> {
        const OP: &str = "UpdateItem";
        let from: Vec<OrderStatus> = OrderStatus::ALL
            .into_iter()
            .filter(|status| status.may_become(transition.status))
            .collect();
        if from.is_empty() {
            return Ok(None);
        }
        let mut names = HashMap::from([
            ("#id".to_owned(), ORDER_KEY.to_owned()),
            ("#status".to_owned(), "status".to_owned()),
            ("#history".to_owned(), "history".to_owned()),
            ("#updated".to_owned(), "updatedAt".to_owned()),
        ]);
        let entry = order_item::history_entry(transition).map_err(|e| item_error(OP, e))?;
        let mut values = HashMap::from([
            (":status".to_owned(), s(transition.status.as_str())),
            (":entry".to_owned(), AttributeValue::L(vec![to_sdk(entry)])),
            (
                ":at".to_owned(),
                to_sdk(order_item::updated_at(transition.at).map_err(|e| item_error(OP, e))?),
            ),
        ]);
        let from_list: Vec<String> = from
            .iter()
            .enumerate()
            .map(|(i, status)| {
                values.insert(format!(":from{i}"), s(status.as_str()));
                format!(":from{i}")
            })
            .collect();
        let in_from = format!("#status IN ({})", from_list.join(", "));
        let (update_expression, condition_expression) = match known {
            None => (
                "SET #status = :status, #history = list_append(#history, :entry), #updated = :at".to_owned(),
                format!("attribute_exists(#id) AND {in_from}"),
            ),
            Some(order) => {
                values.insert(":empty".to_owned(), AttributeValue::L(Vec::new()));
                let mut update = "SET #status = :status, #history = list_append(if_not_exists(#history, :empty), :entry), #updated = :at".to_owned();
                let fields =
                    order_item::order_fields(order, order.fingerprint()).map_err(|e| item_error(OP, e))?;
                for (i, (name, value)) in fields.into_iter().enumerate() {
                    update.push_str(&format!(", #f{i} = if_not_exists(#f{i}, :f{i})"));
                    names.insert(format!("#f{i}"), name);
                    values.insert(format!(":f{i}"), to_sdk(value));
                }
                (update, format!("attribute_not_exists(#id) OR {in_from}"))
            }
        };
        Ok(Some(TransitionWrite {
            key: HashMap::from([(ORDER_KEY.to_owned(), s(order_id))]),
            update_expression,
            condition_expression,
            names,
            values,
        }))
    }
}

/// A layout error as the port reports it: a stored item that is no order
/// of record, or an order the layout cannot keep.
pub(crate) fn item_error(operation: &'static str, error: ItemError) -> PortError {
    match error {
        ItemError::Unwritable(what) => invalid(operation, what),
        ItemError::Malformed(_) => PortError::new(PortErrorKind::Other, operation, error.to_string()),
    }
}
