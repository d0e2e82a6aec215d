//! What `order-api` logs at info level: each request's line carries its
//! correlation ID, accepted and read orders their order ID, refusals their
//! code, store failures their cause;
//! never the order's contents or the customer.
//!
//! In its own test binary: the subscriber is process-wide.

use orderflow_batch::telemetry::MemoryWriter;

use lambda_http::{Body, Request, http};
use order_api::{Config, handle};
use orderflow_batch::error::PortErrorKind;
use std::sync::Arc;

use orderflow_embedded::InMemoryOrderStore;

fn request(correlation_id: &str, body: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/orders")
        .header("x-correlation-id", correlation_id)
        .body(Body::from(body))
        .unwrap()
}

const ORDER: &str = r#"{"orderId":"ord-77","customerId":"cust-secret-9","items":[{"sku":"SKU-SECRET","quantity":3}],
    "totalAmount":4321.09,"createdAt":"2026-11-05T10:00:00Z","shippingRegion":"EU-WEST"}"#;

#[tokio::test(start_paused = true)]
async fn info_logs_name_the_request_and_outcome_never_the_order() {
    let captured = MemoryWriter::default();
    let writer = captured.clone();
    // Lambda's subscriber at info level, as deployed.
    let subscriber =
        orderflow_batch::telemetry::json_subscriber("info".parse().expect("a level"), move || writer.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let store = Arc::new(InMemoryOrderStore::new());
    let config = Config::new(Arc::clone(&store) as _);
    assert_eq!(handle(&request("corr-ok", ORDER), &config).await.status(), 202);
    let invalid = ORDER.replace("4321.09", "4321.091");
    assert_eq!(
        handle(&request("corr-bad", &invalid), &config).await.status(),
        400
    );
    let conflicting = ORDER.replace("cust-secret-9", "cust-secret-8");
    assert_eq!(
        handle(&request("corr-taken", &conflicting), &config)
            .await
            .status(),
        409
    );
    let read = http::Request::builder()
        .method("GET")
        .uri("https://api.example.com/orders/ord-77")
        .header("x-correlation-id", "corr-read")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(handle(&read, &config).await.status(), 200);
    store.fail_calls(1, PortErrorKind::Throttled);
    assert_eq!(handle(&request("corr-down", ORDER), &config).await.status(), 503);

    let text = captured.contents();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |corr: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["correlation_id"] == corr).collect()
    };
    assert_eq!(lines.len(), 5, "one line per request at info level:\n{text}");
    assert_eq!(of("corr-ok")[0]["order_id"], "ord-77");
    assert_eq!(of("corr-ok")[0]["status"], 202);
    assert_eq!(of("corr-bad")[0]["code"], "ValidationFailed");
    assert_eq!(of("corr-taken")[0]["code"], "OrderIdTaken");
    assert_eq!(of("corr-taken")[0]["status"], 409);
    assert_eq!(of("corr-read")[0]["order_id"], "ord-77");
    assert_eq!(of("corr-read")[0]["status"], 200);
    let down = of("corr-down")[0];
    assert_eq!(down["level"], "ERROR");
    assert_eq!(down["status"], 503);
    assert!(
        down["error"].as_str().unwrap().contains("injected failure"),
        "{down}"
    );
    for secret in ["cust-secret-9", "cust-secret-8", "SKU-SECRET", "4321", "EU-WEST"] {
        assert!(!text.contains(secret), "{secret} is logged:\n{text}");
    }
}
