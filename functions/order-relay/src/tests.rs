use std::sync::Arc;
use std::time::Duration;

use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::no_idempotency::NoIdempotency;
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
use orderflow_batch::stream_source::{StreamBatch, StreamBatchResponse};
use orderflow_embedded::InMemoryQueues;
use orderflow_orders::contracts::{OrderCreated, OrderItem};
use orderflow_orders::money::Money;
use orderflow_orders::order_item::{accepted_item, item_to_json};
use orderflow_orders::order_record::Transition;
use orderflow_orders::validation::decode_order_created;
use time::macros::datetime;

use super::*;

const ORDERS: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
const ORDERS_FIFO: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo";

fn order(n: usize) -> OrderCreated {
    OrderCreated {
        version: "1.0".into(),
        order_id: format!("ord-{n}"),
        customer_id: format!("c-{}", n % 3),
        items: vec![OrderItem {
            sku: "SKU-1".into(),
            quantity: 2,
        }],
        total_amount: Money::from_cents(1_000 + 99_999 * (n as i64 % 2)),
        created_at: datetime!(2026-12-01 10:00:00 UTC),
        shipping_region: "EU".into(),
        correlation_id: format!("corr-{n}"),
    }
}

/// A change record: `image` is the new image's JSON, or none.
fn change(sequence: usize, event_name: &str, image: Option<&str>) -> String {
    let image = image.map_or(String::new(), |image| format!(r#","NewImage":{image}"#));
    format!(
        r#"{{"eventID":"e-{sequence}","eventName":"{event_name}","eventSource":"aws:dynamodb","dynamodb":{{"Keys":{{"orderId":{{"S":"k"}}}},"SequenceNumber":"{sequence:021}"{image},"StreamViewType":"NEW_IMAGE"}}}}"#
    )
}

fn inserted(sequence: usize, order: &OrderCreated) -> String {
    let item = accepted_item(
        order,
        order.fingerprint(),
        &Transition::accepted(datetime!(2026-12-01 10:00:01 UTC)),
    )
    .unwrap();
    change(sequence, "INSERT", Some(&item_to_json(&item).unwrap()))
}

fn batch(records: &[String]) -> StreamBatch {
    StreamBatch::from_json(&format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap()
}

async fn relay(queues: &Arc<InMemoryQueues>, queue_url: &str, event: &StreamBatch) -> StreamBatchResponse {
    let processor = BatchProcessor::new(
        BatchConfig::default(),
        Arc::clone(queues) as _,
        Arc::new(NoIdempotency),
        Arc::new(NoMetrics),
    );
    let context = InvocationContext::with_timeout("req-1", Duration::from_secs(60));
    processor
        .handle_stream(event, &context, &RelayStep::new(queue_url))
        .await
        .unwrap()
}

#[tokio::test]
async fn every_inserted_order_is_published_ten_a_call_and_nothing_else() {
    let mut records: Vec<String> = (1..=25).map(|n| inserted(n, &order(n))).collect();
    let shipped = item_to_json(
        &accepted_item(
            &order(1),
            order(1).fingerprint(),
            &Transition::accepted(datetime!(2026-12-01 10:00:01 UTC)),
        )
        .unwrap(),
    )
    .unwrap();
    records.push(change(26, "MODIFY", Some(&shipped)));
    // An order that entered without the API, inserted by its first stage.
    let entered = orderflow_orders::order_record::OrderRecord::entered(
        order(99),
        order(99).fingerprint(),
        &orderflow_orders::order_record::Transition::new(
            orderflow_orders::order_record::OrderStatus::Reserved,
            datetime!(2026-12-01 10:00:02 UTC),
        ),
    );
    let entered = item_to_json(&orderflow_orders::order_item::record_item(&entered).unwrap()).unwrap();
    records.push(change(28, "INSERT", Some(&entered)));
    records.push(change(27, "REMOVE", None));
    let queues = Arc::new(InMemoryQueues::new());
    let response = relay(&queues, ORDERS, &batch(&records)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let sent = queues.messages(ORDERS);
    assert_eq!(
        sent.len(),
        25,
        "one message an insert, none for the other changes"
    );
    assert_eq!(queues.send_calls(), 3, "SendMessageBatch calls of 10, 10 and 5");
    for (n, message) in (1..=25).zip(&sent) {
        let expected = order(n);
        let decoded = decode_order_created(&message.body, &()).unwrap();
        assert_eq!(decoded, expected, "what the inventory accepts, as saved");
        assert_eq!(message.attribute("EventType"), Some("ORDER_CREATED"));
        assert_eq!(
            message.attribute("CorrelationId"),
            Some(expected.correlation_id.as_str())
        );
        assert_eq!(message.attribute("Priority"), Some(expected.priority()));
        assert_eq!(message.attribute("Region"), Some("EU"));
        assert_eq!(message.group_id, None, "a standard queue");
    }
}

#[tokio::test]
async fn on_a_fifo_queue_the_customer_is_the_group_and_the_order_the_deduplication_id() {
    let queues = Arc::new(InMemoryQueues::new());
    let response = relay(&queues, ORDERS_FIFO, &batch(&[inserted(1, &order(4))])).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = queues.messages(ORDERS_FIFO);
    assert_eq!(sent[0].group_id.as_deref(), Some("c-1"));
    assert_eq!(sent[0].deduplication_id, Some(order(4).deduplication_id()));
}

#[tokio::test]
async fn a_malformed_image_fails_itself_and_the_rest_of_the_shard_naming_no_value() {
    let mut broken = accepted_item(
        &order(2),
        order(2).fingerprint(),
        &Transition::accepted(datetime!(2026-12-01 10:00:01 UTC)),
    )
    .unwrap();
    broken.insert(
        "totalAmount".into(),
        orderflow_orders::order_item::ItemValue::S("secret-amount".into()),
    );
    let records = [
        inserted(1, &order(1)),
        change(2, "INSERT", Some(&item_to_json(&broken).unwrap())),
        change(3, "INSERT", None),
        inserted(4, &order(4)),
    ];
    let queues = Arc::new(InMemoryQueues::new());
    let event = batch(&records);
    let failed: Vec<String> = relay(&queues, ORDERS, &event)
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(
        failed,
        [2, 3, 4].map(|n| format!("{n:021}")),
        "a shard stays in order: the failed record and every later one"
    );
    assert_eq!(
        queues.messages(ORDERS).len(),
        1,
        "the order before it is published"
    );

    let step = RelayStep::new(ORDERS);
    let error = step.decode(&event.records[1]).unwrap_err();
    assert!(error.is_permanent());
    let text = error.to_string();
    assert!(text.contains("totalAmount") && !text.contains("secret"), "{text}");
    let error = step.decode(&event.records[2]).unwrap_err();
    assert!(error.to_string().contains("new image"), "{error}");
}

#[tokio::test]
async fn a_retried_batch_publishes_its_orders_again() {
    // The relay keeps no records: a retry repeats the sends, which the
    // consumers' idempotency makes harmless (tests/outbox.rs shows it).
    let queues = Arc::new(InMemoryQueues::new());
    let event = batch(&[inserted(1, &order(1)), inserted(2, &order(2))]);
    relay(&queues, ORDERS, &event).await;
    relay(&queues, ORDERS, &event).await;
    assert_eq!(queues.messages(ORDERS).len(), 4);
}

#[test]
fn the_step_reads_only_the_orders_queue() {
    let read = orderflow_aws::step_ports::variables_read_by(step);
    assert_eq!(read, ["ORDERS_QUEUE_URL"]);
}

#[tokio::test]
async fn an_order_goes_on_in_the_trace_of_the_request_that_placed_it() {
    const TRACE: &str = "Root=1-672a0e60-4f1c3e5a7b2d9c0e1f3a5b7c;Parent=53995c3f42cd8ad8;Sampled=1";
    let traced = accepted_item(
        &order(1),
        order(1).fingerprint(),
        &Transition::accepted(datetime!(2026-12-01 10:00:01 UTC))
            .with(orderflow_orders::order_record::detail::TRACE_HEADER, TRACE),
    )
    .unwrap();
    let records = [
        change(1, "INSERT", Some(&item_to_json(&traced).unwrap())),
        inserted(2, &order(2)),
    ];
    let queues = Arc::new(InMemoryQueues::new());
    let response = relay(&queues, ORDERS, &batch(&records)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let sent = queues.messages(ORDERS);
    let traces: Vec<Option<&str>> = sent.iter().map(|m| m.trace_header.as_deref()).collect();
    assert_eq!(traces, [Some(TRACE), None]);
}
