//! The Embedded Metric Format sink: each invocation's metrics as JSON lines
//! that CloudWatch Logs turns into metrics, without an API call.
//!
//! One line carries one set of dimension values, so the processor's metrics
//! and the steps' metrics without dimensions of their own share a line, and
//! each other set of dimensions (`Carrier=UPS`) has its own. EMF takes at most
//! 100 values a metric and 100 metrics a line: a step's distribution with
//! more values goes on as many lines as it needs (so its sum and count stay
//! exact); the processor's latency keeps 100 evenly spaced quantiles.

use std::io::Write;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::step::{DEFAULT_DIMENSIONS, Resolution};
use super::{InvocationMetrics, MetricsSink, name, round_significant};
use crate::error::{PortError, PortErrorKind};

/// The most values EMF accepts for one metric, and metrics for one line.
const EMF_MAX_VALUES: usize = 100;

/// A metric on its way to a line: its definition and its values.
struct Entry<'a> {
    name: &'a str,
    unit: &'static str,
    high_resolution: bool,
    values: Values,
}

/// A step's own dimensions (none for the processor's metrics).
type Dimensions<'a> = &'a [(&'static str, String)];

enum Values {
    /// One number (a counter).
    One(f64),
    /// An array of numbers (a distribution), cut into lines of 100.
    Many(Vec<f64>),
}

impl Entry<'_> {
    /// How many lines the entry's values take.
    fn lines(&self) -> usize {
        match &self.values {
            Values::One(_) => 1,
            Values::Many(v) => v.len().div_ceil(EMF_MAX_VALUES).max(1),
        }
    }

    /// The entry's value on line `k`, if it has one there.
    fn value_on(&self, k: usize) -> Option<Value> {
        match &self.values {
            Values::One(v) => (k == 0).then(|| json!(v)),
            Values::Many(v) if v.is_empty() => (k == 0).then(|| json!([])),
            Values::Many(v) => v.chunks(EMF_MAX_VALUES).nth(k).map(|chunk| json!(chunk)),
        }
    }
}

/// One invocation's metrics as Embedded Metric Format documents, one a line.
fn emf_documents(metrics: &InvocationMetrics, namespace: &str) -> Vec<Value> {
    let high = metrics.high_resolution;
    let mut processor: Vec<Entry<'_>> = metrics
        .counters()
        .into_iter()
        .map(|(metric, value)| Entry {
            name: metric,
            unit: "Count",
            high_resolution: high,
            values: Values::One(value),
        })
        .collect();
    processor.push(Entry {
        name: name::PROCESSING_LATENCY,
        unit: "Milliseconds",
        high_resolution: high,
        values: Values::Many(emf_latency_values(&metrics.latencies_ms)),
    });
    // Groups by the step's own dimensions, the first being none (the processor's).
    let mut groups: Vec<(Dimensions<'_>, Vec<Entry<'_>>)> = vec![(&[], processor)];
    for series in &metrics.steps {
        let entry = Entry {
            name: series.metric.name,
            unit: series.metric.unit.as_str(),
            high_resolution: high || series.metric.resolution == Resolution::High,
            values: match series.metric.aggregation {
                super::Aggregation::Sum => Values::One(series.values.iter().sum()),
                super::Aggregation::Distribution => Values::Many(series.values.clone()),
            },
        };
        match groups
            .iter_mut()
            .find(|(d, _)| *d == series.dimensions.as_slice())
        {
            Some((_, entries)) => entries.push(entry),
            None => groups.push((&series.dimensions, vec![entry])),
        }
    }
    let mut documents = Vec::new();
    for (dimensions, entries) in &groups {
        let lines = entries.iter().map(Entry::lines).max().unwrap_or(0);
        for k in 0..lines {
            let on_line: Vec<(&Entry<'_>, Value)> = entries
                .iter()
                .filter_map(|e| e.value_on(k).map(|v| (e, v)))
                .collect();
            for chunk in on_line.chunks(EMF_MAX_VALUES) {
                documents.push(document(metrics, namespace, dimensions, chunk));
            }
        }
    }
    documents
}

/// One line: `entries` under the default dimensions and `dimensions`.
fn document(
    metrics: &InvocationMetrics,
    namespace: &str,
    dimensions: Dimensions<'_>,
    entries: &[(&Entry<'_>, Value)],
) -> Value {
    let definitions: Vec<Value> = entries
        .iter()
        .map(|(e, _)| {
            let mut definition = json!({ "Name": e.name, "Unit": e.unit });
            if e.high_resolution {
                definition["StorageResolution"] = json!(1);
            }
            definition
        })
        .collect();
    let dimension_set: Vec<&str> = DEFAULT_DIMENSIONS
        .iter()
        .copied()
        .chain(dimensions.iter().map(|(n, _)| *n))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": metrics.timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimension_set],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert(DEFAULT_DIMENSIONS[0].into(), json!(metrics.service));
    root.insert(DEFAULT_DIMENSIONS[1].into(), json!(metrics.environment));
    for (dimension, value) in dimensions {
        root.insert((*dimension).into(), json!(value));
    }
    for (entry, value) in entries {
        root.insert(entry.name.into(), value.clone());
    }
    Value::Object(root)
}

/// Up to 100 latency samples as they are; beyond that, 100 evenly spaced
/// quantiles stand for them (the percentiles hold, the sample count is 100).
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

/// Writes each invocation's metrics as Embedded Metric Format lines.
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

#[async_trait]
impl MetricsSink for EmfMetrics {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        let mut text = String::new();
        for document in emf_documents(metrics, &self.namespace) {
            text.push_str(&document.to_string());
            text.push('\n');
        }
        // One write: the invocation's lines are not interleaved with another's.
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| PortError::new(PortErrorKind::Unavailable, "WriteEmf", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::step::{Metric, MetricSeries, Unit};
    use super::*;

    fn invocation() -> InvocationMetrics {
        InvocationMetrics {
            service: "inventory".into(),
            environment: "staging".into(),
            timestamp_ms: 1_764_230_400_000,
            batch_size: 3,
            processed: 2,
            failed: 1,
            latencies_ms: vec![0.5, 0.25, 1.0],
            ..Default::default()
        }
    }

    /// Every dimension a document declares has a string value, and every
    /// metric it declares a number or array of numbers.
    fn assert_well_formed(doc: &Value) {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[dimension.as_str().unwrap()].is_string(), "{doc}");
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(metrics.len() <= EMF_MAX_VALUES);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            let value = &doc[name];
            assert!(
                value.is_number() || value.as_array().is_some_and(|a| a.len() <= EMF_MAX_VALUES),
                "{name} has no value, or too many: {doc}"
            );
        }
    }

    #[test]
    fn emf_documents_declare_every_metric_they_carry() {
        let docs = emf_documents(&invocation(), "Orderflow");
        let [doc] = docs.as_slice() else {
            panic!("one line without step metrics: {docs:?}")
        };
        assert_well_formed(doc);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Orderflow");
        assert_eq!(directive["Metrics"][0].get("StorageResolution"), None);
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_230_400_000u64);
        assert_eq!(doc["MessagesProcessed"], 2.0);
        assert_eq!(doc["ProcessingLatency"], json!([0.25, 0.5, 1.0]));
    }

    #[test]
    fn step_metrics_share_the_line_of_their_dimensions_and_a_long_distribution_takes_more_lines() {
        let metrics = InvocationMetrics {
            steps: vec![
                MetricSeries {
                    metric: Metric::counter("OrdersRejected"),
                    dimensions: vec![],
                    values: vec![7.0],
                },
                MetricSeries {
                    metric: Metric::distribution("OrderValue", Unit::None),
                    dimensions: vec![],
                    values: (1..=250).map(f64::from).collect(),
                },
                MetricSeries {
                    metric: Metric::counter("ShipmentsCreated").high_resolution(),
                    dimensions: vec![("Carrier", "UPS".into())],
                    values: vec![3.0],
                },
            ],
            ..invocation()
        };
        let docs = emf_documents(&metrics, "Orderflow");
        for doc in &docs {
            assert_well_formed(doc);
        }
        assert_eq!(
            docs.len(),
            4,
            "three lines for 250 values, one for the carrier: {docs:?}"
        );
        assert_eq!(docs[0]["OrdersRejected"], 7.0);
        assert_eq!(docs[0]["MessagesProcessed"], 2.0, "with the processor's metrics");
        let values: Vec<f64> = docs[..3]
            .iter()
            .flat_map(|d| {
                d["OrderValue"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
            })
            .collect();
        assert_eq!(
            values,
            (1..=250).map(f64::from).collect::<Vec<_>>(),
            "every value, once"
        );
        assert_eq!(docs[1].get("MessagesProcessed"), None, "counters once");
        let carrier = &docs[3];
        assert_eq!(carrier["Carrier"], "UPS");
        assert_eq!(
            carrier["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Environment", "Carrier"]])
        );
        assert_eq!(
            carrier["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{ "Name": "ShipmentsCreated", "Unit": "Count", "StorageResolution": 1 }])
        );
    }

    #[test]
    fn high_resolution_for_the_invocation_marks_every_metric() {
        let metrics = InvocationMetrics {
            high_resolution: true,
            ..invocation()
        };
        let docs = emf_documents(&metrics, "Orderflow");
        for definition in docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            assert_eq!(definition["StorageResolution"], 1, "{definition}");
        }
    }

    #[test]
    fn emf_latency_stays_within_100_values_and_keeps_the_percentiles() {
        let samples: Vec<f64> = (1..=1000).map(f64::from).collect();
        let values = emf_latency_values(&samples);
        assert_eq!(values.len(), EMF_MAX_VALUES);
        assert!((values[49] - 500.0).abs() <= 10.0, "{}", values[49]);
        assert!(values[99] >= 990.0);
    }

    mod properties {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::super::super::step::{Aggregation, InvalidMetric, RecordedMetrics};
        use super::*;

        /// Cases each property runs in CI, from a fixed seed (`PROPTEST_RNG_SEED` explores others).
        fn config() -> proptest::test_runner::Config {
            crate::property_budget::fixed(256, 0x454d_4620_2026_1207)
        }

        const METRICS: [Metric; 3] = [
            Metric::counter("OrdersRejected"),
            Metric::distribution("OrderValue", Unit::None),
            Metric::counter("ShipmentsCreated").high_resolution(),
        ];

        /// One recorded value: which metric, its carrier (if any), the value.
        fn sample() -> impl Strategy<Value = (usize, Option<String>, f64)> {
            (
                0..METRICS.len(),
                // Any text CloudWatch takes as a dimension value: no control characters.
                proptest::option::of("[^\\p{Cc}]{0,12}[^\\p{Cc}\\s][^\\p{Cc}]{0,12}"),
                prop_oneof![-1e6f64..1e6, Just(0.0), (1u32..1000).prop_map(f64::from)],
            )
        }

        /// What CloudWatch Logs extracts from the lines: values by metric and dimensions.
        fn extract(documents: &[Value]) -> BTreeMap<(String, BTreeMap<String, String>), Vec<f64>> {
            let mut out: BTreeMap<_, Vec<f64>> = BTreeMap::new();
            for doc in documents {
                let directive = &doc["_aws"]["CloudWatchMetrics"][0];
                let dimensions: BTreeMap<String, String> = directive["Dimensions"][0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        let d = d.as_str().unwrap();
                        (d.to_owned(), doc[d].as_str().unwrap().to_owned())
                    })
                    .collect();
                for definition in directive["Metrics"].as_array().unwrap() {
                    let name = definition["Name"].as_str().unwrap();
                    let values = match &doc[name] {
                        Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).collect(),
                        value => vec![value.as_f64().unwrap()],
                    };
                    out.entry((name.to_owned(), dimensions.clone()))
                        .or_default()
                        .extend(values);
                }
            }
            out
        }

        proptest::proptest! {
            #![proptest_config(config())]

            /// Whatever valid values the records of a batch record, the lines
            /// give back each counter's total and each distribution's every
            /// value, under exactly the dimensions they were recorded with.
            #[test]
            fn recorded_values_read_back_from_the_lines_exactly(
                samples in proptest::collection::vec(sample(), 0..300),
            ) {
                let recorded = RecordedMetrics::for_batch(1);
                let mut expected: BTreeMap<(String, BTreeMap<String, String>), Vec<f64>> = BTreeMap::new();
                for (record, (metric, carrier, value)) in samples.iter().enumerate() {
                    let metric = &METRICS[*metric];
                    let m = recorded.for_record(record);
                    let mut dimensions = BTreeMap::from([
                        ("Service".to_owned(), "inventory".to_owned()),
                        ("Environment".to_owned(), "staging".to_owned()),
                    ]);
                    match carrier {
                        Some(c) => {
                            m.record_by(metric, &[("Carrier", c)], *value).unwrap();
                            dimensions.insert("Carrier".to_owned(), c.clone());
                        }
                        None => m.record(metric, *value).unwrap(),
                    }
                    let values = expected.entry((metric.name.to_owned(), dimensions)).or_default();
                    match (metric.aggregation, values.first_mut()) {
                        (Aggregation::Sum, Some(total)) => *total += value,
                        _ => values.push(*value),
                    }
                }
                let metrics = InvocationMetrics {
                    steps: recorded.aggregate(|_| true),
                    ..invocation()
                };
                let documents = emf_documents(&metrics, "Orderflow");
                for doc in &documents {
                    assert_well_formed(doc);
                }
                let mut read = extract(&documents);
                read.retain(|(name, _), _| !crate::metrics::name::ALL.contains(&name.as_str()));
                prop_assert_eq!(read, expected);
            }

            /// A value or dimension CloudWatch would refuse is refused where it
            /// is recorded, naming the rule and never the value, and nothing
            /// of it reaches the lines.
            #[test]
            fn a_refused_value_or_dimension_is_named_by_rule_and_kept_out(
                (metric, carrier, value) in sample(),
                broken in prop_oneof![
                    Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(1e109), Just(-1e-110),
                ],
                control in "[\\x00-\\x1f\\x7f]",
                break_value in any::<bool>(),
            ) {
                let recorded = RecordedMetrics::for_batch(1);
                let m = recorded.for_record(0);
                let carrier = carrier.unwrap_or_else(|| "UPS".to_owned());
                let (result, hidden) = if break_value {
                    (m.record_by(&METRICS[metric], &[("Carrier", &carrier)], broken), None)
                } else {
                    let forged = format!("{carrier}{control}SECRET");
                    (m.record_by(&METRICS[metric], &[("Carrier", &forged)], value), Some(forged))
                };
                let error = result.expect_err("refused");
                let text = error.to_string();
                let by_rule = matches!(error, InvalidMetric::Value { .. } | InvalidMetric::DimensionValue { .. });
                prop_assert!(by_rule, "{:?}", error);
                prop_assert!(!text.contains("SECRET"), "{}", text);
                if let Some(forged) = hidden {
                    prop_assert!(!text.contains(&forged), "{}", text);
                }
                prop_assert_eq!(recorded.aggregate(|_| true), vec![]);
            }
        }
    }
}
