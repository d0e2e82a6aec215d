//! Each record's log lines carry its `message_id` and `correlation_id`.
//!
//! In its own test binary: tracing caches per-callsite interest process-wide,
//! so a subscriber installed by one test can miss events whose callsites other
//! tests' threads registered first.

use orderflow_batch::telemetry::MemoryWriter;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::processor::{
    BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordStep,
};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryQueues};

/// Fails bodies that say "fail", succeeds the rest.
struct Step;

impl RecordStep for Step {
    type Input = (String, String);

    fn name(&self) -> &'static str {
        "test"
    }

    fn decode(&self, message: &dyn orderflow_batch::sqs::SqsRecord) -> Result<(String, String), RecordError> {
        let body = orderflow_batch::sqs::body(message)?.to_owned();
        Ok((format!("corr-{body}"), body))
    }

    fn key<'a>(&self, input: &'a (String, String)) -> Cow<'a, str> {
        Cow::Borrowed(&input.1)
    }

    fn correlation_id<'a>(&self, input: &'a (String, String)) -> &'a str {
        &input.0
    }

    fn fingerprint(&self, input: &(String, String)) -> orderflow_batch::fingerprint::Fingerprint {
        orderflow_batch::fingerprint::Fingerprint::of(|f| {
            f.str(&input.1);
        })
    }

    async fn run(
        &self,
        (_, body): (String, String),
        _: &RecordContext<'_>,
    ) -> Result<Vec<Outgoing>, RecordError> {
        if body.starts_with("fail") {
            return Err(PortError::new(PortErrorKind::Throttled, "Test", "slow down").into());
        }
        Ok(Vec::new())
    }
}

fn record(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.to_owned());
    m.body = Some(body.to_owned());
    m
}

/// Captures the JSON log lines written while a closure runs.
#[tokio::test]
async fn each_record_logs_within_a_span_carrying_message_and_correlation_ids() {
    let captured = MemoryWriter::default();
    let writer = captured.clone();
    // Lambda's subscriber, at its default level.
    let subscriber =
        orderflow_batch::telemetry::json_subscriber("info".parse().expect("a level"), move || writer.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let processor = BatchProcessor::new(
        BatchConfig::default(),
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let mut event = SqsEvent::default();
    event.records = vec![record("m-retry", "fail-k1"), record("m-ok", "k2")];
    let context = InvocationContext::with_timeout("r", Duration::from_secs(60));
    processor.process(&event, &context, &Step).await.unwrap();
    let text = captured.contents();
    let failed_line = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["message"] == "record failed")
        .expect("a log line for the failed record");
    assert_eq!(failed_line["message_id"], "m-retry");
    assert_eq!(failed_line["correlation_id"], "corr-fail-k1");
    assert_eq!(failed_line["code"], "Throttled");
}
