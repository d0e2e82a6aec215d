//! The order of record and its outbox against moto, over HTTP, with the real
//! SDK: `order-api` keeps orders in a DynamoDB table with a stream, the
//! stream is read as Lambda's poller reads it (`GetShardIterator`,
//! `GetRecords`), `order-relay` publishes what it finds to an SQS queue, and
//! the inventory consumes it with its DynamoDB idempotency records.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Body, Request, http};
use orderflow_aws::calls::CallCounter;
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
    table: String,
    store: Arc<DynamoOrderStore>,
    api: order_api::Config,
    stream: TableStream,
    /// The store's DynamoDB calls, by operation.
    calls: CallCounter,
}

async fn front() -> Front {
    let client = dynamodb().await;
    let table = unique("orders");
    create_orders_table(&client, &table).await.unwrap();
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk_config(dynamodb_endpoint()).await);
    let stream = TableStream::of_table(&client, streams, &table).await.unwrap();
    let calls = CallCounter::new();
    let counted = aws_sdk_dynamodb::config::Builder::from(&sdk_config(dynamodb_endpoint()).await)
        .interceptor(calls.clone())
        .build();
    let store = Arc::new(DynamoOrderStore::new(
        aws_sdk_dynamodb::Client::from_conf(counted),
        &table,
    ));
    Front {
        table,
        api: order_api::Config::new(Arc::clone(&store) as _),
        store,
        stream,
        calls,
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
    // A refused write answers with the stored item: no read to tell a retry from a conflict.
    assert_eq!(
        front.calls.counts(),
        std::collections::BTreeMap::from([("PutItem".to_owned(), 3)]),
        "one write a POST and nothing else"
    );

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
    let stages = Stages::new(&front, &sqs, 10).await;
    let report = stages
        .inventory
        .process(
            &lambda_event(&published, &orders),
            &context(),
            &stages.inventory_step,
        )
        .await
        .unwrap();
    let duplicates = report
        .outcomes
        .iter()
        .filter(|o| **o == RecordOutcome::Duplicate)
        .count();
    assert_eq!(duplicates, 2, "{:?}", report.outcomes);
    assert_eq!(
        receive_all(&sqs, &stages.reserved, 3, Duration::from_secs(3))
            .await
            .len(),
        2,
        "one InventoryReserved an order"
    );
    assert_eq!(
        stages.stock.stock("SKU-1").await.unwrap(),
        6,
        "two units an order, taken once"
    );
}

/// The three consumers on moto, recording on the front's orders table.
struct Stages {
    inventory: BatchProcessor,
    inventory_step: inventory::InventoryStep,
    shipping: BatchProcessor,
    shipping_step: shipping::ShippingStep,
    notification: BatchProcessor,
    notification_step: notification::NotificationStep,
    stock: DynamoInventory,
    reserved: TestQueue,
    notifications: TestQueue,
}

impl Stages {
    async fn new(front: &Front, sqs: &aws_sdk_sqs::Client, units: u32) -> Stages {
        let client = dynamodb().await;
        let (idempotency, stock_table) = (unique("idempotency"), unique("inventory"));
        create_table(&client, &idempotency, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE))
            .await
            .unwrap();
        create_table(&client, &stock_table, INVENTORY_KEY, None)
            .await
            .unwrap();
        let stock = DynamoInventory::new(client.clone(), stock_table).with_orders_table(&front.table);
        stock.set_stock("SKU-1", units).await.unwrap();
        let reserved = create_queue(sqs, &unique("inventory"), &[]).await;
        let notifications = create_queue(sqs, &unique("notifications"), &[]).await;
        let processor = |service: &str| {
            BatchProcessor::new(
                BatchConfig {
                    service: service.into(),
                    ..BatchConfig::default()
                },
                Arc::new(SqsQueues::new(sqs.clone())),
                Arc::new(DynamoIdempotencyStore::new(client.clone(), idempotency.clone())),
                Arc::new(NoMetrics),
            )
        };
        let orders = || Arc::clone(&front.store) as Arc<dyn OrderStore>;
        Stages {
            inventory: processor(inventory::STEP),
            inventory_step: inventory::InventoryStep::new(
                Arc::new(stock.clone()),
                orders(),
                inventory::Routes {
                    reserved: reserved.url.clone().into(),
                    rejected: notifications.url.clone().into(),
                },
            ),
            shipping: processor(shipping::STEP),
            shipping_step: shipping::ShippingStep::new(notifications.url.clone().into(), orders()),
            notification: processor(notification::STEP),
            notification_step: notification::NotificationStep::new(
                Arc::new(orderflow_embedded::InMemoryNotifier::new()),
                orders(),
            ),
            stock,
            reserved,
            notifications,
        }
    }
}

async fn status(front: &Front, order_id: &str) -> OrderStatus {
    front.store.get(order_id).await.unwrap().expect("recorded").status
}

#[tokio::test]
async fn statuses_follow_the_pipeline_to_notified_and_rejected_and_never_go_back() {
    let front = front().await;
    let sqs = sqs().await;
    let orders = create_queue(&sqs, &unique("orders"), &[]).await;
    // Two units of stock: the first order gets them, the second is short.
    let stages = Stages::new(&front, &sqs, 2).await;
    for (id, customer) in [("ord-ok", "alice"), ("ord-short", "bob")] {
        assert_eq!(call(&front, &post(order_body(id, customer), id)).await.0, 202);
    }
    relay(&sqs, &orders, &stream_so_far(&front.stream).await).await;
    let created = receive_all(&sqs, &orders, 2, Duration::from_secs(10)).await;
    // In order: the first order takes the stock.
    let mut created = created;
    created.sort_by_key(|m| m.body().unwrap().contains("ord-short"));
    for message in &created {
        let event = lambda_event(std::slice::from_ref(message), &orders);
        stages
            .inventory
            .process(&event, &context(), &stages.inventory_step)
            .await
            .unwrap();
    }
    assert_eq!(status(&front, "ord-ok").await, OrderStatus::Reserved);
    assert_eq!(status(&front, "ord-short").await, OrderStatus::Rejected);
    let rejected = front.store.get("ord-short").await.unwrap().unwrap();
    assert_eq!(
        rejected.history[1].details,
        [("shortSkus".to_owned(), "SKU-1".to_owned())]
    );

    let reserved = receive_all(&sqs, &stages.reserved, 1, Duration::from_secs(10)).await;
    let report = stages
        .shipping
        .process(
            &lambda_event(&reserved, &stages.reserved),
            &context(),
            &stages.shipping_step,
        )
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(status(&front, "ord-ok").await, OrderStatus::Shipped);

    let to_notify = receive_all(&sqs, &stages.notifications, 2, Duration::from_secs(10)).await;
    assert_eq!(to_notify.len(), 2, "a shipment and a rejection");
    stages
        .notification
        .process(
            &lambda_event(&to_notify, &stages.notifications),
            &context(),
            &stages.notification_step,
        )
        .await
        .unwrap();
    assert_eq!(status(&front, "ord-ok").await, OrderStatus::Notified);
    assert_eq!(status(&front, "ord-short").await, OrderStatus::Rejected, "final");

    // A late, redelivered RESERVED (the inventory again, its idempotency
    // record gone) changes nothing: the stock stays taken once and the order NOTIFIED.
    let late = Stages::new(&front, &sqs, 5).await;
    let first = lambda_event(&created[..1], &orders);
    late.inventory
        .process(&first, &context(), &late.inventory_step)
        .await
        .unwrap();
    assert_eq!(status(&front, "ord-ok").await, OrderStatus::Notified);

    let (code, body) = call(&front, &get("ord-ok")).await;
    assert_eq!(code, 200);
    let statuses: Vec<&str> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ACCEPTED", "RESERVED", "SHIPPED", "NOTIFIED"]);
    assert_eq!(body["shipment"]["carrier"], "UPS");
    assert!(
        body["shipment"]["shipmentId"]
            .as_str()
            .unwrap()
            .starts_with("shp-")
    );
}
