//! A metrics sink that keeps each invocation's metrics.

use std::sync::Mutex;

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::metrics::InvocationMetrics;
use orderflow_batch::ports::MetricsSink;

use crate::lock;

/// A metrics sink that keeps each invocation's metrics.
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    published: Mutex<Vec<InvocationMetrics>>,
}

impl InMemoryMetrics {
    /// A sink with nothing published.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every invocation's metrics, in order.
    pub fn published(&self) -> Vec<InvocationMetrics> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl MetricsSink for InMemoryMetrics {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        lock(&self.published).push(metrics.clone());
        Ok(())
    }
}
