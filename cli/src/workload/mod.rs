//! Deterministic SQS events of `OrderCreated` messages, for benchmarks and load.
//!
//! `orderflow generate-event --records 5000 --invalid 0.05 --seed 7` writes about
//! 1 KB per record; each invalid record breaks exactly one rule of the contract,
//! so a correct consumer reports exactly those records. The same arguments
//! always give the same file. [`orders`] gives the same kind of orders one by
//! one, for sending to a real queue (`orderflow send`).
//!
//! - `order`: orders drawn from a seeded generator, valid or with one rule broken.
//! - `broken_rules`: the rules an invalid order may break, and how each is broken.
//! - `event`: the SQS event wrapping generated orders.

mod broken_rules;
mod event;
mod order;

pub use broken_rules::BROKEN_RULES;
pub use event::{WorkloadSpec, generate_event};
pub use order::{GeneratedOrder, SKU_COUNT, orders};
