//! Running orderflow without AWS: every port in memory, an SQS broker, and
//! event source mappings.
//!
//! - [`queues`], [`idempotency`], [`inventory`], [`orders`], [`notifier`], [`metrics`]:
//!   the in-memory adapters of every port, for local runs, `orderflow invoke`,
//!   `ORDERFLOW_ADAPTERS=embedded` and the tests.
//! - [`broker`]: an embedded SQS broker with the semantics consumers rely on
//!   (visibility, receive counts, redrive, delays, long polls, retention, FIFO).
//! - [`poller`]: event source mappings that poll a queue and invoke a
//!   function's handler with batches, as Lambda does, against the broker or SQS.
//! - [`address`]: where embedded queues live.
#![forbid(unsafe_code)]

pub mod address;
pub mod broker;
pub mod idempotency;
pub mod inventory;
pub mod metrics;
pub mod notifier;
pub mod orders;
pub mod poller;
pub mod queues;

pub use idempotency::InMemoryIdempotencyStore;
pub use inventory::InMemoryInventory;
pub use metrics::InMemoryMetrics;
pub use notifier::{InMemoryNotifier, LogNotifier};
pub use orders::InMemoryOrderStore;
pub use queues::InMemoryQueues;

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (every critical section here leaves the data consistent).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
