use std::io::Read;
use std::path::Path;

use orderflow_batch::sqs::SqsBatch;

use super::event_file::read_at_most;
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
async fn an_http_api_request_runs_order_api_and_reports_status_and_orders_kept() {
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
        "order-api: 202, 1 order in the store"
    );

    let refused = write("order-api-bad.json", &http_event("2.0", "{", false));
    let event = read_event(Function::OrderApi, &refused).unwrap();
    let outcome = invoke(Function::OrderApi, &event).await.unwrap();
    assert_eq!(
        summary(Function::OrderApi, &outcome),
        "order-api: 400, 0 orders in the store"
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

fn http_get(order_id: &str) -> String {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "GET /orders/{orderId}",
        "rawPath": format!("/orders/{order_id}"),
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": format!("/orders/{order_id}")}, "stage": "$default"},
        "isBase64Encoded": false
    })
    .to_string()
}

#[tokio::test]
async fn events_run_in_order_on_one_instance_sharing_its_state() {
    let body = r#"{"orderId":"o-1","customerId":"c-1","items":[{"sku":"A","quantity":1}],"totalAmount":1,"createdAt":"2026-11-05T10:00:00Z"}"#;
    let post = read_event(
        Function::OrderApi,
        &write("order-api-post.json", &http_event("2.0", body, false)),
    )
    .unwrap();
    let conflicting = read_event(
        Function::OrderApi,
        &write(
            "order-api-conflict.json",
            &http_event("2.0", &body.replace("c-1", "c-2"), false),
        ),
    )
    .unwrap();
    let read = read_event(Function::OrderApi, &write("order-api-get.json", &http_get("o-1"))).unwrap();
    let instance = Instance::new(Function::OrderApi);
    let mut statuses = Vec::new();
    for event in [&read, &post, &post, &conflicting, &read] {
        let response = lambda_response(&instance.invoke(event).await.unwrap());
        statuses.push(response["statusCode"].as_u64().unwrap());
    }
    assert_eq!(statuses, [404, 202, 202, 409, 200]);
    // A fresh instance has none of it.
    let fresh = lambda_response(&invoke(Function::OrderApi, &read).await.unwrap());
    assert_eq!(fresh["statusCode"], 404);
}

#[tokio::test]
async fn a_stream_event_runs_the_relay() {
    let path = write(
        "order-relay-empty.json",
        r#"{"Records":[{"eventID":"e-1","eventName":"REMOVE","dynamodb":{"SequenceNumber":"1","Keys":{"orderId":{"S":"o-1"}}}}]}"#,
    );
    let event = read_event(Function::OrderRelay, &path).unwrap();
    let outcome = invoke(Function::OrderRelay, &event).await.unwrap();
    assert_eq!(
        lambda_response(&outcome),
        serde_json::json!({"batchItemFailures": []})
    );
    assert_eq!(
        summary(Function::OrderRelay, &outcome),
        "order-relay: 1 records, 0 failed, 0 duplicates skipped, nothing forwarded"
    );
    let err = invoke(Function::OrderRelay, &Event::Sqs(SqsBatch::default()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "order-relay takes a DynamoDB Streams event");
    let sqs = write("order-relay-sqs.json", r#"{"Records":[{"messageId":"m"}]}"#);
    let err = read_event(Function::OrderRelay, &sqs).unwrap_err().to_string();
    assert!(err.contains("is not a DynamoDB Streams event"), "{err}");
}
