//! What every [`MetricsSink`] must do: an invocation's metrics, once
//! published, read back as the same values under the invocation's `Service`
//! and `Environment` dimensions, at the invocation's minute: every counter
//! (zero ones too), `ColdStart` only on a cold start, and the latency samples;
//! and each step series under its own dimensions: a counter as the
//! invocation's total, a distribution's every value.
//!
//! What was published is read back through a [`MetricsReader`], by the
//! adapter's own means: the embedded sink's record, the Embedded Metric
//! Format lines as CloudWatch Logs would extract them, CloudWatch's
//! `ListMetrics` and `GetMetricStatistics`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Datapoint, Dimension, DimensionFilter, Statistic};
use orderflow_batch::metrics::{InvocationMetrics, Metric, MetricSeries, Unit, name};
use orderflow_batch::ports::MetricsSink;
use orderflow_batch::telemetry::MemoryWriter;
use orderflow_embedded::InMemoryMetrics;

use crate::unique;

/// The samples of a distribution (the latency, a step's series), as
/// statistics every sink can give.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Statistics {
    /// How many samples.
    pub samples: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their sum.
    pub sum: f64,
}

impl Statistics {
    /// The statistics of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Statistics> {
        (!samples.is_empty()).then(|| Statistics {
            samples: samples.len() as f64,
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sum: samples.iter().sum(),
        })
    }
}

/// One invocation's metrics as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadBack {
    /// The minute they were recorded at (Unix seconds / 60).
    pub minute: u64,
    /// Every metric but the latency, by name, with its value.
    pub counters: BTreeMap<String, f64>,
    /// `ProcessingLatency`, if it has samples.
    pub latency: Option<Statistics>,
}

/// Reads back what a sink published.
#[async_trait]
pub trait MetricsReader: Send + Sync {
    /// What was published under the dimensions `Service` = `service` and
    /// `Environment` = `environment` (one invocation's worth).
    async fn read(&self, service: &str, environment: &str) -> ReadBack;

    /// The samples of `metric` under exactly `Service`, `Environment` and
    /// `dimensions`; `None` when nothing was published there.
    async fn read_series(
        &self,
        service: &str,
        environment: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
    ) -> Option<Statistics>;
}

/// The embedded sink's record of each invocation. The sink keeps what it was
/// given, so against it only "each invocation published once, unchanged" can
/// fail; the names, zeros and cold-start rules are the other sinks' to keep.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedReader<'a>(pub &'a InMemoryMetrics);

#[async_trait]
impl MetricsReader for EmbeddedReader<'_> {
    async fn read(&self, service: &str, environment: &str) -> ReadBack {
        let published: Vec<InvocationMetrics> = self
            .0
            .published()
            .into_iter()
            .filter(|m| m.service == service && m.environment == environment)
            .collect();
        let [m] = published.as_slice() else {
            panic!("one invocation of {service} in {environment}, not {published:?}");
        };
        let mut counters = BTreeMap::from([
            (name::MESSAGES_PROCESSED.to_owned(), m.processed as f64),
            (name::MESSAGES_FAILED.to_owned(), m.failed as f64),
            (name::MESSAGES_SENT_TO_DLQ.to_owned(), m.sent_to_dlq as f64),
            (name::DUPLICATES_SKIPPED.to_owned(), m.duplicates_skipped as f64),
            (name::IDEMPOTENCY_KEY_REUSED.to_owned(), m.keys_reused as f64),
            (name::BATCH_SIZE.to_owned(), m.batch_size as f64),
        ]);
        if m.cold_start {
            counters.insert(name::COLD_START.to_owned(), 1.0);
        }
        ReadBack {
            minute: m.timestamp_ms / 60_000,
            counters,
            latency: Statistics::of(&m.latencies_ms),
        }
    }

    async fn read_series(
        &self,
        service: &str,
        environment: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
    ) -> Option<Statistics> {
        let values: Vec<f64> = self
            .0
            .published()
            .iter()
            .filter(|m| m.service == service && m.environment == environment)
            .flat_map(|m| &m.steps)
            .filter(|s| {
                s.metric.name == metric
                    && s.dimensions
                        .iter()
                        .map(|(n, v)| (*n, v.as_str()))
                        .eq(dimensions.iter().copied())
            })
            .flat_map(|s| s.values.clone())
            .collect();
        Statistics::of(&values)
    }
}

/// Embedded Metric Format lines, read as CloudWatch Logs extracts metrics
/// from them: only the members the directive declares, in its namespace,
/// under its dimension set.
#[derive(Clone, Debug)]
pub struct EmfReader {
    /// The lines the sink wrote.
    pub lines: MemoryWriter,
    /// The namespace the directive must name.
    pub namespace: String,
}

/// A metric as CloudWatch Logs extracts it from one EMF line.
struct Extracted {
    metric: String,
    /// Every dimension of its set, by name.
    dimensions: BTreeMap<String, String>,
    values: Vec<f64>,
    minute: u64,
}

impl EmfReader {
    /// Every metric the lines of `service` in `environment` declare, under
    /// each dimension set of each directive, with its values.
    fn extract(&self, service: &str, environment: &str) -> Vec<Extracted> {
        let text = self.lines.contents();
        let mut out = Vec::new();
        for line in text.lines() {
            let doc: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("an EMF line: {e}: {line}"));
            if doc["Service"] != service || doc["Environment"] != environment {
                continue;
            }
            let minute = doc["_aws"]["Timestamp"].as_u64().expect("a timestamp in ms") / 60_000;
            let directives = doc["_aws"]["CloudWatchMetrics"].as_array().expect("directives");
            let [directive] = directives.as_slice() else {
                panic!("one directive: {doc}");
            };
            assert_eq!(directive["Namespace"], self.namespace.as_str(), "{doc}");
            for set in directive["Dimensions"].as_array().expect("dimension sets") {
                let dimensions: BTreeMap<String, String> = set
                    .as_array()
                    .expect("a dimension set")
                    .iter()
                    .map(|d| {
                        let d = d.as_str().expect("a dimension name");
                        let value = doc[d]
                            .as_str()
                            .unwrap_or_else(|| panic!("{d} has no string value: {doc}"));
                        (d.to_owned(), value.to_owned())
                    })
                    .collect();
                for definition in directive["Metrics"].as_array().expect("metric definitions") {
                    let metric = definition["Name"].as_str().expect("a metric name");
                    let value = &doc[metric];
                    let values: Vec<f64> = match value.as_array() {
                        Some(values) => values.iter().map(|v| v.as_f64().expect("a number")).collect(),
                        None => vec![value.as_f64().unwrap_or_else(|| panic!("{metric} = {value}"))],
                    };
                    out.push(Extracted {
                        metric: metric.to_owned(),
                        dimensions: dimensions.clone(),
                        values,
                        minute,
                    });
                }
            }
        }
        out
    }
}

/// `Service`, `Environment` and `extra`, by name.
fn dimension_map(service: &str, environment: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    [("Service", service), ("Environment", environment)]
        .iter()
        .chain(extra)
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[async_trait]
impl MetricsReader for EmfReader {
    async fn read(&self, service: &str, environment: &str) -> ReadBack {
        let defaults = dimension_map(service, environment, &[]);
        let extracted: Vec<Extracted> = self
            .extract(service, environment)
            .into_iter()
            .filter(|e| e.dimensions == defaults)
            .collect();
        let mut minutes: Vec<u64> = extracted.iter().map(|e| e.minute).collect();
        minutes.dedup();
        let [minute] = minutes.as_slice() else {
            panic!("one invocation of {service} in {environment}, at one minute, not {minutes:?}");
        };
        let mut read = ReadBack {
            minute: *minute,
            counters: BTreeMap::new(),
            latency: None,
        };
        for e in extracted {
            if e.metric == name::PROCESSING_LATENCY {
                read.latency = Statistics::of(&e.values);
            } else {
                let [value] = e.values.as_slice() else {
                    panic!("{} is a counter, one value: {:?}", e.metric, e.values);
                };
                let earlier = read.counters.insert(e.metric.clone(), *value);
                assert_eq!(earlier, None, "{} on two lines", e.metric);
            }
        }
        read
    }

    async fn read_series(
        &self,
        service: &str,
        environment: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
    ) -> Option<Statistics> {
        let wanted = dimension_map(service, environment, dimensions);
        let values: Vec<f64> = self
            .extract(service, environment)
            .into_iter()
            .filter(|e| e.metric == metric && e.dimensions == wanted)
            .flat_map(|e| e.values)
            .collect();
        Statistics::of(&values)
    }
}

/// CloudWatch's read side: the metrics `ListMetrics` finds under the
/// dimensions, each with the statistics of its datapoints.
#[derive(Clone, Debug)]
pub struct CloudWatchReader {
    /// A client of the CloudWatch the sink publishes to.
    pub client: aws_sdk_cloudwatch::Client,
    /// The sink's namespace.
    pub namespace: String,
}

impl CloudWatchReader {
    /// The datapoints of `metric` under exactly `dimensions`, per minute,
    /// over the last ten minutes and the next ten.
    async fn datapoints(&self, metric: &str, dimensions: &[(&str, &str)]) -> Vec<Datapoint> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Whole minutes, so each datapoint is the minute its data was recorded at.
        let start = (now / 60 - 10) * 60;
        self.client
            .get_metric_statistics()
            .namespace(&self.namespace)
            .metric_name(metric)
            .set_dimensions(Some(
                dimensions
                    .iter()
                    .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
                    .collect(),
            ))
            .start_time(DateTime::from_secs(start as i64))
            .end_time(DateTime::from_secs((start + 20 * 60) as i64))
            .period(60)
            .statistics(Statistic::Sum)
            .statistics(Statistic::SampleCount)
            .statistics(Statistic::Minimum)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .expect("GetMetricStatistics")
            .datapoints
            .unwrap_or_default()
    }
}

#[async_trait]
impl MetricsReader for CloudWatchReader {
    async fn read(&self, service: &str, environment: &str) -> ReadBack {
        let dimensions = [("Service", service), ("Environment", environment)];
        let listed = self
            .client
            .list_metrics()
            .namespace(&self.namespace)
            .set_dimensions(Some(
                dimensions
                    .iter()
                    .map(|(n, v)| DimensionFilter::builder().name(*n).value(*v).build())
                    .collect(),
            ))
            .send()
            .await
            .expect("ListMetrics");
        let mut read = ReadBack {
            minute: 0,
            counters: BTreeMap::new(),
            latency: None,
        };
        let mut minutes = Vec::new();
        for listed in listed.metrics() {
            if listed.dimensions().len() != dimensions.len() {
                continue; // a step's series under dimensions of its own
            }
            let metric = listed.metric_name().expect("a metric name");
            let points = self.datapoints(metric, &dimensions).await;
            let [point] = points.as_slice() else {
                panic!("{metric}: one datapoint, not {points:?}");
            };
            minutes.push(point.timestamp().expect("a timestamp").secs() as u64 / 60);
            let sum = point.sum().expect("Sum");
            if metric == name::PROCESSING_LATENCY {
                read.latency = Some(Statistics {
                    samples: point.sample_count().expect("SampleCount"),
                    min: point.minimum().expect("Minimum"),
                    max: point.maximum().expect("Maximum"),
                    sum,
                });
            } else {
                read.counters.insert(metric.to_owned(), sum);
            }
        }
        minutes.sort_unstable();
        minutes.dedup();
        let [minute] = minutes.as_slice() else {
            panic!("every metric at one minute, not {minutes:?}");
        };
        read.minute = *minute;
        read
    }

    async fn read_series(
        &self,
        service: &str,
        environment: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
    ) -> Option<Statistics> {
        let mut all = vec![("Service", service), ("Environment", environment)];
        all.extend_from_slice(dimensions);
        // CloudWatch matches dimensions exactly, LocalStack also matches a
        // series with more: what ListMetrics lists decides.
        let wanted = dimension_map(service, environment, dimensions);
        let listed = self
            .client
            .list_metrics()
            .namespace(&self.namespace)
            .metric_name(metric)
            .send()
            .await
            .expect("ListMetrics");
        let exists = listed.metrics().iter().any(|m| {
            let dims: BTreeMap<String, String> = m
                .dimensions()
                .iter()
                .map(|d| {
                    (
                        d.name().unwrap_or_default().to_owned(),
                        d.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            dims == wanted
        });
        if !exists {
            return None;
        }
        let points = self.datapoints(metric, &all).await;
        (!points.is_empty()).then(|| Statistics {
            samples: points
                .iter()
                .map(|p| p.sample_count().expect("SampleCount"))
                .sum(),
            min: points
                .iter()
                .map(|p| p.minimum().expect("Minimum"))
                .fold(f64::INFINITY, f64::min),
            max: points
                .iter()
                .map(|p| p.maximum().expect("Maximum"))
                .fold(f64::NEG_INFINITY, f64::max),
            sum: points.iter().map(|p| p.sum().expect("Sum")).sum(),
        })
    }
}

fn counters(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
}

/// An invocation `minutes_ago` whole minutes before this one, on a fresh
/// `Service` dimension.
fn invocation(minutes_ago: u64) -> InvocationMetrics {
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    InvocationMetrics {
        service: unique("contract-service"),
        environment: "contract".into(),
        // Mid-minute, so the minute is the same wherever a sink rounds.
        timestamp_ms: (now_ms / 60_000 - minutes_ago) * 60_000 + 30_000,
        ..Default::default()
    }
}

async fn publish(sink: &dyn MetricsSink, metrics: &InvocationMetrics) {
    sink.publish(metrics)
        .await
        .unwrap_or_else(|e| panic!("publishing {}: {e}", metrics.service));
}

/// Runs every rule against `sink`, read back through `reader`.
pub async fn check(sink: &dyn MetricsSink, reader: &dyn MetricsReader) {
    every_metric_of_a_cold_start_reads_back_as_published(sink, reader).await;
    a_warm_invocation_has_no_cold_start_and_its_zeros_read_as_zero(sink, reader).await;
    a_steps_series_read_back_under_its_own_dimensions(sink, reader).await;
}

async fn a_steps_series_read_back_under_its_own_dimensions(
    sink: &dyn MetricsSink,
    reader: &dyn MetricsReader,
) {
    const REJECTED: Metric = Metric::counter("OrdersRejected");
    const SHIPPED: Metric = Metric::counter("ShipmentsCreated");
    const VALUE: Metric = Metric::distribution("OrderValue", Unit::None);
    let series = |metric, dimensions: &[(&'static str, &str)], values: Vec<f64>| MetricSeries {
        metric,
        dimensions: dimensions.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        values,
    };
    // More values than one EMF line (100) or one datum (150) holds, each
    // exact in binary, so every sink's sum is exact.
    let values: Vec<f64> = (1..=260).map(|i| f64::from(i) * 0.5).collect();
    let metrics = InvocationMetrics {
        batch_size: 260,
        processed: 260,
        steps: vec![
            series(REJECTED, &[], vec![3.0]),
            series(SHIPPED, &[("Carrier", "UPS")], vec![2.0]),
            series(SHIPPED, &[("Carrier", "DHL")], vec![1.0]),
            series(VALUE, &[], values.clone()),
        ],
        ..invocation(1)
    };
    publish(sink, &metrics).await;
    let (service, environment) = (metrics.service.as_str(), metrics.environment.as_str());
    let read = |metric: &'static str, dimensions: &'static [(&'static str, &'static str)]| {
        reader.read_series(service, environment, metric, dimensions)
    };
    let total = |sum: f64| {
        Some(Statistics {
            samples: 1.0,
            min: sum,
            max: sum,
            sum,
        })
    };
    assert_eq!(
        read("OrdersRejected", &[]).await,
        total(3.0),
        "a counter is its invocation's total"
    );
    assert_eq!(read("ShipmentsCreated", &[("Carrier", "UPS")]).await, total(2.0));
    assert_eq!(read("ShipmentsCreated", &[("Carrier", "DHL")]).await, total(1.0));
    assert_eq!(
        read("ShipmentsCreated", &[]).await,
        None,
        "a series with dimensions of its own is published only under them"
    );
    assert_eq!(
        read("OrderValue", &[]).await,
        Statistics::of(&values),
        "a distribution keeps every value"
    );
}

async fn every_metric_of_a_cold_start_reads_back_as_published(
    sink: &dyn MetricsSink,
    reader: &dyn MetricsReader,
) {
    // Every counter a different value, so none can stand for another; latency
    // samples with three significant digits, which every sink keeps exactly.
    let metrics = InvocationMetrics {
        batch_size: 17,
        processed: 9,
        failed: 2,
        sent_to_dlq: 3,
        duplicates_skipped: 5,
        keys_reused: 4,
        latencies_ms: vec![12.5, 1.5, 250.0, 1.5, 2.25],
        cold_start: true,
        ..invocation(2)
    };
    publish(sink, &metrics).await;
    let expected = ReadBack {
        minute: metrics.timestamp_ms / 60_000,
        counters: counters(&[
            (name::MESSAGES_PROCESSED, 9.0),
            (name::MESSAGES_FAILED, 2.0),
            (name::MESSAGES_SENT_TO_DLQ, 3.0),
            (name::DUPLICATES_SKIPPED, 5.0),
            (name::IDEMPOTENCY_KEY_REUSED, 4.0),
            (name::BATCH_SIZE, 17.0),
            (name::COLD_START, 1.0),
        ]),
        latency: Some(Statistics {
            samples: 5.0,
            min: 1.5,
            max: 250.0,
            sum: 267.75,
        }),
    };
    assert_eq!(
        reader.read(&metrics.service, &metrics.environment).await,
        expected,
        "every value as published, at the invocation's minute (not the publishing one)"
    );
}

async fn a_warm_invocation_has_no_cold_start_and_its_zeros_read_as_zero(
    sink: &dyn MetricsSink,
    reader: &dyn MetricsReader,
) {
    let metrics = InvocationMetrics {
        batch_size: 1,
        duplicates_skipped: 1,
        ..invocation(0)
    };
    publish(sink, &metrics).await;
    let expected = ReadBack {
        minute: metrics.timestamp_ms / 60_000,
        counters: counters(&[
            (name::MESSAGES_PROCESSED, 0.0),
            (name::MESSAGES_FAILED, 0.0),
            (name::MESSAGES_SENT_TO_DLQ, 0.0),
            (name::DUPLICATES_SKIPPED, 1.0),
            (name::IDEMPOTENCY_KEY_REUSED, 0.0),
            (name::BATCH_SIZE, 1.0),
        ]),
        latency: None,
    };
    assert_eq!(
        reader.read(&metrics.service, &metrics.environment).await,
        expected,
        "zeros are published as zeros (a graph shows 0, not a gap); no ColdStart; no latency without samples"
    );
}
