//! Errors of a record and of the ports, each with its retry classification.
//!
//! A record fails in one of two ways. A *permanent* failure is the message's own
//! fault (bad JSON, an invalid order, an unsupported version): retrying cannot
//! help, so it goes to the dead-letter queue. A *retryable* failure is the
//! world's fault (throttling, a timeout, a duplicate still in progress): the
//! record is reported in `batchItemFailures` and comes back later.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};

/// Why one record could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The SQS record carries no body at all.
    #[error("message has no body")]
    MissingBody,
    /// The body is not JSON (the parser's message names line and column).
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body's `version` has a major version other than 1.
    #[error("unsupported event version: the major version must be 1")]
    UnsupportedVersion,
    /// The body is JSON but breaks the event contract.
    #[error("invalid {event}: {errors}")]
    Invalid {
        /// The event type that was expected, e.g. `InvoiceIssued`.
        event: &'static str,
        /// Every broken rule, each naming its field.
        errors: FieldErrors,
    },
    /// Neither the `EventType` attribute nor the body's shape says what this
    /// is; says which (never the attribute's value).
    #[error("unknown event type: {0}")]
    UnknownEventType(&'static str),
    /// The business key was used before by a message with other content (its
    /// fingerprint differs): a different input under a known key, refused
    /// rather than skipped as a duplicate.
    #[error(
        "idempotency key reused: the business key was already used by a message with other content; this one is not processed"
    )]
    IdempotencyKeyReused,
    /// Another invocation holds the idempotency record of this business key.
    #[error("{key} is being processed by another invocation")]
    InProgress {
        /// The idempotency key, e.g. `billing#inv-1`.
        key: String,
    },
    /// A port (queue, store, notifier) failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The record failed retryably on the last receive its queue allows
    /// (`maxReceiveCount`): dead-lettered with this reason rather than moved
    /// without one by the queue's redrive.
    #[error("failed on receive {receive_count}, the last the queue allows: {last_message}")]
    RetriesExhausted {
        /// The last error's code.
        last_code: &'static str,
        /// The last error's message.
        last_message: String,
        /// The record's receive count.
        receive_count: u32,
    },
}

impl RecordError {
    /// Whether trying the same message again later may succeed.
    ///
    /// Contract violations are permanent; everything that depends on the
    /// outside world is retryable, even a port error that is not worth
    /// retrying at once (a missing queue): the message itself is fine and must
    /// not be dead-lettered for a configuration mistake.
    pub fn retryable(&self) -> bool {
        !self.is_permanent()
    }

    /// Whether the message itself is at fault, so it belongs in the DLQ.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RecordError::MissingBody
                | RecordError::InvalidJson(_)
                | RecordError::UnsupportedVersion
                | RecordError::Invalid { .. }
                | RecordError::UnknownEventType(_)
                | RecordError::IdempotencyKeyReused
                | RecordError::RetriesExhausted { .. }
        )
    }

    /// A stable code for the `ErrorCode` attribute of dead-lettered messages and for logs.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::MissingBody => "MissingBody",
            RecordError::InvalidJson(_) => "InvalidJson",
            RecordError::UnsupportedVersion => "UnsupportedVersion",
            RecordError::Invalid { .. } => "ValidationFailed",
            RecordError::UnknownEventType(_) => "UnknownEventType",
            RecordError::IdempotencyKeyReused => "IdempotencyKeyReused",
            RecordError::InProgress { .. } => "InProgress",
            RecordError::Port(e) => e.kind.code(),
            RecordError::RetriesExhausted { .. } => "RetriesExhausted",
        }
    }
}

/// One broken rule of a message's contract: the field's path
/// (`items[2].quantity`), the rule's stable code (`range`) and what the rule
/// says (`must be from 1 to 1000`), never the value: errors go to logs and
/// DLQ attributes, and values may be customer data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path in the body, or `messageAttributes.<Name>`.
    pub field: String,
    /// The rule's stable, machine-readable name.
    pub rule: &'static str,
    /// What the rule asks for.
    pub message: Cow<'static, str>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Serialize for FieldError {
    /// `{"field": "items[2].quantity", "rule": "range", "message": "must be from 1 to 1000"}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("FieldError", 3)?;
        s.serialize_field("field", &self.field)?;
        s.serialize_field("rule", self.rule)?;
        s.serialize_field("message", &self.message)?;
        s.end()
    }
}

/// Every rule a message breaks, in the contract's field order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Whether no rule is broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The broken rules.
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rules(f, &self.0)
    }
}

/// Writes broken rules as one message reads them: each one's text, separated by `; `.
pub fn write_rules<T: fmt::Display>(f: &mut fmt::Formatter<'_>, rules: &[T]) -> fmt::Result {
    for (i, rule) in rules.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{rule}")?;
    }
    Ok(())
}

/// What kind of failure a port reported, independent of the adapter behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortErrorKind {
    /// The service asked us to slow down.
    Throttled,
    /// The call did not answer in time.
    Timeout,
    /// The service or the network is unavailable.
    Unavailable,
    /// The queue, table or topic does not exist.
    NotFound,
    /// The request was refused as invalid (bad receipt handle, too large, ...).
    Rejected,
    /// A conditional write lost against a concurrent writer.
    Conflict,
    /// Anything else.
    Other,
}

impl PortErrorKind {
    /// Stable name used as an error code.
    pub fn code(self) -> &'static str {
        match self {
            PortErrorKind::Throttled => "Throttled",
            PortErrorKind::Timeout => "Timeout",
            PortErrorKind::Unavailable => "Unavailable",
            PortErrorKind::NotFound => "NotFound",
            PortErrorKind::Rejected => "Rejected",
            PortErrorKind::Conflict => "Conflict",
            PortErrorKind::Other => "PortError",
        }
    }
}

impl fmt::Display for PortErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A failed call to a port: which operation, what kind of failure, and the adapter's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind}): {message}")]
pub struct PortError {
    /// What failed.
    pub kind: PortErrorKind,
    /// The port operation, e.g. `SendMessageBatch`.
    pub operation: &'static str,
    /// The adapter's description of the failure.
    pub message: String,
}

impl PortError {
    /// A port error of the given kind.
    pub fn new(kind: PortErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        PortError {
            kind,
            operation,
            message: message.into(),
        }
    }

    /// Whether calling again soon may succeed (throttling, timeouts, outages, lost races).
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            PortErrorKind::Throttled
                | PortErrorKind::Timeout
                | PortErrorKind::Unavailable
                | PortErrorKind::Conflict
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_violations_are_permanent_and_port_errors_retryable() {
        assert!(RecordError::MissingBody.is_permanent());
        assert!(RecordError::InvalidJson("x".into()).is_permanent());
        assert!(RecordError::UnknownEventType("X").is_permanent());
        let missing_queue = PortError::new(PortErrorKind::NotFound, "SendMessageBatch", "no queue");
        assert!(!missing_queue.retryable());
        // A missing queue is not the message's fault: the record is retried, never dead-lettered.
        assert!(RecordError::from(missing_queue).retryable());
        let throttled = PortError::new(PortErrorKind::Throttled, "PutItem", "slow down");
        assert!(throttled.retryable());
        assert_eq!(RecordError::from(throttled).code(), "Throttled");
        assert!(RecordError::InProgress { key: "k".into() }.retryable());
    }
}
