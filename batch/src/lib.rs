//! The shared crate of orderflow: what makes an SQS consumer on Lambda correct,
//! fast and observable, independent of any one business step.
//!
//! - [`contracts`] and [`validation`]: the event types and their rules, with
//!   errors that name the field (`items[2].quantity`) and the rule.
//! - [`batch`]: the [`BatchProcessor`](batch::BatchProcessor), partial batch
//!   failures with classification, FIFO safety, deadlines, idempotency and
//!   batched sends.
//! - [`ports`]: the traits business steps and the processor talk to;
//!   [`memory`] implements them in memory.
//! - [`publish`]: batched sends with retries, shared by every adapter.
//! - [`metrics`], [`telemetry`], [`config`]: per-invocation metrics, logs and
//!   settings read once at cold start.
//! - [`event_json`]: writing event bodies, fast for the contract events.
//! - [`sqs`]: the records the processor reads, and the lean event type the
//!   functions decode their invocations into.
//! - [`lambda`]: running a step on `lambda_runtime`.

pub mod attributes;
pub mod batch;
pub mod clock;
pub mod config;
pub mod contracts;
pub mod correlation;
pub mod error;
pub mod event_json;
pub mod fingerprint;
pub mod json;
mod json_scan;
pub mod lambda;
pub mod log_value;
pub mod memory;
pub mod metrics;
pub mod money;
pub mod pipeline;
pub mod ports;
pub mod publish;
pub mod queue_url;
pub mod rfc3339;
pub mod sqs;
pub mod telemetry;
pub mod validation;

pub use batch::{BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordStep};
pub use error::{PortError, PortErrorKind, RecordError};
