//! The `orderflow` command line, as a library so tests drive exactly what users run.
//!
//! - [`invoke`]: run one function's handler once on an event file, with
//!   embedded adapters, and print the response Lambda would get.
//! - [`workload`]: generate SQS events of orders for benchmarks and load.

pub mod invoke;
pub mod workload;
