//! The AWS adapters against moto's server, over HTTP, with the real SDK.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orderflow_aws::calls::CallCounter;
use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_aws::orders_table::{DynamoOrderStore, create_orders_table};
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::ports::{
    Claim, Completion, EntryResults, IdempotencyStore, MessageQueue, OutgoingMessage, Undelivered,
    VisibilityChange,
};
use orderflow_batch::processor::{
    Backoff, BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordOutcome,
    RecordStep,
};
use orderflow_batch::publish::{RetryPolicy, publish_batch};
use orderflow_embedded::InMemoryIdempotencyStore;
use orderflow_orders::order_message::order_created_message;
use orderflow_orders::order_record::{OrderStatus, Transition};
use orderflow_orders::ports::{InventoryStore, OrderStore, Reservation};
use orderflow_orders::validation::decode_order_created;
use orderflow_tests::{
    TestQueue, create_queue, create_queue_with_dlq, dynamodb_endpoint, lambda_event, moto, receive,
    receive_all, sdk_config, string_attributes, unique,
};

async fn sqs() -> (aws_sdk_sqs::Client, CallCounter) {
    let counter = CallCounter::new();
    let config = aws_sdk_sqs::config::Builder::from(&sdk_config(moto()).await)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_sqs::Client::from_conf(config), counter)
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(dynamodb_endpoint()).await)
}

fn message(i: usize) -> OutgoingMessage {
    OutgoingMessage::new(format!(r#"{{"n":{i}}}"#))
        .with_attribute("EventType", "INVENTORY_RESERVED")
        .with_attribute("CorrelationId", format!("corr-{i}"))
}

#[tokio::test]
async fn publishing_25_messages_makes_3_batch_calls_and_all_arrive_with_attributes() {
    let (client, calls) = sqs().await;
    let queue = create_queue(&client, &unique("publish"), &[]).await;
    calls.reset();
    let messages: Vec<OutgoingMessage> = (0..25).map(message).collect();
    let results = publish_batch(
        &SqsQueues::new(client.clone()),
        &queue.url,
        messages,
        &RetryPolicy::default(),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(calls.count("SendMessageBatch"), 3);
    assert_eq!(calls.count("SendMessage"), 0);

    let received = receive_all(&client, &queue, 25, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 25);
    let mut seen: Vec<usize> = received
        .iter()
        .map(|m| {
            let attrs = string_attributes(m);
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let n = body["n"].as_u64().unwrap() as usize;
            assert_eq!(
                attrs.get("EventType").map(String::as_str),
                Some("INVENTORY_RESERVED")
            );
            assert_eq!(attrs.get("CorrelationId"), Some(&format!("corr-{n}")));
            n
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..25).collect::<Vec<_>>());
}

/// Holds back some entries of the first batch call and reports them throttled,
/// as SQS does under load; everything else goes to the real queue.
struct ThrottleFirstCall {
    inner: SqsQueues,
    held_back: std::sync::Mutex<Option<usize>>,
}

#[async_trait]
impl MessageQueue for ThrottleFirstCall {
    async fn send_batch(&self, queue_url: &str, mut messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        let hold = self.held_back.lock().unwrap().take();
        let Some(hold) = hold else {
            return self.inner.send_batch(queue_url, messages).await;
        };
        let held = messages.split_off(messages.len() - hold);
        let first_held = messages.len();
        let mut undelivered = self.inner.send_batch(queue_url, messages).await;
        undelivered.extend(held.into_iter().enumerate().map(|(i, message)| Undelivered {
            index: first_held + i,
            message,
            error: PortError::new(PortErrorKind::Throttled, "SendMessageBatch", "held back"),
        }));
        undelivered
    }

    async fn change_visibility_batch(
        &self,
        url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        self.inner.change_visibility_batch(url, changes).await
    }
}

#[tokio::test]
async fn a_partial_batch_failure_is_retried_and_every_message_arrives_once() {
    let (client, calls) = sqs().await;
    let queue = create_queue(&client, &unique("partial"), &[]).await;
    calls.reset();
    let flaky = ThrottleFirstCall {
        inner: SqsQueues::new(client.clone()),
        held_back: std::sync::Mutex::new(Some(3)),
    };
    let messages: Vec<OutgoingMessage> = (0..10).map(message).collect();
    let results = publish_batch(&flaky, &queue.url, messages, &RetryPolicy::default()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        calls.count("SendMessageBatch"),
        2,
        "one batch, then one resend of the 3 failed entries"
    );
    let received = receive_all(&client, &queue, 10, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 10);
    // Nothing more: the retried entries were not duplicated.
    assert!(receive(&client, &queue, 10, 1).await.is_empty());
}

#[tokio::test]
async fn an_entry_sqs_rejects_fails_alone_and_is_not_retried() {
    let (client, calls) = sqs().await;
    let queue = create_queue(&client, &unique("reject"), &[]).await;
    calls.reset();
    let mut messages: Vec<OutgoingMessage> = (0..3).map(message).collect();
    // SQS refuses a delay over 15 minutes for that entry alone.
    messages[1].delay_seconds = Some(901);
    let results = publish_batch(
        &SqsQueues::new(client.clone()),
        &queue.url,
        messages,
        &RetryPolicy::default(),
    )
    .await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let error = results[1].as_ref().unwrap_err();
    assert!(!error.retryable(), "{error}");
    assert_eq!(calls.count("SendMessageBatch"), 1);
}

/// A step that fails retryably for bodies containing "fail", and forwards the rest.
struct ForwardStep {
    to: Arc<str>,
}

impl RecordStep for ForwardStep {
    type Input = String;

    fn name(&self) -> &'static str {
        "forward"
    }

    fn decode(&self, message: &dyn orderflow_batch::sqs::SqsRecord) -> Result<String, RecordError> {
        let body = orderflow_batch::sqs::body(message)?;
        if body.starts_with("poison") {
            return Err(RecordError::InvalidJson("poison".into()));
        }
        Ok(body.to_owned())
    }

    fn key<'a>(&self, body: &'a String) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(body)
    }

    fn correlation_id<'a>(&self, _: &'a String) -> &'a str {
        "c"
    }

    fn fingerprint(&self, body: &String) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(body);
        })
    }

    async fn run(&self, body: String, _: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        if body.contains("fail") {
            return Err(PortError::new(PortErrorKind::Timeout, "Downstream", "timed out").into());
        }
        Ok(vec![Outgoing {
            queue_url: self.to.clone(),
            message: OutgoingMessage::new(body),
        }])
    }
}

#[tokio::test]
async fn the_dlq_fast_path_lands_a_poison_message_with_its_error_and_does_not_report_it() {
    let (client, _) = sqs().await;
    let (source, dlq) = create_queue_with_dlq(&client, &unique("source"), 5).await;
    let out = create_queue(&client, &unique("out"), &[]).await;
    for body in ["poison pill", "fine"] {
        client
            .send_message()
            .queue_url(&source.url)
            .message_body(body)
            .message_attributes(
                "CorrelationId",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("corr-p")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let received = receive_all(&client, &source, 2, Duration::from_secs(20)).await;
    let event = lambda_event(&received, &source);
    let processor = BatchProcessor::new(
        BatchConfig {
            dead_letter_queue_url: Some(dlq.url.clone()),
            sqs_endpoint_url: Some(moto().url.clone()),
            ..Default::default()
        },
        Arc::new(SqsQueues::new(client.clone())),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let step = ForwardStep {
        to: out.url.clone().into(),
    };
    let context = InvocationContext::with_timeout("r", Duration::from_secs(60));
    let report = processor.process(&event, &context, &step).await.unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    let poison_id = received
        .iter()
        .find(|m| m.body() == Some("poison pill"))
        .unwrap()
        .message_id()
        .unwrap();
    let dead = receive_all(&client, &dlq, 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("poison pill"));
    let attrs = string_attributes(&dead[0]);
    assert_eq!(attrs["ErrorCode"], "InvalidJson");
    assert!(attrs["ErrorMessage"].contains("poison"));
    assert_eq!(attrs["OriginalMessageId"], poison_id);
    assert_eq!(attrs["SourceQueue"], source.url.rsplit('/').next().unwrap());
    assert!(attrs["FailedAt"].starts_with("20"));
    assert_eq!(
        attrs["CorrelationId"], "corr-p",
        "the original attributes travel along"
    );
    assert_eq!(
        receive_all(&client, &out, 1, Duration::from_secs(10)).await.len(),
        1
    );
}

#[tokio::test]
async fn a_retryable_failure_stays_invisible_until_its_backoff_ends() {
    let (client, calls) = sqs().await;
    let (source, _) = create_queue_with_dlq(&client, &unique("backoff"), 5).await;
    client
        .send_message()
        .queue_url(&source.url)
        .message_body("please fail")
        .send()
        .await
        .unwrap();
    let received = receive_all(&client, &source, 1, Duration::from_secs(20)).await;
    let event = lambda_event(&received, &source);
    let processor = BatchProcessor::new(
        BatchConfig {
            visibility_backoff: Some(Backoff {
                base_seconds: 3,
                cap_seconds: 3,
            }),
            error_when_all_retryable: false,
            sqs_endpoint_url: Some(moto().url.clone()),
            ..Default::default()
        },
        Arc::new(SqsQueues::new(client.clone())),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let step = ForwardStep {
        to: source.url.clone().into(),
    };
    calls.reset();
    let started = Instant::now();
    let report = processor
        .process(
            &event,
            &InvocationContext::with_timeout("r", Duration::from_secs(60)),
            &step,
        )
        .await
        .unwrap();
    assert_eq!(report.response.batch_item_failures.len(), 1);
    assert_eq!(calls.count("ChangeMessageVisibilityBatch"), 1);
    // Visible again within the 3 s cap (not the queue's 30 s), not at once.
    assert!(
        receive(&client, &source, 1, 0).await.is_empty(),
        "hidden during the backoff"
    );
    let again = receive_all(&client, &source, 1, Duration::from_secs(8)).await;
    assert_eq!(again.len(), 1, "visible again after the backoff");
    assert!(started.elapsed() < Duration::from_secs(10));
    let count = again[0]
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(count.as_deref(), Some("2"));
}

async fn idempotency_table() -> DynamoIdempotencyStore {
    let client = dynamodb().await;
    let table = unique("idempotency");
    create_table(&client, &table, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE))
        .await
        .unwrap();
    DynamoIdempotencyStore::new(client, table)
}

#[tokio::test]
async fn completing_many_keys_takes_one_call_per_25() {
    let calls = CallCounter::new();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config(dynamodb_endpoint()).await)
        .interceptor(calls.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = unique("idempotency");
    create_table(&client, &table, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE))
        .await
        .unwrap();
    let store = DynamoIdempotencyStore::new(client, table);
    let keys: Vec<String> = (0..30).map(|i| format!("inventory#ord-{i}")).collect();
    calls.reset();
    let fingerprint = Fingerprint::of(|f| {
        f.str("order");
    });
    let completions: Vec<Completion<'_>> = keys.iter().map(|key| Completion { key, fingerprint }).collect();
    let results = store.complete_all(&completions, 90_000).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(calls.count("BatchWriteItem"), 2);
    for key in &keys {
        assert_eq!(
            store.claim(key, fingerprint, 1000, 1060).await.unwrap(),
            Claim::Completed
        );
    }
}

#[tokio::test]
async fn concurrent_claims_of_one_key_exactly_one_wins() {
    let store = Arc::new(idempotency_table().await);
    let claims = futures::future::join_all((0..8).map(|_| {
        let store = store.clone();
        let fingerprint = Fingerprint::of(|f| {
            f.str("order");
        });
        async move {
            store
                .claim("inventory#ord-1", fingerprint, 1000, 1060)
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::Acquired).count(),
        1,
        "{claims:?}"
    );
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, Claim::Acquired | Claim::InProgress))
    );
}

async fn inventory_table() -> DynamoInventory {
    let client = dynamodb().await;
    let table = unique("inventory");
    create_table(&client, &table, INVENTORY_KEY, None).await.unwrap();
    DynamoInventory::new(client, table)
}

#[tokio::test]
async fn fifty_concurrent_reservations_for_the_last_10_units_never_oversell() {
    let inventory = Arc::new(inventory_table().await);
    inventory.set_stock("LAST-ONES", 10).await.unwrap();
    let outcomes = futures::future::join_all((0..50).map(|i| {
        let inventory = inventory.clone();
        async move {
            // Lost races are retried, as the batch processor's redelivery would.
            loop {
                let order =
                    decode_order_created(&order_body(&format!("ord-{i}"), "LAST-ONES", 1), &()).unwrap();
                let reserved = Transition::new(OrderStatus::Reserved, time::OffsetDateTime::UNIX_EPOCH);
                match inventory.reserve(&order, &reserved).await {
                    Err(e) if e.retryable() => tokio::time::sleep(Duration::from_millis(20)).await,
                    other => break other.unwrap(),
                }
            }
        }
    }))
    .await;
    let reserved = outcomes.iter().filter(|o| **o == Reservation::Reserved).count();
    assert_eq!(reserved, 10, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Reservation::Reserved | Reservation::Short(_)))
    );
    assert_eq!(inventory.stock("LAST-ONES").await.unwrap(), 0);
}

/// A missing queue and a refused receipt handle are the queue contract
/// suite's (tests/contracts.rs); a missing table is this adapter's own.
#[tokio::test]
async fn a_missing_table_is_not_found() {
    let store = DynamoIdempotencyStore::new(dynamodb().await, unique("no-such-table"));
    let error = store
        .claim(
            "k",
            Fingerprint::of(|f| {
                f.str("k");
            }),
            1,
            2,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, PortErrorKind::NotFound, "{error}");
}

/// An endpoint that throttles every request, as SQS does past its limits.
fn throttling_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 65536];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
                let _ = stream.read(&mut buf);
                let body = r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-query-error: Throttling;Sender\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

#[tokio::test]
async fn throttling_is_classified_as_retryable() {
    let url = throttling_endpoint();
    let config = aws_sdk_sqs::config::Builder::from(
        &sdk_config(&orderflow_tests::Endpoint { url: url.clone() }).await,
    )
    .retry_config(aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(1))
    .build();
    let queues = SqsQueues::new(aws_sdk_sqs::Client::from_conf(config));
    let undelivered = queues
        .send_batch(&format!("{url}/123456789012/q"), vec![message(0)])
        .await;
    assert_eq!(undelivered.len(), 1);
    let error = &undelivered[0].error;
    assert_eq!(error.kind, PortErrorKind::Throttled, "{error}");
    assert!(error.retryable());
}

struct Pipeline {
    sqs: aws_sdk_sqs::Client,
    calls: CallCounter,
    orders: TestQueue,
    orders_dlq: TestQueue,
    inventory_queue: TestQueue,
    notifications: TestQueue,
    processor: BatchProcessor,
    step: inventory::InventoryStep,
    stock: DynamoInventory,
    /// The order of record the inventory records on.
    record: Arc<DynamoOrderStore>,
}

async fn inventory_pipeline() -> Pipeline {
    let (sqs, calls) = sqs().await;
    let (orders, orders_dlq) = create_queue_with_dlq(&sqs, &unique("orders"), 5).await;
    let inventory_queue = create_queue(&sqs, &unique("inventory"), &[]).await;
    let notifications = create_queue(&sqs, &unique("notifications"), &[]).await;
    let client = dynamodb().await;
    let orders_table = unique("orders");
    create_orders_table(&client, &orders_table).await.unwrap();
    let stock = inventory_table().await.with_orders_table(&orders_table);
    let record = Arc::new(DynamoOrderStore::new(client, orders_table));
    let processor = BatchProcessor::new(
        BatchConfig {
            service: "inventory".into(),
            dead_letter_queue_url: Some(orders_dlq.url.clone()),
            sqs_endpoint_url: Some(moto().url.clone()),
            ..Default::default()
        },
        Arc::new(SqsQueues::new(sqs.clone())),
        Arc::new(idempotency_table().await),
        Arc::new(NoMetrics),
    );
    let step = inventory::InventoryStep::new(
        Arc::new(stock.clone()),
        Arc::clone(&record) as _,
        inventory::Routes {
            reserved: inventory_queue.url.clone().into(),
            rejected: notifications.url.clone().into(),
        },
    );
    Pipeline {
        record,
        sqs,
        calls,
        orders,
        orders_dlq,
        inventory_queue,
        notifications,
        processor,
        step,
        stock,
    }
}

fn order_body(order_id: &str, sku: &str, quantity: u32) -> String {
    format!(
        r#"{{"orderId":"{order_id}","customerId":"cust-1","items":[{{"sku":"{sku}","quantity":{quantity}}}],"totalAmount":12.5,"createdAt":"2026-11-27T10:00:00Z"}}"#
    )
}

#[tokio::test]
async fn the_inventory_function_end_to_end_on_moto_queues_and_tables() {
    let p = inventory_pipeline().await;
    p.stock.set_stock("SKU-1", 10).await.unwrap();
    let bodies = [
        order_body("ord-1", "SKU-1", 4),
        order_body("ord-2", "SKU-1", 50),
        "{not json".to_owned(),
        order_body("ord-1", "SKU-1", 4),
    ];
    for body in &bodies {
        p.sqs
            .send_message()
            .queue_url(&p.orders.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let received = receive_all(&p.sqs, &p.orders, 4, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 4);
    let event = lambda_event(&received, &p.orders);
    let context = InvocationContext::with_timeout("r", Duration::from_secs(60));
    p.calls.reset();
    let report = p.processor.process(&event, &context, &p.step).await.unwrap();
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );
    assert_eq!(
        p.calls.count("SendMessageBatch"),
        3,
        "one each to inventory, notifications and the DLQ"
    );

    let reserved = receive_all(&p.sqs, &p.inventory_queue, 1, Duration::from_secs(10)).await;
    assert_eq!(reserved.len(), 1, "ord-1 once, though delivered twice");
    assert_eq!(string_attributes(&reserved[0])["EventType"], "INVENTORY_RESERVED");
    let rejected = receive_all(&p.sqs, &p.notifications, 1, Duration::from_secs(10)).await;
    assert_eq!(string_attributes(&rejected[0])["EventType"], "ORDER_REJECTED");
    assert!(rejected[0].body().unwrap().contains(r#""sku":"SKU-1""#));
    assert_eq!(
        receive_all(&p.sqs, &p.orders_dlq, 1, Duration::from_secs(10))
            .await
            .len(),
        1
    );
    assert_eq!(p.stock.stock("SKU-1").await.unwrap(), 6);
    // Sent without the API, both orders are on record from their reservation.
    let status = |id: &'static str| {
        let record = Arc::clone(&p.record);
        async move { record.get(id).await.unwrap().expect("recorded").status }
    };
    assert_eq!(status("ord-1").await, OrderStatus::Reserved);
    assert_eq!(status("ord-2").await, OrderStatus::Rejected);

    // The same batch again (a redelivery): skipped, counted, nothing taken or sent twice.
    let again = p.processor.process(&event, &context, &p.step).await.unwrap();
    let duplicates = again
        .outcomes
        .iter()
        .filter(|o| **o == RecordOutcome::Duplicate)
        .count();
    assert_eq!(duplicates, 3, "{:?}", again.outcomes);
    assert_eq!(p.stock.stock("SKU-1").await.unwrap(), 6);
    assert!(receive(&p.sqs, &p.inventory_queue, 10, 1).await.is_empty());
}

#[tokio::test]
async fn a_fifo_queue_drops_a_retried_order_but_not_another_order_reusing_its_id() {
    let (client, _) = sqs().await;
    let queue = create_queue(
        &client,
        &format!("{}.fifo", unique("orders")),
        &[(
            aws_sdk_sqs::types::QueueAttributeName::FifoQueue,
            "true".to_owned(),
        )],
    )
    .await;
    let queues = SqsQueues::new(client.clone());
    let order = |customer: &str, correlation: &str| {
        let body = format!(
            r#"{{"orderId":"ord-1","customerId":"{customer}","items":[{{"sku":"SKU-1","quantity":2}}],
            "totalAmount":10,"createdAt":"2026-11-05T10:00:00Z","correlationId":"{correlation}"}}"#
        );
        orderflow_orders::validation::decode_order_created(&body, &()).unwrap()
    };
    // As the relay publishes them: a retried batch publishes an order again.
    for (customer, correlation) in [("alice", "first"), ("alice", "a-retry"), ("mallory", "reused-id")] {
        let message = order_created_message(&order(customer, correlation), true).unwrap();
        let results = publish_batch(&queues, &queue.url, vec![message], &RetryPolicy::default()).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }
    // Waits for a third message that must not come.
    let received = receive_all(&client, &queue, 3, Duration::from_secs(3)).await;
    let mut customers: Vec<String> = received
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            body["customerId"].as_str().unwrap().to_owned()
        })
        .collect();
    customers.sort();
    assert_eq!(
        customers,
        ["alice", "mallory"],
        "the retry is dropped, the other order is not"
    );
}

/// A local address where SQS never answers: a port nothing listens on, or a
/// listener that accepts connections and stays silent (kept open until the test ends).
async fn unreachable_sqs(silent: bool) -> (String, Option<tokio::task::JoinHandle<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    if !silent {
        drop(listener);
        return (url, None);
    }
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, Some(task))
}

#[tokio::test]
async fn with_sqs_unreachable_the_response_comes_before_the_deadline() {
    for silent in [false, true] {
        let (url, listener) = unreachable_sqs(silent).await;
        let endpoint = orderflow_tests::Endpoint { url: url.clone() };
        let client = aws_sdk_sqs::Client::new(&sdk_config(&endpoint).await);
        let processor = BatchProcessor::new(
            BatchConfig {
                dead_letter_queue_url: Some(format!("{url}/000000000000/work-dlq")),
                deadline_margin: Duration::from_millis(1000),
                settlement_reserve: Duration::from_millis(500),
                sqs_endpoint_url: Some(url.clone()),
                error_when_all_retryable: false,
                ..Default::default()
            },
            Arc::new(SqsQueues::new(client)),
            Arc::new(InMemoryIdempotencyStore::new()),
            Arc::new(NoMetrics),
        );
        let step = ForwardStep {
            to: format!("{url}/000000000000/out").into(),
        };
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        // A message to forward, one to dead-letter, one to back off.
        event.records = ["forward me", "poison", "fail"]
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let mut record = aws_lambda_events::sqs::SqsMessage::default();
                record.message_id = Some(format!("m{i}"));
                record.receipt_handle = Some(format!("rh-{i}"));
                record.body = Some((*body).to_owned());
                record.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:work".to_owned());
                record
            })
            .collect();
        let started = Instant::now();
        let context = InvocationContext::with_timeout("req", Duration::from_secs(4));
        let report = processor.process(&event, &context, &step).await.unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(3500),
            "silent={silent}: answered after {took:?}, past the 4 s deadline less its 1 s margin"
        );
        assert_eq!(
            report.response.batch_item_failures.len(),
            3,
            "silent={silent}: nothing was settled, so every record stays with the queue: {:?}",
            report.outcomes
        );
        if let Some(task) = listener {
            task.abort();
        }
    }
}

#[tokio::test]
async fn an_order_item_that_is_no_order_is_reported_by_the_call_that_answered_it() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = dynamodb().await;
    let table = unique("orders");
    create_orders_table(&client, &table).await.unwrap();
    // Under the order's ID, an item the order layout cannot read (no fingerprint).
    client
        .put_item()
        .table_name(&table)
        .item("orderId", AttributeValue::S("ord-stray".into()))
        .item("status", AttributeValue::S("ACCEPTED".into()))
        .send()
        .await
        .unwrap();
    let store = DynamoOrderStore::new(client, table);
    let order = decode_order_created(&order_body("ord-stray", "SKU-1", 1), &()).unwrap();
    let error = store
        .accept(
            &order,
            order.fingerprint(),
            &Transition::accepted(time::OffsetDateTime::UNIX_EPOCH),
        )
        .await
        .expect_err("the stored item is no order");
    assert_eq!(
        (error.kind, error.operation),
        (PortErrorKind::Other, "PutItem"),
        "the refused write answered with the item: no GetItem was made ({error})"
    );
}
