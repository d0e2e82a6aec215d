//! Event files, read as each function's trigger sends its events.

use std::io::Read;
use std::path::Path;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use orderflow_batch::sqs::SqsBatch;
use orderflow_batch::stream_source::StreamBatch;

use super::{Function, Trigger};

/// An event file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventFileError {
    /// The file cannot be read.
    #[error("cannot read event file {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds more than a Lambda invocation takes.
    #[error("{path} is larger than a Lambda invocation's payload limit ({MAX_EVENT_BYTES} bytes)")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// The file is not an SQS event.
    #[error("{path} is not an SQS event: {source}")]
    NotAnSqsEvent {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// The file is not a DynamoDB Streams event.
    #[error("{path} is not a DynamoDB Streams event: {source}")]
    NotAStreamEvent {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// The file is not an API Gateway HTTP API request in payload format 2.0.
    #[error("{path} is not an API Gateway HTTP API (payload format 2.0) request: {reason}")]
    NotAnHttpApiEvent {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A sample event, read as its function's trigger sends it.
#[derive(Clone, Debug)]
pub enum Event {
    /// For an SQS consumer.
    Sqs(SqsBatch),
    /// For `order-api`.
    HttpApi(Box<ApiGatewayV2httpRequest>),
    /// For `order-relay`.
    Stream(StreamBatch),
}

/// Lambda's limit on a synchronous invocation's payload (6 MB): no event
/// larger than this reaches a function.
const MAX_EVENT_BYTES: u64 = 6_291_456;

/// Reads `reader` to its end if it holds at most `limit` bytes; `None` when it
/// holds more, after reading `limit + 1` bytes and no further.
pub(crate) fn read_at_most(
    reader: impl Read,
    limit: u64,
    capacity: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::with_capacity(capacity);
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Reads the event file `path` as `function`'s trigger sends it; a file over
/// Lambda's 6 MB payload limit is refused without being read further.
pub fn read_event(function: Function, path: &Path) -> Result<Event, EventFileError> {
    let unreadable = |source| EventFileError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // A regular file's size, as a hint; devices and pipes say 0.
    let capacity = file
        .metadata()
        .map_or(0, |m| m.len().min(MAX_EVENT_BYTES + 1) as usize);
    let text = read_at_most(file, MAX_EVENT_BYTES, capacity)
        .map_err(unreadable)?
        .ok_or_else(|| EventFileError::TooLarge {
            path: path.display().to_string(),
        })?;
    match function.trigger() {
        Trigger::Sqs => {
            // Valid UTF-8 once for the whole file, instead of string by string while parsing.
            let text = String::from_utf8(text).map_err(|e| EventFileError::NotAnSqsEvent {
                path: path.display().to_string(),
                source: serde::de::Error::custom(format!("not UTF-8 ({e})")),
            })?;
            serde_json::from_str(&text)
                .map(Event::Sqs)
                .map_err(|source| EventFileError::NotAnSqsEvent {
                    path: path.display().to_string(),
                    source,
                })
        }
        Trigger::Stream => serde_json::from_slice::<StreamBatch>(&text)
            .map(Event::Stream)
            .map_err(|source| EventFileError::NotAStreamEvent {
                path: path.display().to_string(),
                source,
            }),
        Trigger::HttpApi => read_http_api_request(&text)
            .map(|request| Event::HttpApi(Box::new(request)))
            .map_err(|reason| EventFileError::NotAnHttpApiEvent {
                path: path.display().to_string(),
                reason,
            }),
    }
}

/// An HTTP API request, checked as far as `lambda_http` relies on it: payload
/// format 2.0, and a base64 body that decodes (its adapter panics on one that
/// does not; API Gateway never sends one).
fn read_http_api_request(text: &[u8]) -> Result<ApiGatewayV2httpRequest, String> {
    use base64::Engine;
    let request: ApiGatewayV2httpRequest = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if request.version.as_deref() != Some("2.0") {
        return Err(format!(
            "\"version\" is {:?}, expected \"2.0\"",
            request.version.as_deref().unwrap_or("missing")
        ));
    }
    if let (true, Some(body)) = (request.is_base64_encoded, &request.body) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("isBase64Encoded is true but the body is not base64: {e}"))?;
    }
    Ok(request)
}
