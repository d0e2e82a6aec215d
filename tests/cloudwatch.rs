//! Metrics against LocalStack's CloudWatch (the CBOR protocol the Rust SDK
//! speaks), and the AWS calls of one invocation across moto and LocalStack.

use orderflow_batch::telemetry::MemoryWriter;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use orderflow_aws::calls::CallCounter;
use orderflow_aws::cloudwatch::CloudWatchMetrics;
use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::metrics::EmfMetrics;
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryQueues};
use orderflow_tests::{create_queue, dynamodb_endpoint, localstack, moto, receive_all, sdk_config, unique};

/// The settings every test here starts from: the dimensions [`statistic`]
/// reads, and a metrics wait long enough for LocalStack on a loaded machine
/// (the tests read back what was published; production gives up after 1 s).
fn config() -> BatchConfig {
    BatchConfig {
        service: "inventory".into(),
        environment: "staging".into(),
        metrics_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

async fn cloudwatch() -> (aws_sdk_cloudwatch::Client, CallCounter) {
    let counter = CallCounter::new();
    let config = aws_sdk_cloudwatch::config::Builder::from(&sdk_config(localstack()).await)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_cloudwatch::Client::from_conf(config), counter)
}

fn record(i: usize, body: &str) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = Some(format!("m-{i}"));
    r.receipt_handle = Some(format!("rh-{i}"));
    r.body = Some(body.to_owned());
    r.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:orders".to_owned());
    r
}

fn order(order_id: &str, quantity: u32) -> String {
    format!(
        r#"{{"orderId":"{order_id}","customerId":"c-1","items":[{{"sku":"SKU-9","quantity":{quantity}}}],"totalAmount":9.99,"createdAt":"2026-11-27T10:00:00Z"}}"#
    )
}

/// A batch with 4 processed, 1 duplicate (of the first) and 1 poison record.
fn mixed_event() -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = vec![
        record(0, &order("ord-1", 1)),
        record(1, &order("ord-2", 1)),
        record(2, &order("ord-3", 1)),
        record(3, &order("ord-1", 1)),
        record(4, "not json"),
        record(5, &order("ord-4", 1)),
    ];
    event
}

fn inventory_step(queues_url: &str) -> inventory::InventoryStep {
    let orders = Arc::new(orderflow_embedded::InMemoryOrderStore::new());
    let stock = InMemoryInventory::new(10).with_orders(Arc::clone(&orders) as _);
    inventory::InventoryStep::new(
        Arc::new(stock),
        orders,
        inventory::Routes {
            reserved: queues_url.into(),
            rejected: queues_url.into(),
        },
    )
}

async fn statistic(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    stat: Statistic,
) -> f64 {
    let now = SystemTime::now();
    let out = client
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(Dimension::builder().name("Service").value("inventory").build())
        .dimensions(Dimension::builder().name("Environment").value("staging").build())
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(600)))
        .period(60)
        .statistics(stat.clone())
        .send()
        .await
        .expect("GetMetricStatistics");
    out.datapoints()
        .iter()
        .map(|d| match stat {
            Statistic::SampleCount => d.sample_count().unwrap_or(0.0),
            _ => d.sum().unwrap_or(0.0),
        })
        .sum()
}

#[tokio::test]
async fn one_invocations_metrics_read_back_equal_what_the_batch_did() {
    let (client, calls) = cloudwatch().await;
    let namespace = unique("Orderflow");
    let queues = Arc::new(InMemoryQueues::new());
    let processor = BatchProcessor::new(
        BatchConfig {
            dead_letter_queue_url: Some("dlq".into()),
            ..config()
        },
        queues.clone(),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(CloudWatchMetrics::new(client.clone(), namespace.clone())),
    );
    let step = inventory_step("out");
    let mut event = mixed_event();
    // More than the 10 in stock: rejected for stock, which is still a processed record.
    event.records[5].body = Some(order("ord-4", 11));
    let report = processor
        .process(
            &event,
            &InvocationContext::with_timeout("r", Duration::from_secs(60)),
            &step,
        )
        .await
        .unwrap();
    let m = &report.metrics;
    assert_eq!(
        (m.processed, m.duplicates_skipped, m.sent_to_dlq, m.failed),
        (4, 1, 1, 0)
    );
    assert_eq!(calls.count("PutMetricData"), 1, "one call per invocation");

    for (metric, expected) in [
        ("MessagesProcessed", 4.0),
        ("MessagesFailed", 0.0),
        ("MessagesSentToDlq", 1.0),
        ("DuplicatesSkipped", 1.0),
        ("BatchSize", 6.0),
    ] {
        assert_eq!(
            statistic(&client, &namespace, metric, Statistic::Sum).await,
            expected,
            "{metric}"
        );
    }
    let samples = statistic(&client, &namespace, "ProcessingLatency", Statistic::SampleCount).await;
    assert_eq!(samples, m.latencies_ms.len() as f64);
    assert_eq!(
        samples, 5.0,
        "4 runs and 1 rejected decode; the in-batch duplicate never ran"
    );
    // The step's own metrics: three orders reserved at 9.99, one rejected for stock.
    assert_eq!(
        statistic(&client, &namespace, "OrdersRejected", Statistic::Sum).await,
        1.0
    );
    assert_eq!(
        statistic(&client, &namespace, "OrderValue", Statistic::SampleCount).await,
        3.0
    );
    let revenue = statistic(&client, &namespace, "OrderValue", Statistic::Sum).await;
    assert!((revenue - 29.97).abs() < 1e-9, "{revenue}");
}

#[tokio::test]
async fn a_failed_invocation_still_publishes_its_failures() {
    let (client, _) = cloudwatch().await;
    let namespace = unique("Orderflow");
    let queues = Arc::new(InMemoryQueues::new());
    queues.fail_sends(1000, orderflow_batch::error::PortErrorKind::NotFound);
    let processor = BatchProcessor::new(
        config(),
        queues,
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(CloudWatchMetrics::new(client.clone(), namespace.clone())),
    );
    let mut event = SqsEvent::default();
    event.records = vec![record(0, &order("ord-1", 1)), record(1, &order("ord-2", 1))];
    let result = processor
        .process(
            &event,
            &InvocationContext::with_timeout("r", Duration::from_secs(60)),
            &inventory_step("out"),
        )
        .await;
    assert!(result.is_err(), "every record failed retryably");
    assert_eq!(
        statistic(&client, &namespace, "MessagesFailed", Statistic::Sum).await,
        2.0
    );
}

#[tokio::test]
async fn the_emf_line_is_valid_embedded_metric_format() {
    let lines = MemoryWriter::default();
    let processor = BatchProcessor::new(
        BatchConfig {
            dead_letter_queue_url: Some("dlq".into()),
            ..config()
        },
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(EmfMetrics::new("Orderflow", Box::new(lines.clone()))),
    );
    processor
        .process(
            &mixed_event(),
            &InvocationContext::with_timeout("r", Duration::from_secs(60)),
            &inventory_step("out"),
        )
        .await
        .unwrap();
    let text = lines.contents();
    assert_eq!(text.lines().count(), 1, "one line per invocation");
    let doc: serde_json::Value = serde_json::from_str(text.trim_end()).expect("the line is one JSON object");
    // The specification's rules: _aws.Timestamp (ms), CloudWatchMetrics directives whose
    // dimension and metric names all resolve to members of the root.
    assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    assert_eq!(directives[0]["Namespace"], "Orderflow");
    for set in directives[0]["Dimensions"].as_array().unwrap() {
        let set = set.as_array().unwrap();
        assert!(set.len() <= 30);
        for d in set {
            assert!(
                doc[d.as_str().unwrap()].is_string(),
                "dimension {d} is a string member"
            );
        }
    }
    let metrics = directives[0]["Metrics"].as_array().unwrap();
    assert!(metrics.len() <= 100);
    for m in metrics {
        let name = m["Name"].as_str().unwrap();
        let value = &doc[name];
        let ok = value.is_number()
            || value
                .as_array()
                .is_some_and(|a| a.len() <= 100 && a.iter().all(|v| v.is_number()));
        assert!(ok, "{name} = {value}");
        assert!(["Count", "Milliseconds", "None"].contains(&m["Unit"].as_str().unwrap()));
    }
    assert_eq!(doc["Service"], "inventory");
    assert_eq!(doc["MessagesProcessed"], 4.0);
    assert_eq!(doc["DuplicatesSkipped"], 1.0);
    assert_eq!(doc["MessagesSentToDlq"], 1.0);
    assert_eq!(
        doc["OrderValue"],
        serde_json::json!([9.99, 9.99, 9.99, 9.99]),
        "the step's metric, on the line of its dimensions: the four orders reserved"
    );
}

#[tokio::test]
async fn a_100_record_invocation_makes_10_send_calls_and_1_metrics_call() {
    let calls = CallCounter::new();
    let moto_config = sdk_config(moto()).await;
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&moto_config)
            .interceptor(calls.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config(dynamodb_endpoint()).await)
            .interceptor(calls.clone())
            .build(),
    );
    let cw_config = sdk_config(localstack()).await;
    let cw = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&cw_config)
            .interceptor(calls.clone())
            .build(),
    );
    let out = create_queue(&sqs, &unique("inventory"), &[]).await;
    let (idempotency, stock) = (unique("idempotency"), unique("stock"));
    create_table(&dynamodb, &idempotency, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE))
        .await
        .unwrap();
    create_table(&dynamodb, &stock, INVENTORY_KEY, None)
        .await
        .unwrap();
    let inventory = DynamoInventory::new(dynamodb.clone(), stock);
    inventory.set_stock("SKU-9", 1000).await.unwrap();

    let processor = BatchProcessor::new(
        config(),
        Arc::new(SqsQueues::new(sqs.clone())),
        Arc::new(DynamoIdempotencyStore::new(dynamodb, idempotency)),
        Arc::new(CloudWatchMetrics::new(cw, unique("Orderflow"))),
    );
    let step = inventory::InventoryStep::new(
        Arc::new(inventory),
        Arc::new(orderflow_embedded::InMemoryOrderStore::new()),
        inventory::Routes {
            reserved: out.url.clone().into(),
            rejected: out.url.clone().into(),
        },
    );
    let mut event = SqsEvent::default();
    event.records = (0..100)
        .map(|i| record(i, &order(&format!("ord-{i}"), 1)))
        .collect();
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
    let elapsed = started.elapsed();
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );
    assert_eq!(calls.count("SendMessageBatch"), 10, "{:?}", calls.counts());
    assert_eq!(calls.count("SendMessage"), 0);
    assert_eq!(calls.count("PutMetricData"), 1);
    eprintln!(
        "100-record inventory invocation on moto + LocalStack: {elapsed:?}; calls {:?}",
        calls.counts()
    );
    assert_eq!(
        receive_all(&sqs, &out, 100, Duration::from_secs(30)).await.len(),
        100
    );
}
