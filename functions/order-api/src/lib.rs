//! `order-api`: the pipeline's front door, `POST /orders` behind an API Gateway
//! HTTP API (payload format 2.0).
//!
//! The body is validated with the rules every consumer applies
//! ([`decode_order_created`]), so an order this API accepts is one `inventory`
//! accepts too. An accepted order goes to the orders queue as `OrderCreated`
//! with the attributes `EventType`, `CorrelationId`, `Priority` and `Region`,
//! and the client gets `202 Accepted` with the order and correlation IDs.
//!
//! | request | response |
//! |---|---|
//! | `POST /orders` with a valid order | 202 `{"orderId", "correlationId"}` |
//! | another path | 404 |
//! | another method on `/orders` | 405, with `Allow: POST` |
//! | a body over 256 KiB (counted after base64 decoding) | 413, before any parsing |
//! | a `Content-Type` other than `application/json` (none is fine) | 415 |
//! | no body, or only whitespace | 400 |
//! | a body that is not UTF-8, or not JSON | 400, with the parser's position |
//! | an order breaking rules | 400 `{"message", "errors": [{"field", "rule", "message"}]}` |
//! | a `version` whose major is not 1 | 400, one error on `version` |
//! | the send failed retryably (throttled, timed out, unavailable) | 503, with `Retry-After: 1` |
//! | the send failed otherwise | 500 |
//!
//! Unsupported versions get 400 like every other contract violation, so a
//! client handles one status for "fix the request".
//!
//! Headers: `X-Correlation-Id` is the correlation ID when the body has no
//! `correlationId` (else a new UUID is made); `X-Region` is the shipping region
//! when the body has no `shippingRegion` (else `US`). Their values follow the
//! body's rules; a broken one is reported as `headers.X-Correlation-Id` or
//! `headers.X-Region`. Every response carries the `X-Correlation-Id` it used.
//!
//! A 5xx body is always the same generic message: the cause is logged (at
//! error level, in the request's span with its correlation ID), never
//! returned. Info-level logs name the order ID and the outcome, never the
//! order's contents or the customer.
#![forbid(unsafe_code)]

use std::sync::Arc;

use lambda_http::http::header::{ALLOW, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use orderflow_batch::RecordError;
use orderflow_batch::config::ConfigError;
use orderflow_batch::correlation::fallback_correlation_id;
use orderflow_batch::error::PortError;
use orderflow_batch::error::{FieldError, FieldErrors};
use orderflow_batch::ports::{MessageQueue, OutgoingMessage};
use orderflow_batch::publish::{RetryPolicy, publish_batch};
use orderflow_batch::queue_url::is_fifo;
use orderflow_orders::contracts::{EventType, OrderCreated, attribute};
use orderflow_orders::pipeline::Queue;
use orderflow_orders::ports::StepPorts;
use orderflow_orders::validation::{MessageAttributes, Rule, ValidationErrors, decode_order_created};
use serde::Serialize;
use tracing::Instrument;

mod entry;
pub use entry::{HttpApiResponse, UriPart, check_uri_parts, respond};

/// Request headers the API reads (HTTP APIs pass header names in lower case).
pub mod header {
    /// The correlation ID when the body has none; echoed on every response.
    pub const CORRELATION_ID: &str = "x-correlation-id";
    /// The shipping region when the body has none.
    pub const REGION: &str = "x-region";
}

/// The one route this function serves.
const ORDERS_PATH: &str = "/orders";

/// The largest body accepted, in bytes after base64 decoding: SQS's message size.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The body of every 5xx response: what went wrong stays in the logs.
const SERVER_ERROR_MESSAGE: &str = "could not accept the order, try again";

/// Where accepted orders go, and how patiently a failed send is retried.
#[derive(Clone, Debug)]
pub struct Config {
    /// The orders queue's URL; a `.fifo` URL gets message groups and deduplication IDs.
    pub orders_queue_url: Arc<str>,
    /// Retries of a failed send before answering 5xx.
    pub send_retry: RetryPolicy,
}

impl Config {
    /// Sends to `orders_queue_url` with the default retry policy.
    pub fn new(orders_queue_url: impl Into<Arc<str>>) -> Self {
        Config {
            orders_queue_url: orders_queue_url.into(),
            send_retry: RetryPolicy::default(),
        }
    }
}

/// The configuration over `ports`: accepted orders go to the orders queue.
pub fn config(ports: &dyn StepPorts) -> Result<Config, ConfigError> {
    Ok(Config::new(ports.queue_url(Queue::Orders)?))
}

/// Why a request was not accepted: the client's fault (4xx) or ours (5xx).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The path is not `/orders`.
    #[error("not found: orders are sent with POST {ORDERS_PATH}")]
    NotFound,
    /// `/orders` with a method other than POST.
    #[error("method not allowed: use POST")]
    MethodNotAllowed,
    /// A part of the request's URI is not valid URI syntax (checked before
    /// `lambda_http` builds the request, which panics on it).
    #[error("the request's {} is not valid URI syntax", .0.name())]
    InvalidUri(UriPart),
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("request body is {bytes} bytes; at most {MAX_BODY_BYTES} are accepted")]
    PayloadTooLarge {
        /// The body's size after base64 decoding.
        bytes: usize,
    },
    /// A `Content-Type` other than `application/json`.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// No body, or only whitespace.
    #[error("request body is required: an order as JSON")]
    MissingBody,
    /// The (decoded) body is not UTF-8 text.
    #[error("request body must be UTF-8 encoded JSON")]
    NotUtf8,
    /// The body is not JSON (the parser's message names line and column).
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but breaks the `OrderCreated` contract.
    #[error("the order is invalid: {0}")]
    Invalid(FieldErrors),
    /// The body's `version` has a major version other than 1.
    #[error("unsupported version: the major version must be 1")]
    UnsupportedVersion,
    /// The orders queue did not take the message, after retries.
    #[error("sending the order failed: {0}")]
    Send(PortError),
    /// Anything else on our side (the order could not be encoded, ...).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidUri(_)
            | ApiError::MissingBody
            | ApiError::NotUtf8
            | ApiError::InvalidJson(_)
            | ApiError::Invalid(_)
            | ApiError::UnsupportedVersion => StatusCode::BAD_REQUEST,
            ApiError::Send(e) if e.retryable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Send(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable name for logs.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "NotFound",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::InvalidUri(_) => "InvalidRequestUri",
            ApiError::PayloadTooLarge { .. } => "PayloadTooLarge",
            ApiError::UnsupportedMediaType => "UnsupportedMediaType",
            ApiError::MissingBody => "MissingBody",
            ApiError::NotUtf8 => "NotUtf8",
            ApiError::InvalidJson(_) => "InvalidJson",
            ApiError::Invalid(_) => "ValidationFailed",
            ApiError::UnsupportedVersion => "UnsupportedVersion",
            ApiError::Send(e) => e.kind.code(),
            ApiError::Internal(_) => "Internal",
        }
    }

    /// What the client may read: the error itself for a 4xx, a generic line for a 5xx.
    fn public_message(&self) -> String {
        match self {
            ApiError::Send(_) | ApiError::Internal(_) => SERVER_ERROR_MESSAGE.to_owned(),
            ApiError::Invalid(errors) => format!(
                "the order is invalid: {} broken rule{}",
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            ),
            other => other.to_string(),
        }
    }

    /// The broken rules, each naming its field, when there are any.
    fn field_errors(&self) -> Option<FieldErrors> {
        match self {
            ApiError::Invalid(errors) => Some(errors.clone()),
            ApiError::UnsupportedVersion => {
                let mut errors = ValidationErrors::default();
                errors.push("version", Rule::UnsupportedVersion);
                Some(errors.into())
            }
            _ => None,
        }
    }

    fn from_decoding(error: RecordError) -> ApiError {
        match error {
            RecordError::InvalidJson(message) => ApiError::InvalidJson(message),
            RecordError::UnsupportedVersion => ApiError::UnsupportedVersion,
            RecordError::Invalid { errors, .. } => ApiError::Invalid(with_header_names(errors)),
            RecordError::MissingBody => ApiError::MissingBody,
            // Decoding reports nothing else; should it ever, it is ours to fix.
            other => ApiError::Internal(other.to_string()),
        }
    }
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

/// Names the fields the decoder read from "message attributes" by the headers they came from.
fn with_header_names(errors: FieldErrors) -> FieldErrors {
    let renamed = |field: String| match field.strip_prefix("messageAttributes.") {
        Some(attribute::CORRELATION_ID) => "headers.X-Correlation-Id".to_owned(),
        Some(attribute::REGION) => "headers.X-Region".to_owned(),
        _ => field,
    };
    FieldErrors(
        errors
            .0
            .into_iter()
            .map(|e| FieldError {
                field: renamed(e.field),
                ..e
            })
            .collect(),
    )
}

/// Whether the request is for `/orders`, with or without a named stage's prefix (`/prod/orders`).
fn is_orders_route(request: &Request) -> bool {
    let raw = request.raw_http_path();
    let path = if raw.is_empty() { request.uri().path() } else { raw };
    if path == ORDERS_PATH {
        return true;
    }
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.as_deref(),
        _ => None,
    };
    stage
        .filter(|s| *s != "$default")
        .and_then(|s| path.strip_prefix('/')?.strip_prefix(s))
        .is_some_and(|rest| rest == ORDERS_PATH)
}

/// `application/json`, with an optional UTF-8 charset.
fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            _ => true,
        })
}

fn body_len(body: &Body) -> usize {
    match body {
        Body::Text(text) => text.len(),
        Body::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

fn body_text(body: &Body) -> Result<&str, ApiError> {
    let text = match body {
        Body::Text(text) => text.as_str(),
        Body::Binary(bytes) => std::str::from_utf8(bytes).map_err(|_| ApiError::NotUtf8)?,
        _ => "",
    };
    if text.trim().is_empty() {
        Err(ApiError::MissingBody)
    } else {
        Ok(text)
    }
}

/// Checks the route, method, size and content type, then decodes and
/// validates the body. `lambda_http` has already decoded a base64 body.
fn parse_order(request: &Request) -> Result<OrderCreated, ApiError> {
    if !is_orders_route(request) {
        return Err(ApiError::NotFound);
    }
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let bytes = body_len(request.body());
    if bytes > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge { bytes });
    }
    if request.headers().get(CONTENT_TYPE).is_some_and(|v| !is_json(v)) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body_text(request.body())?;
    decode_order_created(body, &Headers(request.headers())).map_err(ApiError::from_decoding)
}

/// The `OrderCreated` message for the orders queue at `queue_url`: the
/// validated order as its body (correlation ID and region resolved), the
/// pipeline's attributes, and on a FIFO queue the customer as message group
/// and [`OrderCreated::deduplication_id`] as deduplication ID (a client's
/// retry within SQS's 5-minute window is then sent once, and another order
/// reusing the order ID is not dropped as its duplicate).
pub fn order_message(order: &OrderCreated, queue_url: &str) -> Result<OutgoingMessage, ApiError> {
    let body = serde_json::to_string(order).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut message = OutgoingMessage::new(body)
        .with_attribute(attribute::EVENT_TYPE, EventType::OrderCreated.as_str())
        .with_attribute(attribute::CORRELATION_ID, order.correlation_id.clone())
        .with_attribute(attribute::PRIORITY, order.priority())
        .with_attribute(attribute::REGION, order.shipping_region.clone());
    if is_fifo(queue_url) {
        message.group_id = Some(order.customer_id.clone());
        message.deduplication_id = Some(order.deduplication_id());
    }
    Ok(message)
}

/// Sends the order to the orders queue, retrying per `config.send_retry`.
pub async fn send_order(
    order: &OrderCreated,
    queue: &dyn MessageQueue,
    config: &Config,
) -> Result<(), ApiError> {
    let message = order_message(order, &config.orders_queue_url)?;
    let results = publish_batch(queue, &config.orders_queue_url, vec![message], &config.send_retry).await;
    match results.into_iter().next() {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(ApiError::Send(e)),
        None => Err(ApiError::Internal("the send returned no result".to_owned())),
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

/// Handles one request: parses and validates the order, sends it, and
/// answers; never fails (every failure is a response).
pub async fn handle(request: &Request, queue: &dyn MessageQueue, config: &Config) -> Response<Body> {
    let parsed = parse_order(request);
    let correlation_id = match &parsed {
        Ok(order) => order.correlation_id.clone(),
        Err(_) => fallback_correlation_id(&Headers(request.headers())),
    };
    let span = tracing::info_span!("request", correlationId = %correlation_id);
    async move {
        let outcome = match parsed {
            Ok(order) => send_order(&order, queue, config).await.map(|()| order),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(order) => {
                tracing::info!(orderId = %order.order_id, status = 202, "order accepted");
                let body = Accepted {
                    order_id: &order.order_id,
                    correlation_id: &order.correlation_id,
                };
                json_response(StatusCode::ACCEPTED, &body, &correlation_id)
            }
            Err(error) => error_response(&error, &correlation_id),
        }
    }
    .instrument(span)
    .await
}

pub(crate) fn error_response(error: &ApiError, correlation_id: &str) -> Response<Body> {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code = error.code(), error = %error, "order not accepted");
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
        ApiError::MethodNotAllowed => {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        ApiError::Send(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
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
