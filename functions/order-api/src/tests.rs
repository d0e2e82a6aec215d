use lambda_http::http;
use orderflow_batch::error::PortErrorKind;
use orderflow_embedded::InMemoryQueues;
use serde_json::{Value, json};

use super::*;

const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/orders";
const FIFO_QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/orders.fifo";

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

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

async fn answer(request: &Request, queues: &InMemoryQueues, queue_url: &str) -> Answer {
    let response = handle(request, queues, &Config::new(queue_url)).await;
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
async fn a_valid_order_is_sent_with_its_attributes_and_accepted() {
    let queues = InMemoryQueues::new();
    let answer = answer(&valid_request(), &queues, QUEUE).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"orderId": "ord-1", "correlationId": "corr-1"})
    );
    assert_eq!(header(&answer, "x-correlation-id"), Some("corr-1"));
    assert_eq!(header(&answer, "content-type"), Some("application/json"));

    let sent = queues.messages(QUEUE);
    assert_eq!(sent.len(), 1);
    let message = &sent[0];
    assert_eq!(message.attribute("EventType"), Some("ORDER_CREATED"));
    assert_eq!(message.attribute("CorrelationId"), Some("corr-1"));
    assert_eq!(message.attribute("Priority"), Some("normal"));
    assert_eq!(message.attribute("Region"), Some("US"));
    assert_eq!((&message.group_id, &message.deduplication_id), (&None, &None));
    // The body is the validated order, resolved fields included, and the consumers accept it.
    let body: Value = serde_json::from_str(&message.body).unwrap();
    assert_eq!(body["correlationId"], "corr-1");
    assert_eq!(body["shippingRegion"], "US");
    assert_eq!(body["version"], "1.0");
    let decoded = decode_order_created(&message.body, &()).unwrap();
    assert_eq!(decoded.order_id, "ord-1");
}

#[tokio::test]
async fn priority_region_and_fifo_fields_follow_the_order() {
    let queues = InMemoryQueues::new();
    let request = request(
        post()
            .header("x-region", "EU-WEST")
            .header("x-correlation-id", "c"),
        order_json("1000.01"),
    );
    assert_eq!(answer(&request, &queues, FIFO_QUEUE).await.status, 202);
    let message = &queues.messages(FIFO_QUEUE)[0];
    assert_eq!(message.attribute("Priority"), Some("high"));
    assert_eq!(message.attribute("Region"), Some("EU-WEST"));
    assert_eq!(message.group_id.as_deref(), Some("cust-1"));
    let dedup = message.deduplication_id.as_deref().unwrap();
    let (id, fingerprint) = dedup.split_once('#').unwrap();
    assert_eq!(
        (id, fingerprint.len()),
        ("ord-1", 16),
        "the order ID, then its fingerprint"
    );
}

#[tokio::test]
async fn a_different_order_reusing_an_id_gets_its_own_fifo_deduplication_id() {
    let queues = InMemoryQueues::new();
    let send = |body: String, correlation: &'static str| {
        request(post().header("x-correlation-id", correlation), body)
    };
    let other_customer = order_json("10").replace("cust-1", "cust-2");
    for (body, correlation) in [
        (order_json("10"), "first"),
        (order_json("10"), "a-retry"),
        (other_customer, "another-order"),
    ] {
        assert_eq!(
            answer(&send(body, correlation), &queues, FIFO_QUEUE).await.status,
            202
        );
    }
    let ids: Vec<String> = queues
        .messages(FIFO_QUEUE)
        .iter()
        .map(|m| m.deduplication_id.clone().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("ord-1#")), "{ids:?}");
    assert_eq!(ids[0], ids[1], "a retry of the same order is deduplicated by SQS");
    assert_ne!(ids[0], ids[2], "another order under the same ID is not");
}

#[tokio::test]
async fn the_body_correlation_id_wins_and_a_missing_one_is_made() {
    let queues = InMemoryQueues::new();
    let body = order_json("1").replace(r#""orderId""#, r#""correlationId":"from-body","orderId""#);
    let with_both = request(post().header("x-correlation-id", "from-header"), body);
    let answer_both = answer(&with_both, &queues, QUEUE).await;
    assert_eq!(answer_both.body["correlationId"], "from-body");
    assert_eq!(header(&answer_both, "x-correlation-id"), Some("from-body"));

    let none = answer(&request(post(), order_json("1")), &queues, QUEUE).await;
    let made = none.body["correlationId"].as_str().unwrap().to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    assert_eq!(header(&none, "x-correlation-id"), Some(made.as_str()));
    assert_eq!(
        queues.messages(QUEUE)[1].attribute("CorrelationId"),
        Some(made.as_str())
    );
}

#[tokio::test]
async fn a_correlation_id_header_that_breaks_the_rule_is_refused_naming_the_header() {
    let queues = InMemoryQueues::new();
    let bad: [&[u8]; 4] = [b"a\tb", b"caf\xe9", b"a b", b""];
    for value in bad {
        let value = http::HeaderValue::from_bytes(value).unwrap();
        let refused = answer(
            &request(post().header("x-correlation-id", value.clone()), order_json("1")),
            &queues,
            QUEUE,
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
    assert!(queues.messages(QUEUE).is_empty());
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let queues = InMemoryQueues::new();
    let elsewhere = request(
        http::Request::builder()
            .method("POST")
            .uri("https://api.example.com/order"),
        order_json("1"),
    );
    let answer_404 = answer(&elsewhere, &queues, QUEUE).await;
    assert_eq!(answer_404.status, 404);
    assert!(
        answer_404.body["message"]
            .as_str()
            .unwrap()
            .contains("POST /orders")
    );

    let get = request(
        http::Request::builder()
            .method("GET")
            .uri("https://api.example.com/orders"),
        (),
    );
    let answer_405 = answer(&get, &queues, QUEUE).await;
    assert_eq!(answer_405.status, 405);
    assert_eq!(header(&answer_405, "allow"), Some("POST"));
    assert_eq!(queues.send_calls(), 0);
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
    assert_eq!(answer(&request, &InMemoryQueues::new(), QUEUE).await.status, 202);
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
    let queues = InMemoryQueues::new();
    assert_eq!(answer(&request, &queues, QUEUE).await.status, 202);
    assert_eq!(queues.messages(QUEUE).len(), 1);
}

#[tokio::test]
async fn an_oversized_body_is_413_before_parsing() {
    let queues = InMemoryQueues::new();
    // Not JSON at all: the size is refused before the body is read.
    let big = request(post(), "x".repeat(MAX_BODY_BYTES + 1));
    let answer_413 = answer(&big, &queues, QUEUE).await;
    assert_eq!(answer_413.status, 413);
    assert_eq!(
        answer_413.body,
        json!({"message": "request body is 262145 bytes; at most 262144 are accepted"})
    );
    // Exactly the limit is read (and here refused as JSON).
    let limit = request(post(), "x".repeat(MAX_BODY_BYTES));
    assert_eq!(answer(&limit, &queues, QUEUE).await.status, 400);
    let binary = request(post(), vec![b' '; MAX_BODY_BYTES + 1]);
    assert_eq!(answer(&binary, &queues, QUEUE).await.status, 413);
}

#[tokio::test]
async fn only_json_content_types_are_accepted() {
    let queues = InMemoryQueues::new();
    for (content_type, status) in [
        ("application/json", 202),
        ("Application/JSON; charset=UTF-8", 202),
        ("application/json; charset=\"utf-8\"", 202),
        ("application/json; charset=latin1", 415),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
    ] {
        let r = request(post().header("content-type", content_type), order_json("1"));
        assert_eq!(answer(&r, &queues, QUEUE).await.status, status, "{content_type}");
    }
}

#[tokio::test]
async fn missing_non_utf8_and_non_json_bodies_are_400() {
    let queues = InMemoryQueues::new();
    for body in [Body::Empty, Body::Text("  \n".into())] {
        let a = answer(&request(post(), body), &queues, QUEUE).await;
        assert_eq!(a.status, 400);
        assert_eq!(
            a.body,
            json!({"message": "request body is required: an order as JSON"})
        );
    }
    let latin1 = answer(&request(post(), vec![0x7b, 0xe9, 0x7d]), &queues, QUEUE).await;
    assert_eq!(latin1.status, 400);
    assert_eq!(latin1.body["message"], "request body must be UTF-8 encoded JSON");

    let not_json = answer(&request(post(), "orderId=ord-1"), &queues, QUEUE).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(
        not_json.body,
        json!({"message": "request body is not valid JSON: expected value at line 1 column 1"})
    );
    assert_eq!(queues.send_calls(), 0);
}

#[tokio::test]
async fn broken_rules_are_400_with_each_field_and_rule() {
    let queues = InMemoryQueues::new();
    let body = r#"{"orderId":"ord 1","customerId":"cust-1","items":[{"sku":"SKU-1","quantity":0}],
        "totalAmount":1.001,"createdAt":"yesterday"}"#;
    let r = request(
        post()
            .header("x-region", "eu")
            .header("x-correlation-id", "corr-2"),
        body,
    );
    let a = answer(&r, &queues, QUEUE).await;
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
    assert_eq!(queues.send_calls(), 0);

    let long = "c".repeat(129);
    let r = request(post().header("x-correlation-id", long.as_str()), order_json("1"));
    let a = answer(&r, &queues, QUEUE).await;
    assert_eq!(a.body["errors"][0]["field"], "headers.X-Correlation-Id");
    // The refused ID is not echoed: the response gets a new one.
    assert_ne!(header(&a, "x-correlation-id"), Some(long.as_str()));
}

#[tokio::test]
async fn an_unsupported_version_is_400_naming_the_version() {
    let body = order_json("1").replace(r#""orderId""#, r#""version":"2.0","orderId""#);
    let a = answer(&request(post(), body), &InMemoryQueues::new(), QUEUE).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({
            "message": "unsupported version: the major version must be 1",
            "errors": [{"field": "version", "rule": "unsupported", "message": "must have the major version 1, like \"1.0\""}]
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_that_keeps_failing_retryably_is_503_without_internals() {
    let queues = InMemoryQueues::new();
    queues.fail_sends(100, PortErrorKind::Throttled);
    let a = answer(&valid_request(), &queues, QUEUE).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        a.body,
        json!({"message": "could not accept the order, try again"})
    );
    assert_eq!(header(&a, "retry-after"), Some("1"));
    assert_eq!(header(&a, "x-correlation-id"), Some("corr-1"));
    for internal in ["injected", "SendMessageBatch", "Throttled", QUEUE] {
        assert!(!a.text.contains(internal), "{internal} in {}", a.text);
    }
    assert_eq!(queues.send_calls(), RetryPolicy::default().attempts as usize);
    assert!(queues.messages(QUEUE).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_permanent_send_failure_is_500_without_internals() {
    let queues = InMemoryQueues::new();
    queues.fail_sends(1, PortErrorKind::NotFound);
    let a = answer(&valid_request(), &queues, QUEUE).await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.body,
        json!({"message": "could not accept the order, try again"})
    );
    assert!(a.headers.get("retry-after").is_none());
    assert!(
        !a.text.contains("injected") && !a.text.contains("NotFound"),
        "{}",
        a.text
    );
    assert_eq!(queues.send_calls(), 1, "a permanent failure is not retried");
}

#[tokio::test(start_paused = true)]
async fn a_send_that_fails_once_is_retried_and_accepted() {
    let queues = InMemoryQueues::new();
    queues.fail_sends(1, PortErrorKind::Timeout);
    assert_eq!(answer(&valid_request(), &queues, QUEUE).await.status, 202);
    assert_eq!(queues.messages(QUEUE).len(), 1);
    assert_eq!(queues.send_calls(), 2);
}
