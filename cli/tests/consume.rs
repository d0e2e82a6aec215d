//! `orderflow consume` as a process against moto (a real SQS endpoint): a
//! SIGTERM during processing loses nothing, and leaves no message hidden for
//! longer than its visibility timeout; one that arrives after the SIGTERM is
//! not hidden at all.
//!
//! Both tests consume with the `shipping` function, whose step needs only an
//! idempotency table and the notifications queue, and slow each batch down
//! with the hidden `--simulate-latency-ms`, so that batches are in flight
//! when the signal comes: a few seconds (they finish within the drain), or an
//! hour (they hang, and are abandoned at the drain timeout).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use orderflow_aws::dynamodb::{EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, create_table};
use orderflow_aws::orders_table::create_orders_table;
use orderflow_tests::{TestQueue, create_queue, moto, receive, sdk_config, unique};

/// The source queue's visibility timeout: short, so that the tests run fast.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(8);

struct Pipeline {
    sqs: aws_sdk_sqs::Client,
    source: TestQueue,
    notifications: TestQueue,
    table: String,
    /// The orders table, where shipping records SHIPPED (these orders are not
    /// on record, so nothing is written: the step only asks).
    orders_table: String,
}

async fn pipeline(name: &str) -> Pipeline {
    pipeline_with_visibility(name, VISIBILITY_TIMEOUT).await
}

async fn pipeline_with_visibility(name: &str, visibility_timeout: Duration) -> Pipeline {
    let config = sdk_config(moto()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let source = create_queue(
        &sqs,
        &unique(&format!("{name}-inventory")),
        &[(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        )],
    )
    .await;
    let notifications = create_queue(&sqs, &unique(&format!("{name}-notifications")), &[]).await;
    let table = unique(&format!("{name}-idempotency"));
    create_table(
        &aws_sdk_dynamodb::Client::new(&config),
        &table,
        IDEMPOTENCY_KEY,
        Some(EXPIRY_ATTRIBUTE),
    )
    .await
    .expect("create the idempotency table");
    let orders_table = unique(&format!("{name}-orders"));
    create_orders_table(&aws_sdk_dynamodb::Client::new(&config), &orders_table)
        .await
        .expect("create the orders table");
    Pipeline {
        sqs,
        source,
        notifications,
        table,
        orders_table,
    }
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("attribute")
}

/// Sends `count` valid `InventoryReserved` messages (as the inventory function
/// sends them) and returns their order IDs.
async fn send_reserved(p: &Pipeline, prefix: &str, count: usize) -> BTreeSet<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("{prefix}-{i:03}")).collect();
    for chunk in ids.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let body = format!(
                    r#"{{"version":"1.0","orderId":"{id}","customerId":"cust-{i}","correlationId":"corr-{id}","items":[{{"sku":"SKU-0001","quantity":2}}],"totalAmount":59.97,"shippingRegion":"EU","orderCreatedAt":"2026-11-27T09:30:00Z","reservedAt":"2026-11-27T09:30:01Z"}}"#
                );
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_attributes("EventType", string_attribute("INVENTORY_RESERVED"))
                    .message_attributes("CorrelationId", string_attribute(&format!("corr-{id}")))
                    .build()
                    .expect("entry")
            })
            .collect();
        let sent = p
            .sqs
            .send_message_batch()
            .queue_url(&p.source.url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("send");
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
    ids.into_iter().collect()
}

/// The consumer process, killed if a test fails before it exits.
struct Consumer {
    child: Child,
    stderr: PathBuf,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Consumer {
    /// Starts `orderflow consume --function shipping` on the source queue.
    /// `endpoint_flag`: the endpoint through `--endpoint-url`, else through
    /// `AWS_ENDPOINT_URL`, as a container would set it.
    fn start(p: &Pipeline, latency: Duration, endpoint_flag: bool) -> Consumer {
        let stderr = std::env::temp_dir().join(format!("{}.log", unique("orderflow-consume")));
        let mut command = Command::new(env!("CARGO_BIN_EXE_orderflow"));
        command
            .args(["consume", "--function", "shipping", "--queue-url", &p.source.url])
            .args(["--concurrency", "2", "--json"])
            .args(["--simulate-latency-ms", &latency.as_millis().to_string()])
            .env("ORDERFLOW_ADAPTERS", "aws")
            .env("IDEMPOTENCY_TABLE", &p.table)
            .env("ORDERS_TABLE", &p.orders_table)
            .env("NOTIFICATIONS_QUEUE_URL", &p.notifications.url)
            // moto does not serve CloudWatch's CBOR protocol.
            .env("METRICS_SINK", "off")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "info")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL_SQS")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).expect("a log file"));
        if endpoint_flag {
            command
                .args(["--endpoint-url", &moto().url])
                .env_remove("AWS_ENDPOINT_URL");
        } else {
            command.env("AWS_ENDPOINT_URL", &moto().url);
        }
        let child = command.spawn().expect("start orderflow consume");
        Consumer { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until its log says it consumes, then a second more, for its
    /// signal handlers and first long poll to be in place.
    async fn wait_until_consuming(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.stderr().contains("consuming until SIGINT or SIGTERM") {
            assert!(
                Instant::now() < deadline,
                "not consuming; its log:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    fn terminate(&self) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid, which it still is (not yet waited for).
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill -TERM {pid}");
    }

    /// Waits up to `timeout` for the process to exit: its status and JSON report.
    async fn exit(&mut self, timeout: Duration) -> (ExitStatus, serde_json::Value) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {timeout:?} after SIGTERM; its log:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout).expect("stdout");
        }
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: stdout {stdout:?}\nstderr:\n{}", self.stderr()));
        (status, report)
    }
}

/// The order IDs in messages' bodies.
fn order_ids(messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body");
            body["orderId"].as_str().expect("an orderId").to_owned()
        })
        .collect()
}

/// Receives from `queue` into `seen` until `done(seen)` or `deadline`; a
/// message received twice is counted once.
async fn collect(
    p: &Pipeline,
    queue: &TestQueue,
    seen: &mut BTreeSet<String>,
    deadline: Instant,
    done: impl Fn(&BTreeSet<String>) -> bool,
) {
    while !done(seen) && Instant::now() < deadline {
        seen.extend(order_ids(&receive(&p.sqs, queue, 10, 1).await));
    }
}

async fn queue_counts(p: &Pipeline) -> (u64, u64) {
    orderflow_tests::visible_and_hidden(&p.sqs, &p.source.url).await
}

fn count(report: &serde_json::Value, path: &[&str]) -> u64 {
    let value = path.iter().fold(report, |v, key| &v[*key]);
    value.as_u64().unwrap_or_else(|| panic!("{path:?} in {report}"))
}

#[tokio::test]
async fn sigterm_lets_in_flight_batches_finish_and_loses_nothing() {
    let p = pipeline("consume-drain").await;
    let all = send_reserved(&p, &unique("drain"), 50).await;
    let mut consumer = Consumer::start(&p, Duration::from_secs(3), true);

    // Two batches of ten at a time, three seconds each: a second after the
    // first two are through (sent, then deleted), the next two are in flight.
    let mut shipped = BTreeSet::new();
    collect(
        &p,
        &p.notifications,
        &mut shipped,
        Instant::now() + Duration::from_secs(60),
        |s| s.len() >= 20,
    )
    .await;
    assert!(
        shipped.len() >= 20,
        "only {} shipments; its log:\n{}",
        shipped.len(),
        consumer.stderr()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    consumer.terminate();
    let signalled = Instant::now();
    let (status, report) = consumer.exit(Duration::from_secs(35)).await;
    let stop = signalled.elapsed();
    let log = consumer.stderr();
    assert!(status.success(), "{status}; its log:\n{log}");
    assert_eq!(report["signal"], "SIGTERM");
    assert_eq!(report["forced"], false);
    let in_flight = count(&report, &["inFlightAtSignal", "messages"]);
    assert!(in_flight > 0, "work was in flight at the signal: {report}");
    assert_eq!(count(&report, &["abandoned", "invocations"]), 0, "{report}");
    assert!(
        stop < Duration::from_secs(10),
        "the drain waits for the batches, not for the timeout: {stop:?}"
    );
    assert!(log.contains("stopping: no more receives"), "{log}");
    assert!(log.contains("stopped: every in-flight batch finished"), "{log}");
    assert!(
        log.contains("shipping: stopped by SIGTERM after"),
        "the summary on stderr:\n{log}"
    );

    // Every message was shipped (and deleted), or is back in the source queue
    // within its visibility timeout; none was shipped and left behind.
    let exited = Instant::now();
    collect(
        &p,
        &p.notifications,
        &mut shipped,
        exited + Duration::from_secs(3),
        |s| s.len() >= all.len(),
    )
    .await;
    let mut left = BTreeSet::new();
    collect(
        &p,
        &p.source,
        &mut left,
        exited + VISIBILITY_TIMEOUT + Duration::from_secs(2),
        |l| shipped.len() + l.len() >= all.len(),
    )
    .await;
    let accounted: BTreeSet<String> = shipped.union(&left).cloned().collect();
    assert_eq!(accounted, all, "every message shipped or back in the queue");
    assert!(
        shipped.is_disjoint(&left),
        "shipped and not deleted: {:?}",
        shipped.intersection(&left)
    );
    assert_eq!(count(&report, &["deleted"]), shipped.len() as u64, "{report}");
    assert!(
        shipped.len() as u64 >= 20 + in_flight,
        "the batches in flight at the signal finished: {} shipped, {in_flight} in flight",
        shipped.len()
    );
    eprintln!(
        "drain: SIGTERM with {in_flight} messages in flight, exit after {stop:.1?}; {} shipped, {} left in the queue",
        shipped.len(),
        left.len()
    );
}

#[tokio::test]
async fn sigterm_abandons_hung_batches_at_the_drain_timeout_and_they_come_back() {
    let p = pipeline("consume-hang").await;
    let all = send_reserved(&p, &unique("hang"), 25).await;
    // The handler hangs: nothing finishes, ever.
    let mut consumer = Consumer::start(&p, Duration::from_secs(3600), false);

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut counts = queue_counts(&p).await;
    // The counts are approximate (one attribute read while a receive changes
    // the other), so wait for the settled pair, not only the in-flight count.
    while counts != (5, 20) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        counts = queue_counts(&p).await;
    }
    assert_eq!(
        counts,
        (5, 20),
        "two batches of ten in flight; its log:\n{}",
        consumer.stderr()
    );
    // Past their visibility timeout, the heartbeat keeps them hidden.
    tokio::time::sleep(VISIBILITY_TIMEOUT + Duration::from_secs(2)).await;
    assert_eq!(
        queue_counts(&p).await,
        (5, 20),
        "still hidden after their timeout"
    );

    consumer.terminate();
    let signalled = Instant::now();
    let (status, report) = consumer.exit(Duration::from_secs(35)).await;
    let stop = signalled.elapsed();
    let exited = Instant::now();
    let log = consumer.stderr();
    assert!(status.success(), "{status}; its log:\n{log}");
    assert!(
        stop >= Duration::from_secs(30),
        "waited for the drain timeout: {stop:?}"
    );
    assert_eq!(count(&report, &["inFlightAtSignal", "messages"]), 20, "{report}");
    assert_eq!(count(&report, &["abandoned", "invocations"]), 2, "{report}");
    assert_eq!(count(&report, &["abandoned", "messages"]), 20, "{report}");
    assert_eq!(count(&report, &["deleted"]), 0, "{report}");
    assert!(log.contains("drain timeout reached: abandoning"), "{log}");
    assert!(log.contains("2 abandoned at the 30 s drain timeout"), "{log}");

    // Extended up to the end, then no more: all 25 are back within a timeout.
    let mut left = BTreeSet::new();
    collect(
        &p,
        &p.source,
        &mut left,
        exited + VISIBILITY_TIMEOUT + Duration::from_secs(2),
        |l| l.len() >= all.len(),
    )
    .await;
    assert_eq!(
        left, all,
        "every message back in the queue within its visibility timeout"
    );
    let returned = exited.elapsed();
    let shipped = order_ids(&receive(&p.sqs, &p.notifications, 10, 1).await);
    assert!(shipped.is_empty(), "nothing ran: {shipped:?}");
    eprintln!(
        "hang: SIGTERM with 20 messages in flight, exit after {stop:.1?} (drain timeout), all 25 back {returned:.1?} after the exit"
    );
}

#[tokio::test]
async fn a_message_received_after_sigterm_goes_back_to_the_queue_at_once() {
    // Long enough that a message hidden by the consumer cannot pass for one given back.
    let visibility = Duration::from_secs(60);
    let p = pipeline_with_visibility("consume-late", visibility).await;
    let mut consumer = Consumer::start(&p, Duration::ZERO, true);
    consumer.wait_until_consuming().await;

    // The queue is empty: the consumer's 20 s long poll is waiting when the signal comes.
    consumer.terminate();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = send_reserved(&p, &unique("late"), 1).await;
    let sent_at = Instant::now();
    let (status, report) = consumer.exit(Duration::from_secs(35)).await;
    let stopped = sent_at.elapsed();
    let log = consumer.stderr();
    assert!(status.success(), "{status}; its log:\n{log}");

    // The poll that was waiting got the message: it is visible again at once,
    // not after the queue's visibility timeout.
    let mut back = BTreeSet::new();
    collect(&p, &p.source, &mut back, sent_at + Duration::from_secs(10), |b| {
        !b.is_empty()
    })
    .await;
    assert_eq!(
        back,
        sent,
        "the message is back in the queue {:.1?} after it was sent; its log:\n{log}",
        sent_at.elapsed()
    );
    let shipped = order_ids(&receive(&p.sqs, &p.notifications, 10, 1).await);
    assert!(shipped.is_empty(), "nothing ran after the signal: {shipped:?}");
    assert_eq!(count(&report, &["invocations"]), 0, "{report}");
    assert_eq!(count(&report, &["deleted"]), 0, "{report}");
    assert_eq!(count(&report, &["returnedAfterSignal"]), 1, "{report}");
    assert!(
        log.contains("1 received after the signal, back in the queue at once"),
        "the summary on stderr:\n{log}"
    );
    eprintln!(
        "late: a message sent 2 s after SIGTERM; the consumer exited {stopped:.1?} after it, and it was visible again"
    );
}
