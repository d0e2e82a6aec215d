//! An embedded SQS broker: SQS's semantics in memory, behind the same ports
//! the functions use ([`MessageQueue`] to send, [`QueueConsumer`] to receive).
//!
//! What it keeps from SQS: visibility timeouts and `ApproximateReceiveCount`;
//! redrive to a dead-letter queue once a message was received
//! `maxReceiveCount` times; `DelaySeconds`; long-poll waits; retention;
//! FIFO queues (one message group in flight at a time, order kept within a
//! group, five-minute deduplication by ID or by content). Time is tokio's, so
//! a runtime with a paused clock runs retries and timeouts in no real time.
//!
//! One concept a file, each using only those listed before it:
//!
//! - `settings`, `statistics`, `errors`: a queue's attributes, its
//!   depth and counters, SQS's error responses.
//! - `queue`: a queue's state, its messages and the indexes over them.
//! - `fifo`: FIFO message groups and deduplication.
//! - `expiry`: what time does to a queue (timers, retention, old
//!   deduplication IDs).
//! - `registry`: the [`Broker`] and its queues by URL.
//! - `send`: sending a message.
//! - `redrive`: moving a message that used up its receives to the
//!   dead-letter queue.
//! - `delivery`, `selection`, `receive`: delivering one message, which
//!   messages a receive takes, the long poll.
//! - `receipts`: deleting a message or changing its visibility by its
//!   receipt handle.
//! - `ports`: the [`MessageQueue`] and [`QueueConsumer`] implementations.
//!
//! [`MessageQueue`]: orderflow_batch::ports::MessageQueue
//! [`QueueConsumer`]: orderflow_batch::ports::QueueConsumer

mod delivery;
mod errors;
mod expiry;
mod fifo;
mod ports;
mod queue;
mod receipts;
mod receive;
mod redrive;
mod registry;
mod selection;
mod send;
mod settings;
mod statistics;

pub use fifo::DEDUPLICATION_WINDOW;
pub use registry::Broker;
pub use send::MAX_DELAY;
pub use settings::{QueueSettings, Redrive};
pub use statistics::{QueueCounters, QueueDepth};
