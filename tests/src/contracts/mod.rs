//! Contract suites: one per port, and every adapter of the port must pass it.
//! Exempt, as they keep nothing to read back: `LogNotifier`, `NoMetrics`,
//! and the command line's own wrappers (`consume`'s stoppable receives,
//! `run`'s metric totals); `QueueConsumer` is the queue suite's way to read back.
//!
//! A port's rules (what a retried reservation does, when a claim expires,
//! what a queue gives back) are written once, here, against the port's trait
//! object, instead of once per adapter: the embedded adapter and the AWS one
//! are held to the same rules, so a local run means what a deployed one does.
//! `tests/contracts.rs` runs every suite against every adapter of its port
//! (AWS adapters on the local servers, which fail the test when missing).
//!
//! What a port cannot express (seeding stock, reading back what a queue or a
//! sink received) each suite asks of a small per-adapter trait next to it,
//! implemented here for every adapter with the adapter's own means (its
//! consumer, the service's read API), never with the code under test.
//!
//! - [`idempotency`] for [`IdempotencyStore`](orderflow_batch::ports::IdempotencyStore),
//! - [`inventory`] for [`InventoryStore`](orderflow_orders::ports::InventoryStore),
//! - [`orders`] for [`OrderStore`](orderflow_orders::ports::OrderStore),
//! - [`queue`] for [`MessageQueue`](orderflow_batch::ports::MessageQueue), read
//!   back through each adapter's [`QueueConsumer`](orderflow_batch::ports::QueueConsumer),
//! - [`notifier`] for [`Notifier`](orderflow_orders::ports::Notifier),
//! - [`metrics`] for [`MetricsSink`](orderflow_batch::ports::MetricsSink).
//!
//! Adding an adapter: implement the suite's helper trait for it, if the
//! suite has one (in the suite's module, beside the others), and add a test
//! to the port's module in `tests/contracts.rs` that builds the adapter on an
//! empty resource and calls the suite's `check` (and each `check_*` whose
//! rules the adapter promises). An adapter that fails a rule is wrong, or the
//! rule is: change the suite for every adapter, never skip a rule for one.
//! Adapter-specific behaviour (call counts, concurrency on a given server,
//! error classification of one SDK) stays in that adapter's own tests.

pub mod idempotency;
pub mod inventory;
pub mod metrics;
pub mod notifier;
pub mod orders;
pub mod queue;
