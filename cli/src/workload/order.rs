//! Orders drawn from a seeded generator: valid `OrderCreated` orders, some
//! with one rule broken. The order of the generator's calls is part of the
//! output: the same seed must keep giving the same orders.

use serde_json::{Value, json};

use super::broken_rules::{BROKEN_RULES, break_order};

/// The catalogue: `SKU-0001` to `SKU-0200`.
pub const SKU_COUNT: u32 = 200;

const REGIONS: [&str; 5] = ["US", "EU", "APAC", "US-WEST", "LATAM"];

fn valid_order(rng: &mut fastrand::Rng, order_id: String) -> Value {
    let lines = rng.usize(1..=4);
    let mut skus: Vec<u32> = Vec::with_capacity(lines);
    while skus.len() < lines {
        let sku = rng.u32(1..=SKU_COUNT);
        if !skus.contains(&sku) {
            skus.push(sku);
        }
    }
    let items: Vec<Value> = skus
        .iter()
        .map(|sku| json!({ "sku": format!("SKU-{sku:04}"), "quantity": rng.u32(1..=5) }))
        .collect();
    json!({
        "version": "1.0",
        "orderId": order_id,
        "customerId": format!("cust-{:06}", rng.u32(1..=50_000)),
        "items": items,
        "totalAmount": rng.u32(500..=250_000) as f64 / 100.0,
        "shippingRegion": REGIONS[rng.usize(..REGIONS.len())],
        "createdAt": format!("2026-11-{:02}T{:02}:{:02}:00Z", rng.u32(1..=27), rng.u32(0..24), rng.u32(0..60)),
    })
}

/// One generated order: the valid order, and the body to send (that order, or
/// that order with one rule broken).
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedOrder {
    /// The valid order, before any rule was broken: what its producer knows
    /// (order and customer IDs, total, region) even when the body is broken.
    pub order: Value,
    /// The message body.
    pub body: String,
    /// The rule the body breaks, if any (one of [`BROKEN_RULES`]).
    pub broken_rule: Option<&'static str>,
}

/// The next order from `rng`: valid, or with one rule broken with probability `invalid`.
pub(super) fn next_order(rng: &mut fastrand::Rng, order_id: String, invalid: f64) -> GeneratedOrder {
    let order = valid_order(rng, order_id);
    if rng.f64() < invalid {
        let rule = BROKEN_RULES[rng.usize(..BROKEN_RULES.len())];
        GeneratedOrder {
            body: break_order(order.clone(), rule),
            order,
            broken_rule: Some(rule),
        }
    } else {
        GeneratedOrder {
            body: order.to_string(),
            order,
            broken_rule: None,
        }
    }
}

/// `count` orders from `seed`, the fraction `invalid` of them breaking one
/// rule each; order IDs are `ord-<seed>-<n>`, so runs with different seeds
/// never share an order ID (consumers would skip the second as a duplicate).
/// The same arguments always give the same orders. Generated lazily.
pub fn orders(seed: u64, invalid: f64, count: usize) -> impl Iterator<Item = GeneratedOrder> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count).map(move |n| next_order(&mut rng, format!("ord-{seed}-{n:08}"), invalid))
}
