//! The pipeline's six queues: each stage's source queue and its dead-letter queue.

use std::collections::HashMap;

/// The URLs of each stage's source queue and DLQ, by the source's name
/// (`orders`, `inventory`, `notifications`).
#[derive(Clone, Debug, Default)]
pub(super) struct Queues {
    by_name: HashMap<&'static str, (String, String)>,
}

impl Queues {
    /// Adds the source queue `name` at `source_url`, with its DLQ at `dlq_url`.
    pub(super) fn insert(&mut self, name: &'static str, source_url: String, dlq_url: String) {
        self.by_name.insert(name, (source_url, dlq_url));
    }

    /// The URL of the source queue `name`.
    pub(super) fn source(&self, name: &str) -> &str {
        &self.by_name[name].0
    }

    /// The URL of the DLQ of the source queue `name`.
    pub(super) fn dlq(&self, name: &str) -> &str {
        &self.by_name[name].1
    }

    /// Every queue's URL, sources and DLQs, in no particular order.
    pub(super) fn urls(&self) -> impl Iterator<Item = &str> {
        self.by_name
            .values()
            .flat_map(|(source, dlq)| [source.as_str(), dlq.as_str()])
    }
}
