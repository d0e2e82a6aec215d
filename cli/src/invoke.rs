//! `orderflow invoke <function> <event.json>`: one handler run, embedded adapters.
//!
//! The SQS consumers get an SQS event. No DLQ is configured, so a permanently
//! invalid record shows up as a batch item failure, exactly as it would in a
//! function deployed without one.
//!
//! `order-api` gets an API Gateway HTTP API request (payload format 2.0). It
//! goes through `lambda_http`'s own adapter, the one `lambda_http::run` serves
//! with, so the response is the JSON Lambda returns to API Gateway; orders go
//! to the embedded orders queue.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::aws_lambda_events::sqs::SqsBatchResponse;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent};
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::processor::{
    BatchConfig, BatchError, BatchProcessor, BatchReport, InvocationContext, RecordOutcome,
};
use orderflow_batch::queue_url::queue_name;
use orderflow_batch::sqs::SqsBatch;
use orderflow_embedded::address::embedded_queue_url;
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryNotifier, InMemoryQueues};
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};

/// The functions of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    /// OrderCreated -> stock reservation.
    Inventory,
    /// InventoryReserved -> shipment.
    Shipping,
    /// ShipmentCreated / OrderRejected -> customer message.
    Notification,
    /// POST /orders (HTTP API) -> OrderCreated.
    OrderApi,
}

/// What invokes a function, and so what its events look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// An SQS event source mapping: SQS events, `batchItemFailures` responses.
    Sqs,
    /// An API Gateway HTTP API: requests and responses in payload format 2.0.
    HttpApi,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 4] = [
        Function::Inventory,
        Function::Shipping,
        Function::Notification,
        Function::OrderApi,
    ];

    /// The function's name (and binary name).
    pub fn name(self) -> &'static str {
        match self {
            Function::Inventory => "inventory",
            Function::Shipping => "shipping",
            Function::Notification => "notification",
            Function::OrderApi => "order-api",
        }
    }

    /// What invokes the function.
    fn trigger(self) -> Trigger {
        match self {
            Function::Inventory | Function::Shipping | Function::Notification => Trigger::Sqs,
            Function::OrderApi => Trigger::HttpApi,
        }
    }

    /// The function a sample event belongs to, from its file name's prefix (`inventory-...json`).
    pub fn for_event_file(path: &Path) -> Option<Function> {
        let stem = path.file_name()?.to_str()?;
        Function::ALL
            .into_iter()
            .find(|f| stem.starts_with(&format!("{}-", f.name())))
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventFileError {
    /// The file cannot be read.
    #[error("cannot read event file {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds more than a Lambda invocation takes.
    #[error("{path} is larger than a Lambda invocation's payload limit ({MAX_EVENT_BYTES} bytes)")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// The file is not an SQS event.
    #[error("{path} is not an SQS event: {source}")]
    NotAnSqsEvent {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// The file is not an API Gateway HTTP API request in payload format 2.0.
    #[error("{path} is not an API Gateway HTTP API (payload format 2.0) request: {reason}")]
    NotAnHttpApiEvent {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A sample event, read as its function's trigger sends it.
#[derive(Clone, Debug)]
pub enum Event {
    /// For an SQS consumer.
    Sqs(SqsBatch),
    /// For `order-api`.
    HttpApi(Box<ApiGatewayV2httpRequest>),
}

/// Lambda's limit on a synchronous invocation's payload (6 MB): no event
/// larger than this reaches a function.
const MAX_EVENT_BYTES: u64 = 6_291_456;

/// Reads `reader` to its end if it holds at most `limit` bytes; `None` when it
/// holds more, after reading `limit + 1` bytes and no further.
fn read_at_most(reader: impl Read, limit: u64, capacity: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::with_capacity(capacity);
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Reads the event file `path` as `function`'s trigger sends it; a file over
/// Lambda's 6 MB payload limit is refused without being read further.
pub fn read_event(function: Function, path: &Path) -> Result<Event, EventFileError> {
    let unreadable = |source| EventFileError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // A regular file's size, as a hint; devices and pipes say 0.
    let capacity = file
        .metadata()
        .map_or(0, |m| m.len().min(MAX_EVENT_BYTES + 1) as usize);
    let text = read_at_most(file, MAX_EVENT_BYTES, capacity)
        .map_err(unreadable)?
        .ok_or_else(|| EventFileError::TooLarge {
            path: path.display().to_string(),
        })?;
    match function.trigger() {
        Trigger::Sqs => {
            // Valid UTF-8 once for the whole file, instead of string by string while parsing.
            let text = String::from_utf8(text).map_err(|e| EventFileError::NotAnSqsEvent {
                path: path.display().to_string(),
                source: serde::de::Error::custom(format!("not UTF-8 ({e})")),
            })?;
            serde_json::from_str(&text)
                .map(Event::Sqs)
                .map_err(|source| EventFileError::NotAnSqsEvent {
                    path: path.display().to_string(),
                    source,
                })
        }
        Trigger::HttpApi => read_http_api_request(&text)
            .map(|request| Event::HttpApi(Box::new(request)))
            .map_err(|reason| EventFileError::NotAnHttpApiEvent {
                path: path.display().to_string(),
                reason,
            }),
    }
}

/// An HTTP API request, checked as far as `lambda_http` relies on it: payload
/// format 2.0, and a base64 body that decodes (its adapter panics on one that
/// does not; API Gateway never sends one).
fn read_http_api_request(text: &[u8]) -> Result<ApiGatewayV2httpRequest, String> {
    use base64::Engine;
    let request: ApiGatewayV2httpRequest = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if request.version.as_deref() != Some("2.0") {
        return Err(format!(
            "\"version\" is {:?}, expected \"2.0\"",
            request.version.as_deref().unwrap_or("missing")
        ));
    }
    if let (true, Some(body)) = (request.is_base64_encoded, &request.body) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("isBase64Encoded is true but the body is not base64: {e}"))?;
    }
    Ok(request)
}

/// An event handed to a function whose trigger does not send that kind.
#[derive(Debug, thiserror::Error)]
#[error("{function} takes {expected}")]
pub struct WrongEvent {
    /// The function.
    pub function: Function,
    /// What it takes.
    pub expected: &'static str,
}

/// What one invocation returned.
#[derive(Debug)]
pub enum Outcome {
    /// An SQS consumer's batch.
    Batch {
        /// Records in the event.
        records: usize,
        /// The batch response, or the error that fails the invocation.
        result: Result<BatchReport<SqsBatchResponse>, BatchError>,
    },
    /// `order-api`'s HTTP response.
    HttpApi {
        /// The response JSON Lambda returns to API Gateway.
        response: serde_json::Value,
        /// Its status code.
        status: u16,
        /// Messages sent, by destination queue URL.
        forwarded: Vec<(String, usize)>,
    },
}

impl Outcome {
    /// Whether the invocation succeeded (an HTTP response is one, whatever its status).
    pub fn succeeded(&self) -> bool {
        match self {
            Outcome::Batch { result, .. } => result.is_ok(),
            Outcome::HttpApi { .. } => true,
        }
    }
}

/// The stock every SKU has in `invoke`'s embedded inventory.
pub use orderflow_aws::step_ports::EMBEDDED_DEFAULT_STOCK;

/// Runs `function`'s handler once on `event` with fresh embedded adapters.
pub async fn invoke(function: Function, event: &Event) -> Result<Outcome, WrongEvent> {
    let wrong = |expected| WrongEvent { function, expected };
    let event = match (function.trigger(), event) {
        (Trigger::Sqs, Event::Sqs(event)) => event,
        (Trigger::HttpApi, Event::HttpApi(request)) => return Ok(invoke_order_api(request).await),
        (Trigger::Sqs, Event::HttpApi(_)) => return Err(wrong("an SQS event")),
        (Trigger::HttpApi, Event::Sqs(_)) => return Err(wrong("an API Gateway HTTP API request")),
    };
    let config = BatchConfig {
        service: function.name().to_owned(),
        ..BatchConfig::default()
    };
    let processor = BatchProcessor::new(
        config,
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    // Lambda's longest timeout: nothing in a local run is cut off by the deadline.
    let context = InvocationContext::with_timeout("local-invoke", Duration::from_secs(900));
    let url = |name: &str| -> Arc<str> { embedded_queue_url(name).into() };
    let result = match function {
        Function::Inventory => {
            let step = inventory::InventoryStep::new(
                Arc::new(InMemoryInventory::new(EMBEDDED_DEFAULT_STOCK)),
                inventory::Routes {
                    reserved: url(INVENTORY),
                    rejected: url(NOTIFICATIONS),
                },
            );
            processor.process(event, &context, &step).await
        }
        Function::Shipping => {
            let step = shipping::ShippingStep::new(url(NOTIFICATIONS));
            processor.process(event, &context, &step).await
        }
        Function::Notification => {
            let step = notification::NotificationStep::new(Arc::new(InMemoryNotifier::new()));
            processor.process(event, &context, &step).await
        }
        Function::OrderApi => return Err(wrong("an API Gateway HTTP API request")),
    };
    Ok(Outcome::Batch {
        records: event.records.len(),
        result,
    })
}

/// Runs `order-api` on one request as its Lambda does ([`order_api::respond`]:
/// checked, then through `lambda_http`'s adapter), sending to an embedded
/// orders queue, so the response is Lambda's own and a change in
/// `lambda_http` shows in the replay of `events/`.
async fn invoke_order_api(request: &ApiGatewayV2httpRequest) -> Outcome {
    let queues = InMemoryQueues::new();
    let config = order_api::Config::new(embedded_queue_url(ORDERS));
    let event = LambdaEvent::new(LambdaRequest::ApiGatewayV2(request.clone()), Context::default());
    let response = order_api::respond(event, &queues, &config).await;
    let response = serde_json::to_value(response).unwrap_or_else(
        |e| serde_json::json!({ "errorType": "Serialization", "errorMessage": e.to_string() }),
    );
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_default();
    Outcome::HttpApi {
        response,
        status,
        forwarded: queues.counts(),
    }
}

/// The JSON Lambda gets: the batch response or the error it reports, or the HTTP response.
pub fn lambda_response(outcome: &Outcome) -> serde_json::Value {
    let value = match outcome {
        Outcome::HttpApi { response, .. } => return response.clone(),
        Outcome::Batch {
            result: Ok(report), ..
        } => serde_json::to_value(&report.response),
        Outcome::Batch {
            result: Err(error), ..
        } => serde_json::to_value(lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }),
    };
    value.unwrap_or_else(
        |e| serde_json::json!({ "errorType": "Serialization", "errorMessage": e.to_string() }),
    )
}

/// `forwarded 2 to inventory, 1 to notifications`, or `nothing forwarded`.
fn forwarded<'a>(counts: impl IntoIterator<Item = (&'a String, &'a usize)>) -> String {
    let forwarded: Vec<String> = counts
        .into_iter()
        .map(|(queue, n)| format!("{n} to {}", queue_name(queue)))
        .collect();
    if forwarded.is_empty() {
        "nothing forwarded".to_owned()
    } else {
        format!("forwarded {}", forwarded.join(", "))
    }
}

/// One line for people: records, failures, what was forwarded where; or the
/// HTTP status and what was forwarded.
pub fn summary(function: Function, outcome: &Outcome) -> String {
    match outcome {
        Outcome::HttpApi {
            status,
            forwarded: counts,
            ..
        } => format!(
            "{function}: {status}, {}",
            forwarded(counts.iter().map(|(q, n)| (q, n)))
        ),
        Outcome::Batch {
            records,
            result: Err(error),
        } => format!("{function}: {records} records, invocation failed: {error}"),
        Outcome::Batch {
            records,
            result: Ok(report),
        } => {
            let count = |f: fn(&RecordOutcome) -> bool| report.outcomes.iter().filter(|o| f(o)).count();
            let failed = count(|o| matches!(o, RecordOutcome::Failed { .. }));
            let duplicates = count(|o| matches!(o, RecordOutcome::Duplicate));
            let forwarded = forwarded(&report.forwarded);
            format!(
                "{function}: {records} records, {failed} failed, {duplicates} duplicates skipped, {forwarded}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event file in the temp directory, removed when dropped.
    struct TempEvent(std::path::PathBuf);

    impl std::ops::Deref for TempEvent {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempEvent {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn write(name: &str, text: &str) -> TempEvent {
        let path = std::env::temp_dir().join(format!("orderflow-invoke-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempEvent(path)
    }

    fn http_event(version: &str, body: &str, base64: bool) -> String {
        serde_json::json!({
            "version": version,
            "routeKey": "POST /orders",
            "rawPath": "/orders",
            "headers": {"x-correlation-id": "corr-1"},
            "requestContext": {"http": {"method": "POST", "path": "/orders"}, "stage": "$default"},
            "body": body,
            "isBase64Encoded": base64
        })
        .to_string()
    }

    /// `json` followed by spaces up to `size` bytes: valid JSON of exactly that size.
    fn padded(json: &str, size: usize) -> String {
        format!("{json}{}", " ".repeat(size - json.len()))
    }

    #[test]
    fn an_event_over_lambdas_payload_limit_is_refused() {
        const LIMIT: usize = 6_291_456;
        let at_limit = write("inventory-at-limit.json", &padded(r#"{"Records":[]}"#, LIMIT));
        assert!(read_event(Function::Inventory, &at_limit).is_ok());
        let over = write(
            "inventory-over-limit.json",
            &padded(r#"{"Records":[]}"#, LIMIT + 1),
        );
        let err = read_event(Function::Inventory, &over).unwrap_err().to_string();
        assert!(
            err.ends_with("is larger than a Lambda invocation's payload limit (6291456 bytes)"),
            "{err}"
        );
        let request = http_event("2.0", "{}", false);
        let over = write("order-api-over-limit.json", &padded(&request, LIMIT + 1));
        let err = read_event(Function::OrderApi, &over).unwrap_err().to_string();
        assert!(err.contains("payload limit (6291456 bytes)"), "{err}");
    }

    #[test]
    fn reading_stops_one_byte_past_the_limit() {
        /// Endless spaces, counting the bytes handed out.
        struct Endless(u64);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(b' ');
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
        }
        let mut endless = Endless(0);
        assert!(read_at_most(&mut endless, 1000, 0).unwrap().is_none());
        assert_eq!(endless.0, 1001);
        assert_eq!(
            read_at_most(&b"12345"[..], 5, 0).unwrap().as_deref(),
            Some(&b"12345"[..])
        );
        assert!(read_at_most(&b"123456"[..], 5, 0).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_event_is_refused_without_reading_it_all() {
        let err = read_event(Function::Inventory, Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("payload limit (6291456 bytes)"), "{err}");
    }

    #[test]
    fn event_files_belong_to_functions_by_prefix() {
        let of = |name: &str| Function::for_event_file(Path::new(name));
        assert_eq!(of("events/order-api-valid.json"), Some(Function::OrderApi));
        assert_eq!(of("inventory-not-json.json"), Some(Function::Inventory));
        assert_eq!(of("orders-x.json"), None);
        assert_eq!(Function::OrderApi.trigger(), Trigger::HttpApi);
    }

    #[tokio::test]
    async fn an_http_api_request_runs_order_api_and_reports_status_and_forwarded() {
        let body = r#"{"orderId":"o-1","customerId":"c-1","items":[{"sku":"A","quantity":1}],"totalAmount":1,"createdAt":"2026-11-05T10:00:00Z"}"#;
        let path = write("order-api-ok.json", &http_event("2.0", body, false));
        let event = read_event(Function::OrderApi, &path).unwrap();
        let outcome = invoke(Function::OrderApi, &event).await.unwrap();
        assert!(outcome.succeeded());
        let response = lambda_response(&outcome);
        assert_eq!(response["statusCode"], 202);
        assert_eq!(response["headers"]["x-correlation-id"], "corr-1");
        assert_eq!(
            summary(Function::OrderApi, &outcome),
            "order-api: 202, forwarded 1 to orders"
        );

        let refused = write("order-api-bad.json", &http_event("2.0", "{", false));
        let event = read_event(Function::OrderApi, &refused).unwrap();
        let outcome = invoke(Function::OrderApi, &event).await.unwrap();
        assert_eq!(
            summary(Function::OrderApi, &outcome),
            "order-api: 400, nothing forwarded"
        );
    }

    #[tokio::test]
    async fn events_of_the_wrong_kind_are_refused_before_running() {
        let v1 = write("order-api-v1.json", &http_event("1.0", "{}", false));
        let err = read_event(Function::OrderApi, &v1).unwrap_err().to_string();
        assert!(
            err.contains("payload format 2.0") && err.contains("\"1.0\""),
            "{err}"
        );
        // lambda_http would panic on this body; the file is refused instead.
        let bad = write("order-api-b64.json", &http_event("2.0", "not base64!", true));
        let err = read_event(Function::OrderApi, &bad).unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");

        let sqs = Event::Sqs(SqsBatch::default());
        let err = invoke(Function::OrderApi, &sqs).await.unwrap_err();
        assert_eq!(err.to_string(), "order-api takes an API Gateway HTTP API request");
        let ok = write("order-api-sqs.json", &http_event("2.0", "{}", false));
        let http = read_event(Function::OrderApi, &ok).unwrap();
        let err = invoke(Function::Inventory, &http).await.unwrap_err();
        assert_eq!(err.to_string(), "inventory takes an SQS event");
    }
}
