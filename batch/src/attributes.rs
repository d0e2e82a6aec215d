//! Message attributes: reading a message's string attributes, and the names
//! of those this crate writes (on every message it sends, and on every
//! message it dead-letters).

/// Read access to a message's string attributes (SQS message attributes, HTTP headers).
pub trait MessageAttributes {
    /// The string value of the named attribute, if present.
    fn string_attribute(&self, name: &str) -> Option<&str>;
}

/// No attributes at all.
impl MessageAttributes for () {
    fn string_attribute(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// The SQS system attribute carrying a message's X-Ray trace header
/// (`Root=1-...;Parent=...;Sampled=1`): each message a record causes
/// carries its record's, so a trace follows an order across the queues.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// The event type, e.g. `ORDER_CREATED`. On every event message a step sends.
pub const EVENT_TYPE: &str = "EventType";
/// The correlation ID, carried from the first message through every stage.
pub const CORRELATION_ID: &str = "CorrelationId";
/// Dead-lettered messages: the error's stable code.
pub const ERROR_CODE: &str = "ErrorCode";
/// Dead-lettered messages: the error's message (field paths and rules, never values), bounded in length.
pub const ERROR_MESSAGE: &str = "ErrorMessage";
/// Dead-lettered messages: when the record failed (RFC 3339).
pub const FAILED_AT: &str = "FailedAt";
/// Dead-lettered messages: the queue the record came from.
pub const SOURCE_QUEUE: &str = "SourceQueue";
/// Dead-lettered messages: the record's original message ID.
pub const ORIGINAL_MESSAGE_ID: &str = "OriginalMessageId";
/// Dead-lettered messages with `ErrorCode=RetriesExhausted`: the code of the
/// error on the last allowed receive (`Throttled`, `DeadlineReached`, ...).
pub const LAST_ERROR_CODE: &str = "LastErrorCode";
