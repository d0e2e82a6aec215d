//! Running orderflow without AWS.
//!
//! - [`broker`]: an embedded SQS broker with the semantics consumers rely on
//!   (visibility, receive counts, redrive, delays, long polls, retention, FIFO).
//! - [`poller`]: event source mappings that poll a queue and invoke a
//!   function's handler with batches, as Lambda does, against the broker or SQS.

pub mod broker;
pub mod poller;
