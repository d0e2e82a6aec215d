//! Metrics a business step adds ([`StepMetrics`], in its record context):
//! `OrdersRejected`, `ShipmentsCreated` by carrier, `OrderValue`.
//!
//! They are aggregated per invocation like the processor's own and published
//! by the same sink, under the same `Service` and `Environment` dimensions
//! plus any the step names. A record's metrics count only if the record ends
//! processed: a run that failed (and will be retried) or was cut off adds
//! nothing, so a retried order is not counted twice.

use std::sync::Mutex;

/// A metric's unit, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A count of things.
    Count,
    /// A plain number (an amount of money, say).
    None,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// Percent.
    Percent,
}

impl Unit {
    /// CloudWatch's name of the unit (EMF's `Unit`, `PutMetricData`'s `StandardUnit`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::None => "None",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::Percent => "Percent",
        }
    }
}

/// How an invocation's values of a metric are published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// One value per invocation, their total (a counter: `OrdersRejected`).
    Sum,
    /// Every value, so CloudWatch can give their count, sum, minimum,
    /// maximum and percentiles (`OrderValue`).
    Distribution,
}

/// Whether CloudWatch keeps the metric per minute or per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// Per minute (CloudWatch's default).
    Standard,
    /// Per second: costs the same to store, more to alarm on.
    High,
}

/// What a step's metric is: its name, unit, aggregation and resolution.
/// Declared once as a constant and recorded through [`StepMetrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Metric {
    /// The name it is published under.
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// How an invocation's values are combined.
    pub aggregation: Aggregation,
    /// Per minute or per second.
    pub resolution: Resolution,
}

impl Metric {
    /// A counter: the invocation's values are summed, unit `Count`.
    pub const fn counter(name: &'static str) -> Metric {
        Metric {
            name,
            unit: Unit::Count,
            aggregation: Aggregation::Sum,
            resolution: Resolution::Standard,
        }
    }

    /// A distribution of values in `unit`: each value is kept.
    pub const fn distribution(name: &'static str, unit: Unit) -> Metric {
        Metric {
            name,
            unit,
            aggregation: Aggregation::Distribution,
            resolution: Resolution::Standard,
        }
    }

    /// The same metric kept per second.
    pub const fn high_resolution(self) -> Metric {
        Metric {
            resolution: Resolution::High,
            ..self
        }
    }
}

/// The dimensions every metric carries (set from the function's settings).
pub const DEFAULT_DIMENSIONS: [&str; 2] = ["Service", "Environment"];

/// The member of an Embedded Metric Format line that holds its directive.
const EMF_DIRECTIVE: &str = "_aws";

/// The most dimensions a step may add ([`DEFAULT_DIMENSIONS`] take 2 of CloudWatch's 30).
pub const MAX_STEP_DIMENSIONS: usize = 28;

/// CloudWatch's longest metric or dimension name.
const MAX_NAME_LEN: usize = 255;
/// CloudWatch's longest dimension value.
const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// CloudWatch's largest magnitude of a value.
const MAX_MAGNITUDE: f64 = 1.174_271e108;
/// CloudWatch's smallest magnitude of a value other than zero.
const MIN_MAGNITUDE: f64 = 8.515_920e-109;

/// Why a step's metric was not recorded. Names the metric and the rule,
/// never a value (values may come from client input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMetric {
    /// The metric's name breaks CloudWatch's rules.
    #[error("metric name ({len} characters): {rule}")]
    Name {
        /// The name's length.
        len: usize,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A dimension's name breaks a rule.
    #[error("metric {metric}: a dimension name ({len} characters): {rule}")]
    DimensionName {
        /// The metric.
        metric: &'static str,
        /// The dimension name's length.
        len: usize,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A dimension's value breaks a rule.
    #[error("metric {metric}: the value of dimension {dimension}: {rule}")]
    DimensionValue {
        /// The metric.
        metric: &'static str,
        /// The dimension.
        dimension: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// More dimensions than CloudWatch allows.
    #[error(
        "metric {metric}: {count} dimensions, at most {MAX_STEP_DIMENSIONS} besides Service and Environment"
    )]
    TooManyDimensions {
        /// The metric.
        metric: &'static str,
        /// How many the step gave.
        count: usize,
    },
    /// The value is not one CloudWatch accepts.
    #[error("metric {metric}: the value {rule}")]
    Value {
        /// The metric.
        metric: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
}

fn check_name(name: &str) -> Result<(), (usize, &'static str)> {
    let len = name.chars().count();
    if name.trim().is_empty() {
        Err((len, "must have a character other than whitespace"))
    } else if len > MAX_NAME_LEN {
        Err((len, "must be at most 255 characters"))
    } else if !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        Err((len, "must be printable ASCII"))
    } else if name.starts_with(':') {
        Err((len, "must not start with a colon"))
    } else {
        Ok(())
    }
}

fn check_value(metric: &'static str, value: f64) -> Result<(), InvalidMetric> {
    let rule = if !value.is_finite() {
        "must be a finite number"
    } else if value.abs() > MAX_MAGNITUDE {
        "must be at most 1.174271e108 in magnitude"
    } else if value != 0.0 && value.abs() < MIN_MAGNITUDE {
        "must be zero or at least 8.515920e-109 in magnitude"
    } else {
        return Ok(());
    };
    Err(InvalidMetric::Value { metric, rule })
}

fn check_dimensions(metric: &'static str, dimensions: &[(&'static str, &str)]) -> Result<(), InvalidMetric> {
    if dimensions.len() > MAX_STEP_DIMENSIONS {
        return Err(InvalidMetric::TooManyDimensions {
            metric,
            count: dimensions.len(),
        });
    }
    for (i, (name, value)) in dimensions.iter().enumerate() {
        let name_error = |len, rule| InvalidMetric::DimensionName { metric, len, rule };
        check_name(name).map_err(|(len, rule)| name_error(len, rule))?;
        if DEFAULT_DIMENSIONS.contains(name) || *name == EMF_DIRECTIVE {
            return Err(name_error(
                name.len(),
                "must not be Service, Environment (every metric has them) or _aws",
            ));
        }
        if *name == metric {
            return Err(name_error(name.len(), "must not be the metric's own name"));
        }
        if dimensions[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(name_error(name.len(), "must not be given twice"));
        }
        let value_rule = if value.trim().is_empty() {
            Some("must have a character other than whitespace")
        } else if value.chars().count() > MAX_DIMENSION_VALUE_LEN {
            Some("must be at most 1024 characters")
        } else if value.chars().any(char::is_control) {
            Some("must not have control characters")
        } else {
            None
        };
        if let Some(rule) = value_rule {
            return Err(InvalidMetric::DimensionValue {
                metric,
                dimension: name,
                rule,
            });
        }
    }
    Ok(())
}

/// One value a record's step recorded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MetricSample {
    /// The record that recorded it (its index in the batch).
    record: usize,
    metric: Metric,
    dimensions: Vec<(&'static str, String)>,
    value: f64,
}

/// What the steps of a batch recorded, under one lock.
#[derive(Debug, Default)]
struct Recorded {
    samples: Vec<MetricSample>,
    /// The names already checked (each a declaration's own text: compared
    /// by address, so a step's metric is checked once a batch, not a record).
    checked_names: Vec<&'static str>,
}

/// The values recorded by a batch's steps, with their records.
#[derive(Debug)]
pub(crate) struct RecordedMetrics {
    recorded: Mutex<Recorded>,
    /// Records in the batch: room for one value each is made at the first.
    records: usize,
}

impl RecordedMetrics {
    /// Nothing recorded yet, for a batch of `records` records.
    pub(crate) fn for_batch(records: usize) -> Self {
        RecordedMetrics {
            recorded: Mutex::default(),
            records,
        }
    }

    /// A step's recorder for the record at `record`.
    pub(crate) fn for_record(&self, record: usize) -> StepMetrics<'_> {
        StepMetrics { record, into: self }
    }

    /// The invocation's series: the values of the records `counted` accepts
    /// (the processed ones), per metric and dimensions, in first-recorded order.
    pub(crate) fn aggregate(self, counted: impl Fn(usize) -> bool) -> Vec<MetricSeries> {
        let samples = self
            .recorded
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .samples;
        let mut series: Vec<MetricSeries> = Vec::new();
        for sample in samples.into_iter().filter(|s| counted(s.record)) {
            let same_name = |s: &MetricSeries| {
                std::ptr::eq(s.metric.name, sample.metric.name) || s.metric.name == sample.metric.name
            };
            match series
                .iter_mut()
                .find(|s| same_name(s) && s.dimensions == sample.dimensions)
            {
                // A name has one declaration: the first one recorded decides how it adds up.
                Some(s) => match s.metric.aggregation {
                    Aggregation::Sum => s.values[0] += sample.value,
                    Aggregation::Distribution => s.values.push(sample.value),
                },
                None => series.push(MetricSeries {
                    metric: sample.metric,
                    dimensions: sample.dimensions,
                    values: vec![sample.value],
                }),
            }
        }
        series
    }
}

/// Checks `metric`'s name against CloudWatch's rules and the processor's own names.
fn check_metric_name(metric: &Metric) -> Result<(), InvalidMetric> {
    check_name(metric.name).map_err(|(len, rule)| InvalidMetric::Name { len, rule })?;
    let rule = if super::name::ALL.contains(&metric.name) {
        "must not be one of the processor's own metrics"
    } else if DEFAULT_DIMENSIONS.contains(&metric.name) || metric.name == EMF_DIRECTIVE {
        "must not be Service, Environment or _aws (members of every metrics line)"
    } else {
        return Ok(());
    };
    Err(InvalidMetric::Name {
        len: metric.name.len(),
        rule,
    })
}

/// Where a step records its metrics (`RecordContext::metrics`): values are
/// checked against CloudWatch's rules here, so a bad one is refused where it
/// is made, never by the sink at the end of the invocation.
#[derive(Debug)]
pub struct StepMetrics<'a> {
    record: usize,
    into: &'a RecordedMetrics,
}

impl StepMetrics<'_> {
    /// Records `value` of `metric` under the default dimensions.
    pub fn record(&self, metric: &Metric, value: f64) -> Result<(), InvalidMetric> {
        self.record_by(metric, &[], value)
    }

    /// Records `value` of `metric` under the default dimensions and
    /// `dimensions` (`[("Carrier", "UPS")]`).
    pub fn record_by(
        &self,
        metric: &Metric,
        dimensions: &[(&'static str, &str)],
        value: f64,
    ) -> Result<(), InvalidMetric> {
        check_value(metric.name, value)?;
        check_dimensions(metric.name, dimensions)?;
        let sample = MetricSample {
            record: self.record,
            metric: *metric,
            dimensions: dimensions.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
            value,
        };
        let mut recorded = self
            .into
            .recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !recorded
            .checked_names
            .iter()
            .any(|n| std::ptr::eq(*n, metric.name))
        {
            check_metric_name(metric)?;
            recorded.checked_names.push(metric.name);
        }
        if recorded.samples.capacity() == 0 {
            recorded.samples.reserve(self.into.records);
        }
        recorded.samples.push(sample);
        Ok(())
    }
}

/// One metric under one set of dimensions, for one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSeries {
    /// The metric.
    pub metric: Metric,
    /// The step's dimensions, besides the default ones, in the order given.
    pub dimensions: Vec<(&'static str, String)>,
    /// A [`Aggregation::Sum`]'s total (one value), or every value of a
    /// [`Aggregation::Distribution`] in the order recorded.
    pub values: Vec<f64>,
}

impl MetricSeries {
    /// The values as (value, count) pairs, ascending: CloudWatch's
    /// `Values`/`Counts` form, exact (equal values are counted, not rounded).
    pub fn distribution(&self) -> Vec<(f64, u32)> {
        super::value_counts(self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REJECTED: Metric = Metric::counter("OrdersRejected");
    const VALUE: Metric = Metric::distribution("OrderValue", Unit::None);
    const SHIPPED: Metric = Metric::counter("ShipmentsCreated").high_resolution();

    #[test]
    fn counters_sum_distributions_keep_every_value_and_only_counted_records_add() {
        let recorded = RecordedMetrics::for_batch(4);
        for record in 0..4 {
            let m = recorded.for_record(record);
            m.record(&REJECTED, 1.0).unwrap();
            m.record(&VALUE, 10.0 * record as f64).unwrap();
            m.record_by(
                &SHIPPED,
                &[("Carrier", if record % 2 == 0 { "UPS" } else { "DHL" })],
                1.0,
            )
            .unwrap();
        }
        let series = recorded.aggregate(|record| record != 3);
        let find = |name: &str, dims: &[(&str, &str)]| {
            series
                .iter()
                .find(|s| {
                    s.metric.name == name
                        && s.dimensions
                            .iter()
                            .map(|(n, v)| (*n, v.as_str()))
                            .eq(dims.iter().copied())
                })
                .unwrap_or_else(|| panic!("{name} {dims:?} in {series:?}"))
        };
        assert_eq!(find("OrdersRejected", &[]).values, [3.0]);
        assert_eq!(find("OrderValue", &[]).values, [0.0, 10.0, 20.0]);
        assert_eq!(find("ShipmentsCreated", &[("Carrier", "UPS")]).values, [2.0]);
        assert_eq!(find("ShipmentsCreated", &[("Carrier", "DHL")]).values, [1.0]);
        assert_eq!(series.len(), 4);
        assert_eq!(
            find("ShipmentsCreated", &[("Carrier", "UPS")]).metric.resolution,
            Resolution::High
        );
    }

    #[test]
    fn a_distribution_counts_equal_values() {
        let s = MetricSeries {
            metric: VALUE,
            dimensions: vec![],
            values: vec![9.99, 1.5, 9.99, 0.0],
        };
        assert_eq!(s.distribution(), [(0.0, 1), (1.5, 1), (9.99, 2)]);
    }

    #[test]
    fn values_and_dimensions_outside_cloudwatchs_rules_are_refused_by_rule_without_the_value() {
        let recorded = RecordedMetrics::for_batch(4);
        let m = recorded.for_record(0);
        let secret = "4111-1111-1111-1111\n";
        for (result, rule) in [
            (m.record(&VALUE, f64::NAN), "finite"),
            (m.record(&VALUE, f64::INFINITY), "finite"),
            (m.record(&VALUE, 2e108), "at most"),
            (m.record(&VALUE, 1e-200), "zero or at least"),
            (m.record(&Metric::counter(""), 1.0), "other than whitespace"),
            (m.record(&Metric::counter("Ünits"), 1.0), "printable ASCII"),
            (m.record(&Metric::counter(":x"), 1.0), "colon"),
            (m.record(&Metric::counter("BatchSize"), 1.0), "processor's own"),
            (
                m.record(&Metric::counter("Service"), 1.0),
                "Service, Environment or _aws",
            ),
            (
                m.record(&Metric::counter("_aws"), 1.0),
                "Service, Environment or _aws",
            ),
            (m.record_by(&SHIPPED, &[("_aws", "x")], 1.0), "or _aws"),
            (
                m.record_by(&SHIPPED, &[("Carrier", secret)], 1.0),
                "control characters",
            ),
            (
                m.record_by(&SHIPPED, &[("Carrier", " ")], 1.0),
                "other than whitespace",
            ),
            (
                m.record_by(&SHIPPED, &[("Service", "x")], 1.0),
                "Service, Environment",
            ),
            (
                m.record_by(&SHIPPED, &[("ShipmentsCreated", "x")], 1.0),
                "own name",
            ),
            (m.record_by(&SHIPPED, &[("A", "x"), ("A", "y")], 1.0), "twice"),
        ] {
            let error = result.expect_err(rule).to_string();
            assert!(error.contains(rule), "{error} should name the rule {rule}");
            assert!(!error.contains("4111"), "{error} shows a value");
        }
        let many: Vec<(&'static str, &str)> = (0..29)
            .map(|i| (&*Box::leak(format!("D{i}").into_boxed_str()), "x"))
            .collect();
        assert!(matches!(
            m.record_by(&SHIPPED, &many, 1.0),
            Err(InvalidMetric::TooManyDimensions { count: 29, .. })
        ));
        let long = "x".repeat(1025);
        assert!(m.record_by(&SHIPPED, &[("Carrier", &long)], 1.0).is_err());
        assert_eq!(recorded.aggregate(|_| true), [], "nothing refused was kept");
    }
}
