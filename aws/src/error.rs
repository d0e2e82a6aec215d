//! Classifying AWS SDK errors into [`PortError`]s, so the batch processor can
//! tell throttling and outages (worth retrying) from missing resources and
//! rejected requests (not worth retrying at once).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use orderflow_batch::error::{PortError, PortErrorKind};

/// The kind of failure an AWS error code means.
fn kind_of_code(code: &str) -> PortErrorKind {
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
    // A service error is said by its code and message; the full context
    // (with the raw response's debug dump) only when the service gave no code.
    let message = match &error {
        SdkError::ServiceError(service) => match (service.err().code(), service.err().message()) {
            (Some(code), Some(text)) => format!("{code}: {text}"),
            (Some(code), None) => code.to_owned(),
            (None, _) => DisplayErrorContext(&error).to_string(),
        },
        _ => DisplayErrorContext(&error).to_string(),
    };
    PortError::new(kind, operation, message)
}

/// Error codes services and local emulators answer for an operation they do not offer.
const UNSUPPORTED_CODES: [&str; 7] = [
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
    "UnknownOperationException",
    "InvalidAction",
    "NotImplemented",
    "NotImplementedException",
    "OperationNotSupportedException",
];

/// Whether a call failed because the endpoint does not offer the operation at
/// all (an older or partial emulator, a proxy), as opposed to refusing this
/// request: a caller with another way to do the same thing can fall back.
///
/// Recognized: the error codes services use for unknown or unsupported
/// actions, HTTP 501, and an error response that is not an AWS error at all
/// (no error code, a body that is neither JSON nor XML, status 400, 404, 405 or
/// 500: moto answers an unimplemented action with an HTML page and status 500).
pub fn is_unsupported_operation<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    let SdkError::ServiceError(service) = error else {
        return false;
    };
    if service
        .err()
        .code()
        .is_some_and(|code| UNSUPPORTED_CODES.contains(&code))
    {
        return true;
    }
    let raw = service.raw();
    let status = raw.status().as_u16();
    if status == 501 {
        return true;
    }
    let body = raw.body().bytes().unwrap_or_default();
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let aws_shaped = matches!(first, Some(b'{') | Some(b'<'))
        && !body.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"));
    // Gateways answer outages (502 to 504) with HTML too: those are not this.
    service.err().code().is_none() && matches!(status, 400 | 404 | 405 | 500) && !aws_shaped
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

/// The failed entries of an SQS batch call (`SendMessageBatch`,
/// `DeleteMessageBatch`, ...) by entry ID, each with its port error.
pub fn failed_entries(
    operation: &'static str,
    failed: &[aws_sdk_sqs::types::BatchResultErrorEntry],
) -> std::collections::HashMap<String, PortError> {
    failed
        .iter()
        .map(|f| {
            (
                f.id().to_owned(),
                batch_entry_error(operation, f.code(), f.sender_fault(), f.message()),
            )
        })
        .collect()
}

/// A request the SDK's builders refused, or a value the table cannot hold:
/// ours to fix, not retried.
pub(crate) fn invalid(operation: &'static str, e: impl std::fmt::Display) -> PortError {
    PortError::new(PortErrorKind::Rejected, operation, e.to_string())
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

    fn service_failure(
        code: Option<&str>,
        status: u16,
        body: &'static str,
    ) -> SdkError<aws_sdk_sqs::operation::list_message_move_tasks::ListMessageMoveTasksError, HttpResponse>
    {
        use aws_sdk_sqs::operation::list_message_move_tasks::ListMessageMoveTasksError;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        SdkError::service_error(ListMessageMoveTasksError::generic(meta.build()), raw)
    }

    #[test]
    fn unsupported_operations_are_told_from_refused_requests() {
        // moto: an unimplemented action is an HTML page with status 500.
        let moto = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>";
        assert!(is_unsupported_operation(&service_failure(None, 500, moto)));
        // LocalStack: 501 with an InternalFailure code.
        assert!(is_unsupported_operation(&service_failure(
            Some("InternalFailure"),
            501,
            r#"{"__type":"InternalFailure"}"#
        )));
        assert!(is_unsupported_operation(&service_failure(
            Some("UnknownOperationException"),
            400,
            "{}"
        )));
        assert!(is_unsupported_operation(&service_failure(
            Some("InvalidAction"),
            400,
            "<Error/>"
        )));
        // Real refusals and outages are not.
        assert!(!is_unsupported_operation(&service_failure(
            None,
            503,
            "<html>Bad gateway</html>"
        )));
        assert!(!is_unsupported_operation(&service_failure(
            Some("InvalidParameterValue"),
            400,
            r#"{"__type":"InvalidParameterValue"}"#
        )));
        assert!(!is_unsupported_operation(&service_failure(
            Some("InternalError"),
            500,
            r#"{"__type":"InternalError"}"#
        )));
        assert!(!is_unsupported_operation(&service_failure(
            Some("AccessDenied"),
            403,
            r#"{"__type":"AccessDenied"}"#
        )));
    }
}
