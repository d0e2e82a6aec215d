//! Why a run could not start.

use orderflow_batch::error::PortError;

use super::settings;
use crate::ranges::RangeError;

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A flag is out of its range.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The visibility timeout is shorter than the functions' timeout.
    #[error(
        "--visibility-timeout must be at least the functions' timeout ({} seconds): Lambda maps no queue whose messages would come back while its function may still run",
        settings::FUNCTION_TIMEOUT.as_secs()
    )]
    VisibilityBelowFunctionTimeout,
    /// `--idempotency` names no Redis (its value is not repeated: it may hold a password).
    #[error("--idempotency takes a Redis URL, redis://[[user]:password@]host:port[/db] or rediss:// for TLS")]
    IdempotencyNotRedis,
    /// The endpoint refused to create a queue or a table.
    #[error("cannot set up the pipeline on {endpoint}: {source}")]
    Setup {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: PortError,
    },
}
