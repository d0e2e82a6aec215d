//! The deployment's settings, as in `template.yaml` (the template's tests check they agree).

use std::time::Duration;

use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};

use crate::invoke::Function;

/// Every consumer's timeout.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Every source queue's visibility timeout: 6 x the timeout plus the longest window.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(185);
/// Receives before a message moves to its queue's DLQ.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// How long source queues keep messages: 4 days.
pub const SOURCE_RETENTION: Duration = Duration::from_secs(4 * 24 * 3600);
/// How long DLQs keep messages: 14 days.
pub const DLQ_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// Each event source mapping's maximum concurrency (the `MaxConcurrency` parameter's default).
pub const MAX_CONCURRENCY: usize = 5;
/// Batch size of every mapping when the queues are FIFO (no batching window then).
pub const FIFO_BATCH_SIZE: usize = 10;

/// One function's event source mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// The function.
    pub function: Function,
    /// Its source queue's name (without `.fifo`).
    pub source: &'static str,
    /// Records per invocation on standard queues.
    pub batch_size: usize,
    /// How long a batch gathers on standard queues.
    pub batching_window: Duration,
}

/// The pipeline's consumers, upstream first.
pub const STAGES: [Stage; 3] = [
    Stage {
        function: Function::Inventory,
        source: ORDERS,
        batch_size: 100,
        batching_window: Duration::from_secs(5),
    },
    Stage {
        function: Function::Shipping,
        source: INVENTORY,
        batch_size: 100,
        batching_window: Duration::from_secs(5),
    },
    Stage {
        function: Function::Notification,
        source: NOTIFICATIONS,
        batch_size: 50,
        batching_window: Duration::from_secs(2),
    },
];
