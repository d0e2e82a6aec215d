//! Classifying AWS SDK errors into [`PortError`]s, so the batch processor can
//! tell throttling and outages (worth retrying) from missing resources and
//! rejected requests (not worth retrying at once).

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use orderflow_shared::error::{PortError, PortErrorKind};

/// The kind of failure an AWS error code means.
pub fn kind_of_code(code: &str) -> PortErrorKind {
    match code {
        "ThrottlingException"
        | "Throttling"
        | "RequestThrottled"
        | "AWS.SimpleQueueService.RequestThrottled"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "LimitExceededException"
        | "KMS.ThrottlingException"
        | "SlowDown" => PortErrorKind::Throttled,
        "AWS.SimpleQueueService.NonExistentQueue"
        | "QueueDoesNotExist"
        | "ResourceNotFoundException"
        | "NotFound"
        | "NotFoundException" => PortErrorKind::NotFound,
        "ConditionalCheckFailedException"
        | "TransactionConflictException"
        | "TransactionInProgressException" => PortErrorKind::Conflict,
        "ServiceUnavailable"
        | "InternalError"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalService"
        | "ServiceUnavailableException"
        | "KMS.InternalException" => PortErrorKind::Unavailable,
        "RequestTimeout" | "RequestTimeoutException" => PortErrorKind::Timeout,
        _ => PortErrorKind::Rejected,
    }
}

/// A port error from a failed SDK call.
pub fn classify<E, R>(operation: &'static str, error: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let kind = match &error {
        SdkError::TimeoutError(_) => PortErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => PortErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_user() => PortErrorKind::Rejected,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => PortErrorKind::Unavailable,
        SdkError::ServiceError(service) => service.err().code().map_or(PortErrorKind::Other, kind_of_code),
        SdkError::ConstructionFailure(_) => PortErrorKind::Rejected,
        _ => PortErrorKind::Other,
    };
    PortError::new(kind, operation, DisplayErrorContext(&error).to_string())
}

/// A port error from a service error already taken out of its `SdkError`.
pub fn service_error<E>(operation: &'static str, error: &E) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let kind = error.code().map_or(PortErrorKind::Other, kind_of_code);
    PortError::new(kind, operation, DisplayErrorContext(error).to_string())
}

/// A port error for one failed entry of an SQS batch call.
pub fn batch_entry_error(
    operation: &'static str,
    code: &str,
    sender_fault: bool,
    message: Option<&str>,
) -> PortError {
    let kind = match kind_of_code(code) {
        PortErrorKind::Rejected if !sender_fault => PortErrorKind::Unavailable,
        kind => kind,
    };
    PortError::new(
        kind,
        operation,
        format!("{code}: {}", message.unwrap_or("no message")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_with_the_right_retry_classification() {
        assert!(PortError::new(kind_of_code("ThrottlingException"), "x", "").retryable());
        assert!(PortError::new(kind_of_code("ProvisionedThroughputExceededException"), "x", "").retryable());
        assert!(
            !PortError::new(kind_of_code("AWS.SimpleQueueService.NonExistentQueue"), "x", "").retryable()
        );
        assert!(!PortError::new(kind_of_code("ReceiptHandleIsInvalid"), "x", "").retryable());
        assert_eq!(
            kind_of_code("ConditionalCheckFailedException"),
            PortErrorKind::Conflict
        );
        // A batch entry failed by the service itself is worth retrying, even with an unknown code.
        assert!(batch_entry_error("SendMessageBatch", "Mystery", false, None).retryable());
        assert!(!batch_entry_error("SendMessageBatch", "InvalidMessageContents", true, None).retryable());
    }
}
