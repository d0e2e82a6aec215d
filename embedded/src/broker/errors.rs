//! SQS's error responses, as the port errors the broker returns.

use orderflow_batch::error::{PortError, PortErrorKind};

/// No queue at `url` (SQS's `NonExistentQueue`).
pub(super) fn not_found(operation: &'static str, url: &str) -> PortError {
    PortError::new(
        PortErrorKind::NotFound,
        operation,
        format!("AWS.SimpleQueueService.NonExistentQueue: no queue at {url}"),
    )
}

/// A request SQS would refuse (its message says which parameter and why).
pub(super) fn rejected(operation: &'static str, message: impl Into<String>) -> PortError {
    PortError::new(PortErrorKind::Rejected, operation, message)
}
