//! The batch semantics of `BatchProcessor`, one test per rule, over in-memory adapters.

mod harness;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use harness::{harness, harness_claiming_together};
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::{InvocationMetrics, Metric, Unit};
use orderflow_batch::ports::{Claim, IdempotencyStore, MetricsSink};
use orderflow_batch::processor::{
    BatchConfig, BatchError, BatchProcessor, FailureReason, FifoFailureMode, InvocationContext, Outgoing,
    RecordContext, RecordOutcome, RecordStep,
};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryMetrics, InMemoryQueues};

const STANDARD: &str = "arn:aws:sqs:us-east-1:123456789012:work";
const FIFO: &str = "arn:aws:sqs:us-east-1:123456789012:work.fifo";
const OUT: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/out";
const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/work-dlq";

/// A step driven by its bodies: `key`, `fail` ("retry" or "permanent"), `sleep_ms`.
#[derive(Default)]
struct ScriptedStep {
    runs: Mutex<Vec<String>>,
    /// Each run's `RecordContext::started_at`, in run order.
    started: Mutex<Vec<time::OffsetDateTime>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[derive(serde::Deserialize)]
struct Script {
    key: String,
    /// What the record says about its key: the fingerprint covers it.
    #[serde(default)]
    content: String,
    fail: Option<String>,
    sleep_ms: Option<u64>,
    /// A value the step records as `ScriptedValue` (and 1 of `ScriptedRuns`, by `Lane`).
    value: Option<f64>,
    #[serde(skip)]
    correlation_id: String,
}

impl ScriptedStep {
    fn runs(&self) -> Vec<String> {
        self.runs.lock().unwrap().clone()
    }
}

impl RecordStep for ScriptedStep {
    type Input = Script;

    fn name(&self) -> &'static str {
        "test"
    }

    fn decode(&self, message: &dyn orderflow_batch::sqs::SqsRecord) -> Result<Script, RecordError> {
        let body = orderflow_batch::sqs::body(message)?;
        let mut script: Script =
            serde_json::from_str(body).map_err(|e| RecordError::InvalidJson(e.to_string()))?;
        script.correlation_id = format!("corr-{}", script.key);
        Ok(script)
    }

    fn key<'a>(&self, script: &'a Script) -> Cow<'a, str> {
        Cow::Borrowed(&script.key)
    }

    fn correlation_id<'a>(&self, script: &'a Script) -> &'a str {
        &script.correlation_id
    }

    fn fingerprint(&self, script: &Script) -> Fingerprint {
        script_fingerprint(&script.key, &script.content)
    }

    async fn run(&self, script: Script, context: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.runs.lock().unwrap().push(context.message_id.to_owned());
        self.started.lock().unwrap().push(context.started_at);
        if let Some(value) = script.value {
            context.metrics.record(&SCRIPTED_VALUE, value).unwrap();
            let lane = if value < 0.0 { "negative" } else { "positive" };
            context
                .metrics
                .record_by(&SCRIPTED_RUNS, &[("Lane", lane)], 1.0)
                .unwrap();
        }
        if let Some(ms) = script.sleep_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match script.fail.as_deref() {
            Some("retry") => Err(PortError::new(PortErrorKind::Throttled, "Test", "slow down").into()),
            Some("permanent") => Err(RecordError::UnknownEventType("scripted")),
            _ => Ok(vec![Outgoing {
                queue_url: OUT.into(),
                message: orderflow_batch::ports::OutgoingMessage::new(script.key),
            }]),
        }
    }
}

/// What the scripted step records of its `value`.
const SCRIPTED_VALUE: Metric = Metric::distribution("ScriptedValue", Unit::None);
/// Counted once a run that has a `value`, by the value's sign.
const SCRIPTED_RUNS: Metric = Metric::counter("ScriptedRuns");

/// The fingerprint the scripted step gives a key and content.
fn script_fingerprint(key: &str, content: &str) -> Fingerprint {
    Fingerprint::of(|f| {
        f.str(key).str(content);
    })
}

fn record(id: &str, body: Option<&str>, arn: &str, group: Option<&str>) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.to_owned());
    m.receipt_handle = Some(format!("rh-{id}"));
    m.body = body.map(str::to_owned);
    m.event_source_arn = Some(arn.to_owned());
    m.attributes = HashMap::from([("ApproximateReceiveCount".to_owned(), "3".to_owned())]);
    if let Some(g) = group {
        m.attributes.insert("MessageGroupId".to_owned(), g.to_owned());
    }
    let mut attr = SqsMessageAttribute::default();
    attr.string_value = Some("ORIGINAL".to_owned());
    attr.data_type = Some("String".to_owned());
    m.message_attributes.insert("EventType".to_owned(), attr);
    m
}

fn ok(id: &str, key: &str) -> SqsMessage {
    record(id, Some(&format!(r#"{{"key":"{key}"}}"#)), STANDARD, None)
}

fn with_body(id: &str, body: &str) -> SqsMessage {
    record(id, Some(body), STANDARD, None)
}

fn event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

/// The default configuration with the fast path to [`DLQ`].
fn with_dlq() -> BatchConfig {
    BatchConfig {
        dead_letter_queue_url: Some(DLQ.to_owned()),
        ..Default::default()
    }
}

fn context() -> InvocationContext {
    InvocationContext::with_timeout("req-1", Duration::from_secs(60))
}

fn failed_ids(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn an_all_valid_batch_succeeds_and_sends_in_batches_of_ten() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = (0..25).map(|i| ok(&format!("m{i}"), &format!("k{i}"))).collect();
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(h.queues.messages(OUT).len(), 25);
    assert_eq!(h.queues.send_calls(), 3);
    assert_eq!(report.forwarded.get(OUT), Some(&25));
    assert_eq!(h.store.completed(), 25, "completed after the sends succeeded");
    let m = &h.metrics.published()[0];
    assert_eq!((m.batch_size, m.processed, m.failed), (25, 25, 0));
    assert_eq!(m.latencies_ms.len(), 25);
}

#[tokio::test]
async fn one_bad_body_fails_only_that_record() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = vec![
        ok("a", "1"),
        with_body("b", "{not json"),
        record("c", None, STANDARD, None),
        ok("d", "2"),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["b", "c"]);
    assert_eq!(
        report.outcomes[1],
        RecordOutcome::Failed {
            reason: FailureReason::Permanent,
            code: "InvalidJson"
        }
    );
    assert_eq!(
        report.outcomes[2],
        RecordOutcome::Failed {
            reason: FailureReason::Permanent,
            code: "MissingBody"
        }
    );
    assert_eq!(step.runs(), ["a", "d"]);
    // Permanent failures are not backed off: they are the message's fault.
    assert!(h.queues.visibility_changes().is_empty());
}

#[tokio::test]
async fn permanent_failures_go_to_the_dlq_with_the_error_and_are_not_reported() {
    let dlq = DLQ;
    let h = harness(with_dlq());
    let step = ScriptedStep::default();
    let records = vec![
        ok("a", "1"),
        with_body("b", "{not json"),
        with_body("c", r#"{"key":"3","fail":"permanent"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    let dead = h.queues.messages(dlq);
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].body, "{not json");
    assert_eq!(dead[0].attribute("ErrorCode"), Some("InvalidJson"));
    assert!(
        dead[0]
            .attribute("ErrorMessage")
            .unwrap()
            .starts_with("body is not valid JSON")
    );
    assert_eq!(dead[0].attribute("SourceQueue"), Some("work"));
    assert_eq!(dead[0].attribute("OriginalMessageId"), Some("b"));
    assert!(dead[0].attribute("FailedAt").unwrap().starts_with("20"));
    assert_eq!(
        dead[0].attribute("EventType"),
        Some("ORIGINAL"),
        "original attributes kept"
    );
    assert_eq!(dead[1].attribute("ErrorCode"), Some("UnknownEventType"));
    assert_eq!(h.metrics.published()[0].sent_to_dlq, 2);
    assert!(
        !h.store.contains("test#3"),
        "the failed step's claim was released"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_dlq_send_reports_the_record_instead() {
    let h = harness(with_dlq());
    h.queues.fail_sends(100, PortErrorKind::NotFound);
    let report = h
        .processor
        .process(
            &event(vec![with_body("b", "nope")]),
            &context(),
            &ScriptedStep::default(),
        )
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["b"]);
}

#[tokio::test]
async fn retryable_failures_are_reported_and_backed_off() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = vec![ok("a", "1"), with_body("b", r#"{"key":"2","fail":"retry"}"#)];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["b"]);
    let changes = h.queues.visibility_changes();
    assert_eq!(changes.len(), 1);
    let (url, change) = &changes[0];
    assert_eq!(url, "https://sqs.us-east-1.amazonaws.com/123456789012/work");
    assert_eq!(change.receipt_handle, "rh-b");
    // Receive count 3, base 2 s: full jitter up to 8 s.
    assert!(
        (1..=8).contains(&change.timeout_seconds),
        "{}",
        change.timeout_seconds
    );
    assert!(!h.store.contains("test#2"), "released so a retry can run it");
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_holds() {
    let h = harness(BatchConfig {
        max_concurrency: 4,
        ..Default::default()
    });
    let step = ScriptedStep::default();
    let records = (0..40)
        .map(|i| with_body(&format!("m{i}"), &format!(r#"{{"key":"k{i}","sleep_ms":10}}"#)))
        .collect();
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(step.max_in_flight.load(Ordering::SeqCst), 4);
    assert_eq!(step.runs().len(), 40);
}

#[tokio::test(start_paused = true)]
async fn each_record_starts_at_its_own_time_on_the_batch_clock() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let before = orderflow_batch::clock::now_utc();
    // One message group: the second record starts after the first slept 10 s of paused time.
    let records = vec![
        fifo("a", "g", r#"{"key":"a","sleep_ms":10000}"#),
        fifo("b", "g", r#"{"key":"b"}"#),
    ];
    h.processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    let started = step.started.lock().unwrap().clone();
    assert_eq!(started.len(), 2);
    // The clock is read against real time too: allow it a millisecond of jitter.
    let jitter = time::Duration::milliseconds(1);
    let after = orderflow_batch::clock::now_utc();
    assert!(
        started[0] + jitter >= before && started[0] - before < time::Duration::seconds(1),
        "{started:?}"
    );
    assert!(
        started[1] - started[0] >= time::Duration::seconds(10),
        "{started:?}"
    );
    assert!(started[1] <= after + jitter, "{started:?} after {after}");
}

/// `record` received `count` times.
fn received(mut record: SqsMessage, count: u32) -> SqsMessage {
    record
        .attributes
        .insert("ApproximateReceiveCount".to_owned(), count.to_string());
    record
}

#[tokio::test(start_paused = true)]
async fn a_retryable_failure_on_the_last_allowed_receive_is_dead_lettered_with_its_reason() {
    let retry = |id: &str, key: &str, count| {
        received(
            with_body(id, &format!(r#"{{"key":"{key}","fail":"retry"}}"#)),
            count,
        )
    };
    let records = || {
        vec![
            retry("last", "1", 5),
            retry("earlier", "2", 4),
            received(ok("fine", "3"), 5),
            // Cut off by the deadline on its last receive.
            received(with_body("late", r#"{"key":"4","sleep_ms":120000}"#), 5),
        ]
    };
    let config = BatchConfig {
        max_receive_count: Some(5),
        ..with_dlq()
    };
    let h = harness(config);
    let step = ScriptedStep::default();
    let report = h
        .processor
        .process(&event(records()), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["earlier"]);
    let dead = h.queues.messages(DLQ);
    let by_id = |id: &str| {
        dead.iter()
            .find(|m| m.attribute("OriginalMessageId") == Some(id))
            .unwrap_or_else(|| panic!("{id} dead-lettered: {dead:?}"))
    };
    let last = by_id("last");
    assert_eq!(last.attribute("ErrorCode"), Some("RetriesExhausted"));
    assert_eq!(last.attribute("LastErrorCode"), Some("Throttled"));
    assert_eq!(
        last.attribute("ErrorMessage"),
        Some("failed on receive 5, the last the queue allows: Test failed (Throttled): slow down")
    );
    assert_eq!(last.attribute("EventType"), Some("ORIGINAL"));
    let late = by_id("late");
    assert_eq!(late.attribute("ErrorCode"), Some("RetriesExhausted"));
    assert_eq!(late.attribute("LastErrorCode"), Some("DeadlineReached"));
    assert_eq!(dead.len(), 2);
    assert_eq!(h.metrics.published()[0].sent_to_dlq, 2);
    let backed_off: Vec<String> = h
        .queues
        .visibility_changes()
        .iter()
        .map(|(_, c)| c.receipt_handle.clone())
        .collect();
    assert_eq!(backed_off, ["rh-earlier"], "a dead letter is not backed off");
    assert!(
        !h.store.contains("test#1") && !h.store.contains("test#4"),
        "claims released"
    );

    // Without the queue's maxReceiveCount, the queue's redrive moves them: reported failed.
    let h = harness(with_dlq());
    let report = h
        .processor
        .process(&event(records()), &context(), &ScriptedStep::default())
        .await
        .unwrap();
    let mut failed = failed_ids(&report.response);
    failed.sort();
    assert_eq!(failed, ["earlier", "last", "late"]);
    assert!(h.queues.messages(DLQ).is_empty());
}

fn fifo(id: &str, group: &str, body: &str) -> SqsMessage {
    record(id, Some(body), FIFO, Some(group))
}

#[tokio::test]
async fn fifo_skips_the_rest_of_a_failed_group_and_other_groups_go_on() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = vec![
        fifo("a1", "A", r#"{"key":"a1"}"#),
        fifo("b1", "B", r#"{"key":"b1"}"#),
        fifo("a2", "A", r#"{"key":"a2","fail":"retry"}"#),
        fifo("b2", "B", r#"{"key":"b2"}"#),
        fifo("a3", "A", r#"{"key":"a3"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["a2", "a3"]);
    assert!(!step.runs().contains(&"a3".to_owned()), "a3 never ran");
    assert_eq!(
        report.outcomes[4],
        RecordOutcome::Failed {
            reason: FailureReason::Skipped,
            code: "GroupFailed"
        }
    );
    let runs = step.runs();
    let pos = |id: &str| runs.iter().position(|r| r == id).unwrap();
    assert!(
        pos("a1") < pos("a2") && pos("b1") < pos("b2"),
        "order kept within groups: {runs:?}"
    );
    // Messages of the succeeded records were sent, in order per group.
    let bodies: Vec<String> = h.queues.messages(OUT).into_iter().map(|m| m.body).collect();
    assert_eq!(
        bodies.iter().filter(|b| b.starts_with('a')).collect::<Vec<_>>(),
        ["a1"]
    );
    assert_eq!(
        bodies.iter().filter(|b| b.starts_with('b')).collect::<Vec<_>>(),
        ["b1", "b2"]
    );
}

#[tokio::test]
async fn fifo_stop_batch_reports_everything_after_the_failure() {
    let h = harness(BatchConfig {
        fifo_failure_mode: FifoFailureMode::StopBatch,
        ..Default::default()
    });
    let step = ScriptedStep::default();
    let records = vec![
        fifo("a1", "A", r#"{"key":"a1"}"#),
        fifo("b1", "B", r#"{"key":"b1"}"#),
        fifo("a2", "A", r#"{"key":"a2","fail":"retry"}"#),
        fifo("b2", "B", r#"{"key":"b2"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["a2", "b2"]);
    assert_eq!(step.runs(), ["a1", "b1", "a2"]);
}

#[tokio::test]
async fn fifo_a_permanent_failure_stops_its_group_without_a_dlq() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = vec![
        fifo("a1", "A", "garbage"),
        fifo("a2", "A", r#"{"key":"a2"}"#),
        fifo("b1", "B", r#"{"key":"b1"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["a1", "a2"]);
    assert_eq!(step.runs(), ["b1"]);
}

/// One record at a time, answering 1.5 s before the deadline and starting
/// nothing in the last second before that.
fn one_at_a_time_with_margins() -> BatchConfig {
    BatchConfig {
        max_concurrency: 1,
        deadline_margin: Duration::from_millis(1500),
        settlement_reserve: Duration::from_millis(1000),
        ..Default::default()
    }
}

/// m0 to m5 (keys k0 to k5), each step taking a second.
fn six_one_second_records() -> Vec<SqsMessage> {
    (0..6)
        .map(|i| with_body(&format!("m{i}"), &format!(r#"{{"key":"k{i}","sleep_ms":1000}}"#)))
        .collect()
}

/// The six one-second records with 5 s left, a 1.5 s margin and 1 s kept
/// for settling: m0 and m1 finish, m2 is cut off mid-step, m3.. never start
/// (all four reported failed). Their outcomes.
async fn cut_off_by_the_deadline(h: &harness::Harness, step: &ScriptedStep) -> Vec<RecordOutcome> {
    let context = InvocationContext::with_timeout("req", Duration::from_secs(5));
    let report = h
        .processor
        .process(&event(six_one_second_records()), &context, step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["m2", "m3", "m4", "m5"]);
    report.outcomes
}

#[tokio::test(start_paused = true)]
async fn the_deadline_margin_reports_unstarted_and_unfinished_records() {
    let h = harness(one_at_a_time_with_margins());
    let step = ScriptedStep::default();
    let outcomes = cut_off_by_the_deadline(&h, &step).await;
    assert_eq!(step.runs(), ["m0", "m1", "m2"]);
    assert_eq!(
        outcomes[2],
        RecordOutcome::Failed {
            reason: FailureReason::Deadline,
            code: "DeadlineReached"
        }
    );
    assert!(
        !h.store.contains("test#k2"),
        "the cut-off record's claim was released"
    );
    assert_eq!(h.queues.messages(OUT).len(), 2, "only finished records sent");
}

/// The same batches, claimed record by record and claimed together (as a
/// pipelining store does): the same outcomes, responses and sends, twice
/// (the second time a redelivery); claimed together, one call a batch and
/// no claim left by a record that did not finish.
#[tokio::test(start_paused = true)]
async fn claiming_a_batch_together_decides_as_claiming_each_record() {
    let standard = |id: &str, body: &str| with_body(id, body);
    let cases: Vec<(&str, BatchConfig, Vec<SqsMessage>, u64)> = vec![
        (
            "mixed",
            with_dlq(),
            vec![
                standard("a", r#"{"key":"1"}"#),
                standard("b", r#"{"key":"2"}"#),
                standard("c", r#"{"key":"3","fail":"retry"}"#),
                standard("d", r#"{"key":"4","fail":"permanent"}"#),
                standard("a-again", r#"{"key":"1"}"#),
                standard("b-rival", r#"{"key":"2","content":"other"}"#),
                standard("bad", "not json"),
            ],
            60,
        ),
        (
            "fifo",
            BatchConfig::default(),
            vec![
                fifo("g1-1", "g1", r#"{"key":"g1-1"}"#),
                fifo("g1-2", "g1", r#"{"key":"g1-2","fail":"retry"}"#),
                fifo("g1-3", "g1", r#"{"key":"g1-3"}"#),
                fifo("g2-1", "g2", r#"{"key":"g2-1"}"#),
            ],
            60,
        ),
        (
            "deadline",
            one_at_a_time_with_margins(),
            six_one_second_records(),
            5,
        ),
    ];
    for (name, config, records, seconds) in cases {
        let (each, together) = (harness(config.clone()), harness_claiming_together(config));
        let (step_each, step_together) = (ScriptedStep::default(), ScriptedStep::default());
        for delivery in ["first", "again"] {
            // A deadline of its own for each: the paused clock moves with the steps.
            let context = || InvocationContext::with_timeout("req", Duration::from_secs(seconds));
            let batch = event(records.clone());
            let a = each.processor.process(&batch, &context(), &step_each).await;
            let b = together
                .processor
                .process(&batch, &context(), &step_together)
                .await;
            let (a, b) = (
                a.unwrap_or_else(|e| panic!("{name}, {delivery}: {e}")),
                b.unwrap_or_else(|e| panic!("{name}, {delivery}: {e}")),
            );
            assert_eq!(a.outcomes, b.outcomes, "{name}, {delivery}");
            assert_eq!(
                failed_ids(&a.response),
                failed_ids(&b.response),
                "{name}, {delivery}"
            );
            assert_eq!(
                each.queues.messages(OUT).len(),
                together.queues.messages(OUT).len()
            );
            assert_eq!(
                each.queues.messages(DLQ).len(),
                together.queues.messages(DLQ).len()
            );
        }
        assert_eq!(step_each.runs(), step_together.runs(), "{name}: the same runs");
        let (single, batches) = together.store.claim_calls();
        assert_eq!(
            (single, batches),
            (0, 2),
            "{name}: one call a delivery, none a record"
        );
        assert_eq!(each.store.completed(), together.store.completed(), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn claimed_together_a_record_that_does_not_finish_leaves_no_claim() {
    // Cut off by the deadline (m2 mid-step, m3.. never started), or after
    // its group's failure: each claimed with the batch, each released.
    let h = harness_claiming_together(one_at_a_time_with_margins());
    let step = ScriptedStep::default();
    cut_off_by_the_deadline(&h, &step).await;
    for key in ["test#k2", "test#k3", "test#k4", "test#k5"] {
        assert!(!h.store.contains(key), "{key}: claimed with the batch, released");
    }
    assert!(h.store.contains("test#k0") && h.store.contains("test#k1"));

    let h = harness_claiming_together(BatchConfig::default());
    let records = vec![
        fifo("g1-1", "g1", r#"{"key":"g1-1","fail":"retry"}"#),
        fifo("g1-2", "g1", r#"{"key":"g1-2"}"#),
        fifo("g2-1", "g2", r#"{"key":"g2-1"}"#),
    ];
    let context = InvocationContext::with_timeout("req", Duration::from_secs(60));
    let report = h
        .processor
        .process(&event(records), &context, &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["g1-1", "g1-2"]);
    assert!(!h.store.contains("test#g1-1") && !h.store.contains("test#g1-2"));
    assert!(h.store.contains("test#g2-1"));
}

#[tokio::test]
async fn all_records_failing_retryably_fails_the_invocation_unless_disabled() {
    let records = || {
        event(vec![
            with_body("a", r#"{"key":"1","fail":"retry"}"#),
            with_body("b", r#"{"key":"2","fail":"retry"}"#),
        ])
    };
    let h = harness(BatchConfig::default());
    let err = h
        .processor
        .process(&records(), &context(), &ScriptedStep::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BatchError::AllRecordsFailed { count: 2, .. }),
        "{err}"
    );
    assert_eq!(
        h.metrics.published()[0].failed,
        2,
        "metrics flushed on the error path"
    );

    let h = harness(BatchConfig {
        error_when_all_retryable: false,
        ..Default::default()
    });
    let report = h
        .processor
        .process(&records(), &context(), &ScriptedStep::default())
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["a", "b"]);
}

#[tokio::test]
async fn all_records_failing_permanently_is_a_normal_response() {
    let h = harness(BatchConfig::default());
    let records = event(vec![with_body("a", "x"), with_body("b", "y")]);
    let report = h
        .processor
        .process(&records, &context(), &ScriptedStep::default())
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["a", "b"]);
}

#[tokio::test]
async fn a_record_without_message_id_fails_the_invocation_before_anything_runs() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let mut nameless = ok("x", "2");
    nameless.message_id = Some(String::new());
    let err = h
        .processor
        .process(&event(vec![ok("a", "1"), nameless]), &context(), &step)
        .await
        .unwrap_err();
    assert!(matches!(err, BatchError::MissingMessageId { index: 1 }));
    assert!(step.runs().is_empty());
    assert_eq!(h.metrics.published().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_same_key_twice_in_a_batch_runs_once_and_the_duplicate_is_skipped() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = vec![
        with_body("first", r#"{"key":"order-1","sleep_ms":50}"#),
        ok("other", "order-2"),
        with_body("again", r#"{"key":"order-1"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(report.outcomes[2], RecordOutcome::Duplicate);
    assert_eq!(step.runs(), ["first", "other"]);
    assert_eq!(h.metrics.published()[0].duplicates_skipped, 1);
    assert_eq!(h.queues.messages(OUT).len(), 2);
}

#[tokio::test]
async fn a_duplicate_of_a_failed_record_is_failed_too() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let records = vec![
        with_body("first", r#"{"key":"k","fail":"retry"}"#),
        ok("again", "k"),
        ok("x", "y"),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["first", "again"]);
}

#[tokio::test]
async fn a_redelivered_batch_is_skipped_and_counted() {
    let h = harness(BatchConfig::default());
    let step = ScriptedStep::default();
    let batch = event(vec![ok("a", "1"), ok("b", "2")]);
    h.processor.process(&batch, &context(), &step).await.unwrap();
    let report = h.processor.process(&batch, &context(), &step).await.unwrap();
    assert_eq!(
        report.outcomes,
        [RecordOutcome::Duplicate, RecordOutcome::Duplicate]
    );
    assert_eq!(step.runs().len(), 2, "each step ran once");
    let published = h.metrics.published();
    assert_eq!((published[1].duplicates_skipped, published[1].processed), (2, 0));
    assert_eq!(h.queues.messages(OUT).len(), 2);
}

#[tokio::test]
async fn a_steps_metrics_count_only_for_records_that_end_processed() {
    let h = harness(with_dlq());
    let step = ScriptedStep::default();
    let value = |id: &str, key: &str, value: f64, fail: &str| {
        let fail = if fail.is_empty() {
            String::new()
        } else {
            format!(r#","fail":"{fail}""#)
        };
        with_body(id, &format!(r#"{{"key":"{key}","value":{value}{fail}}}"#))
    };
    let first = event(vec![
        value("a", "1", 2.5, ""),
        value("b", "2", 4.0, ""),
        value("c", "3", -1.0, ""),
        value("retried", "4", 100.0, "retry"),
        value("dead", "5", 200.0, "permanent"),
        value("again", "1", 2.5, ""), // follows "a": runs nothing
    ]);
    let report = h.processor.process(&first, &context(), &step).await.unwrap();
    assert_eq!(failed_ids(&report.response), ["retried"]);
    let steps = &h.metrics.published()[0].steps;
    let series = |name: &str, lane: Option<&str>| {
        steps
            .iter()
            .find(|s| s.metric.name == name && s.dimensions.first().map(|(_, v)| v.as_str()) == lane)
            .map(|s| s.values.clone())
    };
    assert_eq!(series("ScriptedValue", None), Some(vec![2.5, 4.0, -1.0]));
    assert_eq!(series("ScriptedRuns", Some("positive")), Some(vec![2.0]), "a sum");
    assert_eq!(series("ScriptedRuns", Some("negative")), Some(vec![1.0]));
    assert_eq!(
        steps.len(),
        3,
        "no series from the failed or dead-lettered runs: {steps:?}"
    );

    // Redelivered: the done ones are duplicates (no run, no metrics), the retry succeeds.
    let second = event(vec![value("a", "1", 2.5, ""), value("retried", "4", 100.0, "")]);
    h.processor.process(&second, &context(), &step).await.unwrap();
    let steps = &h.metrics.published()[1].steps;
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].values, [100.0]);
    assert_eq!(steps[1].values, [1.0]);
}

#[tokio::test]
async fn a_reused_key_with_other_content_is_dead_lettered_never_skipped() {
    let dlq = DLQ;
    let h = harness(with_dlq());
    let step = ScriptedStep::default();
    // Within one batch: the second record reuses the first one's key for other content.
    let records = vec![
        with_body("alice", r#"{"key":"ord-1","content":"alice's order"}"#),
        with_body("mallory", r#"{"key":"ord-1","content":"mallory's order"}"#),
        with_body("alice-again", r#"{"key":"ord-1","content":"alice's order"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(
        report.outcomes,
        [
            RecordOutcome::Processed,
            RecordOutcome::DeadLettered {
                code: "IdempotencyKeyReused"
            },
            RecordOutcome::Duplicate
        ]
    );
    assert_eq!(step.runs(), ["alice"]);
    let dead = h.queues.messages(dlq);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attribute("ErrorCode"), Some("IdempotencyKeyReused"));
    assert_eq!(dead[0].attribute("OriginalMessageId"), Some("mallory"));
    let published = h.metrics.published();
    assert_eq!(
        (published[0].keys_reused, published[0].duplicates_skipped),
        (1, 1)
    );

    // In a later batch: the completed record's fingerprint tells the reuse from a redelivery.
    let records = vec![
        with_body("mallory-later", r#"{"key":"ord-1","content":"mallory's order"}"#),
        with_body("alice-later", r#"{"key":"ord-1","content":"alice's order"}"#),
    ];
    let report = h
        .processor
        .process(&event(records), &context(), &step)
        .await
        .unwrap();
    // The leader reuses the key; whether its rival is a redelivery only the
    // store can say, so the rival is retried rather than guessed at.
    assert_eq!(
        report.outcomes,
        [
            RecordOutcome::DeadLettered {
                code: "IdempotencyKeyReused"
            },
            RecordOutcome::Failed {
                reason: FailureReason::Retryable,
                code: "KeyContended"
            }
        ]
    );
    assert_eq!(failed_ids(&report.response), ["alice-later"]);
    assert_eq!(h.queues.messages(dlq).len(), 2);
    assert_eq!(h.metrics.published()[1].keys_reused, 1);
    let retried = event(vec![with_body(
        "alice-later",
        r#"{"key":"ord-1","content":"alice's order"}"#,
    )]);
    let report = h.processor.process(&retried, &context(), &step).await.unwrap();
    assert_eq!(report.outcomes, [RecordOutcome::Duplicate]);
    assert_eq!(step.runs(), ["alice"], "neither ran again");
}

#[tokio::test]
async fn a_key_in_progress_elsewhere_is_a_retryable_failure() {
    let h = harness(BatchConfig::default());
    let far = u64::MAX / 2;
    assert_eq!(
        h.store
            .claim("test#1", script_fingerprint("1", ""), 0, far)
            .await
            .unwrap(),
        Claim::Acquired
    );
    let step = ScriptedStep::default();
    let report = h
        .processor
        .process(&event(vec![ok("a", "1"), ok("b", "2")]), &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["a"]);
    assert_eq!(
        report.outcomes[0],
        RecordOutcome::Failed {
            reason: FailureReason::Retryable,
            code: "InProgress"
        }
    );
    assert_eq!(step.runs(), ["b"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_send_fails_its_record_and_releases_the_claim() {
    let h = harness(BatchConfig::default());
    h.queues.fail_sends(100, PortErrorKind::NotFound);
    let step = ScriptedStep::default();
    let report = h
        .processor
        .process(&event(vec![ok("a", "1"), ok("b", "2")]), &context(), &step)
        .await;
    // Both failed retryably: the invocation fails, and neither step is marked done.
    assert!(matches!(report, Err(BatchError::AllRecordsFailed { .. })));
    assert!(!h.store.contains("test#1") && !h.store.contains("test#2"));
}

#[tokio::test]
async fn the_response_names_each_failed_id_once_and_only_ids_of_the_batch() {
    let h = harness(BatchConfig::default());
    let records = vec![with_body("same", "x"), with_body("same", "y"), ok("fine", "1")];
    let report = h
        .processor
        .process(&event(records), &context(), &ScriptedStep::default())
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["same"]);
}

#[tokio::test]
async fn an_empty_batch_is_an_empty_response() {
    let h = harness(BatchConfig::default());
    let report = h
        .processor
        .process(&event(vec![]), &context(), &ScriptedStep::default())
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
}

struct BrokenSink;

#[async_trait]
impl MetricsSink for BrokenSink {
    async fn publish(&self, _: &InvocationMetrics) -> Result<(), PortError> {
        Err(PortError::new(
            PortErrorKind::Unavailable,
            "PutMetricData",
            "down",
        ))
    }
}

struct HangingSink;

#[async_trait]
impl MetricsSink for HangingSink {
    async fn publish(&self, _: &InvocationMetrics) -> Result<(), PortError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_hanging_metrics_sink_never_fails_the_batch() {
    for sink in [
        Arc::new(BrokenSink) as Arc<dyn MetricsSink>,
        Arc::new(HangingSink),
    ] {
        let processor = BatchProcessor::new(
            BatchConfig::default(),
            Arc::new(InMemoryQueues::new()),
            Arc::new(InMemoryIdempotencyStore::new()),
            sink,
        );
        let started = tokio::time::Instant::now();
        let report = processor
            .process(&event(vec![ok("a", "1")]), &context(), &ScriptedStep::default())
            .await;
        assert!(report.unwrap().response.batch_item_failures.is_empty());
        assert!(started.elapsed() <= BatchConfig::default().metrics_timeout);
    }
}

/// A queue whose calls never answer, like an endpoint that accepts and stays silent.
struct SilentQueue;

#[async_trait]
impl orderflow_batch::ports::MessageQueue for SilentQueue {
    async fn send_batch(
        &self,
        _: &str,
        _: Vec<orderflow_batch::ports::OutgoingMessage>,
    ) -> Vec<orderflow_batch::ports::Undelivered> {
        std::future::pending().await
    }

    async fn change_visibility_batch(
        &self,
        _: &str,
        _: &[orderflow_batch::ports::VisibilityChange],
    ) -> Result<orderflow_batch::ports::EntryResults, PortError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn calls_after_the_records_end_by_the_deadline_margin_and_their_records_are_retried() {
    let dlq = DLQ;
    let config = BatchConfig {
        dead_letter_queue_url: Some(dlq.to_owned()),
        deadline_margin: Duration::from_secs(2),
        error_when_all_retryable: false,
        ..Default::default()
    };
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let processor = BatchProcessor::new(
        config,
        Arc::new(SilentQueue),
        store.clone(),
        Arc::new(InMemoryMetrics::new()),
    );
    let step = ScriptedStep::default();
    let records = vec![
        ok("sent", "1"),
        with_body("dead-letter", "{not json"),
        with_body("retried", r#"{"key":"3","fail":"retry"}"#),
    ];
    let started = tokio::time::Instant::now();
    let context = InvocationContext::with_timeout("req-1", Duration::from_secs(10));
    let report = processor.process(&event(records), &context, &step).await.unwrap();
    assert!(
        started.elapsed() <= Duration::from_secs(8),
        "answered {:?} after the start, past the deadline less its margin",
        started.elapsed()
    );
    let cut = RecordOutcome::Failed {
        reason: FailureReason::Deadline,
        code: "DeadlineReached",
    };
    assert_eq!(report.outcomes[0], cut, "its message may not have gone out");
    assert_eq!(report.outcomes[1], cut, "it never reached the DLQ");
    assert_eq!(
        failed_ids(&report.response),
        ["sent", "dead-letter", "retried"],
        "every record stays with the queue"
    );
    assert!(
        !store.contains("test#1") || store.completed() == 0,
        "nothing marked done"
    );
}

#[tokio::test(start_paused = true)]
async fn dead_letters_are_stamped_with_the_batchs_clock() {
    let dlq = DLQ;
    let h = harness(with_dlq());
    // A local run's paused clock is days ahead of the system's.
    tokio::time::advance(Duration::from_secs(10 * 24 * 3600)).await;
    let step = ScriptedStep::default();
    h.processor
        .process(&event(vec![with_body("bad", "{not json")]), &context(), &step)
        .await
        .unwrap();
    let failed_at = h.queues.messages(dlq)[0]
        .attribute("FailedAt")
        .unwrap()
        .to_owned();
    let failed_at = orderflow_batch::rfc3339::parse(&failed_at).unwrap();
    let system_now = time::OffsetDateTime::now_utc();
    let ahead = failed_at - system_now;
    assert!(
        (ahead - time::Duration::days(10)).abs() < time::Duration::minutes(1),
        "FailedAt is {ahead} from the system clock, not the run's 10 days"
    );
}
