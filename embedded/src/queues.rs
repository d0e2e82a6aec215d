//! Queues in memory: they keep what is sent to them and the visibility
//! changes asked of them, with failures that tests can inject.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::ports::{EntryResults, MessageQueue, OutgoingMessage, Undelivered, VisibilityChange};

use crate::lock;

/// Queues that keep what is sent to them and the visibility changes asked of
/// them, with failures that tests can inject.
#[derive(Debug, Default)]
pub struct InMemoryQueues {
    sent: Mutex<HashMap<String, Vec<OutgoingMessage>>>,
    visibility: Mutex<Vec<(String, VisibilityChange)>>,
    /// How many of the next entries fail (an atomic, so sends without
    /// injected failures take no lock), and with what.
    failing_entries: AtomicUsize,
    failing_kind: Mutex<Option<PortErrorKind>>,
    send_calls: AtomicUsize,
}

impl InMemoryQueues {
    /// Empty queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `entries` sent entries fail with `kind`.
    pub fn fail_sends(&self, entries: usize, kind: PortErrorKind) {
        *lock(&self.failing_kind) = Some(kind);
        self.failing_entries.store(entries, Ordering::SeqCst);
    }

    /// Every message sent to `queue_url`, in order.
    pub fn messages(&self, queue_url: &str) -> Vec<OutgoingMessage> {
        lock(&self.sent).get(queue_url).cloned().unwrap_or_default()
    }

    /// How many messages each queue received, by queue URL.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<_> = lock(&self.sent)
            .iter()
            .map(|(q, m)| (q.clone(), m.len()))
            .collect();
        counts.sort();
        counts
    }

    /// Every visibility change, with its queue URL.
    pub fn visibility_changes(&self) -> Vec<(String, VisibilityChange)> {
        lock(&self.visibility).clone()
    }

    /// How many `send_batch` calls were made.
    pub fn send_calls(&self) -> usize {
        self.send_calls.load(Ordering::Relaxed)
    }

    fn next_entry_fails(&self) -> Option<PortErrorKind> {
        self.failing_entries
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .and(*lock(&self.failing_kind))
    }

    /// Appends accepted messages to the queue's list.
    fn keep(&self, queue_url: &str, mut messages: Vec<OutgoingMessage>) {
        let mut sent = lock(&self.sent);
        match sent.get_mut(queue_url) {
            Some(queue) => queue.append(&mut messages),
            None => {
                sent.insert(queue_url.to_owned(), messages);
            }
        }
    }
}

#[async_trait]
impl MessageQueue for InMemoryQueues {
    async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        self.send_calls.fetch_add(1, Ordering::Relaxed);
        if self.failing_entries.load(Ordering::SeqCst) == 0 {
            self.keep(queue_url, messages);
            return Vec::new();
        }
        let mut undelivered = Vec::new();
        let mut accepted = Vec::with_capacity(messages.len());
        for (index, message) in messages.into_iter().enumerate() {
            match self.next_entry_fails() {
                Some(kind) => undelivered.push(Undelivered {
                    index,
                    message,
                    error: PortError::new(kind, "SendMessageBatch", "injected failure"),
                }),
                None => accepted.push(message),
            }
        }
        self.keep(queue_url, accepted);
        undelivered
    }

    async fn change_visibility_batch(
        &self,
        queue_url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        let mut log = lock(&self.visibility);
        log.extend(changes.iter().map(|c| (queue_url.to_owned(), c.clone())));
        Ok(vec![Ok(()); changes.len()])
    }
}
