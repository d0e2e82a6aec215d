//! The functions' metrics, summed over every invocation of the run.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use orderflow_batch::error::PortError;
use orderflow_batch::metrics::{InvocationMetrics, MetricSeries};
use orderflow_batch::ports::MetricsSink;

/// Sums every invocation's metrics: the metrics sink of every stage's processor.
#[derive(Default)]
pub(super) struct MetricTotals {
    /// Records skipped because their step had completed.
    pub(super) duplicates: AtomicU64,
    /// The steps' metrics, each series' values summed, by [`series_label`].
    pub(super) steps: Mutex<BTreeMap<String, f64>>,
}

/// `ShipmentsCreated Carrier=UPS`: a series' name and its own dimensions.
fn series_label(series: &MetricSeries) -> String {
    let mut label = series.metric.name.to_owned();
    for (name, value) in &series.dimensions {
        label.push_str(&format!(" {name}={value}"));
    }
    label
}

impl MetricTotals {
    /// The steps' series, summed over the run.
    pub(super) fn steps(&self) -> BTreeMap<String, f64> {
        self.steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl MetricsSink for MetricTotals {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        self.duplicates
            .fetch_add(metrics.duplicates_skipped as u64, Ordering::Relaxed);
        if !metrics.steps.is_empty() {
            let mut steps = self
                .steps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for series in &metrics.steps {
                *steps.entry(series_label(series)).or_default() += series.values.iter().sum::<f64>();
            }
        }
        Ok(())
    }
}
