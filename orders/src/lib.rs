//! The order domain: the pipeline's event contracts and their rules, money,
//! and the ports of the order steps. The batch framework (`orderflow_batch`)
//! runs the steps; this crate says what an order is.
//!
//! - [`contracts`]: `OrderCreated` and the downstream events, their
//!   fingerprints and their JSON ([`event_json`]).
//! - [`validation`]: decoding bodies by the contract's rules, every broken
//!   rule named by its field and never its value.
//! - [`money`]: amounts as exact cents.
//! - [`order_record`]: the order of record, its statuses and the rule that
//!   keeps them from going backwards; [`order_item`]: its layout as a table
//!   item, shared by the table, its stream and the relay.
//! - [`order_message`]: `OrderCreated` as a message on the orders queue.
//! - [`ports`]: the order of record, stock and customer notifications;
//!   [`recording`]: how a step records its transition.
//! - [`pipeline`]: the pipeline's queues by name.
#![forbid(unsafe_code)]

pub mod contracts;
pub mod event_json;
mod json_scan;
pub mod money;
pub mod order_item;
pub mod order_message;
pub mod order_record;
pub mod pipeline;
pub mod ports;
pub mod recording;
pub mod validation;
