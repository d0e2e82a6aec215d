//! The batch framework: what makes an SQS consumer on Lambda correct, fast and
//! observable, whatever its business step. It knows nothing of orders.
//!
//! - [`processor`]: the [`BatchProcessor`](processor::BatchProcessor), partial batch
//!   failures with classification, FIFO safety, deadlines, idempotency and
//!   batched sends; [`RecordStep`](processor::RecordStep) is what a consumer writes.
//! - [`ports`]: the traits the processor talks to (queues, idempotency
//!   store, metrics sink); AWS and embedded adapters implement them.
//! - [`error`]: why a record fails, permanent or retryable.
//! - [`fingerprint`]: what an idempotency record keeps of a step's input.
//! - [`publish`]: batched sends with retries, shared by every adapter.
//! - [`metrics`], [`telemetry`], [`log_value`], [`config`]: per-invocation
//!   metrics, logs and settings read once at cold start.
//! - [`sqs`], [`attributes`], [`correlation`], [`queue_url`]: the records the
//!   processor reads, their attributes and correlation IDs, queue addresses.
//! - [`json`], [`rfc3339`], [`clock`]: JSON text, timestamps and the time.
//! - [`lambda`]: running a step on `lambda_runtime`.

pub mod attributes;
pub mod clock;
pub mod config;
pub mod correlation;
pub mod error;
pub mod fingerprint;
pub mod json;
pub mod lambda;
pub mod log_value;
pub mod metrics;
pub mod ports;
pub mod processor;
pub mod publish;
pub mod queue_url;
pub mod rfc3339;
pub mod sqs;
pub mod telemetry;

pub use error::{PortError, PortErrorKind, RecordError};
pub use processor::{BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordStep};
