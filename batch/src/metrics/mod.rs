//! Per-invocation metrics, aggregated in memory and published once.
//!
//! Publishing per message would cost a call (and money) per message; the batch
//! processor counts into one [`InvocationMetrics`] and hands it to a
//! [`MetricsSink`] at the end of every invocation, on every path. A step adds
//! its own metrics through its record context ([`step::StepMetrics`]); they
//! travel in the same [`InvocationMetrics`] to the same sink.
//!
//! Sinks: Embedded Metric Format lines ([`EmfMetrics`], here), CloudWatch's
//! `PutMetricData` (in `orderflow-aws`), in memory (in `orderflow-embedded`)
//! and none ([`NoMetrics`]).

mod emf;
pub mod step;

pub use emf::EmfMetrics;
pub use step::{Aggregation, InvalidMetric, Metric, MetricSeries, Resolution, StepMetrics, Unit};

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::error::PortError;

/// Metric names, as published.
pub mod name {
    /// Records handled successfully (the step ran, or had run before).
    pub const MESSAGES_PROCESSED: &str = "MessagesProcessed";
    /// Records reported in `batchItemFailures` (or all, when the invocation failed).
    pub const MESSAGES_FAILED: &str = "MessagesFailed";
    /// Records moved to the dead-letter queue by the fast path.
    pub const MESSAGES_SENT_TO_DLQ: &str = "MessagesSentToDlq";
    /// Records skipped because their step had already completed.
    pub const DUPLICATES_SKIPPED: &str = "DuplicatesSkipped";
    /// Records refused because their business key was used before by other content.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IdempotencyKeyReused";
    /// Per-record processing time in milliseconds, as a distribution.
    pub const PROCESSING_LATENCY: &str = "ProcessingLatency";
    /// Records in the invocation's batch.
    pub const BATCH_SIZE: &str = "BatchSize";
    /// 1 on the first invocation of an execution environment.
    pub const COLD_START: &str = "ColdStart";

    /// Every name above: a step's metric may not take one.
    pub const ALL: [&str; 8] = [
        MESSAGES_PROCESSED,
        MESSAGES_FAILED,
        MESSAGES_SENT_TO_DLQ,
        DUPLICATES_SKIPPED,
        IDEMPOTENCY_KEY_REUSED,
        PROCESSING_LATENCY,
        BATCH_SIZE,
        COLD_START,
    ];
}

static COLD_START: AtomicBool = AtomicBool::new(true);

/// True exactly once per process: on the first call.
pub fn take_cold_start() -> bool {
    COLD_START.swap(false, Ordering::Relaxed)
}

/// The aggregated metrics of one invocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationMetrics {
    /// The `Service` dimension (the function's name).
    pub service: String,
    /// The `Environment` dimension.
    pub environment: String,
    /// When the invocation started, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Records in the batch.
    pub batch_size: usize,
    /// Records handled successfully, duplicates excluded.
    pub processed: usize,
    /// Records reported as failed.
    pub failed: usize,
    /// Records dead-lettered by the fast path.
    pub sent_to_dlq: usize,
    /// Records skipped as already done.
    pub duplicates_skipped: usize,
    /// Records refused for reusing a business key with other content.
    pub keys_reused: usize,
    /// Per-record processing latency, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Whether this is the first invocation of the process.
    pub cold_start: bool,
    /// What the steps of the records that ended processed recorded.
    pub steps: Vec<MetricSeries>,
    /// Every metric kept per second (`METRICS_HIGH_RESOLUTION`), the
    /// processor's included; a step's [`Metric`] can also ask for it alone.
    pub high_resolution: bool,
}

impl InvocationMetrics {
    /// The latency samples as (value, count) pairs, values rounded to three
    /// significant digits, ascending: CloudWatch's `Values`/`Counts` form.
    pub fn latency_distribution(&self) -> Vec<(f64, u32)> {
        value_counts(
            self.latencies_ms
                .iter()
                .map(|&v| round_significant(v, 3))
                .collect(),
        )
    }

    /// The counter metrics as (name, value), in a fixed order.
    pub fn counters(&self) -> Vec<(&'static str, f64)> {
        let mut counters = vec![
            (name::MESSAGES_PROCESSED, self.processed as f64),
            (name::MESSAGES_FAILED, self.failed as f64),
            (name::MESSAGES_SENT_TO_DLQ, self.sent_to_dlq as f64),
            (name::DUPLICATES_SKIPPED, self.duplicates_skipped as f64),
            (name::IDEMPOTENCY_KEY_REUSED, self.keys_reused as f64),
            (name::BATCH_SIZE, self.batch_size as f64),
        ];
        if self.cold_start {
            counters.push((name::COLD_START, 1.0));
        }
        counters
    }
}

/// `values` as (value, count) pairs, ascending: CloudWatch's `Values`/`Counts`.
pub(crate) fn value_counts(mut values: Vec<f64>) -> Vec<(f64, u32)> {
    values.sort_by(f64::total_cmp);
    let mut out: Vec<(f64, u32)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

pub(crate) fn round_significant(value: f64, digits: i32) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 0.0;
    }
    let magnitude = value.log10().floor() as i32;
    let factor = 10f64.powi(digits - 1 - magnitude);
    (value * factor).round() / factor
}

/// A port: receives one invocation's aggregated metrics.
#[async_trait]
pub trait MetricsSink: Send + Sync {
    /// Publishes the metrics of one invocation (one call, never per message).
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError>;
}

/// Metrics turned off: publishes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

#[async_trait]
impl MetricsSink for NoMetrics {
    async fn publish(&self, _metrics: &InvocationMetrics) -> Result<(), PortError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_a_distribution_of_values_and_counts() {
        let m = InvocationMetrics {
            latencies_ms: vec![1.0, 12.34, 1.0004, 12.3, 0.0, 250.7],
            ..Default::default()
        };
        assert_eq!(
            m.latency_distribution(),
            vec![(0.0, 1), (1.0, 2), (12.3, 2), (251.0, 1)]
        );
    }

    #[test]
    fn cold_start_is_counted_only_when_set() {
        let mut m = InvocationMetrics::default();
        assert!(!m.counters().iter().any(|(n, _)| *n == name::COLD_START));
        m.cold_start = true;
        assert!(m.counters().contains(&(name::COLD_START, 1.0)));
    }
}
