//! The front door of a run with `--entry api`: each order a `POST /orders` to
//! order-api's handler (the code Lambda runs), over the run's order store.
//! The handler only keeps the order; the relay stage publishes it.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use lambda_http::http::{Method, StatusCode, Uri};
use lambda_http::{Body, Request, Response};

use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::sent_orders::{Produced, SentOrders};
use crate::workload::{GeneratedOrder, orders};

/// Tries of one order while the API answers 503.
const ATTEMPTS: u32 = 5;

/// What the API made of one order.
#[derive(Debug, PartialEq)]
enum Posted {
    /// 202: kept, under this correlation ID.
    Accepted { correlation_id: String },
    /// 400: the order breaks the contract.
    Refused,
    /// Anything else, or 503 on every try: not taken (it counts as lost).
    NotTaken(StatusCode),
}

/// Posts `spec.orders` orders of `spec.seed`'s workload, one after the other
/// (so on FIFO queues each customer's orders are published in the order sent).
pub(super) async fn post_orders(spec: &RunSpec, pipeline: &Pipeline) -> Produced {
    let config = order_api::Config::new(Arc::clone(&pipeline.stores.orders));
    let mut sent = SentOrders::with_capacity(spec.orders);
    let mut unsent = 0usize;
    for order in orders(spec.seed, spec.poison_rate, spec.orders) {
        match post(&order, &config).await {
            Posted::Accepted { correlation_id } => sent.record(&order, Some(&correlation_id)),
            Posted::Refused => {
                sent.record(&order, None);
                sent.note_refused(&order);
            }
            Posted::NotTaken(status) => {
                tracing::warn!(status = status.as_u16(), "order-api did not take an order");
                sent.record(&order, None);
                unsent += 1;
            }
        }
    }
    Produced { sent, unsent }
}

/// Posts one order, again after a 503 (waiting its `Retry-After`).
async fn post(order: &GeneratedOrder, config: &order_api::Config) -> Posted {
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..ATTEMPTS {
        let response = order_api::handle(&request(order), config).await;
        status = response.status();
        match status {
            StatusCode::ACCEPTED => return accepted(&response),
            StatusCode::BAD_REQUEST => return Posted::Refused,
            StatusCode::SERVICE_UNAVAILABLE => tokio::time::sleep(retry_after(&response)).await,
            _ => break,
        }
    }
    Posted::NotTaken(status)
}

/// `POST /orders` with the order's body, as an HTTP API hands it over.
fn request(order: &GeneratedOrder) -> Request {
    let mut request = Request::new(Body::Text(order.body.clone()));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from_static("/orders");
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}

/// A 202's correlation ID, from its body.
fn accepted(response: &Response<Body>) -> Posted {
    let correlation_id = serde_json::from_slice::<serde_json::Value>(response.body())
        .ok()
        .and_then(|body| body["correlationId"].as_str().map(str::to_owned));
    match correlation_id {
        Some(correlation_id) => Posted::Accepted { correlation_id },
        None => Posted::NotTaken(response.status()),
    }
}

/// How long a 503 asks to wait (a second when it does not say).
fn retry_after(response: &Response<Body>) -> Duration {
    let seconds = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.min(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_batch::error::PortErrorKind;
    use orderflow_embedded::InMemoryOrderStore;
    use orderflow_orders::ports::OrderStore;

    fn config(store: &Arc<InMemoryOrderStore>) -> order_api::Config {
        order_api::Config::new(Arc::clone(store) as Arc<dyn OrderStore>)
    }

    #[tokio::test(start_paused = true)]
    async fn valid_orders_are_kept_broken_ones_refused_and_a_busy_store_tried_again() {
        let store = Arc::new(InMemoryOrderStore::new());
        let generated: Vec<GeneratedOrder> = orders(3, 0.5, 20).collect();
        let (broken, valid): (Vec<_>, Vec<_>) = generated.iter().partition(|o| o.broken_rule.is_some());
        assert!(!broken.is_empty() && !valid.is_empty());
        for order in &broken {
            assert_eq!(post(order, &config(&store)).await, Posted::Refused);
        }
        assert!(store.is_empty(), "a refused order is not kept");
        store.fail_calls(2, PortErrorKind::Throttled);
        let Posted::Accepted { correlation_id } = post(valid[0], &config(&store)).await else {
            panic!("kept on the third try");
        };
        assert_eq!(store.records()[0].order.correlation_id, correlation_id);
        store.fail_calls(ATTEMPTS as usize, PortErrorKind::Throttled);
        assert_eq!(
            post(valid[1], &config(&store)).await,
            Posted::NotTaken(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(store.len(), 1);
    }
}
