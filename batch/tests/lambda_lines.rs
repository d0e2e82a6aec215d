//! Lambda's subscriber: each invocation's lines carry its request ID, cold
//! start and X-Ray root trace ID beside the process's `service` and
//! `function_name`, and `LOG_SAMPLE_RATE` turns debug lines on for sampled
//! invocations only. One test in its own process: the subscriber and the
//! sample rate are the process's.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use orderflow_batch::error::RecordError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::processor::{
    BatchConfig, BatchProcessor, DEAD_LETTERED_LOG_MESSAGE, InvocationContext, Outgoing, RecordContext,
    RecordStep,
};
use orderflow_batch::telemetry::{LambdaLogging, MemoryWriter, invocation_span, lambda_subscriber, sampling};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryQueues};
use serde_json::Value;

/// Refuses every body as not JSON: each record is dead-lettered.
struct RefuseAll;

impl RecordStep for RefuseAll {
    type Input = ();

    fn name(&self) -> &'static str {
        "refuse"
    }

    fn decode(&self, _: &dyn orderflow_batch::sqs::SqsRecord) -> Result<(), RecordError> {
        Err(RecordError::InvalidJson(
            "expected value at line 1 column 1".to_owned(),
        ))
    }

    fn key<'a>(&self, _: &'a ()) -> Cow<'a, str> {
        Cow::Borrowed("k")
    }

    fn correlation_id<'a>(&self, _: &'a ()) -> &'a str {
        "c"
    }

    fn fingerprint(&self, _: &()) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str("k");
        })
    }

    async fn run(&self, _: (), _: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        Ok(Vec::new())
    }
}

fn lines(logs: &MemoryWriter) -> Vec<Value> {
    let lines = logs
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    logs.clear();
    lines
}

#[test]
fn invocations_carry_their_keys_and_sampled_ones_log_debug_lines() {
    let logs = MemoryWriter::default();
    let writer = logs.clone();
    let logging = LambdaLogging {
        service: "inventory".to_owned(),
        function_name: "shop-inventory".to_owned(),
        sample_rate: 0.25,
    };
    let subscriber = lambda_subscriber("info".parse().unwrap(), move || writer.clone(), &logging, None);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this process");

    let invocation = |request_id: &str, header: Option<&str>| {
        invocation_span(request_id, header).in_scope(|| {
            tracing::info_span!("record", message_id = "m-1").in_scope(|| {
                tracing::debug!("a detail");
                tracing::info!("a record line");
            });
        });
    };

    // Every invocation sampled: its debug lines are written too.
    sampling::set_sample_rate(1.0);
    invocation(
        "req-1",
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
    );
    let first = lines(&logs);
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[0]["level"], "DEBUG");
    for line in &first {
        assert_eq!(line["service"], "inventory");
        assert_eq!(line["function_name"], "shop-inventory");
        assert_eq!(line["function_request_id"], "req-1");
        assert_eq!(line["cold_start"], true);
        assert_eq!(line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(line["message_id"], "m-1");
    }

    // None sampled: info only; a warm start; no trace header, no trace ID.
    sampling::set_sample_rate(0.0);
    invocation("req-2", None);
    let second = lines(&logs);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["message"], "a record line");
    assert_eq!(second[0]["function_request_id"], "req-2");
    assert_eq!(second[0]["cold_start"], false);
    assert!(second[0].get("xray_trace_id").is_none(), "{}", second[0]);

    // At a rate between, some invocations are sampled and some are not.
    sampling::set_sample_rate(0.5);
    fastrand::seed(7);
    let mut sampled = 0;
    for n in 0..200 {
        invocation(&format!("req-{n}"), None);
        if lines(&logs).len() == 2 {
            sampled += 1;
        }
    }
    assert!((60..=140).contains(&sampled), "{sampled} of 200 sampled at 0.5");

    // Each dead letter is a line with its code: what the dashboard counts.
    sampling::set_sample_rate(0.0);
    let dlq = "https://sqs.us-east-1.amazonaws.com/1/work-dlq";
    let queues = Arc::new(InMemoryQueues::new());
    let processor = BatchProcessor::new(
        BatchConfig {
            dead_letter_queue_url: Some(dlq.to_owned()),
            ..BatchConfig::default()
        },
        Arc::clone(&queues) as _,
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let mut message = SqsMessage::default();
    message.message_id = Some("m-bad".to_owned());
    message.body = Some("{not json".to_owned());
    message.event_source_arn = Some("arn:aws:sqs:us-east-1:1:work".to_owned());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let context = InvocationContext::with_timeout("req-dlq", Duration::from_secs(60));
    runtime
        .block_on(processor.process(&event, &context, &RefuseAll))
        .expect("a batch");
    assert_eq!(queues.messages(dlq).len(), 1);
    let dead: Vec<Value> = lines(&logs)
        .into_iter()
        .filter(|l| l["message"] == DEAD_LETTERED_LOG_MESSAGE)
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["code"], "InvalidJson");
    assert_eq!(dead[0]["message_id"], "m-bad");
}
