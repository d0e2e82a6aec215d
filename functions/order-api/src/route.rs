//! Which of the API's routes a request is for, and the checks a `POST
//! /orders` body passes before it is decoded.

use lambda_http::http::Method;
use lambda_http::http::header::{CONTENT_TYPE, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use orderflow_orders::contracts::OrderCreated;
use orderflow_orders::validation::decode_order_created;
use orderflow_orders::validation::rules::ID;

use crate::error::ApiError;
use crate::{Headers, MAX_BODY_BYTES};

/// The collection of orders.
pub(crate) const ORDERS_PATH: &str = "/orders";

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `POST /orders`: accept an order.
    Accept,
    /// `GET /orders/{orderId}`: where an order is.
    Read {
        /// The order ID, as the contract's `orderId` rule allows it.
        order_id: &'a str,
    },
}

/// The request's path without a named stage's prefix (`/prod/orders` is `/orders`).
fn path(request: &Request) -> &str {
    let raw = request.raw_http_path();
    let path = if raw.is_empty() { request.uri().path() } else { raw };
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.as_deref(),
        _ => None,
    };
    stage
        .filter(|s| *s != "$default")
        .and_then(|s| path.strip_prefix('/')?.strip_prefix(s))
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path)
}

/// The route, or why the request has none.
pub(crate) fn route(request: &Request) -> Result<Route<'_>, ApiError> {
    let path = path(request);
    if path == ORDERS_PATH {
        return if request.method() == Method::POST {
            Ok(Route::Accept)
        } else {
            Err(ApiError::MethodNotAllowed { allow: "POST" })
        };
    }
    let order_id = path
        .strip_prefix(ORDERS_PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| !id.contains('/'))
        .ok_or(ApiError::NotFound)?;
    if request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed { allow: "GET" });
    }
    // An order ID is letters, digits, '_' and '-': one that needs
    // percent-encoding breaks the rule as it stands.
    ID.check(order_id).map_err(ApiError::InvalidOrderId)?;
    Ok(Route::Read { order_id })
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

/// Checks the size and content type, then decodes and validates the body.
/// `lambda_http` has already decoded a base64 body.
pub(crate) fn parse_order(request: &Request) -> Result<OrderCreated, ApiError> {
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
