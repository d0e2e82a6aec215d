//! Customer data never reaches a log line, a response or a dead letter's
//! error attributes: a sentinel (an e-mail address and a card number) is put
//! in every field of every event type, and in every attribute and header the
//! pipeline reads, and each function handles it with its logs captured (the
//! JSON lines of Lambda and the text lines of local runs, at debug level).
//!
//! The DLQ copy keeps the message's own body and attributes (that is the
//! message, kept for redrive); what the pipeline writes about it must not repeat them.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent};
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext, RecordStep};
use orderflow_batch::telemetry::{MemoryWriter, json_subscriber, text_subscriber};
use orderflow_embedded::{
    InMemoryIdempotencyStore, InMemoryInventory, InMemoryNotifier, InMemoryOrderStore, InMemoryQueues,
};
use serde_json::{Value, json};

/// What must never show: its two halves are searched for apart, since a
/// format may escape the tab between them.
const SENTINEL: &str = "alice@example.com\t4111111111111111";
const MARKERS: [&str; 2] = ["alice@example.com", "4111111111111111"];

const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/work-dlq";
const NEXT: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/next";
const ERROR_ATTRIBUTES: [&str; 5] = [
    "ErrorCode",
    "ErrorMessage",
    "FailedAt",
    "SourceQueue",
    "OriginalMessageId",
];

fn order() -> Value {
    json!({"version": "1.0", "orderId": "ord-1", "customerId": "cust-1",
        "items": [{"sku": "SKU-1", "quantity": 2}], "totalAmount": 19.99,
        "createdAt": "2026-11-05T10:00:00Z", "shippingRegion": "EU", "correlationId": "corr-1"})
}

fn reserved() -> Value {
    json!({"version": "1.0", "orderId": "ord-1", "customerId": "cust-1", "correlationId": "corr-1",
        "items": [{"sku": "SKU-1", "quantity": 2}], "totalAmount": 19.99, "shippingRegion": "EU",
        "orderCreatedAt": "2026-11-05T10:00:00Z", "reservedAt": "2026-11-05T10:00:01Z"})
}

fn rejected() -> Value {
    json!({"version": "1.0", "orderId": "ord-1", "customerId": "cust-1", "correlationId": "corr-1",
        "reason": "OUT_OF_STOCK", "shortages": [{"sku": "SKU-1", "requested": 5, "available": 0}],
        "rejectedAt": "2026-11-05T10:00:01Z"})
}

fn shipped() -> Value {
    json!({"version": "1.0", "orderId": "ord-1", "customerId": "cust-1", "correlationId": "corr-1",
        "shipmentId": "shp-1", "carrier": "UPS", "shippingRegion": "EU",
        "estimatedDelivery": "2026-11-08", "createdAt": "2026-11-05T10:00:01Z"})
}

/// The body with the sentinel in each of its fields in turn, nested ones
/// (`items[0].sku`) included, and the sentinel as the whole body.
fn with_sentinel_in_every_field(body: &Value) -> Vec<String> {
    let mut bodies = vec![SENTINEL.to_owned(), json!(SENTINEL).to_string()];
    let Value::Object(fields) = body else {
        unreachable!("bodies are objects")
    };
    for (key, value) in fields {
        let mut changed = body.clone();
        changed[key] = json!(SENTINEL);
        bodies.push(changed.to_string());
        if let Some(Value::Object(entry)) = value.as_array().and_then(|a| a.first()) {
            for inner in entry.keys() {
                let mut changed = body.clone();
                changed[key][0][inner] = json!(SENTINEL);
                bodies.push(changed.to_string());
            }
        }
    }
    bodies
}

fn record(id: usize, body: &str, attributes: &[(&str, &str)]) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(format!("m-{id}"));
    m.receipt_handle = Some(format!("rh-{id}"));
    m.body = Some(body.to_owned());
    m.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:work".to_owned());
    for (name, value) in attributes {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some((*value).to_owned());
        attribute.data_type = Some("String".to_owned());
        m.message_attributes.insert((*name).to_owned(), attribute);
    }
    m
}

/// Every record: the sentinel in each body field, then a valid body with the
/// sentinel in each attribute the pipeline reads.
fn records(body: &Value, event_type: &str) -> Vec<SqsMessage> {
    let plain = [("EventType", event_type)];
    let mut records: Vec<SqsMessage> = with_sentinel_in_every_field(body)
        .iter()
        .map(|b| record(0, b, &plain))
        .collect();
    let mut unclaimed = body.clone();
    if let Some(fields) = unclaimed.as_object_mut() {
        fields.remove("correlationId");
        fields.remove("shippingRegion");
    }
    for attribute in ["EventType", "CorrelationId", "Region"] {
        let attributes = match attribute {
            "EventType" => vec![(attribute, SENTINEL)],
            _ => vec![("EventType", event_type), (attribute, SENTINEL)],
        };
        records.push(record(0, &unclaimed.to_string(), &attributes));
    }
    for (i, r) in records.iter_mut().enumerate() {
        r.message_id = Some(format!("m-{i}"));
    }
    records
}

/// Every log line at debug level from here until the guard drops, as Lambda
/// (JSON) or a local run (text) writes it.
fn capture_logs(json_format: bool) -> (MemoryWriter, tracing::subscriber::DefaultGuard) {
    let logs = MemoryWriter::default();
    let writer = logs.clone();
    let guard = if json_format {
        tracing::subscriber::set_default(json_subscriber("debug".parse().unwrap(), move || writer.clone()))
    } else {
        let filter = tracing_subscriber::EnvFilter::new("debug");
        tracing::subscriber::set_default(text_subscriber(filter, move || writer.clone(), false))
    };
    (logs, guard)
}

fn assert_clean(what: &str, text: &str) {
    for marker in MARKERS {
        assert!(!text.contains(marker), "{what} repeats customer data:\n{text}");
    }
}

/// Runs `step` over `records` with a DLQ, and checks the logs (both formats),
/// the response and the dead letters' error attributes.
async fn check_step(name: &str, step: &impl RecordStep, records: Vec<SqsMessage>) {
    for json_format in [true, false] {
        let (logs, _guard) = capture_logs(json_format);
        let queues = Arc::new(InMemoryQueues::new());
        let processor = BatchProcessor::new(
            BatchConfig {
                dead_letter_queue_url: Some(DLQ.to_owned()),
                ..Default::default()
            },
            queues.clone(),
            Arc::new(InMemoryIdempotencyStore::new()),
            Arc::new(NoMetrics),
        );
        let mut event = SqsEvent::default();
        event.records = records.clone();
        let context = InvocationContext::with_timeout("req", Duration::from_secs(30));
        let response = match processor.process(&event, &context, step).await {
            Ok(report) => serde_json::to_string(&report.response).unwrap(),
            Err(error) => error.to_string(),
        };
        let dead = queues.messages(DLQ);
        assert!(!dead.is_empty(), "{name}: the broken records were dead-lettered");
        assert_clean(&format!("{name}'s response"), &response);
        for message in &dead {
            for attribute in ERROR_ATTRIBUTES {
                assert_clean(
                    &format!("{name}'s DLQ attribute {attribute}"),
                    message.attribute(attribute).unwrap_or_default(),
                );
            }
        }
        let format = if json_format { "JSON" } else { "text" };
        let logs = logs.contents();
        assert!(logs.contains("record rejected"), "{name}: logs captured at debug");
        assert_clean(&format!("{name}'s {format} logs"), &logs);
    }
}

/// One test, so one thread holds a log capture at a time: scoped
/// subscribers on concurrent test threads share tracing's callsite cache,
/// and a line could miss its capture.
#[tokio::test]
async fn no_function_repeats_customer_data_in_responses_dead_letters_or_logs() {
    consumers_repeat_no_customer_data_from_any_field().await;
    order_api_repeats_no_customer_data_in_responses_or_logs().await;
}

async fn consumers_repeat_no_customer_data_from_any_field() {
    let orders = Arc::new(InMemoryOrderStore::new());
    let inventory = inventory::InventoryStep::new(
        Arc::new(InMemoryInventory::new(500).with_orders(Arc::clone(&orders) as _)),
        Arc::clone(&orders) as _,
        inventory::Routes {
            reserved: NEXT.into(),
            rejected: NEXT.into(),
        },
    );
    check_step("inventory", &inventory, records(&order(), "ORDER_CREATED")).await;
    let shipping = shipping::ShippingStep::new(NEXT.into(), Arc::clone(&orders) as _);
    check_step("shipping", &shipping, records(&reserved(), "INVENTORY_RESERVED")).await;
    let notification =
        notification::NotificationStep::new(Arc::new(InMemoryNotifier::new()), Arc::clone(&orders) as _);
    let mut both = records(&rejected(), "ORDER_REJECTED");
    both.extend(records(&shipped(), "SHIPMENT_CREATED"));
    check_step("notification", &notification, both).await;
}

async fn order_api_repeats_no_customer_data_in_responses_or_logs() {
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/order-api-valid.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut requests: Vec<Value> = with_sentinel_in_every_field(&order())
        .into_iter()
        .map(|body| {
            let mut request = sample.clone();
            request["body"] = json!(body);
            request
        })
        .collect();
    for header in ["x-correlation-id", "x-region", "content-type", "host"] {
        let mut request = sample.clone();
        request["headers"][header] = json!(SENTINEL.replace('\t', " "));
        if let Some(body) = request["body"].as_str() {
            let mut body: Value = serde_json::from_str(body).unwrap();
            body.as_object_mut().unwrap().remove("correlationId");
            body.as_object_mut().unwrap().remove("shippingRegion");
            request["body"] = json!(body.to_string());
        }
        requests.push(request);
    }
    for json_format in [true, false] {
        let (logs, _guard) = capture_logs(json_format);
        let store = Arc::new(InMemoryOrderStore::new());
        let config = order_api::Config::new(Arc::clone(&store) as _);
        for request in &requests {
            let request: LambdaRequest = serde_json::from_value(request.clone()).unwrap();
            let response = order_api::respond(LambdaEvent::new(request, Context::default()), &config).await;
            let response = serde_json::to_string(&response).unwrap();
            assert!(response.contains("\"statusCode\":4"), "refused: {response}");
            assert_clean("order-api's response", &response);
        }
        assert!(store.is_empty(), "nothing was accepted");
        assert_clean("order-api's logs", &logs.contents());
    }
}
