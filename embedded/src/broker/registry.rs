//! The broker itself: its queues by URL, how they are created and found, and
//! what each holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orderflow_batch::error::PortError;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::errors::not_found;
use super::expiry::advance;
use super::queue::{Queue, State};
use super::settings::QueueSettings;
use super::statistics::{QueueCounters, QueueDepth};
use crate::address::{EMBEDDED_ACCOUNT, EMBEDDED_ENDPOINT, EMBEDDED_REGION};

/// The broker: named queues, addressed by URL (`embedded://sqs/<account>/<name>`).
#[derive(Clone, Default)]
pub struct Broker {
    queues: Arc<Mutex<HashMap<String, Arc<Queue>>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker with no queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a queue (or returns the existing one's URL).
    pub fn create_queue(&self, settings: QueueSettings) -> String {
        let url = format!("{EMBEDDED_ENDPOINT}/{EMBEDDED_ACCOUNT}/{}", settings.name);
        let arn = format!(
            "arn:aws:sqs:{EMBEDDED_REGION}:{EMBEDDED_ACCOUNT}:{}",
            settings.name
        );
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.entry(url.clone()).or_insert_with(|| {
            Arc::new(Queue {
                arn,
                settings,
                inner: Mutex::default(),
                changed: Notify::new(),
            })
        });
        url
    }

    /// The queue at `url`, or SQS's `NonExistentQueue` for `operation`.
    pub(super) fn queue(&self, operation: &'static str, url: &str) -> Result<Arc<Queue>, PortError> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(url)
            .cloned()
            .ok_or_else(|| not_found(operation, url))
    }

    /// What the queue holds now.
    pub fn depth(&self, url: &str) -> Result<QueueDepth, PortError> {
        let queue = self.queue("GetQueueAttributes", url)?;
        let depth = {
            let mut inner = queue.lock();
            advance(&queue, &mut inner, Instant::now());
            let mut depth = QueueDepth::default();
            for m in inner.messages.values() {
                match m.state {
                    State::Visible => depth.visible += 1,
                    State::InFlight => depth.in_flight += 1,
                    State::Delayed => depth.delayed += 1,
                }
            }
            depth
        };
        Ok(depth)
    }

    /// What happened in the queue so far.
    pub fn counters(&self, url: &str) -> Result<QueueCounters, PortError> {
        Ok(self.queue("GetQueueAttributes", url)?.lock().counters)
    }
}
