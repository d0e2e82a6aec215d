//! What the processor reports: each record's outcome, the batch's report,
//! and the errors that fail a whole invocation.

use std::collections::BTreeMap;

use crate::metrics::InvocationMetrics;

/// Why a record was reported failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// Its own fault, and it could not be dead-lettered.
    Permanent,
    /// It failed and may succeed later.
    Retryable,
    /// An earlier record of its FIFO group (or batch) failed, so it did not run.
    Skipped,
    /// The invocation ran out of time before it finished.
    Deadline,
}

/// What happened to one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The step ran and its messages were sent.
    Processed,
    /// The step had already run for this business key.
    Duplicate,
    /// Moved to the dead-letter queue by the fast path.
    DeadLettered {
        /// The error's code.
        code: &'static str,
    },
    /// Reported in `batchItemFailures`.
    Failed {
        /// Why.
        reason: FailureReason,
        /// The error's code.
        code: &'static str,
    },
}

/// The source's answer (for SQS, a `SqsBatchResponse`) and what the batch did.
#[derive(Clone, Debug)]
pub struct BatchReport<Response> {
    /// What the invocation answers.
    pub response: Response,
    /// One outcome per record, in batch order.
    pub outcomes: Vec<RecordOutcome>,
    /// The invocation's metrics, as published.
    pub metrics: InvocationMetrics,
    /// Messages sent, by destination queue URL (the DLQ included).
    pub forwarded: BTreeMap<String, usize>,
}

/// Why an invocation fails as a whole (Lambda then retries the whole batch).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A record has no `messageId`, so it could not be reported alone.
    #[error(
        "record {index} has no messageId, so it cannot be reported; failing the invocation so the whole batch is retried"
    )]
    MissingMessageId {
        /// The record's index in the batch.
        index: usize,
    },
    /// Every record failed retryably: fail so Lambda backs off.
    #[error(
        "all {count} records failed with retryable errors (first: {first}); failing the invocation so Lambda backs off"
    )]
    AllRecordsFailed {
        /// Records in the batch.
        count: usize,
        /// The first record's error.
        first: String,
    },
}

impl BatchError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            BatchError::MissingMessageId { .. } => "BatchError.MissingMessageId",
            BatchError::AllRecordsFailed { .. } => "BatchError.AllRecordsFailed",
        }
    }
}

impl From<BatchError> for lambda_runtime::Diagnostic {
    fn from(error: BatchError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
