//! Deterministic SQS events of `OrderCreated` messages, for benchmarks and load.
//!
//! `orderflow generate-event --records 5000 --invalid 0.05 --seed 7` writes about
//! 1 KB per record; each invalid record breaks exactly one rule of the contract,
//! so a correct consumer reports exactly those records. The same arguments
//! always give the same file. [`orders`] gives the same kind of orders one by
//! one, for sending to a real queue (`orderflow send`).

use std::io::{self, Write};

use serde_json::{Value, json};

/// What to generate.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct WorkloadSpec {
    /// Records in the event.
    #[arg(long, default_value_t = 10)]
    pub records: usize,
    /// Fraction of records that break one rule of the OrderCreated contract (0 to 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = crate::ranges::Fraction)]
    pub invalid: f64,
    /// Random seed: the same seed gives the same event.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Records come from a FIFO queue, in message groups.
    #[arg(long)]
    pub fifo: bool,
    /// Message groups of a FIFO event.
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            records: 10,
            invalid: 0.0,
            seed: 1,
            fifo: false,
            groups: 4,
        }
    }
}

/// The rules an invalid record may break, one each.
pub const BROKEN_RULES: [&str; 12] = [
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
];

/// The catalogue: `SKU-0001` to `SKU-0200`.
pub const SKU_COUNT: u32 = 200;

const REGIONS: [&str; 5] = ["US", "EU", "APAC", "US-WEST", "LATAM"];

fn uuid(rng: &mut fastrand::Rng) -> String {
    uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

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

/// Breaks exactly one rule of a valid order; returns the body text.
fn break_order(mut order: Value, rule: &str) -> String {
    match rule {
        "not-json" => {
            return format!(
                r#"{{"orderId": "{}", "items": ["#,
                order["orderId"].as_str().unwrap_or("x")
            );
        }
        "missing-orderId" => {
            if let Some(o) = order.as_object_mut() {
                o.remove("orderId");
            }
        }
        "quantity-zero" => order["items"][0]["quantity"] = json!(0),
        "quantity-too-big" => order["items"][0]["quantity"] = json!(1001),
        "no-items" => order["items"] = json!([]),
        "negative-total" => order["totalAmount"] = json!(-1.5),
        "three-decimals" => order["totalAmount"] = json!(10.125),
        "bad-createdAt" => order["createdAt"] = json!("yesterday"),
        "duplicate-sku" => {
            let first = order["items"][0].clone();
            if let Some(items) = order["items"].as_array_mut() {
                items.push(first);
            }
        }
        "bad-orderId-chars" => order["orderId"] = json!("ord 1; DROP TABLE"),
        "major-version-2" => order["version"] = json!("2.0"),
        "items-not-array" => order["items"] = json!("SKU-0001"),
        _ => {}
    }
    order.to_string()
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
fn next_order(rng: &mut fastrand::Rng, order_id: String, invalid: f64) -> GeneratedOrder {
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

fn attribute(value: &str) -> Value {
    json!({ "stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String" })
}

/// Writes the event to `out`; returns the message ID and broken rule of each invalid record.
pub fn generate_event(spec: &WorkloadSpec, out: &mut impl Write) -> io::Result<Vec<(String, &'static str)>> {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let queue = if spec.fifo { "orders.fifo" } else { "orders" };
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{queue}");
    let mut invalid = Vec::new();
    out.write_all(b"{\"Records\":[")?;
    for n in 0..spec.records {
        let GeneratedOrder {
            body,
            broken_rule: rule,
            ..
        } = next_order(&mut rng, format!("ord-{n:08}"), spec.invalid);
        let message_id = uuid(&mut rng);
        if let Some(rule) = rule {
            invalid.push((message_id.clone(), rule));
        }
        let mut attributes = json!({
            "ApproximateReceiveCount": "1",
            "SentTimestamp": (1_764_230_400_000u64 + n as u64).to_string(),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": (1_764_230_400_100u64 + n as u64).to_string(),
        });
        if spec.fifo {
            attributes["MessageGroupId"] = json!(format!("group-{}", n % spec.groups.max(1)));
            attributes["MessageDeduplicationId"] = json!(format!("dedup-{n}"));
            attributes["SequenceNumber"] = json!((18_800_000_000_000_000_000u128 + n as u128).to_string());
        }
        let record = json!({
            "messageId": message_id,
            "receiptHandle": format!("AQEB{:016x}", rng.u64(..)),
            "body": body,
            "attributes": attributes,
            "messageAttributes": {
                "EventType": attribute("ORDER_CREATED"),
                "CorrelationId": attribute(&uuid(&mut rng)),
            },
            "md5OfBody": format!("{:032x}", rng.u128(..)),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
        });
        if n > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &record)?;
    }
    out.write_all(b"]}\n")?;
    Ok(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_event_and_each_invalid_record_breaks_one_rule() {
        let spec = WorkloadSpec {
            records: 400,
            invalid: 0.1,
            seed: 7,
            ..Default::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let invalid = generate_event(&spec, &mut a).unwrap();
        generate_event(&spec, &mut b).unwrap();
        assert_eq!(a, b);
        assert!((20..=60).contains(&invalid.len()), "{}", invalid.len());
        let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_slice(&a).unwrap();
        assert_eq!(event.records.len(), 400);
        let per_record = a.len() / 400;
        assert!((700..=1300).contains(&per_record), "{per_record} bytes a record");
        for record in &event.records {
            let body = record.body.as_deref().unwrap();
            let id = record.message_id.as_deref().unwrap();
            let decoded = orderflow_orders::validation::decode_order_created(body, record);
            let expected_invalid = invalid.iter().any(|(i, _)| i == id);
            assert_eq!(decoded.is_err(), expected_invalid, "{id}: {body} -> {decoded:?}");
        }
    }
}
