//! `orderflow send` and `orderflow redrive` against real SQS endpoints: moto
//! (which has no message-move task, so redrive falls back to receive, send,
//! delete) and LocalStack (which has one).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orderflow::redrive::{Method, RedriveError, RedriveMode, RedriveSpec, redrive};
use orderflow::send::{SendReport, SendSpec, send_orders};
use orderflow_aws::calls::CallCounter;
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::ports::OutgoingMessage;
use orderflow_batch::publish::{RetryPolicy, publish_batch};
use orderflow_tests::{
    Endpoint, TestQueue, create_queue, create_queue_with_dlq, localstack, moto, receive, receive_all,
    sdk_config, string_attributes, unique,
};

async fn sqs(endpoint: &Endpoint) -> (SqsQueues, CallCounter) {
    let counter = CallCounter::new();
    let config = aws_sdk_sqs::config::Builder::from(&sdk_config(endpoint).await)
        .interceptor(counter.clone())
        .build();
    (SqsQueues::new(aws_sdk_sqs::Client::from_conf(config)), counter)
}

fn spec(count: usize, batch: bool, seed: u64) -> SendSpec {
    SendSpec {
        count,
        batch,
        invalid: 0.0,
        seed,
        concurrency: 8,
    }
}

fn body(message: &aws_sdk_sqs::types::Message) -> serde_json::Value {
    serde_json::from_str(message.body().expect("a body")).expect("a JSON body")
}

/// Sends `spec` to a new queue; returns the queue, the report and the calls made.
async fn send_to_new_queue(spec: &SendSpec) -> (SqsQueues, TestQueue, SendReport, CallCounter) {
    let (queues, calls) = sqs(moto()).await;
    let queue = create_queue(queues.client(), &unique("orders"), &[]).await;
    calls.reset();
    let report = send_orders(&queues, &queue.url, spec).await;
    assert!(report.all_sent(), "{report:?}");
    (queues, queue, report, calls)
}

/// Every message has the four attributes of an order, matching its body.
fn assert_order_attributes(messages: &[aws_sdk_sqs::types::Message]) {
    let mut correlations = HashSet::new();
    for message in messages {
        let attrs = string_attributes(message);
        let order = body(message);
        assert_eq!(attrs.len(), 4, "{attrs:?}");
        assert_eq!(attrs["EventType"], "ORDER_CREATED");
        let priority = if order["totalAmount"].as_f64().unwrap() > 1000.0 {
            "high"
        } else {
            "normal"
        };
        assert_eq!(attrs["Priority"], priority, "{order}");
        assert_eq!(attrs["Region"], order["shippingRegion"].as_str().unwrap());
        assert_eq!(attrs["CorrelationId"].len(), 36, "a UUID");
        assert!(correlations.insert(attrs["CorrelationId"].clone()));
    }
}

#[tokio::test]
async fn send_batch_of_25_makes_3_batch_calls_and_every_order_arrives_with_its_attributes() {
    let (queues, queue, report, calls) = send_to_new_queue(&spec(25, true, 11)).await;
    assert_eq!((report.sent, report.failed, report.mode), (25, 0, "batch"));
    assert_eq!(calls.count("SendMessageBatch"), 3);
    assert_eq!(calls.count("SendMessage"), 0);
    eprintln!(
        "send --batch, 25 orders: {:?} in {:.3} s",
        calls.counts(),
        report.elapsed_seconds
    );

    let received = receive_all(queues.client(), &queue, 25, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 25);
    assert!(
        receive(queues.client(), &queue, 10, 1).await.is_empty(),
        "nothing beyond the 25"
    );
    assert_order_attributes(&received);
    let ids: HashSet<String> = received
        .iter()
        .map(|m| body(m)["orderId"].as_str().unwrap().to_owned())
        .collect();
    let expected: HashSet<String> = (0..25).map(|n| format!("ord-11-{n:08}")).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn single_mode_makes_one_send_message_call_per_order() {
    let (queues, queue, report, calls) = send_to_new_queue(&spec(25, false, 12)).await;
    assert_eq!((report.sent, report.mode), (25, "single"));
    assert_eq!(calls.count("SendMessage"), 25);
    assert_eq!(calls.count("SendMessageBatch"), 0);
    eprintln!(
        "send, 25 orders: {:?} in {:.3} s",
        calls.counts(),
        report.elapsed_seconds
    );
    let received = receive_all(queues.client(), &queue, 25, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 25);
    assert!(
        receive(queues.client(), &queue, 10, 1).await.is_empty(),
        "nothing beyond the 25"
    );
    assert_order_attributes(&received);
}

#[tokio::test]
async fn five_hundred_orders_in_each_mode_with_their_calls_and_times() {
    for batch in [true, false] {
        let (_, _, report, calls) = send_to_new_queue(&spec(500, batch, 13)).await;
        let (operation, expected) = if batch {
            ("SendMessageBatch", 50)
        } else {
            ("SendMessage", 500)
        };
        assert_eq!(calls.count(operation), expected);
        assert_eq!(calls.counts().values().sum::<usize>(), expected);
        eprintln!(
            "send{}, 500 orders: {expected} {operation} calls in {:.3} s, {:.0} messages/s",
            if batch { " --batch" } else { "" },
            report.elapsed_seconds,
            report.messages_per_second
        );
    }
}

#[tokio::test]
async fn invalid_orders_are_sent_too_and_counted() {
    let spec = SendSpec {
        invalid: 0.3,
        ..spec(40, true, 14)
    };
    let (queues, queue, report, _) = send_to_new_queue(&spec).await;
    assert_eq!(report.sent, 40);
    assert!((4..=24).contains(&report.invalid), "{}", report.invalid);
    let received = receive_all(queues.client(), &queue, 40, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 40);
    assert!(
        receive(queues.client(), &queue, 10, 1).await.is_empty(),
        "nothing beyond the 40"
    );
    assert!(received.iter().all(|m| string_attributes(m).len() == 4));
}

#[tokio::test]
async fn a_fifo_queue_gets_customer_groups_and_order_deduplication_ids() {
    let (queues, _) = sqs(moto()).await;
    let name = format!("{}.fifo", unique("orders"));
    let queue = create_queue(
        queues.client(),
        &name,
        &[(QueueAttributeName::FifoQueue, "true".to_owned())],
    )
    .await;
    for batch in [true, false] {
        let report = send_orders(&queues, &queue.url, &spec(12, batch, 15)).await;
        assert!(report.all_sent(), "{report:?}");
    }
    // The second run sent the same orders: SQS dropped them as duplicates.
    let received = receive_all(queues.client(), &queue, 12, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 12);
    assert!(
        receive(queues.client(), &queue, 10, 1).await.is_empty(),
        "the resends were dropped"
    );
    for message in &received {
        let order = body(message);
        let system = message.attributes().unwrap();
        assert_eq!(
            system
                .get(&MessageSystemAttributeName::MessageGroupId)
                .map(String::as_str),
            order["customerId"].as_str()
        );
        // The order ID and the order's fingerprint: resends of the same order are dropped (above).
        let dedup = system
            .get(&MessageSystemAttributeName::MessageDeduplicationId)
            .and_then(|d| d.split_once('#'))
            .map(|(id, _)| id);
        assert_eq!(dedup, order["orderId"].as_str());
    }
}

#[tokio::test]
async fn a_send_to_a_missing_queue_counts_every_order_failed() {
    let (queues, _) = sqs(moto()).await;
    let missing = format!("{}/123456789012/{}", moto().url, unique("missing"));
    for batch in [true, false] {
        let report = send_orders(&queues, &missing, &spec(15, batch, 16)).await;
        assert_eq!((report.sent, report.failed), (0, 15), "{report:?}");
        assert!(!report.all_sent());
        assert_eq!(report.errors.len(), 1);
        assert!(
            report.errors[0].error.contains("NonExistentQueue"),
            "{:?}",
            report.errors
        );
    }
}

/// `n` messages in `dlq` as the functions dead-letter them: the original
/// attributes plus the error's.
async fn fill_dlq(queues: &SqsQueues, dlq: &TestQueue, n: usize, fifo: bool) {
    let messages: Vec<OutgoingMessage> = (0..n)
        .map(|i| {
            let mut m = OutgoingMessage::new(format!(
                r#"{{"orderId":"ord-{i}","customerId":"cust-{}"}}"#,
                i % 3
            ))
            .with_attribute("EventType", "ORDER_CREATED")
            .with_attribute("CorrelationId", format!("corr-{i}"))
            .with_attribute("ErrorCode", "ValidationFailed")
            .with_attribute("ErrorMessage", "items: required")
            .with_attribute("FailedAt", "2026-11-28T00:00:00Z")
            .with_attribute("SourceQueue", "orders")
            .with_attribute("OriginalMessageId", format!("orig-{i}"));
            if fifo {
                m.group_id = Some(format!("cust-{}", i % 3));
                m.deduplication_id = Some(format!("dlq-{i}"));
            }
            m
        })
        .collect();
    let results = publish_batch(queues, &dlq.url, messages, &RetryPolicy::default()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

fn quick() -> RedriveSpec {
    RedriveSpec {
        wait_seconds: 1,
        poll_interval: Duration::from_millis(200),
        ..RedriveSpec::default()
    }
}

/// Everything left in a queue, waiting `seconds` for stragglers.
async fn drain(queues: &SqsQueues, queue: &TestQueue, seconds: u64) -> Vec<aws_sdk_sqs::types::Message> {
    receive_all(queues.client(), queue, usize::MAX, Duration::from_secs(seconds)).await
}

#[tokio::test]
async fn redrive_on_moto_falls_back_and_moves_every_message_back_once() {
    let (queues, calls) = sqs(moto()).await;
    let (queue, dlq) = create_queue_with_dlq(queues.client(), &unique("orders"), 3).await;
    fill_dlq(&queues, &dlq, 23, false).await;
    calls.reset();
    let started = Instant::now();
    let report = redrive(&queues, &dlq.url, &queue.url, &quick(), &|_| {})
        .await
        .unwrap();
    eprintln!(
        "redrive of 23 on moto: {:?} in {:.2} s",
        calls.counts(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.method, Method::Receive);
    let reason = report.fallback_reason.as_deref().unwrap();
    assert!(reason.contains("ListMessageMoveTasks"), "{reason}");
    assert_eq!(
        (
            report.received,
            report.moved,
            report.failed_to_send,
            report.failed_to_delete
        ),
        (23, 23, 0, 0),
        "{report:?}"
    );
    assert!(report.is_clean());
    // One probe, never a start; three sends and deletes of at most ten.
    assert_eq!(calls.count("ListMessageMoveTasks"), 1);
    assert_eq!(calls.count("StartMessageMoveTask"), 0);
    assert_eq!(calls.count("SendMessageBatch"), 3);
    assert_eq!(calls.count("DeleteMessageBatch"), 3);

    let moved = drain(&queues, &queue, 3).await;
    let mut orders: Vec<String> = moved
        .iter()
        .map(|m| body(m)["orderId"].as_str().unwrap().to_owned())
        .collect();
    orders.sort();
    orders.dedup();
    assert_eq!((moved.len(), orders.len()), (23, 23), "each message once");
    for message in &moved {
        let attrs = string_attributes(message);
        let mut names: Vec<&str> = attrs.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["CorrelationId", "EventType", "OriginalMessageId"]);
    }
    assert!(drain(&queues, &dlq, 2).await.is_empty(), "the DLQ is empty");
}

#[tokio::test]
async fn redrive_honours_max() {
    let (queues, _) = sqs(moto()).await;
    let (queue, dlq) = create_queue_with_dlq(queues.client(), &unique("orders"), 3).await;
    fill_dlq(&queues, &dlq, 15, false).await;
    let spec = RedriveSpec {
        max: Some(6),
        ..quick()
    };
    let report = redrive(&queues, &dlq.url, &queue.url, &spec, &|_| {})
        .await
        .unwrap();
    assert_eq!((report.received, report.moved), (6, 6), "{report:?}");
    assert!(report.fallback_reason.unwrap().contains("--max"));
    assert_eq!(drain(&queues, &queue, 3).await.len(), 6);
    assert_eq!(drain(&queues, &dlq, 3).await.len(), 9);
}

#[tokio::test]
async fn a_message_whose_send_fails_stays_in_the_dlq() {
    let (queues, calls) = sqs(moto()).await;
    let (_, dlq) = create_queue_with_dlq(queues.client(), &unique("orders"), 3).await;
    fill_dlq(&queues, &dlq, 5, false).await;
    let missing = format!("{}/123456789012/{}", moto().url, unique("missing"));

    // auto looks the target up first: nothing is touched.
    let error = redrive(&queues, &dlq.url, &missing, &quick(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedriveError::Port(ref e) if e.operation == "GetQueueAttributes"),
        "{error}"
    );

    calls.reset();
    let spec = RedriveSpec {
        mode: RedriveMode::Receive,
        ..quick()
    };
    let report = redrive(&queues, &dlq.url, &missing, &spec, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            report.received,
            report.moved,
            report.failed_to_send,
            report.failed_to_delete
        ),
        (5, 0, 5, 0),
        "{report:?}"
    );
    assert!(report.stopped_by.as_deref().unwrap().contains("NonExistentQueue"));
    assert!(!report.is_clean());
    assert_eq!(calls.count("DeleteMessageBatch"), 0, "nothing deleted");
    // Visible again at once, not after the visibility timeout.
    assert_eq!(calls.count("ChangeMessageVisibilityBatch"), 1);
    let left = receive_all(queues.client(), &dlq, 5, Duration::from_secs(3)).await;
    assert_eq!(left.len(), 5);
}

#[tokio::test]
async fn a_fifo_redrive_keeps_groups_and_deduplicates_on_the_dlq_message_id() {
    let (queues, _) = sqs(moto()).await;
    let fifo = [(QueueAttributeName::FifoQueue, "true".to_owned())];
    let dlq = create_queue(queues.client(), &format!("{}-dlq.fifo", unique("orders")), &fifo).await;
    let queue = create_queue(queues.client(), &format!("{}.fifo", unique("orders")), &fifo).await;
    fill_dlq(&queues, &dlq, 9, true).await;
    let report = redrive(&queues, &dlq.url, &queue.url, &quick(), &|_| {})
        .await
        .unwrap();
    assert_eq!((report.moved, report.failed_to_send), (9, 0), "{report:?}");

    let moved = drain(&queues, &queue, 3).await;
    assert_eq!(moved.len(), 9);
    let mut per_group: HashMap<String, Vec<u64>> = HashMap::new();
    let mut dedup_ids = HashSet::new();
    for message in &moved {
        let system = message.attributes().unwrap();
        let group = &system[&MessageSystemAttributeName::MessageGroupId];
        let order = body(message);
        assert_eq!(Some(group.as_str()), order["customerId"].as_str());
        let n: u64 = order["orderId"].as_str().unwrap()[4..].parse().unwrap();
        per_group.entry(group.clone()).or_default().push(n);
        let dedup = &system[&MessageSystemAttributeName::MessageDeduplicationId];
        assert_eq!(dedup.len(), 36, "a DLQ message ID: {dedup}");
        assert!(dedup_ids.insert(dedup.clone()));
    }
    // Each group arrives in its order.
    for (group, ns) in per_group {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{group}: {ns:?}");
    }
    assert!(drain(&queues, &dlq, 2).await.is_empty());
}

#[tokio::test]
async fn move_task_mode_on_an_endpoint_without_it_says_so() {
    let (queues, calls) = sqs(moto()).await;
    let (queue, dlq) = create_queue_with_dlq(queues.client(), &unique("orders"), 3).await;
    fill_dlq(&queues, &dlq, 2, false).await;
    let spec = RedriveSpec {
        mode: RedriveMode::MoveTask,
        ..quick()
    };
    let error = redrive(&queues, &dlq.url, &queue.url, &spec, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, RedriveError::MoveTaskUnsupported(_)), "{error}");
    // Found on the first call, without the SDK's retries.
    assert_eq!(calls.count("ListMessageMoveTasks"), 1);
    let max = RedriveSpec { max: Some(1), ..spec };
    let error = redrive(&queues, &dlq.url, &queue.url, &max, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, RedriveError::MaxWithMoveTask), "{error}");
    assert_eq!(drain(&queues, &dlq, 2).await.len(), 2, "nothing moved");
}

#[tokio::test]
async fn redrive_uses_the_message_move_task_where_the_endpoint_has_it() {
    let (queues, calls) = sqs(localstack()).await;
    let (queue, dlq) = create_queue_with_dlq(queues.client(), &unique("orders"), 3).await;
    fill_dlq(&queues, &dlq, 20, false).await;
    calls.reset();
    let lines = std::sync::Mutex::new(Vec::new());
    let progress = |line: &str| lines.lock().unwrap().push(line.to_owned());
    let report = redrive(&queues, &dlq.url, &queue.url, &quick(), &progress)
        .await
        .unwrap();
    assert_eq!(report.method, Method::MoveTask, "{report:?}");
    assert_eq!(report.fallback_reason, None);
    assert_eq!(report.task.as_ref().unwrap().status, "COMPLETED");
    assert_eq!((report.received, report.moved), (20, 20), "{report:?}");
    assert!(report.is_clean());
    assert_eq!(calls.count("StartMessageMoveTask"), 1);
    assert_eq!(calls.count("ReceiveMessage"), 0);
    assert!(lines.lock().unwrap()[0].starts_with("started move task"));

    let moved = drain(&queues, &queue, 3).await;
    assert_eq!(moved.len(), 20);
    // SQS's own redrive moves messages unchanged, diagnostics included.
    assert!(
        moved
            .iter()
            .all(|m| string_attributes(m).contains_key("ErrorCode"))
    );
    assert!(drain(&queues, &dlq, 2).await.is_empty());

    // A second redrive finds its own task, not the first one.
    fill_dlq(&queues, &dlq, 4, false).await;
    let again = redrive(&queues, &dlq.url, &queue.url, &quick(), &|_| {})
        .await
        .unwrap();
    assert_eq!((again.method, again.moved), (Method::MoveTask, 4), "{again:?}");

    // With --max, the same endpoint goes the receive way.
    fill_dlq(&queues, &dlq, 4, false).await;
    let spec = RedriveSpec {
        max: Some(3),
        ..quick()
    };
    let limited = redrive(&queues, &dlq.url, &queue.url, &spec, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (limited.method, limited.moved),
        (Method::Receive, 3),
        "{limited:?}"
    );
    assert_eq!(drain(&queues, &dlq, 2).await.len(), 1);
}

#[tokio::test]
async fn a_move_task_from_a_queue_that_is_no_dlq_is_refused_with_a_way_out() {
    let (queues, _) = sqs(localstack()).await;
    let source = create_queue(queues.client(), &unique("plain"), &[]).await;
    let target = create_queue(queues.client(), &unique("target"), &[]).await;
    fill_dlq(&queues, &source, 3, false).await;
    let error = redrive(&queues, &source.url, &target.url, &quick(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, RedriveError::MoveTaskRefused(_)), "{error}");
    assert!(error.to_string().contains("--mode receive"), "{error}");
    let spec = RedriveSpec {
        mode: RedriveMode::Receive,
        ..quick()
    };
    let report = redrive(&queues, &source.url, &target.url, &spec, &|_| {})
        .await
        .unwrap();
    assert_eq!(report.moved, 3, "{report:?}");
    assert_eq!(drain(&queues, &target, 2).await.len(), 3);
}
