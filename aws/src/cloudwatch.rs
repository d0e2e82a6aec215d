//! [`MetricsSink`] on CloudWatch: one `PutMetricData` call per invocation.
//!
//! Counters are single values; `ProcessingLatency` is sent as a distribution
//! (`Values` and `Counts`), so CloudWatch computes percentiles over every
//! record without a datum per record. A step's metrics follow: a counter as
//! its invocation's total, a distribution as exact values and counts, each
//! under the default dimensions and the step's own. Calls are split only
//! past the service's limits (150 values per datum, 1000 datums per call).

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use orderflow_batch::error::PortError;
use orderflow_batch::metrics::{Aggregation, InvocationMetrics, MetricSeries, Resolution, name};
use orderflow_batch::ports::MetricsSink;

use crate::error::classify;

/// Most values (and counts) in one datum.
const MAX_VALUES_PER_DATUM: usize = 150;
/// Most datums in one `PutMetricData` call.
const MAX_DATUMS_PER_CALL: usize = 1000;

/// Publishes invocation metrics to a CloudWatch namespace.
#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: Client,
    namespace: String,
}

impl CloudWatchMetrics {
    /// A sink publishing to `namespace`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        CloudWatchMetrics {
            client,
            namespace: namespace.into(),
        }
    }
}

/// Seconds a high-resolution datum is kept at.
const HIGH_RESOLUTION: i32 = 1;

/// The datums of one invocation: its counters, the latency distribution,
/// then the steps' series.
fn datums(metrics: &InvocationMetrics) -> Vec<MetricDatum> {
    let dimensions = vec![
        Dimension::builder()
            .name("Service")
            .value(&metrics.service)
            .build(),
        Dimension::builder()
            .name("Environment")
            .value(&metrics.environment)
            .build(),
    ];
    let timestamp = DateTime::from_millis(i64::try_from(metrics.timestamp_ms).unwrap_or(i64::MAX));
    let mut out: Vec<MetricDatum> = metrics
        .counters()
        .into_iter()
        .map(|(metric, value)| {
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(dimensions.clone()))
                .timestamp(timestamp)
                .value(value)
                .unit(StandardUnit::Count)
                .set_storage_resolution(metrics.high_resolution.then_some(HIGH_RESOLUTION))
                .build()
        })
        .collect();
    let distribution = metrics.latency_distribution();
    for chunk in distribution.chunks(MAX_VALUES_PER_DATUM) {
        out.push(
            MetricDatum::builder()
                .metric_name(name::PROCESSING_LATENCY)
                .set_dimensions(Some(dimensions.clone()))
                .timestamp(timestamp)
                .set_values(Some(chunk.iter().map(|(v, _)| *v).collect()))
                .set_counts(Some(chunk.iter().map(|(_, c)| f64::from(*c)).collect()))
                .unit(StandardUnit::Milliseconds)
                .set_storage_resolution(metrics.high_resolution.then_some(HIGH_RESOLUTION))
                .build(),
        );
    }
    for series in &metrics.steps {
        step_datums(series, &dimensions, timestamp, metrics.high_resolution, &mut out);
    }
    out
}

/// A step's series as datums under the default dimensions and its own.
fn step_datums(
    series: &MetricSeries,
    defaults: &[Dimension],
    timestamp: DateTime,
    all_high_resolution: bool,
    out: &mut Vec<MetricDatum>,
) {
    let mut dimensions = defaults.to_vec();
    dimensions.extend(
        series
            .dimensions
            .iter()
            .map(|(n, v)| Dimension::builder().name(*n).value(v).build()),
    );
    let high = all_high_resolution || series.metric.resolution == Resolution::High;
    let datum = || {
        MetricDatum::builder()
            .metric_name(series.metric.name)
            .set_dimensions(Some(dimensions.clone()))
            .timestamp(timestamp)
            .unit(StandardUnit::from(series.metric.unit.as_str()))
            .set_storage_resolution(high.then_some(HIGH_RESOLUTION))
    };
    match series.metric.aggregation {
        Aggregation::Sum => out.push(datum().value(series.values.iter().sum()).build()),
        Aggregation::Distribution => {
            for chunk in series.distribution().chunks(MAX_VALUES_PER_DATUM) {
                out.push(
                    datum()
                        .set_values(Some(chunk.iter().map(|(v, _)| *v).collect()))
                        .set_counts(Some(chunk.iter().map(|(_, c)| f64::from(*c)).collect()))
                        .build(),
                );
            }
        }
    }
}

#[async_trait]
impl MetricsSink for CloudWatchMetrics {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        for chunk in datums(metrics).chunks(MAX_DATUMS_PER_CALL) {
            self.client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify("PutMetricData", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_one_distribution_datum_until_150_distinct_values() {
        let metrics = InvocationMetrics {
            service: "inventory".into(),
            environment: "production".into(),
            batch_size: 3,
            processed: 3,
            latencies_ms: vec![1.0, 1.0, 2.5],
            cold_start: true,
            ..Default::default()
        };
        let d = datums(&metrics);
        assert_eq!(d.len(), 8, "6 counters, ColdStart, one latency datum");
        let latency = d.last().unwrap();
        assert_eq!(latency.values(), [1.0, 2.5]);
        assert_eq!(latency.counts(), [2.0, 1.0]);
        assert_eq!(latency.dimensions().len(), 2);

        let many = InvocationMetrics {
            latencies_ms: (0..400).map(|i| 1.0 + f64::from(i)).collect(),
            ..metrics
        };
        let latency: Vec<_> = datums(&many)
            .into_iter()
            .filter(|d| d.metric_name() == Some("ProcessingLatency"))
            .collect();
        assert_eq!(latency.len(), 3);
        let samples: f64 = latency.iter().flat_map(|d| d.counts().iter()).sum();
        assert_eq!(samples, 400.0);
    }

    #[test]
    fn step_series_carry_their_dimensions_unit_and_resolution() {
        use orderflow_batch::metrics::{Metric, Unit};
        let metrics = InvocationMetrics {
            service: "shipping".into(),
            environment: "production".into(),
            steps: vec![
                MetricSeries {
                    metric: Metric::counter("ShipmentsCreated").high_resolution(),
                    dimensions: vec![("Carrier", "UPS".into())],
                    values: vec![4.0],
                },
                MetricSeries {
                    metric: Metric::distribution("OrderValue", Unit::None),
                    dimensions: vec![],
                    values: (0..200).map(|i| f64::from(i % 160) + 0.99).collect(),
                },
            ],
            ..Default::default()
        };
        let d = datums(&metrics);
        let shipments = d
            .iter()
            .find(|d| d.metric_name() == Some("ShipmentsCreated"))
            .unwrap();
        assert_eq!(shipments.value(), Some(4.0));
        assert_eq!(shipments.storage_resolution(), Some(1));
        let names: Vec<_> = shipments
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("Service", "shipping"),
                ("Environment", "production"),
                ("Carrier", "UPS")
            ]
        );
        let values: Vec<_> = d
            .iter()
            .filter(|d| d.metric_name() == Some("OrderValue"))
            .collect();
        assert_eq!(values.len(), 2, "160 distinct values: two datums of at most 150");
        assert!(
            values
                .iter()
                .all(|d| d.unit() == Some(&StandardUnit::None) && d.storage_resolution().is_none())
        );
        let counted: f64 = values.iter().flat_map(|d| d.counts().iter()).sum();
        let sum: f64 = values
            .iter()
            .flat_map(|d| d.values().iter().zip(d.counts()))
            .map(|(v, c)| v * c)
            .sum();
        assert_eq!(counted, 200.0);
        assert!(
            (sum - metrics.steps[1].values.iter().sum::<f64>()).abs() < 1e-6,
            "exact, not rounded"
        );
        assert!(
            d.iter()
                .filter(|d| d.metric_name() == Some("BatchSize"))
                .all(|d| d.storage_resolution().is_none())
        );
    }
}
