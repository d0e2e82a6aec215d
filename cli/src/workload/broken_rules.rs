//! The rules of the `OrderCreated` contract an invalid order may break, and
//! how each is broken: one table, so a rule cannot be listed without a way
//! to break it.

use serde_json::{Value, json};

/// How a rule is broken.
#[derive(Clone, Copy)]
enum Breaking {
    /// The body is not JSON at all: cut short inside the items.
    CutShort,
    /// One change to the order, which stays JSON.
    Change(fn(&mut Value)),
}

/// Each rule and how it is broken, in the order [`BROKEN_RULES`] lists them
/// (the generator draws rules by index, so this order is part of a seed's output).
const BREAKINGS: [(&str, Breaking); 12] = [
    ("not-json", Breaking::CutShort),
    (
        "missing-orderId",
        Breaking::Change(|order| {
            if let Some(o) = order.as_object_mut() {
                o.remove("orderId");
            }
        }),
    ),
    (
        "quantity-zero",
        Breaking::Change(|order| order["items"][0]["quantity"] = json!(0)),
    ),
    (
        "quantity-too-big",
        Breaking::Change(|order| order["items"][0]["quantity"] = json!(1001)),
    ),
    ("no-items", Breaking::Change(|order| order["items"] = json!([]))),
    (
        "negative-total",
        Breaking::Change(|order| order["totalAmount"] = json!(-1.5)),
    ),
    (
        "three-decimals",
        Breaking::Change(|order| order["totalAmount"] = json!(10.125)),
    ),
    (
        "bad-createdAt",
        Breaking::Change(|order| order["createdAt"] = json!("yesterday")),
    ),
    (
        "duplicate-sku",
        Breaking::Change(|order| {
            let first = order["items"][0].clone();
            if let Some(items) = order["items"].as_array_mut() {
                items.push(first);
            }
        }),
    ),
    (
        "bad-orderId-chars",
        Breaking::Change(|order| order["orderId"] = json!("ord 1; DROP TABLE")),
    ),
    (
        "major-version-2",
        Breaking::Change(|order| order["version"] = json!("2.0")),
    ),
    (
        "items-not-array",
        Breaking::Change(|order| order["items"] = json!("SKU-0001")),
    ),
];

/// The rules an invalid record may break, one each.
pub const BROKEN_RULES: [&str; 12] = {
    let mut names = [""; 12];
    let mut i = 0;
    while i < names.len() {
        names[i] = BREAKINGS[i].0;
        i += 1;
    }
    names
};

/// The opening of a JSON object, kept out of format strings (where it would need escaping).
const OBJECT_START: char = '{';

/// Breaks exactly one rule of a valid order; returns the body text.
pub(super) fn break_order(mut order: Value, rule: &str) -> String {
    match BREAKINGS.iter().find(|(name, _)| *name == rule) {
        Some((_, Breaking::CutShort)) => {
            let order_id = order["orderId"].as_str().unwrap_or("x");
            format!("{OBJECT_START}\"orderId\": \"{order_id}\", \"items\": [")
        }
        Some((_, Breaking::Change(change))) => {
            change(&mut order);
            order.to_string()
        }
        None => order.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_keep_their_order() {
        // A seed's output draws rules by index: reordering them changes every event.
        assert_eq!(
            BROKEN_RULES,
            [
                "not-json",
                "missing-orderId",
                "quantity-zero",
                "quantity-too-big",
                "no-items",
                "negative-total",
                "three-decimals",
                "bad-createdAt",
                "duplicate-sku",
                "bad-orderId-chars",
                "major-version-2",
                "items-not-array",
            ]
        );
    }

    #[test]
    fn an_order_cut_short_is_not_json() {
        let order = json!({ "orderId": "ord-1", "items": [] });
        let body = break_order(order, "not-json");
        assert_eq!(body, r#"{"orderId": "ord-1", "items": ["#);
        assert!(serde_json::from_str::<Value>(&body).is_err());
    }

    #[test]
    fn an_unknown_rule_leaves_the_order_valid() {
        let order = json!({ "orderId": "ord-1" });
        assert_eq!(break_order(order.clone(), "no-such-rule"), order.to_string());
    }
}
