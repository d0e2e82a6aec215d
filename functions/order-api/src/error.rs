//! Why a request was not answered with what it asked for, and the status
//! each reason gets.

use lambda_http::http::StatusCode;
use orderflow_batch::RecordError;
use orderflow_batch::error::{FieldError, FieldErrors, PortError};
use orderflow_orders::contracts::attribute;
use orderflow_orders::validation::{Rule, ValidationErrors};

use crate::MAX_BODY_BYTES;

/// The body of every 5xx response: what went wrong stays in the logs.
pub(crate) const SERVER_ERROR_MESSAGE: &str = "could not handle the request, try again";

/// Why a request was not answered as asked: the client's fault (4xx) or ours (5xx).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The path is neither `/orders` nor `/orders/{orderId}`.
    #[error("not found: orders are sent with POST /orders and read with GET /orders/{{orderId}}")]
    NotFound,
    /// A method the path does not serve; `allow` is the one it does.
    #[error("method not allowed: use {allow}")]
    MethodNotAllowed {
        /// The method the path serves.
        allow: &'static str,
    },
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
    /// The body (or the path's order ID) breaks the contract.
    #[error("the order is invalid: {0}")]
    Invalid(FieldErrors),
    /// The body's `version` has a major version other than 1.
    #[error("unsupported version: the major version must be 1")]
    UnsupportedVersion,
    /// The path's order ID cannot be an order's (the contract's `orderId` rule).
    #[error("the order ID in the path is invalid: {0}")]
    InvalidOrderId(Rule),
    /// Another order holds this order ID. Says nothing about that order.
    #[error("order ID {order_id} is taken by another order")]
    Conflict {
        /// The request's own order ID.
        order_id: String,
    },
    /// No order has this ID.
    #[error("no order has ID {order_id}")]
    OrderNotFound {
        /// The requested order ID.
        order_id: String,
    },
    /// The order store failed (after the SDK's own retries).
    #[error("the order store failed: {0}")]
    Store(PortError),
    /// Anything else on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::OrderNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidUri(_)
            | ApiError::MissingBody
            | ApiError::NotUtf8
            | ApiError::InvalidJson(_)
            | ApiError::Invalid(_)
            | ApiError::UnsupportedVersion
            | ApiError::InvalidOrderId(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Store(e) if e.retryable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable name for logs.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "NotFound",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::InvalidUri(_) => "InvalidRequestUri",
            ApiError::PayloadTooLarge { .. } => "PayloadTooLarge",
            ApiError::UnsupportedMediaType => "UnsupportedMediaType",
            ApiError::MissingBody => "MissingBody",
            ApiError::NotUtf8 => "NotUtf8",
            ApiError::InvalidJson(_) => "InvalidJson",
            ApiError::Invalid(_) => "ValidationFailed",
            ApiError::UnsupportedVersion => "UnsupportedVersion",
            ApiError::InvalidOrderId(_) => "InvalidOrderId",
            ApiError::Conflict { .. } => "OrderIdTaken",
            ApiError::OrderNotFound { .. } => "OrderNotFound",
            ApiError::Store(e) => e.kind.code(),
            ApiError::Internal(_) => "Internal",
        }
    }

    /// What the client may read: the error itself for a 4xx, a generic line for a 5xx.
    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Store(_) | ApiError::Internal(_) => SERVER_ERROR_MESSAGE.to_owned(),
            ApiError::Invalid(errors) => format!(
                "the order is invalid: {} broken rule{}",
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            ),
            other => other.to_string(),
        }
    }

    /// The broken rules, each naming its field, when there are any.
    pub(crate) fn field_errors(&self) -> Option<FieldErrors> {
        let one = |field: &str, rule: Rule| {
            let mut errors = ValidationErrors::default();
            errors.push(field, rule);
            Some(errors.into())
        };
        match self {
            ApiError::Invalid(errors) => Some(errors.clone()),
            ApiError::UnsupportedVersion => one("version", Rule::UnsupportedVersion),
            ApiError::InvalidOrderId(rule) => one("path.orderId", rule.clone()),
            _ => None,
        }
    }

    /// What decoding a body refused, as the API answers it.
    pub(crate) fn from_decoding(error: RecordError) -> ApiError {
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

/// Which part of the request's URI is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriPart {
    /// `rawQueryString`.
    QueryString,
    /// The `Host` header, or the request context's domain name.
    Host,
    /// The `X-Forwarded-Proto` header.
    ForwardedProto,
    /// The raw path, with the stage in front of it.
    Path,
}

impl UriPart {
    /// The part as the error message names it.
    pub fn name(self) -> &'static str {
        match self {
            UriPart::QueryString => "query string",
            UriPart::Host => "Host header",
            UriPart::ForwardedProto => "X-Forwarded-Proto header",
            UriPart::Path => "path",
        }
    }
}
