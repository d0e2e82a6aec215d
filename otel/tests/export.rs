//! The exporter on a real HTTP endpoint: a batch run by the processor, as
//! Lambda runs it, reaches the collector as OTLP protobuf once the
//! invocation ends: the invocation's span and each record's inside it, with
//! their keys. One test, one process: the subscriber is global.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use orderflow_batch::RecordError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::processor::{
    BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordStep,
};
use orderflow_batch::sqs::{SqsRecord, body};
use orderflow_batch::telemetry::{LambdaLogging, invocation_ended, invocation_span, lambda_subscriber};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryQueues};
use orderflow_otel::{OtlpSettings, install};
use prost::Message as _;
use tracing::Instrument as _;

/// A step that does nothing but succeed: its body is its key.
struct Succeed;

impl RecordStep for Succeed {
    type Input = String;

    fn name(&self) -> &'static str {
        "succeed"
    }

    fn decode(&self, message: &dyn SqsRecord) -> Result<String, RecordError> {
        Ok(body(message)?.to_owned())
    }

    fn key<'a>(&self, input: &'a String) -> Cow<'a, str> {
        Cow::Borrowed(input)
    }

    fn correlation_id<'a>(&self, input: &'a String) -> &'a str {
        input
    }

    fn fingerprint(&self, input: &String) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(input);
        })
    }

    async fn run(&self, _: String, _: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        Ok(Vec::new())
    }
}

/// What the collector was sent: each request's line and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A collector: every request body posted to it, answered 200.
fn collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("its address"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&received);
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            let Ok(mut connection) = connection else { continue };
            let mut reader = BufReader::new(connection.try_clone().expect("a second handle"));
            // Each request on the connection: its line, headers, then as many bytes as it says.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut length = 0;
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok() && header.trim_end() != "" {
                    let lower = header.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    header.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                kept.lock().unwrap().push((line.trim_end().to_owned(), body));
                let answer =
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                if connection.write_all(answer.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (url, received)
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match &a.value {
            Some(v) => match &v.value {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            },
            None => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocations_spans_reach_the_collector_when_it_ends() {
    let (url, received) = collector();
    let settings = OtlpSettings {
        traces_endpoint: url,
        service_name: "inventory".into(),
    };
    let layer = install(&settings).expect("the exporter");
    let logging = LambdaLogging {
        service: "inventory".into(),
        function_name: "inventory-fn".into(),
        sample_rate: 0.0,
    };
    let subscriber = lambda_subscriber("info".parse().unwrap(), std::io::sink, &logging, Some(layer));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");

    let processor = BatchProcessor::new(
        BatchConfig::default(),
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let mut event = SqsEvent::default();
    event.records = (1..=2)
        .map(|i| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m-{i}"));
            m.body = Some(format!("order-{i}"));
            m
        })
        .collect();
    let context = InvocationContext::with_timeout("req-1", Duration::from_secs(30));
    let span = invocation_span("req-1", None);
    let report = processor
        .process(&event, &context, &Succeed)
        .instrument(span)
        .await
        .expect("a report");
    assert_eq!(report.metrics.processed, 2);
    assert!(
        received.lock().unwrap().is_empty(),
        "batched until the invocation ends"
    );
    invocation_ended().await;

    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "the flush sent the spans before returning");
    let spans: Vec<Span> = received
        .iter()
        .inspect(|(line, _)| assert!(line.starts_with("POST /v1/traces "), "{line}"))
        .map(|(_, body)| ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf"))
        .flat_map(|request| request.resource_spans)
        .inspect(|resource| {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref())
                .and_then(|v| v.value.clone());
            assert_eq!(service, Some(Value::StringValue("inventory".into())));
        })
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .collect();
    let invocation = spans
        .iter()
        .find(|s| s.name == "invocation")
        .unwrap_or_else(|| panic!("the invocation span in {spans:?}"));
    assert_eq!(attribute(invocation, "function_request_id"), Some("req-1"));
    let records: Vec<&Span> = spans.iter().filter(|s| s.name == "record").collect();
    let mut ids: Vec<&str> = records
        .iter()
        .filter_map(|s| attribute(s, "message_id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["m-1", "m-2"], "each record's span, with its message ID");
    for record in records {
        assert_eq!(record.trace_id, invocation.trace_id, "one trace");
        assert_eq!(record.parent_span_id, invocation.span_id, "inside the invocation");
        assert!(attribute(record, "correlation_id").is_some_and(|c| c.starts_with("order-")));
    }
}
