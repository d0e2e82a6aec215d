//! The log lines the template's metric filters count: one `order accepted`
//! per new order (not for a retry), one `order failed` each time an order is
//! recorded `FAILED`. One test in its own process, with the process's
//! subscriber: a thread's scoped subscriber can miss lines whose callsites
//! other tests registered at the same moment.

use std::sync::Arc;

use lambda_http::http::header::{CONTENT_TYPE, HeaderValue};
use lambda_http::http::{Method, Uri};
use lambda_http::{Body, Request};
use orderflow_batch::telemetry::{MemoryWriter, json_subscriber};
use orderflow_embedded::InMemoryOrderStore;
use orderflow_orders::order_record::{OrderStatus, TransitionOutcome};
use orderflow_orders::ports::OrderStore;
use orderflow_orders::recording::{FAILED_LOG_MESSAGE, record_failure};
use serde_json::Value;

const ORDER: &str = r#"{"orderId":"ord-log-1","customerId":"c-1","items":[{"sku":"A","quantity":1}],
    "totalAmount":10,"createdAt":"2026-11-05T10:00:00Z"}"#;

fn post(correlation_id: &str) -> Request {
    let mut request = Request::new(Body::Text(ORDER.to_owned()));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from_static("/orders");
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-correlation-id", HeaderValue::from_str(correlation_id).unwrap());
    request
}

fn lines_with(logs: &MemoryWriter, message: &str) -> Vec<Value> {
    logs.contents()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|l| l["message"] == message)
        .collect()
}

#[tokio::test]
async fn each_new_order_and_each_failed_order_logs_the_line_its_metric_counts() {
    let logs = MemoryWriter::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(json_subscriber("info".parse().unwrap(), move || writer.clone()))
        .expect("the only subscriber of this process");

    let store = Arc::new(InMemoryOrderStore::new());
    let config = order_api::Config::new(Arc::clone(&store) as Arc<dyn OrderStore>);
    for correlation in ["first", "a-retry"] {
        let response = order_api::handle(&post(correlation), &config).await;
        assert_eq!(response.status(), 202);
    }
    let accepted = lines_with(&logs, order_api::ACCEPTED_LOG_MESSAGE);
    assert_eq!(
        accepted.len(),
        1,
        "a retry is not another order: {}",
        logs.contents()
    );
    assert_eq!(accepted[0]["orderId"], "ord-log-1");

    let at = time::OffsetDateTime::now_utc();
    let failed = record_failure(&*store, Some(ORDER), "RetriesExhausted", at).await;
    assert_eq!(failed, Ok(TransitionOutcome::Applied));
    let again = record_failure(&*store, Some(ORDER), "RetriesExhausted", at).await;
    assert_eq!(again, Ok(TransitionOutcome::Unchanged));
    assert_eq!(store.records()[0].status, OrderStatus::Failed);
    let failed = lines_with(&logs, FAILED_LOG_MESSAGE);
    assert_eq!(failed.len(), 1, "once per order failed: {}", logs.contents());
    assert_eq!(failed[0]["orderId"], "ord-log-1");
    assert_eq!(failed[0]["errorCode"], "RetriesExhausted");
}
