//! A queue's attributes, as given when it is created.

use std::time::Duration;

use orderflow_batch::queue_url::is_fifo;

/// Where a queue's messages go after too many receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redrive {
    /// The dead-letter queue's URL.
    pub dead_letter_queue_url: String,
    /// Receives after which a message moves there.
    pub max_receive_count: u32,
}

/// A queue's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// The queue's name (`.fifo` makes it FIFO).
    pub name: String,
    /// How long a received message stays hidden.
    pub visibility_timeout: Duration,
    /// How long a message is kept before it is dropped.
    pub retention: Duration,
    /// The delay of every message sent (standard queues may set their own).
    pub delay: Duration,
    /// FIFO: deduplicate by a hash of the body when no ID is given.
    pub content_based_deduplication: bool,
    /// The dead-letter queue, if any.
    pub redrive: Option<Redrive>,
}

impl QueueSettings {
    /// SQS's defaults: 30 s visibility, 4 days retention, no delay, no redrive.
    pub fn new(name: impl Into<String>) -> Self {
        QueueSettings {
            name: name.into(),
            visibility_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(4 * 24 * 3600),
            delay: Duration::ZERO,
            content_based_deduplication: false,
            redrive: None,
        }
    }

    pub(super) fn fifo(&self) -> bool {
        is_fifo(&self.name)
    }
}
