//! The order of record and its outbox against moto, over HTTP, with the real
//! SDK: `order-api` keeps orders in a DynamoDB table with a stream, the
//! stream is read as Lambda's poller reads it (`GetShardIterator`,
//! `GetRecords`), `order-relay` publishes what it finds to an SQS queue, and
//! the inventory consumes it with its DynamoDB idempotency records.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Body, Request, http};
use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_aws::orders_table::{DynamoOrderStore, create_orders_table};
use orderflow_aws::sqs::SqsQueues;
use orderflow_aws::table_stream::TableStream;
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::no_idempotency::NoIdempotency;
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext, RecordOutcome};
use orderflow_batch::stream_source::{StreamBatch, StreamEventName, StreamRecord};
use orderflow_orders::order_record::OrderStatus;
use orderflow_orders::ports::OrderStore;
use orderflow_orders::validation::decode_order_created;
use orderflow_tests::{
    TestQueue, create_queue, dynamodb_endpoint, lambda_event, moto, receive_all, sdk_config, unique,
};

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(dynamodb_endpoint()).await)
}

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(moto()).await)
}

/// An orders table with its stream, and the API over it.
struct Front {
    store: Arc<DynamoOrderStore>,
    api: order_api::Config,
    stream: TableStream,
}

async fn front() -> Front {
    let client = dynamodb().await;
    let table = unique("orders");
    create_orders_table(&client, &table).await.unwrap();
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk_config(dynamodb_endpoint()).await);
    let stream = TableStream::of_table(&client, streams, &table).await.unwrap();
    let store = Arc::new(DynamoOrderStore::new(client, table));
    Front {
        api: order_api::Config::new(Arc::clone(&store) as _),
        store,
        stream,
    }
}

fn order_body(order_id: &str, customer: &str) -> String {
    format!(
        r#"{{"orderId":"{order_id}","customerId":"{customer}","items":[{{"sku":"SKU-1","quantity":2}}],"totalAmount":12.5,"createdAt":"2026-11-27T10:00:00Z"}}"#
    )
}

fn post(body: String, correlation_id: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/orders")
        .header("content-type", "application/json")
        .header("x-correlation-id", correlation_id)
        .body(Body::from(body))
        .unwrap()
}

fn get(order_id: &str) -> Request {
    http::Request::builder()
        .method("GET")
        .uri(format!("https://api.example.com/orders/{order_id}"))
        .body(Body::Empty)
        .unwrap()
}

/// Status and JSON body of the API's answer.
async fn call(front: &Front, request: &Request) -> (u16, serde_json::Value) {
    let response = order_api::handle(request, &front.api).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("a text body, not {other:?}"),
    };
    (status, body)
}

/// Every change on the table's stream so far, as one Lambda event.
async fn stream_so_far(stream: &TableStream) -> StreamBatch {
    let mut all = StreamBatch::default();
    for mut shard in stream.shards_from_start().await.unwrap() {
        loop {
            let page = stream.read(&mut shard, 100).await.unwrap();
            if page.records.is_empty() {
                break;
            }
            all.records.extend(page.records);
        }
    }
    all
}

fn context() -> InvocationContext {
    InvocationContext::with_timeout("req-1", Duration::from_secs(60))
}

async fn relay(sqs: &aws_sdk_sqs::Client, orders: &TestQueue, event: &StreamBatch) {
    let processor = BatchProcessor::new(
        BatchConfig {
            service: order_relay::STEP.into(),
            ..BatchConfig::default()
        },
        Arc::new(SqsQueues::new(sqs.clone())),
        Arc::new(NoIdempotency),
        Arc::new(NoMetrics),
    );
    let response = processor
        .handle_stream(
            event,
            &context(),
            &order_relay::RelayStep::new(orders.url.as_str()),
        )
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

#[tokio::test]
async fn a_post_and_its_retry_keep_one_order_and_a_conflict_changes_nothing() {
    let front = front().await;
    let (status, body) = call(&front, &post(order_body("ord-1", "alice"), "first")).await;
    assert_eq!(
        (status, &body["correlationId"]),
        (202, &serde_json::json!("first"))
    );
    let (status, body) = call(&front, &post(order_body("ord-1", "alice"), "a-retry")).await;
    assert_eq!(status, 202);
    assert_eq!(body["correlationId"], "first", "the original correlation ID");
    let (status, body) = call(&front, &post(order_body("ord-1", "mallory"), "other")).await;
    assert_eq!(status, 409);
    assert!(!body.to_string().contains("alice"), "{body}");

    let record = front.store.get("ord-1").await.unwrap().unwrap();
    assert_eq!(record.order.customer_id, "alice");
    assert_eq!(record.order.correlation_id, "first");
    assert_eq!(record.status, OrderStatus::Accepted);
    let changes = stream_so_far(&front.stream).await;
    assert_eq!(changes.records.len(), 1, "one write: {changes:?}");
    assert_eq!(changes.records[0].event_name(), StreamEventName::Insert);

    let (status, body) = call(&front, &get("ord-1")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ACCEPTED");
    assert_eq!(body["history"][0]["status"], "ACCEPTED");
    assert_eq!(call(&front, &get("ord-2")).await.0, 404);
}

#[tokio::test]
async fn the_relay_publishes_exactly_the_saved_orders_and_a_retried_batch_has_no_second_effect() {
    let front = front().await;
    let sqs = sqs().await;
    let orders = create_queue(&sqs, &unique("orders"), &[]).await;
    for (id, customer) in [("ord-a", "alice"), ("ord-b", "bob")] {
        assert_eq!(call(&front, &post(order_body(id, customer), id)).await.0, 202);
    }
    // Refused and conflicting orders are never saved, so never published.
    assert_eq!(
        call(&front, &post(order_body("ord a", "eve"), "bad")).await.0,
        400
    );
    assert_eq!(
        call(&front, &post(order_body("ord-a", "mallory"), "taken"))
            .await
            .0,
        409
    );

    let event = stream_so_far(&front.stream).await;
    assert_eq!(event.records.len(), 2);
    relay(&sqs, &orders, &event).await;
    // A retried batch (say, after a timeout) publishes both again.
    relay(&sqs, &orders, &event).await;
    let published = receive_all(&sqs, &orders, 4, Duration::from_secs(10)).await;
    assert_eq!(published.len(), 4);
    let mut ids: Vec<(String, String)> = published
        .iter()
        .map(|m| {
            let order = decode_order_created(m.body().unwrap(), &()).unwrap();
            (order.order_id, order.correlation_id)
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids,
        [
            ("ord-a".to_owned(), "ord-a".to_owned()),
            ("ord-b".to_owned(), "ord-b".to_owned())
        ],
        "exactly the saved orders, with their correlation IDs"
    );

    // Downstream, the inventory's idempotency makes the second copies duplicates.
    let client = dynamodb().await;
    let (idempotency, stock_table) = (unique("idempotency"), unique("inventory"));
    create_table(&client, &idempotency, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE))
        .await
        .unwrap();
    create_table(&client, &stock_table, INVENTORY_KEY, None)
        .await
        .unwrap();
    let stock = DynamoInventory::new(client.clone(), stock_table);
    stock.set_stock("SKU-1", 10).await.unwrap();
    let reserved = create_queue(&sqs, &unique("inventory"), &[]).await;
    let rejected = create_queue(&sqs, &unique("notifications"), &[]).await;
    let processor = BatchProcessor::new(
        BatchConfig {
            service: inventory::STEP.into(),
            ..BatchConfig::default()
        },
        Arc::new(SqsQueues::new(sqs.clone())),
        Arc::new(DynamoIdempotencyStore::new(client, idempotency)),
        Arc::new(NoMetrics),
    );
    let step = inventory::InventoryStep::new(
        Arc::new(stock.clone()),
        inventory::Routes {
            reserved: reserved.url.clone().into(),
            rejected: rejected.url.clone().into(),
        },
    );
    let report = processor
        .process(&lambda_event(&published, &orders), &context(), &step)
        .await
        .unwrap();
    let duplicates = report
        .outcomes
        .iter()
        .filter(|o| **o == RecordOutcome::Duplicate)
        .count();
    assert_eq!(duplicates, 2, "{:?}", report.outcomes);
    assert_eq!(
        receive_all(&sqs, &reserved, 3, Duration::from_secs(3))
            .await
            .len(),
        2,
        "one InventoryReserved an order"
    );
    assert_eq!(
        stock.stock("SKU-1").await.unwrap(),
        6,
        "two units an order, taken once"
    );
}
