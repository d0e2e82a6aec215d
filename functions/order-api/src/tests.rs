use std::sync::Arc;

use lambda_http::http;
use orderflow_batch::error::PortErrorKind;
use orderflow_embedded::InMemoryOrderStore;
use orderflow_orders::order_record::{OrderStatus, Transition};
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;

fn order_json(total: &str) -> String {
    format!(
        r#"{{"orderId":"ord-1","customerId":"cust-1","items":[{{"sku":"SKU-1","quantity":2}}],
        "totalAmount":{total},"createdAt":"2026-11-05T10:00:00Z"}}"#
    )
}

fn post() -> http::request::Builder {
    http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/orders")
}

fn get(path: &str) -> Request {
    request(
        http::Request::builder()
            .method("GET")
            .uri(format!("https://api.example.com{path}")),
        (),
    )
}

fn request(builder: http::request::Builder, body: impl Into<Body>) -> Request {
    builder.body(body.into()).expect("a valid test request")
}

fn valid_request() -> Request {
    request(
        post()
            .header("content-type", "application/json")
            .header("x-correlation-id", "corr-1"),
        order_json("19.99"),
    )
}

fn store() -> Arc<InMemoryOrderStore> {
    Arc::new(InMemoryOrderStore::with_stream())
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

async fn answer(request: &Request, store: &Arc<InMemoryOrderStore>) -> Answer {
    let response = handle(request, &Config::new(Arc::clone(store) as _)).await;
    let (parts, body) = response.into_parts();
    let text = match body {
        Body::Text(text) => text,
        other => panic!("expected a text body, got {other:?}"),
    };
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: serde_json::from_str(&text).expect("a JSON body"),
        text,
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_valid_order_is_kept_as_accepted_and_its_ids_answered() {
    let store = store();
    let answer = answer(&valid_request(), &store).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"orderId": "ord-1", "correlationId": "corr-1"})
    );
    assert_eq!(header(&answer, "x-correlation-id"), Some("corr-1"));
    assert_eq!(header(&answer, "content-type"), Some("application/json"));

    let records = store.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.status, OrderStatus::Accepted);
    // The validated order, resolved fields included: what the relay publishes.
    assert_eq!(record.order.correlation_id, "corr-1");
    assert_eq!(record.order.shipping_region, "US");
    assert_eq!(record.order.version, "1.0");
    assert_eq!(record.fingerprint, record.order.fingerprint());
    assert_eq!(store.changes_after(0, 10).len(), 1, "one write, one change");
}

#[tokio::test]
async fn a_retried_order_gets_its_original_correlation_id_and_is_kept_once() {
    let store = store();
    for correlation in ["first", "a-retry"] {
        let retry = request(post().header("x-correlation-id", correlation), order_json("10"));
        let a = answer(&retry, &store).await;
        assert_eq!(a.status, 202, "{}", a.text);
        assert_eq!(a.body, json!({"orderId": "ord-1", "correlationId": "first"}));
        assert_eq!(header(&a, "x-correlation-id"), Some("first"));
    }
    assert_eq!(store.len(), 1);
    assert_eq!(
        store.changes_after(0, 10).len(),
        1,
        "nothing written twice, so nothing published twice"
    );
}

#[tokio::test]
async fn another_order_under_a_taken_id_is_409_naming_only_the_id() {
    let store = store();
    assert_eq!(answer(&valid_request(), &store).await.status, 202);
    let other = order_json("10").replace("cust-1", "cust-2");
    let a = answer(&request(post().header("x-correlation-id", "c-2"), other), &store).await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"message": "order ID ord-1 is taken by another order"})
    );
    for other_order in ["cust-1", "cust-2", "corr-1", "19.99"] {
        assert!(!a.text.contains(other_order), "{other_order} in {}", a.text);
    }
    assert_eq!(header(&a, "x-correlation-id"), Some("c-2"));
    let records = store.records();
    assert_eq!(
        records[0].order.customer_id, "cust-1",
        "the kept order is unchanged"
    );
    assert_eq!(store.changes_after(0, 10).len(), 1);
}

#[tokio::test]
async fn get_answers_the_status_the_history_and_the_shipment() {
    let store = store();
    assert_eq!(answer(&valid_request(), &store).await.status, 202);
    let a = answer(&get("/orders/ord-1"), &store).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["orderId"], "ord-1");
    assert_eq!(a.body["correlationId"], "corr-1");
    assert_eq!(a.body["status"], "ACCEPTED");
    assert_eq!(a.body["history"][0]["status"], "ACCEPTED");
    assert_eq!(a.body["history"][0]["details"], json!({}));
    assert_eq!(a.body["shipment"], Value::Null);
    assert!(
        !a.text.contains("cust-1") && !a.text.contains("SKU-1"),
        "no customer data: {}",
        a.text
    );

    let shipped = Transition::new(OrderStatus::Shipped, datetime!(2026-11-06 08:00 UTC))
        .with("shipmentId", "shp-1")
        .with("carrier", "UPS")
        .with("estimatedDelivery", "2026-11-09");
    store.record("ord-1", &shipped).await.unwrap();
    let a = answer(&get("/orders/ord-1"), &store).await;
    assert_eq!(a.body["status"], "SHIPPED");
    assert_eq!(a.body["updatedAt"], "2026-11-06T08:00:00Z");
    assert_eq!(a.body["history"].as_array().unwrap().len(), 2);
    assert_eq!(
        a.body["shipment"],
        json!({"carrier": "UPS", "estimatedDelivery": "2026-11-09", "shipmentId": "shp-1"})
    );
}

#[tokio::test]
async fn get_of_an_unknown_or_impossible_order_id_is_404_or_400() {
    let store = store();
    let a = answer(&get("/orders/ord-404"), &store).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.body, json!({"message": "no order has ID ord-404"}));
    for path in [
        "/orders/ord%201",
        "/orders/ord.1",
        &format!("/orders/{}", "o".repeat(65)),
    ] {
        let a = answer(&get(path), &store).await;
        assert_eq!(a.status, 400, "{path}");
        assert_eq!(a.body["errors"][0]["field"], "path.orderId", "{path}");
        assert!(
            !a.text.contains("ord%201") && !a.text.contains("ord.1"),
            "{}",
            a.text
        );
    }
    assert_eq!(answer(&get("/orders/a/b"), &store).await.status, 404);
}

#[tokio::test]
async fn the_body_correlation_id_wins_and_a_missing_one_is_made() {
    let store = store();
    let body = order_json("1").replace(r#""orderId""#, r#""correlationId":"from-body","orderId""#);
    let with_both = request(post().header("x-correlation-id", "from-header"), body);
    let answer_both = answer(&with_both, &store).await;
    assert_eq!(answer_both.body["correlationId"], "from-body");
    assert_eq!(header(&answer_both, "x-correlation-id"), Some("from-body"));

    let another = order_json("1").replace("ord-1", "ord-2");
    let none = answer(&request(post(), another), &store).await;
    let made = none.body["correlationId"].as_str().unwrap().to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    assert_eq!(header(&none, "x-correlation-id"), Some(made.as_str()));
    let kept = store.get("ord-2").await.unwrap().unwrap();
    assert_eq!(
        kept.order.correlation_id, made,
        "the order keeps the ID it was answered with"
    );
}

#[tokio::test]
async fn a_correlation_id_header_that_breaks_the_rule_is_refused_naming_the_header() {
    let store = store();
    let bad: [&[u8]; 4] = [b"a\tb", b"caf\xe9", b"a b", b""];
    for value in bad {
        let value = http::HeaderValue::from_bytes(value).unwrap();
        let refused = answer(
            &request(post().header("x-correlation-id", value.clone()), order_json("1")),
            &store,
        )
        .await;
        assert_eq!(refused.status, 400, "{value:?}");
        assert_eq!(
            refused.body["errors"][0]["field"], "headers.X-Correlation-Id",
            "{value:?}"
        );
        let echoed = header(&refused, "x-correlation-id").unwrap();
        assert!(uuid_like(echoed), "a new ID is echoed, not the header: {echoed}");
    }
    assert!(store.is_empty());
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let store = store();
    let elsewhere = request(
        http::Request::builder()
            .method("POST")
            .uri("https://api.example.com/order"),
        order_json("1"),
    );
    let answer_404 = answer(&elsewhere, &store).await;
    assert_eq!(answer_404.status, 404);
    assert!(
        answer_404.body["message"]
            .as_str()
            .unwrap()
            .contains("POST /orders")
    );

    let answer_405 = answer(&get("/orders"), &store).await;
    assert_eq!(answer_405.status, 405);
    assert_eq!(header(&answer_405, "allow"), Some("POST"));
    let post_one = request(
        http::Request::builder()
            .method("POST")
            .uri("https://api.example.com/orders/ord-1"),
        order_json("1"),
    );
    let answer_405 = answer(&post_one, &store).await;
    assert_eq!(answer_405.status, 405);
    assert_eq!(header(&answer_405, "allow"), Some("GET"));
    assert!(store.is_empty());
}

#[tokio::test]
async fn a_named_stage_prefix_is_still_the_orders_route() {
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/prod/orders",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-correlation-id": "c"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "http": {"method": "POST", "path": "/prod/orders", "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "id", "routeKey": "POST /orders", "stage": "prod",
            "time": "05/Nov/2026:10:00:00 +0000", "timeEpoch": 1793872800000_u64
        },
        "body": order_json("1"),
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(answer(&request, &store()).await.status, 202);
}

#[tokio::test]
async fn a_base64_body_is_decoded_before_validation() {
    // As API Gateway sends a body it treats as binary.
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(order_json("5"));
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "headers": {"x-correlation-id": "c"},
        "requestContext": {"http": {"method": "POST", "path": "/orders"}, "stage": "$default"},
        "body": encoded,
        "isBase64Encoded": true
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let store = store();
    assert_eq!(answer(&request, &store).await.status, 202);
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn an_oversized_body_is_413_before_parsing() {
    let store = store();
    // Not JSON at all: the size is refused before the body is read.
    let big = request(post(), "x".repeat(MAX_BODY_BYTES + 1));
    let answer_413 = answer(&big, &store).await;
    assert_eq!(answer_413.status, 413);
    assert_eq!(
        answer_413.body,
        json!({"message": "request body is 262145 bytes; at most 262144 are accepted"})
    );
    // Exactly the limit is read (and here refused as JSON).
    let limit = request(post(), "x".repeat(MAX_BODY_BYTES));
    assert_eq!(answer(&limit, &store).await.status, 400);
    let binary = request(post(), vec![b' '; MAX_BODY_BYTES + 1]);
    assert_eq!(answer(&binary, &store).await.status, 413);
}

#[tokio::test]
async fn only_json_content_types_are_accepted() {
    let store = store();
    for (content_type, status) in [
        ("application/json", 202),
        ("Application/JSON; charset=UTF-8", 202),
        ("application/json; charset=\"utf-8\"", 202),
        ("application/json; charset=latin1", 415),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
    ] {
        let r = request(post().header("content-type", content_type), order_json("1"));
        assert_eq!(answer(&r, &store).await.status, status, "{content_type}");
    }
}

#[tokio::test]
async fn missing_non_utf8_and_non_json_bodies_are_400() {
    let store = store();
    for body in [Body::Empty, Body::Text("  \n".into())] {
        let a = answer(&request(post(), body), &store).await;
        assert_eq!(a.status, 400);
        assert_eq!(
            a.body,
            json!({"message": "request body is required: an order as JSON"})
        );
    }
    let latin1 = answer(&request(post(), vec![0x7b, 0xe9, 0x7d]), &store).await;
    assert_eq!(latin1.status, 400);
    assert_eq!(latin1.body["message"], "request body must be UTF-8 encoded JSON");

    let not_json = answer(&request(post(), "orderId=ord-1"), &store).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(
        not_json.body,
        json!({"message": "request body is not valid JSON: expected value at line 1 column 1"})
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn broken_rules_are_400_with_each_field_and_rule() {
    let store = store();
    let body = r#"{"orderId":"ord 1","customerId":"cust-1","items":[{"sku":"SKU-1","quantity":0}],
        "totalAmount":1.001,"createdAt":"yesterday"}"#;
    let r = request(
        post()
            .header("x-region", "eu")
            .header("x-correlation-id", "corr-2"),
        body,
    );
    let a = answer(&r, &store).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["message"], "the order is invalid: 5 broken rules");
    let fields: Vec<(&str, &str)> = a.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("orderId", "charset"),
            ("items[0].quantity", "range"),
            ("totalAmount", "decimals"),
            ("createdAt", "timestamp"),
            ("headers.X-Region", "charset"),
        ]
    );
    assert_eq!(a.body["errors"][1]["message"], "must be from 1 to 1000");
    assert_eq!(header(&a, "x-correlation-id"), Some("corr-2"));
    assert!(store.is_empty());

    let long = "c".repeat(129);
    let r = request(post().header("x-correlation-id", long.as_str()), order_json("1"));
    let a = answer(&r, &store).await;
    assert_eq!(a.body["errors"][0]["field"], "headers.X-Correlation-Id");
    // The refused ID is not echoed: the response gets a new one.
    assert_ne!(header(&a, "x-correlation-id"), Some(long.as_str()));
}

#[tokio::test]
async fn an_unsupported_version_is_400_naming_the_version() {
    let body = order_json("1").replace(r#""orderId""#, r#""version":"2.0","orderId""#);
    let a = answer(&request(post(), body), &store()).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({
            "message": "unsupported version: the major version must be 1",
            "errors": [{"field": "version", "rule": "unsupported", "message": "must have the major version 1, like \"1.0\""}]
        })
    );
}

#[tokio::test]
async fn a_store_failing_retryably_is_503_with_retry_after_and_no_internals() {
    let store = store();
    store.fail_calls(1, PortErrorKind::Throttled);
    let a = answer(&valid_request(), &store).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        a.body,
        json!({"message": "could not handle the request, try again"})
    );
    assert_eq!(header(&a, "retry-after"), Some("1"));
    assert_eq!(header(&a, "x-correlation-id"), Some("corr-1"));
    for internal in ["injected", "PutItem", "Throttled"] {
        assert!(!a.text.contains(internal), "{internal} in {}", a.text);
    }
    assert!(store.is_empty());
    // The client's retry is accepted once the store answers.
    assert_eq!(answer(&valid_request(), &store).await.status, 202);

    store.fail_calls(1, PortErrorKind::Timeout);
    let a = answer(&get("/orders/ord-1"), &store).await;
    assert_eq!((a.status, header(&a, "retry-after")), (503, Some("1")));
}

#[tokio::test]
async fn a_permanent_store_failure_is_500_without_internals() {
    let store = store();
    store.fail_calls(1, PortErrorKind::NotFound);
    let a = answer(&valid_request(), &store).await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.body,
        json!({"message": "could not handle the request, try again"})
    );
    assert!(a.headers.get("retry-after").is_none());
    assert!(
        !a.text.contains("injected") && !a.text.contains("NotFound"),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn the_callers_trace_header_is_kept_on_the_acceptance_and_not_shown_by_get() {
    const TRACE: &str = "Root=1-672a0e60-4f1c3e5a7b2d9c0e1f3a5b7c;Parent=53995c3f42cd8ad8;Sampled=1";
    let store = store();
    let traced = request(
        post()
            .header("content-type", "application/json")
            .header("x-amzn-trace-id", TRACE),
        order_json("10"),
    );
    assert_eq!(answer(&traced, &store).await.status, 202);
    let acceptance = &store.records()[0].history[0];
    assert_eq!(
        acceptance.details,
        [("traceHeader".to_owned(), TRACE.to_owned())],
        "the relay carries it on"
    );
    let read = answer(&get("/orders/ord-1"), &store).await;
    assert_eq!(read.body["history"][0]["details"], json!({}), "{}", read.text);

    // A header that is no trace header (no root, control characters) is not kept.
    for header in ["Parent=53995c3f42cd8ad8", "Root=1-a\u{1}b"] {
        let store = store_with_header(header).await;
        assert!(store.records()[0].history[0].details.is_empty(), "{header:?}");
    }
}

async fn store_with_header(header: &str) -> Arc<InMemoryOrderStore> {
    let store = store();
    let mut request = request(
        post().header("content-type", "application/json"),
        order_json("10"),
    );
    if let Ok(value) = http::HeaderValue::from_bytes(header.as_bytes()) {
        request.headers_mut().insert("x-amzn-trace-id", value);
    }
    assert_eq!(answer(&request, &store).await.status, 202);
    store
}
