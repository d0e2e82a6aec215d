//! `order-api`: the pipeline's front door, an API Gateway HTTP API (payload
//! format 2.0) over the order of record.
//!
//! `POST /orders` validates the body with the rules every consumer applies
//! ([`decode_order_created`](orderflow_orders::validation::decode_order_created)),
//! so an order this API accepts is one `inventory` accepts too, and then
//! makes one conditional write to the order store ([`OrderStore::accept`]):
//! that is all it does. The order reaches the orders queue through the
//! table's stream and `order-relay` (a transactional outbox), so an order is
//! published if and only if it was saved.
//!
//! | request | response |
//! |---|---|
//! | `POST /orders` with a valid, new order | 202 `{"orderId", "correlationId"}` |
//! | the same order again (same ID and content) | 202 with the correlation ID it was first accepted with; nothing is stored or published twice |
//! | another order under a taken `orderId` | 409 naming the `orderId`, nothing about the order holding it |
//! | `GET /orders/{orderId}` | 200 `{"orderId", "correlationId", "status", "updatedAt", "history", "shipment"}`, or 404 |
//! | an order ID in the path that breaks the `orderId` rule | 400, one error on `path.orderId` |
//! | another path | 404 |
//! | another method | 405, with `Allow` |
//! | a body over 256 KiB (counted after base64 decoding) | 413, before any parsing |
//! | a `Content-Type` other than `application/json` (none is fine) | 415 |
//! | no body, or only whitespace | 400 |
//! | a body that is not UTF-8, or not JSON | 400, with the parser's position |
//! | an order breaking rules | 400 `{"message", "errors": [{"field", "rule", "message"}]}` |
//! | a `version` whose major is not 1 | 400, one error on `version` |
//! | the store failed retryably (throttled, timed out, unavailable) | 503, with `Retry-After: 1` |
//! | the store failed otherwise | 500 |
//!
//! Headers: `X-Correlation-Id` is the correlation ID when the body has no
//! `correlationId` (else a new UUID is made); `X-Region` is the shipping region
//! when the body has no `shippingRegion` (else `US`). Their values follow the
//! body's rules; a broken one is reported as `headers.X-Correlation-Id` or
//! `headers.X-Region`. Every response carries the `X-Correlation-Id` it used
//! (for a retried order, the original one).
//!
//! A 5xx body is always the same generic message: the cause is logged (at
//! error level, in the request's span with its correlation ID), never
//! returned. Info-level logs name the order ID and the outcome, never the
//! order's contents or the customer.
#![forbid(unsafe_code)]

use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::http::header::{ALLOW, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use lambda_http::{Body, Request, RequestExt, Response};
use orderflow_batch::clock::now_utc;
use orderflow_batch::config::ConfigError;
use orderflow_batch::correlation::fallback_correlation_id;
use orderflow_batch::error::FieldErrors;
use orderflow_orders::contracts::{OrderCreated, attribute};
use orderflow_orders::order_record::{Acceptance, Transition, detail};
use orderflow_orders::ports::{OrderStore, StepPorts};
use orderflow_orders::validation::MessageAttributes;
use serde::Serialize;
use tracing::Instrument;

mod entry;
mod error;
mod order_view;
mod route;

pub use entry::{HttpApiResponse, check_uri_parts, respond};
pub use error::{ApiError, UriPart};
pub use order_view::OrderView;

use error::SERVER_ERROR_MESSAGE;
use route::Route;

/// Request headers the API reads (HTTP APIs pass header names in lower case).
pub mod header {
    /// The correlation ID when the body has none; echoed on every response.
    pub const CORRELATION_ID: &str = "x-correlation-id";
    /// The shipping region when the body has none.
    pub const REGION: &str = "x-region";
    /// The caller's X-Ray trace header, which the order's trace continues.
    pub const TRACE_ID: &str = "x-amzn-trace-id";
}

/// The info line logged for each newly accepted order (not for a retry): the
/// template's metric filter counts it as the dashboard's orders accepted.
pub const ACCEPTED_LOG_MESSAGE: &str = "order accepted";

/// The largest body accepted, in bytes after base64 decoding: SQS's message
/// size, as the order goes on to the orders queue.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Where orders are kept.
#[derive(Clone)]
pub struct Config {
    /// The order of record.
    pub orders: Arc<dyn OrderStore>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").finish_non_exhaustive()
    }
}

impl Config {
    /// Orders kept in `orders`.
    pub fn new(orders: Arc<dyn OrderStore>) -> Self {
        Config { orders }
    }
}

/// The configuration over `ports`: the order store.
pub fn config(ports: &dyn StepPorts) -> Result<Config, ConfigError> {
    Ok(Config::new(ports.orders()?))
}

/// The request headers, as the message attributes the shared decoder falls back on.
pub(crate) struct Headers<'a>(pub(crate) &'a HeaderMap);

impl MessageAttributes for Headers<'_> {
    fn string_attribute(&self, name: &str) -> Option<&str> {
        let header = match name {
            attribute::CORRELATION_ID => header::CORRELATION_ID,
            attribute::REGION => header::REGION,
            _ => return None,
        };
        // A header given is read by the body field's rule: one that is not
        // visible ASCII text (a tab, a non-ASCII byte) reads as a character
        // the rule refuses, so it is refused naming the header, not ignored.
        const NOT_TEXT: &str = "\u{fffd}";
        self.0.get(header).map(|v| v.to_str().map_or(NOT_TEXT, str::trim))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    order_id: &'a str,
    correlation_id: &'a str,
}

#[derive(Serialize)]
struct ErrorBody {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<FieldErrors>,
}

/// The trace an accepted order goes on in: the request's `X-Amzn-Trace-Id`
/// when it is a trace header (a root trace ID, visible ASCII, at most 256
/// characters), else the invocation's own (Lambda's active tracing).
fn trace_header(request: &Request) -> Option<String> {
    let usable = |header: &str| {
        header.len() <= 256
            && header.bytes().all(|b| b.is_ascii_graphic())
            && orderflow_batch::telemetry::trace_root(header).is_some()
    };
    let from_request = request
        .headers()
        .get(header::TRACE_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|h| usable(h));
    from_request.map(str::to_owned).or_else(|| {
        request
            .lambda_context_ref()
            .and_then(|c| c.xray_trace_id.clone())
            .filter(|h| usable(h))
    })
}

/// Keeps the order: the correlation ID it is known by (for a retry, the
/// one it was first accepted with).
async fn accept_order(
    order: &OrderCreated,
    trace: Option<String>,
    config: &Config,
) -> Result<String, ApiError> {
    let mut acceptance = Transition::accepted(now_utc());
    if let Some(trace) = trace {
        acceptance = acceptance.with(detail::TRACE_HEADER, trace);
    }
    let acceptance = config
        .orders
        .accept(order, order.fingerprint(), &acceptance)
        .await
        .map_err(ApiError::Store)?;
    match acceptance {
        Acceptance::Accepted => {
            tracing::info!(order_id = %order.order_id, status = 202, "{ACCEPTED_LOG_MESSAGE}");
            Ok(order.correlation_id.clone())
        }
        Acceptance::AlreadyAccepted { correlation_id } => {
            tracing::info!(order_id = %order.order_id, status = 202, "order accepted before: a retry");
            Ok(correlation_id)
        }
        Acceptance::Conflict => Err(ApiError::Conflict {
            order_id: order.order_id.clone(),
        }),
    }
}

/// Answers `POST /orders`.
async fn post_order(request: &Request, config: &Config) -> Response<Body> {
    let order = match route::parse_order(request) {
        Ok(order) => order,
        Err(error) => {
            let correlation_id = fallback_correlation_id(&Headers(request.headers()));
            let span = tracing::info_span!("request", correlation_id = %correlation_id);
            return span.in_scope(|| error_response(&error, &correlation_id));
        }
    };
    let span = tracing::info_span!("request", correlation_id = %order.correlation_id);
    async move {
        match accept_order(&order, trace_header(request), config).await {
            Ok(correlation_id) => {
                let body = Accepted {
                    order_id: &order.order_id,
                    correlation_id: &correlation_id,
                };
                json_response(StatusCode::ACCEPTED, &body, &correlation_id)
            }
            Err(error) => error_response(&error, &order.correlation_id),
        }
    }
    .instrument(span)
    .await
}

/// Answers `GET /orders/{orderId}`.
async fn get_order(order_id: &str, correlation_id: &str, config: &Config) -> Response<Body> {
    match config.orders.get(order_id).await {
        Ok(Some(record)) => {
            tracing::info!(order_id = %order_id, status = 200, "order read");
            json_response(StatusCode::OK, &OrderView::of(&record), correlation_id)
        }
        Ok(None) => error_response(
            &ApiError::OrderNotFound {
                order_id: order_id.to_owned(),
            },
            correlation_id,
        ),
        Err(e) => error_response(&ApiError::Store(e), correlation_id),
    }
}

/// Handles one request; never fails (every failure is a response).
pub async fn handle(request: &Request, config: &Config) -> Response<Body> {
    match route::route(request) {
        Ok(Route::Accept) => post_order(request, config).await,
        Ok(Route::Read { order_id }) => {
            let correlation_id = fallback_correlation_id(&Headers(request.headers()));
            let span = tracing::info_span!("request", correlation_id = %correlation_id);
            get_order(order_id, &correlation_id, config)
                .instrument(span)
                .await
        }
        Err(error) => {
            let correlation_id = fallback_correlation_id(&Headers(request.headers()));
            let span = tracing::info_span!("request", correlation_id = %correlation_id);
            span.in_scope(|| error_response(&error, &correlation_id))
        }
    }
}

pub(crate) fn error_response(error: &ApiError, correlation_id: &str) -> Response<Body> {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code = error.code(), error = %error, "request failed");
    } else {
        tracing::info!(status = status.as_u16(), code = error.code(), "request refused");
        tracing::debug!(error = %error, "why the request was refused");
    }
    let body = ErrorBody {
        message: error.public_message(),
        errors: error.field_errors(),
    };
    let mut response = json_response(status, &body, correlation_id);
    let headers = response.headers_mut();
    match error {
        ApiError::MethodNotAllowed { allow } => {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        ApiError::Store(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

fn json_response(status: StatusCode, body: &impl Serialize, correlation_id: &str) -> Response<Body> {
    let text =
        serde_json::to_string(body).unwrap_or_else(|_| format!(r#"{{"message":"{SERVER_ERROR_MESSAGE}"}}"#));
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // A correlation ID from the body may hold characters a header cannot; the 202 body still has it.
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        headers.insert(HeaderName::from_static(header::CORRELATION_ID), value);
    }
    response
}

#[cfg(test)]
mod tests;
