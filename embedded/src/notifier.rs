//! Notifiers without a topic: one that keeps what it delivers (local runs,
//! tests), one that only logs (functions without `NOTIFICATION_TOPIC_ARN`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_orders::ports::{CustomerNotification, Notifier};

use crate::lock;

/// A notifier that keeps every message and logs which order and template (never the text).
#[derive(Debug, Default)]
pub struct InMemoryNotifier {
    sent: Mutex<(Vec<CustomerNotification>, HashSet<String>)>,
    deduplicated: AtomicUsize,
}

impl InMemoryNotifier {
    /// A notifier with nothing sent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message delivered, in order.
    pub fn sent(&self) -> Vec<CustomerNotification> {
        lock(&self.sent).0.clone()
    }

    /// How many messages were delivered.
    pub fn sent_count(&self) -> usize {
        lock(&self.sent).0.len()
    }

    /// Deliveries dropped because their deduplication ID was delivered before.
    pub fn deduplicated(&self) -> usize {
        self.deduplicated.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Notifier for InMemoryNotifier {
    async fn notify(&self, notification: &CustomerNotification) -> Result<(), PortError> {
        let mut sent = lock(&self.sent);
        if !sent.1.insert(notification.deduplication_id.clone()) {
            self.deduplicated.fetch_add(1, Ordering::Relaxed);
            tracing::info!(order_id = %notification.order_id, "notification already delivered: deduplicated");
            return Ok(());
        }
        tracing::info!(
            order_id = %notification.order_id,
            template = notification.template.name(),
            "customer notified"
        );
        sent.0.push(notification.clone());
        Ok(())
    }
}

/// A notifier that only logs which order and template (for functions without a topic).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, notification: &CustomerNotification) -> Result<(), PortError> {
        tracing::info!(
            order_id = %notification.order_id,
            template = notification.template.name(),
            "customer notified (no topic configured: logged only)"
        );
        Ok(())
    }
}
