//! DynamoDB attribute values between the SDK's type and the order layout's
//! [`ItemValue`], one to one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_orders::order_item::{self, ItemValue};

/// An item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// A string value.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number value.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An attribute value as the SDK's.
pub fn to_sdk(value: ItemValue) -> AttributeValue {
    match value {
        ItemValue::S(text) => AttributeValue::S(text),
        ItemValue::N(number) => AttributeValue::N(number),
        ItemValue::L(list) => AttributeValue::L(list.into_iter().map(to_sdk).collect()),
        ItemValue::M(map) => AttributeValue::M(to_sdk_item(map)),
        ItemValue::Bool(value) => AttributeValue::Bool(value),
        ItemValue::Null(value) => AttributeValue::Null(value),
        // Never written by the layout; a null keeps the conversion total.
        ItemValue::Unsupported => AttributeValue::Null(true),
    }
}

/// An item as the SDK's.
pub fn to_sdk_item(item: order_item::Item) -> Item {
    item.into_iter()
        .map(|(name, value)| (name, to_sdk(value)))
        .collect()
}

/// An SDK attribute value in the layout's terms; kinds an order item never
/// holds (sets, binary) become [`ItemValue::Unsupported`].
pub fn from_sdk(value: &AttributeValue) -> ItemValue {
    match value {
        AttributeValue::S(text) => ItemValue::S(text.clone()),
        AttributeValue::N(number) => ItemValue::N(number.clone()),
        AttributeValue::L(list) => ItemValue::L(list.iter().map(from_sdk).collect()),
        AttributeValue::M(map) => ItemValue::M(from_sdk_item(map)),
        AttributeValue::Bool(value) => ItemValue::Bool(*value),
        AttributeValue::Null(value) => ItemValue::Null(*value),
        _ => ItemValue::Unsupported,
    }
}

/// An SDK item in the layout's terms.
pub fn from_sdk_item(item: &Item) -> order_item::Item {
    item.iter()
        .map(|(name, value)| (name.clone(), from_sdk(value)))
        .collect()
}
