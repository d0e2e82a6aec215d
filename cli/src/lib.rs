//! The `orderflow` command line, as a library so tests drive exactly what users run.
//!
//! - [`invoke`]: run one function's handler once on an event file, with
//!   embedded adapters, and print the response Lambda would get.
//! - [`consume`]: run a function's handler as a long-running consumer of a
//!   real queue, outside Lambda, with a graceful stop on SIGINT or SIGTERM.
//! - [`workload`]: generate SQS events of orders for benchmarks and load.
//! - [`send`]: send generated orders to a real queue, one by one or in batches.
//! - [`redrive`]: move a dead-letter queue's messages back to their source.
//! - [`dlq`]: what a dead-letter queue holds and why, read without consuming it
//!   ([`dead_letters`]: reading a queue that way).
//! - [`sqs_client`]: the SQS client these two use, counting its calls.
//! - [`ranges`]: the range checks of numeric flags, the same in every command.
#![forbid(unsafe_code)]

pub mod consume;
pub mod dead_letters;
pub mod dlq;
pub mod invoke;
pub mod ranges;
pub mod redrive;
pub mod run;
pub mod send;
pub mod status;
pub mod workload;

use orderflow_aws::calls::CallCounter;

/// An SQS client for `endpoint_url` (a local server; dummy credentials when
/// none are set) or, without one, for the environment's AWS configuration,
/// with a [`CallCounter`] that counts its calls by operation.
pub async fn sqs_client(endpoint_url: Option<&str>) -> (aws_sdk_sqs::Client, CallCounter) {
    let config = match endpoint_url {
        Some(url) => orderflow_aws::load_sdk_config_for_endpoint(url).await,
        None => orderflow_aws::load_sdk_config().await,
    };
    let counter = CallCounter::new();
    let config = aws_sdk_sqs::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_sqs::Client::from_conf(config), counter)
}
