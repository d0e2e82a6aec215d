//! What a queue holds now and what happened in it over its life, as
//! `GetQueueAttributes` would tell.

/// What a queue holds right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages that can be received.
    pub visible: usize,
    /// Messages received and not yet deleted or visible again.
    pub in_flight: usize,
    /// Messages waiting out their delay.
    pub delayed: usize,
}

impl QueueDepth {
    /// Messages in the queue, in any state.
    pub fn total(&self) -> usize {
        self.visible + self.in_flight + self.delayed
    }
}

/// What happened in a queue over its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Messages accepted.
    pub sent: u64,
    /// Sends dropped as FIFO duplicates.
    pub deduplicated: u64,
    /// Deliveries (a message received twice counts twice).
    pub received: u64,
    /// Deliveries of a message already received before (retries).
    pub redelivered: u64,
    /// Messages deleted.
    pub deleted: u64,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: u64,
    /// Messages dropped at the end of their retention.
    pub expired: u64,
}
