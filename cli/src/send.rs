//! `orderflow send`: a producer of `OrderCreated` messages, for load and smoke
//! tests against a real queue.
//!
//! Bodies come from the workload generator ([`crate::workload::orders`]), each
//! with the attributes the pipeline's producers set (`EventType`,
//! `CorrelationId`, `Priority`, `Region`) and, on a FIFO queue, the customer as
//! message group and the order ID as deduplication ID. Single mode makes one
//! `SendMessage` call per order; batch mode sends ten per `SendMessageBatch`
//! through [`publish_batch`], which resends failed entries alone. Either way
//! every order is counted as sent or failed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::OutgoingMessage;
use orderflow_batch::publish::{MAX_BATCH_ENTRIES, RetryPolicy, publish_batch};
use orderflow_batch::queue_url::is_fifo;
use orderflow_orders::contracts::{EventType, attribute};
use orderflow_orders::validation::decode_order_created;
use serde::Serialize;

use crate::workload::{GeneratedOrder, orders};

/// How many error messages a report keeps (each with its count).
const MAX_DISTINCT_ERRORS: usize = 5;

/// What to send.
#[derive(Clone, Debug, PartialEq)]
pub struct SendSpec {
    /// Orders to send.
    pub count: usize,
    /// `SendMessageBatch` (ten per call) instead of one `SendMessage` per order.
    pub batch: bool,
    /// Fraction of orders whose body breaks one rule of the contract.
    pub invalid: f64,
    /// The workload's seed: the same seed sends the same orders.
    pub seed: u64,
    /// Calls in flight at once (one on a FIFO queue, to keep each group's order).
    pub concurrency: usize,
}

/// How a send went.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReport {
    /// The queue.
    pub queue_url: String,
    /// `single` or `batch`.
    pub mode: &'static str,
    /// The workload's seed, to send the same orders again.
    pub seed: u64,
    /// Orders generated.
    pub requested: usize,
    /// Orders the queue accepted.
    pub sent: usize,
    /// Orders that could not be sent, after retries.
    pub failed: usize,
    /// Orders whose body breaks a rule on purpose (sent or not).
    pub invalid: usize,
    /// Wall time of the sending, in seconds.
    pub elapsed_seconds: f64,
    /// Orders sent per second.
    pub messages_per_second: f64,
    /// The distinct errors of failed orders, most frequent first, with counts.
    pub errors: Vec<ErrorCount>,
}

/// One distinct error and how many orders it failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// The error's text.
    pub error: String,
    /// Orders that failed with it.
    pub count: usize,
}

/// The message for one generated order, as the pipeline's producers send it:
/// `EventType=ORDER_CREATED`, `CorrelationId` (the body's, else a new UUID),
/// `Priority` (`high` over 1000), `Region` (the body's, else `US`); on a FIFO
/// queue the customer is the message group and the order's
/// `deduplication_id` (its ID and fingerprint) the deduplication ID. A broken body gets the attributes of the order it was made
/// from, as a real producer knows its IDs even when it sends a bad body.
pub fn order_message(order: &GeneratedOrder, fifo: bool) -> OutgoingMessage {
    let source = order.order.to_string();
    let text = |field: &str| order.order[field].as_str().map(str::to_owned);
    let (correlation, priority, region, order_id, customer_id) = match decode_order_created(&source, &()) {
        Ok(valid) => (
            valid.correlation_id.clone(),
            valid.priority(),
            valid.shipping_region.clone(),
            Some(valid.deduplication_id()),
            Some(valid.customer_id),
        ),
        // The generator makes valid orders; should one ever fail, send it anyway.
        Err(_) => (
            text("correlationId").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            if order.order["totalAmount"].as_f64().unwrap_or(0.0) > 1000.0 {
                "high"
            } else {
                "normal"
            },
            text("shippingRegion").unwrap_or_else(|| "US".to_owned()),
            text("orderId"),
            text("customerId"),
        ),
    };
    let mut message = OutgoingMessage::new(order.body.clone())
        .with_attribute(attribute::EVENT_TYPE, EventType::OrderCreated.as_str())
        .with_attribute(attribute::CORRELATION_ID, correlation)
        .with_attribute(attribute::PRIORITY, priority)
        .with_attribute(attribute::REGION, region);
    if fifo {
        message.group_id = customer_id.or_else(|| Some("orderflow-send".to_owned()));
        message.deduplication_id = order_id;
    }
    message
}

#[derive(Default)]
struct Tally {
    requested: usize,
    sent: usize,
    failed: usize,
    invalid: usize,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, invalid: usize, results: Vec<Result<(), PortError>>) {
        self.invalid += invalid;
        for result in results {
            self.requested += 1;
            match result {
                Ok(()) => self.sent += 1,
                Err(e) => {
                    self.failed += 1;
                    *self.errors.entry(e.to_string()).or_default() += 1;
                }
            }
        }
    }
}

/// Sends `spec.count` generated orders to `queue_url` and counts what the
/// queue accepted. Never fails as a whole: every order ends up sent or failed
/// (after the retries of its mode), and the report says which and why.
pub async fn send_orders(queues: &SqsQueues, queue_url: &str, spec: &SendSpec) -> SendReport {
    let fifo = is_fifo(queue_url);
    // Concurrent calls could reorder a message group: a FIFO queue gets one at a time.
    let concurrency = if fifo { 1 } else { spec.concurrency.max(1) };
    let mut generated = orders(spec.seed, spec.invalid, spec.count).peekable();
    // Generated lazily, one chunk per call, so memory stays flat for any count.
    let per_call = if spec.batch { MAX_BATCH_ENTRIES } else { 1 };
    let chunks = std::iter::from_fn(move || {
        generated.peek()?;
        Some(generated.by_ref().take(per_call).collect::<Vec<_>>())
    });
    let policy = RetryPolicy::default();
    let started = Instant::now();
    let tally = futures::stream::iter(chunks)
        .map(|chunk| {
            let policy = &policy;
            async move {
                let invalid = chunk.iter().filter(|o| o.broken_rule.is_some()).count();
                let messages: Vec<OutgoingMessage> = chunk.iter().map(|o| order_message(o, fifo)).collect();
                let results = if spec.batch {
                    publish_batch(queues, queue_url, messages, policy).await
                } else {
                    let mut results = Vec::with_capacity(messages.len());
                    for message in &messages {
                        results.push(queues.send_one(queue_url, message).await);
                    }
                    results
                };
                (invalid, results)
            }
        })
        .buffer_unordered(concurrency)
        .fold(Tally::default(), |mut tally, (invalid, results)| async move {
            tally.add(invalid, results);
            tally
        })
        .await;
    let elapsed = started.elapsed();
    report(queue_url, spec, tally, elapsed)
}

fn report(queue_url: &str, spec: &SendSpec, tally: Tally, elapsed: Duration) -> SendReport {
    let mut errors: Vec<ErrorCount> = tally
        .errors
        .into_iter()
        .map(|(error, count)| ErrorCount { error, count })
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.count));
    errors.truncate(MAX_DISTINCT_ERRORS);
    let seconds = elapsed.as_secs_f64();
    SendReport {
        queue_url: queue_url.to_owned(),
        mode: if spec.batch { "batch" } else { "single" },
        seed: spec.seed,
        requested: tally.requested,
        sent: tally.sent,
        failed: tally.failed,
        invalid: tally.invalid,
        elapsed_seconds: seconds,
        messages_per_second: if seconds > 0.0 {
            tally.sent as f64 / seconds
        } else {
            0.0
        },
        errors,
    }
}

impl SendReport {
    /// Whether every order was sent.
    pub fn all_sent(&self) -> bool {
        self.failed == 0 && self.sent == self.requested
    }

    /// The one-line summary for stderr, e.g. `sent 25 of 25 orders (batch) to
    /// <url>: 0 failed, 2 invalid on purpose, 3 calls (SendMessageBatch 3) in
    /// 0.05 s, 500 messages/s, seed 7`.
    pub fn summary(&self, calls: &BTreeMap<String, usize>) -> String {
        let total: usize = calls.values().sum();
        let per_operation = calls
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut line = format!(
            "sent {} of {} orders ({}) to {}: {} failed, {} invalid on purpose, {total} calls ({per_operation}) in {:.2} s, {:.0} messages/s, seed {}",
            self.sent,
            self.requested,
            self.mode,
            self.queue_url,
            self.failed,
            self.invalid,
            self.elapsed_seconds,
            self.messages_per_second,
            self.seed,
        );
        for e in &self.errors {
            line.push_str(&format!("\n  {} x {}", e.count, e.error));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_messages_carry_the_pipeline_attributes_and_fifo_ids() {
        let generated: Vec<GeneratedOrder> = orders(3, 0.5, 40).collect();
        assert!(generated.iter().any(|o| o.broken_rule.is_some()));
        for order in &generated {
            let message = order_message(order, true);
            assert_eq!(message.body, order.body);
            assert_eq!(message.attribute("EventType"), Some("ORDER_CREATED"));
            let correlation = message.attribute("CorrelationId").unwrap();
            assert!(uuid::Uuid::parse_str(correlation).is_ok(), "{correlation}");
            let total = order.order["totalAmount"].as_f64().unwrap();
            let priority = if total > 1000.0 { "high" } else { "normal" };
            assert_eq!(message.attribute("Priority"), Some(priority));
            assert_eq!(
                message.attribute("Region"),
                order.order["shippingRegion"].as_str()
            );
            assert_eq!(message.group_id.as_deref(), order.order["customerId"].as_str());
            let dedup = message.deduplication_id.as_deref().unwrap();
            assert_eq!(
                dedup.split_once('#').map(|(id, _)| id),
                order.order["orderId"].as_str(),
                "the order ID, then its fingerprint"
            );
            let standard = order_message(order, false);
            assert_eq!((standard.group_id, standard.deduplication_id), (None, None));
        }
        assert!(
            generated
                .iter()
                .any(|o| order_message(o, false).attribute("Priority") == Some("high"))
        );
    }

    #[test]
    fn order_ids_depend_on_the_seed_and_orders_on_nothing_else() {
        let a: Vec<GeneratedOrder> = orders(7, 0.1, 5).collect();
        assert_eq!(a, orders(7, 0.1, 5).collect::<Vec<_>>());
        assert_eq!(a[0].order["orderId"], "ord-7-00000000");
        let b: Vec<GeneratedOrder> = orders(8, 0.1, 5).collect();
        assert_eq!(b[4].order["orderId"], "ord-8-00000004");
    }
}
