//! Per-invocation metrics, aggregated in memory and published once.
//!
//! Publishing per message would cost a call (and money) per message; the batch
//! processor counts into one [`InvocationMetrics`] and hands it to a
//! [`MetricsSink`] at the end of every invocation, on every path.

use std::io::Write;
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
}

impl InvocationMetrics {
    /// The latency samples as (value, count) pairs, values rounded to three
    /// significant digits, ascending: CloudWatch's `Values`/`Counts` form.
    pub fn latency_distribution(&self) -> Vec<(f64, u32)> {
        let mut values: Vec<f64> = self
            .latencies_ms
            .iter()
            .map(|&v| round_significant(v, 3))
            .collect();
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

fn round_significant(value: f64, digits: i32) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 0.0;
    }
    let magnitude = value.log10().floor() as i32;
    let factor = 10f64.powi(digits - 1 - magnitude);
    (value * factor).round() / factor
}

/// The most values EMF accepts for one metric.
const EMF_MAX_VALUES: usize = 100;

/// One invocation's metrics as an Embedded Metric Format document: CloudWatch
/// Logs turns the line into metrics in `namespace`, without an API call.
///
/// EMF has no counts, only up to 100 values per metric: up to 100 latency
/// samples are written as they are; beyond that, 100 evenly spaced quantiles
/// stand for them (the percentiles hold, the sample count is 100).
fn emf_document(metrics: &InvocationMetrics, namespace: &str) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut definitions: Vec<Value> = metrics
        .counters()
        .iter()
        .map(|(metric, _)| json!({ "Name": metric, "Unit": "Count" }))
        .collect();
    definitions.push(json!({ "Name": name::PROCESSING_LATENCY, "Unit": "Milliseconds" }));
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": metrics.timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Service", "Environment"]],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert("Service".into(), json!(metrics.service));
    root.insert("Environment".into(), json!(metrics.environment));
    for (metric, value) in metrics.counters() {
        root.insert(metric.into(), json!(value));
    }
    root.insert(
        name::PROCESSING_LATENCY.into(),
        json!(emf_latency_values(&metrics.latencies_ms)),
    );
    Value::Object(root)
}

fn emf_latency_values(samples: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = samples.iter().map(|&v| round_significant(v, 3)).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.len() <= EMF_MAX_VALUES {
        return sorted;
    }
    (0..EMF_MAX_VALUES)
        .map(|i| {
            let rank = (i as f64 + 0.5) / EMF_MAX_VALUES as f64 * sorted.len() as f64;
            sorted[(rank as usize).min(sorted.len() - 1)]
        })
        .collect()
}

/// Writes each invocation's metrics as one Embedded Metric Format line.
pub struct EmfMetrics {
    namespace: String,
    out: std::sync::Mutex<Box<dyn std::io::Write + Send>>,
}

impl std::fmt::Debug for EmfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfMetrics")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl EmfMetrics {
    /// EMF lines on stdout (Lambda sends them to CloudWatch Logs).
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::new(namespace, Box::new(std::io::stdout()))
    }

    /// EMF lines on any writer.
    pub fn new(namespace: impl Into<String>, out: Box<dyn std::io::Write + Send>) -> Self {
        EmfMetrics {
            namespace: namespace.into(),
            out: std::sync::Mutex::new(out),
        }
    }
}

/// A port: receives one invocation's aggregated metrics.
#[async_trait]
pub trait MetricsSink: Send + Sync {
    /// Publishes the metrics of one invocation (one call, never per message).
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError>;
}

#[async_trait]
impl MetricsSink for EmfMetrics {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        let mut line = emf_document(metrics, &self.namespace).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        out.write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| {
                PortError::new(
                    crate::error::PortErrorKind::Unavailable,
                    "WriteEmf",
                    e.to_string(),
                )
            })
    }
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
    fn emf_documents_declare_every_metric_they_carry() {
        let m = InvocationMetrics {
            service: "inventory".into(),
            environment: "staging".into(),
            timestamp_ms: 1_764_230_400_000,
            batch_size: 3,
            processed: 2,
            failed: 1,
            latencies_ms: vec![0.5, 0.25, 1.0],
            ..Default::default()
        };
        let doc = emf_document(&m, "Orderflow");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Orderflow");
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_230_400_000u64);
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[dimension.as_str().unwrap()].is_string());
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                doc[name].is_number() || doc[name].is_array(),
                "{name} has no value"
            );
        }
        assert_eq!(doc["MessagesProcessed"], 2.0);
        assert_eq!(doc["ProcessingLatency"], serde_json::json!([0.25, 0.5, 1.0]));
    }

    #[test]
    fn emf_latency_stays_within_100_values_and_keeps_the_percentiles() {
        let samples: Vec<f64> = (1..=1000).map(f64::from).collect();
        let values = emf_latency_values(&samples);
        assert_eq!(values.len(), EMF_MAX_VALUES);
        assert!((values[49] - 500.0).abs() <= 10.0, "{}", values[49]);
        assert!(values[99] >= 990.0);
    }

    #[test]
    fn cold_start_is_counted_only_when_set() {
        let mut m = InvocationMetrics::default();
        assert!(!m.counters().iter().any(|(n, _)| *n == name::COLD_START));
        m.cold_start = true;
        assert!(m.counters().contains(&(name::COLD_START, 1.0)));
    }
}
