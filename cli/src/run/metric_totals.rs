//! The functions' metrics, summed over every invocation of the run.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::metrics::InvocationMetrics;
use orderflow_batch::ports::MetricsSink;

/// Sums every invocation's metrics: the metrics sink of every stage's processor.
#[derive(Default)]
pub(super) struct MetricTotals {
    /// Records skipped because their step had completed.
    pub(super) duplicates: AtomicU64,
}

#[async_trait]
impl MetricsSink for MetricTotals {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        self.duplicates
            .fetch_add(metrics.duplicates_skipped as u64, Ordering::Relaxed);
        Ok(())
    }
}
