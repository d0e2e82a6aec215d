//! The batch framework: what makes an SQS (or DynamoDB Streams) consumer on
//! Lambda correct, fast and observable, whatever its business step. It knows
//! nothing of orders.
//!
//! - [`processor`]: the [`BatchProcessor`](processor::BatchProcessor), partial batch
//!   failures with classification, ordering, deadlines, idempotency and
//!   batched sends; [`RecordStep`](processor::RecordStep) is what a consumer writes.
//! - [`source`]: the [`EventSource`](source::EventSource) trait the processor
//!   runs on; [`sqs_source`]: SQS's (`batchItemFailures`, FIFO groups, the
//!   DLQ copy, visibility backoff); [`stream_source`]: DynamoDB Streams'
//!   (`batchItemFailures` by sequence number, each batch one shard in order,
//!   the lean [`StreamBatch`](stream_source::StreamBatch) of change records).
//! - [`ports`]: the traits the processor talks to (queues, idempotency
//!   store, metrics sink); AWS and embedded adapters implement them.
//!   [`no_idempotency`]: the store for steps whose effects are harmless to repeat.
//! - [`error`]: why a record fails, permanent or retryable.
//! - [`fingerprint`]: what an idempotency record keeps of a step's input.
//! - [`publish`]: batched sends with retries, shared by every adapter.
//! - [`metrics`], [`telemetry`], [`log_value`], [`config`]: per-invocation
//!   metrics, logs and settings read once at cold start.
//! - [`sqs`], [`attributes`], [`correlation`], [`queue_url`]: the records the
//!   processor reads, their attributes and correlation IDs, queue addresses.
//! - [`json`], [`rfc3339`], [`clock`]: JSON text, timestamps and the time.
//! - [`lambda`]: running a step on `lambda_runtime` (`serve`, `serve_stream`).
//!
//! # A consumer in a few dozen lines
//!
//! A step decodes a record into its input, names the input's business key
//! and fingerprint, and runs; the processor does the rest (partial batch
//! failures, idempotency, ordering, the deadline, metrics):
//!
//! ```
//! use std::borrow::Cow;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use orderflow_batch::fingerprint::Fingerprint;
//! use orderflow_batch::metrics::NoMetrics;
//! use orderflow_batch::sqs::{SqsBatch, SqsRecord, body};
//! use orderflow_batch::{
//!     BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordError, RecordStep,
//! };
//! use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryQueues};
//!
//! /// Marks invoices paid; a message's body is an invoice ID.
//! struct MarkPaid;
//!
//! impl RecordStep for MarkPaid {
//!     type Input = String;
//!
//!     fn name(&self) -> &'static str {
//!         "billing"
//!     }
//!
//!     fn decode(&self, message: &dyn SqsRecord) -> Result<String, RecordError> {
//!         match body(message)?.trim() {
//!             "" => Err(RecordError::MissingBody),
//!             invoice => Ok(invoice.to_owned()),
//!         }
//!     }
//!
//!     fn key<'a>(&self, invoice: &'a String) -> Cow<'a, str> {
//!         Cow::Borrowed(invoice)
//!     }
//!
//!     fn correlation_id<'a>(&self, invoice: &'a String) -> &'a str {
//!         invoice
//!     }
//!
//!     fn fingerprint(&self, invoice: &String) -> Fingerprint {
//!         Fingerprint::of(|f| {
//!             f.str(invoice);
//!         })
//!     }
//!
//!     async fn run(&self, invoice: String, _: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
//!         println!("{invoice} paid"); // your business step, over your ports
//!         Ok(Vec::new()) // or messages for other queues: Outgoing::event(...)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In a Lambda function: `orderflow_batch::lambda::serve(processor, MarkPaid)`,
//! // with the AWS adapters of the ports.
//! let processor = BatchProcessor::new(
//!     BatchConfig::default(),
//!     Arc::new(InMemoryQueues::new()),
//!     Arc::new(InMemoryIdempotencyStore::new()),
//!     Arc::new(NoMetrics),
//! );
//! let event: SqsBatch = serde_json::from_str(
//!     r#"{"Records":[{"messageId":"m1","body":"inv-1"},{"messageId":"m2","body":" "}]}"#,
//! )
//! .unwrap();
//! let context = InvocationContext::with_timeout("request-1", Duration::from_secs(30));
//! let response = processor.handle(&event, &context, &MarkPaid).await.unwrap();
//! // Only the record that failed is retried (without a DLQ, a permanent failure is reported too).
//! assert_eq!(response.batch_item_failures.len(), 1);
//! assert_eq!(response.batch_item_failures[0].item_identifier, "m2");
//! # }
//! ```
#![forbid(unsafe_code)]

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
pub mod no_idempotency;
pub mod ports;
pub mod processor;
#[cfg(test)]
mod property_budget;
pub mod publish;
pub mod queue_url;
pub mod rfc3339;
pub mod source;
pub mod sqs;
pub mod sqs_source;
pub mod stream_source;
pub mod telemetry;

pub use error::{PortError, PortErrorKind, RecordError};
pub use processor::{BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordStep};
