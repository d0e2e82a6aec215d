//! `orderflow invoke <function> <event.json>...`: handler runs on one
//! function instance with embedded adapters, in order, the state (orders,
//! stock, idempotency records) shared between them, so a POST followed by a
//! GET or a conflicting POST replays as it would on one warm instance.
//!
//! - [`event_file`]: reading an event as the function's trigger sends it.
//! - [`instance`]: the function instance and one invocation's [`Outcome`].
//! - [`report`]: the JSON Lambda returns and a line for people.
//!
//! The SQS consumers get an SQS event. No DLQ is configured, so a permanently
//! invalid record shows up as a batch item failure, exactly as it would in a
//! function deployed without one. `order-relay` gets a DynamoDB Streams event
//! and runs without idempotency records, as deployed.
//!
//! `order-api` gets an API Gateway HTTP API request (payload format 2.0). It
//! goes through `lambda_http`'s own adapter, the one `lambda_http::run` serves
//! with, so the response is the JSON Lambda returns to API Gateway; orders are
//! kept in the instance's embedded order store.

mod event_file;
mod instance;
mod report;

pub use event_file::{Event, EventFileError, read_event};
pub use instance::{EMBEDDED_DEFAULT_STOCK, Instance, Outcome, WrongEvent, invoke};
pub use report::{lambda_response, summary};

use std::fmt;
use std::path::Path;

/// The functions of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    /// OrderCreated -> stock reservation.
    Inventory,
    /// InventoryReserved -> shipment.
    Shipping,
    /// ShipmentCreated / OrderRejected -> customer message.
    Notification,
    /// POST /orders, GET /orders/{orderId} (HTTP API) -> the order store.
    OrderApi,
    /// The orders table's stream -> OrderCreated.
    OrderRelay,
}

/// What invokes a function, and so what its events look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// An SQS event source mapping: SQS events, `batchItemFailures` responses.
    Sqs,
    /// An API Gateway HTTP API: requests and responses in payload format 2.0.
    HttpApi,
    /// A DynamoDB Streams event source mapping: stream events,
    /// `batchItemFailures` by sequence number.
    Stream,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 5] = [
        Function::Inventory,
        Function::Shipping,
        Function::Notification,
        Function::OrderApi,
        Function::OrderRelay,
    ];

    /// The function's name (and binary name).
    pub fn name(self) -> &'static str {
        match self {
            Function::Inventory => "inventory",
            Function::Shipping => "shipping",
            Function::Notification => "notification",
            Function::OrderApi => "order-api",
            Function::OrderRelay => "order-relay",
        }
    }

    /// What invokes the function.
    pub(crate) fn trigger(self) -> Trigger {
        match self {
            Function::Inventory | Function::Shipping | Function::Notification => Trigger::Sqs,
            Function::OrderApi => Trigger::HttpApi,
            Function::OrderRelay => Trigger::Stream,
        }
    }

    /// The function a sample event belongs to, from its file name's prefix (`inventory-...json`).
    pub fn for_event_file(path: &Path) -> Option<Function> {
        let stem = path.file_name()?.to_str()?;
        Function::ALL
            .into_iter()
            .find(|f| stem.starts_with(&format!("{}-", f.name())))
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
