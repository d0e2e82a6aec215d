//! What every [`MetricsSink`] must do: an invocation's metrics, once
//! published, read back as the same values under the invocation's `Service`
//! and `Environment` dimensions, at the invocation's minute: every counter
//! (zero ones too), `ColdStart` only on a cold start, and the latency samples.
//!
//! What was published is read back through a [`MetricsReader`], by the
//! adapter's own means: the embedded sink's record, the Embedded Metric
//! Format lines as CloudWatch Logs would extract them, CloudWatch's
//! `ListMetrics` and `GetMetricStatistics`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Statistic};
use orderflow_batch::metrics::{InvocationMetrics, name};
use orderflow_batch::ports::MetricsSink;
use orderflow_batch::telemetry::MemoryWriter;
use orderflow_embedded::InMemoryMetrics;

use crate::unique;

/// The latency samples of an invocation, as statistics every sink can give.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// How many samples.
    pub samples: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their sum.
    pub sum: f64,
}

impl Latency {
    /// The statistics of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Latency> {
        (!samples.is_empty()).then(|| Latency {
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
    pub latency: Option<Latency>,
}

/// Reads back what a sink published.
#[async_trait]
pub trait MetricsReader: Send + Sync {
    /// What was published under the dimensions `Service` = `service` and
    /// `Environment` = `environment` (one invocation's worth).
    async fn read(&self, service: &str, environment: &str) -> ReadBack;
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
            latency: Latency::of(&m.latencies_ms),
        }
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

#[async_trait]
impl MetricsReader for EmfReader {
    async fn read(&self, service: &str, environment: &str) -> ReadBack {
        let text = self.lines.contents();
        let documents: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("an EMF line: {e}: {line}")))
            .filter(|doc: &serde_json::Value| doc["Service"] == service && doc["Environment"] == environment)
            .collect();
        let [doc] = documents.as_slice() else {
            panic!("one line for {service} in {environment}, not {documents:?}");
        };
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().expect("directives");
        let [directive] = directives.as_slice() else {
            panic!("one directive: {doc}");
        };
        assert_eq!(directive["Namespace"], self.namespace.as_str(), "{doc}");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Service", "Environment"]]),
            "{doc}"
        );
        let mut read = ReadBack {
            minute: doc["_aws"]["Timestamp"].as_u64().expect("a timestamp in ms") / 60_000,
            counters: BTreeMap::new(),
            latency: None,
        };
        for metric in directive["Metrics"].as_array().expect("metric definitions") {
            let metric = metric["Name"].as_str().expect("a metric name");
            let value = &doc[metric];
            if metric == name::PROCESSING_LATENCY {
                let samples: Vec<f64> = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{metric} = {value}"))
                    .iter()
                    .map(|v| v.as_f64().expect("a number"))
                    .collect();
                read.latency = Latency::of(&samples);
            } else {
                let value = value.as_f64().unwrap_or_else(|| panic!("{metric} = {value}"));
                read.counters.insert(metric.to_owned(), value);
            }
        }
        read
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
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Whole minutes, so each datapoint is the minute its data was recorded at.
        let start = (now / 60 - 10) * 60;
        let mut read = ReadBack {
            minute: 0,
            counters: BTreeMap::new(),
            latency: None,
        };
        let mut minutes = Vec::new();
        for metric in listed.metrics() {
            let metric = metric.metric_name().expect("a metric name");
            let out = self
                .client
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
                .expect("GetMetricStatistics");
            let [point] = out.datapoints() else {
                panic!("{metric}: one datapoint, not {:?}", out.datapoints());
            };
            minutes.push(point.timestamp().expect("a timestamp").secs() as u64 / 60);
            let sum = point.sum().expect("Sum");
            if metric == name::PROCESSING_LATENCY {
                read.latency = Some(Latency {
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
        latency: Some(Latency {
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
