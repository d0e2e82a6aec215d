//! The SQS event `orderflow generate-event` writes: generated orders as the
//! records Lambda would hand a consumer, with their attributes.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::order::{GeneratedOrder, next_order};

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

fn uuid(rng: &mut fastrand::Rng) -> String {
    uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
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
