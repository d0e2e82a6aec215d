//! Every function's log lines, as Lambda writes them: each carries the keys
//! Powertools' users query (`service`, `function_name`,
//! `function_request_id`, `cold_start`; a record's `message_id` and
//! `correlation_id`); and the lines the template's metric filters count: one
//! `order accepted` per new order (not for a retry), one `order failed` each
//! time an order is recorded `FAILED`. One test in its own process, with the
//! process's subscriber: a thread's scoped subscriber can miss lines whose
//! callsites other tests registered at the same moment.

use std::sync::Arc;

use lambda_http::http::header::{CONTENT_TYPE, HeaderValue};
use lambda_http::http::{Method, Uri};
use lambda_http::{Body, Request};
use orderflow::invoke::{Function, Instance, read_event};
use orderflow_batch::telemetry::{LambdaLogging, MemoryWriter, lambda_subscriber};
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
async fn every_line_carries_the_keys_users_query_and_each_counted_line_appears_once() {
    let logs = MemoryWriter::default();
    let writer = logs.clone();
    let logging = LambdaLogging {
        service: "orderflow-test".to_owned(),
        function_name: "stack-orderflow-test".to_owned(),
        sample_rate: 0.0,
    };
    let subscriber = lambda_subscriber("info".parse().unwrap(), move || writer.clone(), &logging, None);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this process");

    every_function_logs_the_keys_users_query(&logs).await;
    logs.clear();

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
    assert_eq!(accepted[0]["order_id"], "ord-log-1");

    let at = time::OffsetDateTime::now_utc();
    let failed = record_failure(&*store, Some(ORDER), "RetriesExhausted", at).await;
    assert_eq!(failed, Ok(TransitionOutcome::Applied));
    let again = record_failure(&*store, Some(ORDER), "RetriesExhausted", at).await;
    assert_eq!(again, Ok(TransitionOutcome::Unchanged));
    assert_eq!(store.records()[0].status, OrderStatus::Failed);
    let failed = lines_with(&logs, FAILED_LOG_MESSAGE);
    assert_eq!(failed.len(), 1, "once per order failed: {}", logs.contents());
    assert_eq!(failed[0]["order_id"], "ord-log-1");
    assert_eq!(failed[0]["error_code"], "RetriesExhausted");
}

/// Runs every sample event of `events/` through its function, as
/// `orderflow invoke` does (each an invocation), and reads every line.
async fn every_function_logs_the_keys_users_query(logs: &MemoryWriter) {
    let events = orderflow_tests::repo_root().join("events");
    let mut paths: Vec<_> = std::fs::read_dir(&events)
        .expect("events/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    paths.sort();
    let mut functions_logging = std::collections::BTreeSet::new();
    for path in paths {
        let Some(function) = Function::for_event_file(&path) else {
            continue;
        };
        let Ok(event) = read_event(function, &path) else {
            continue; // an event file refused on purpose (too large, not JSON)
        };
        let before = logs.contents().lines().count();
        let _ = Instance::new(function).invoke(&event).await;
        if logs.contents().lines().count() > before {
            functions_logging.insert(function.name());
        }
    }
    let text = logs.contents();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() > 20, "{text}");
    for line in &lines {
        assert_eq!(line["service"], "orderflow-test", "{line}");
        assert_eq!(line["function_name"], "stack-orderflow-test", "{line}");
        assert!(
            line["function_request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{line}"
        );
        assert!(line["cold_start"].is_boolean(), "{line}");
        for camel in ["messageId", "correlationId", "orderId", "span"] {
            assert!(line.get(camel).is_none(), "{camel} in {line}");
        }
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["cold_start"] == true)
            .filter_map(|l| l["function_request_id"].as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        1,
        "one cold start in a process"
    );
    let with = |key: &str| lines.iter().filter(|l| l.get(key).is_some()).count();
    assert!(
        with("message_id") > 0 && with("correlation_id") > 0 && with("order_id") > 0,
        "{text}"
    );
    assert_eq!(
        functions_logging.into_iter().collect::<Vec<_>>(),
        [
            "inventory",
            "notification",
            "order-api",
            "order-relay",
            "shipping"
        ],
        "every function's lines were read"
    );
}
