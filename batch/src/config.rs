//! Settings read once at cold start from the environment.
//!
//! A missing or malformed variable is a [`ConfigError`] naming the variable and
//! what it should hold; `main` prints it and exits before serving any
//! invocation, instead of panicking inside a handler.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::processor::{Backoff, BatchConfig, FifoFailureMode, MAX_VISIBILITY_SECONDS};

/// A variable is missing or cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {name} is not set: {expected}")]
    Missing {
        /// The variable.
        name: String,
        /// What it should hold.
        expected: String,
    },
    /// A variable whose value must not be shown (it may hold a secret) is
    /// unusable.
    #[error("environment variable {name} is unusable: {reason}")]
    Unusable {
        /// The variable.
        name: String,
        /// Why, without the value.
        reason: String,
    },
    /// A variable is set to something unusable.
    #[error("environment variable {name}={value:?} is invalid: expected {expected}")]
    Invalid {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What it should hold.
        expected: String,
    },
}

/// The variables to read: the process environment, or a map in tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// A fixed set of variables.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The value of `name`, when set and not empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    /// The value of `name`, or an error saying what it should hold.
    pub fn required(&self, name: &str, expected: &str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
            expected: expected.to_owned(),
        })
    }

    /// `name` parsed, or `default` when unset.
    fn parse_or<T: FromStr>(&self, name: &str, default: T, expected: &str) -> Result<T, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(value) => value.trim().parse().map_err(|_| invalid(name, &value, expected)),
        }
    }

    /// An integer within `range`, or `default` when unset.
    pub fn integer_or(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let value = self.parse_or(name, default, &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(invalid(name, &value.to_string(), &expected))
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), or `default` when unset.
    fn boolean_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(invalid(name, &value, "true or false")),
            },
        }
    }

    /// One of `choices` (case-insensitive), or `default` when unset.
    pub fn choice_or(
        &self,
        name: &str,
        default: &'static str,
        choices: &[&'static str],
    ) -> Result<&'static str, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(value) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(value.trim()))
                .copied()
                .ok_or_else(|| invalid(name, &value, &format!("one of {}", choices.join(", ")))),
        }
    }
}

fn invalid(name: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Variable names of the batch processor's settings.
pub mod var {
    /// `Environment` metric dimension: development, staging or production.
    pub const ENVIRONMENT: &str = "ENVIRONMENT";
    /// `Service` metric dimension; defaults to the function's name.
    pub const SERVICE_NAME: &str = "SERVICE_NAME";
    /// Most records (or FIFO groups) in flight at once.
    pub const MAX_CONCURRENCY: &str = "MAX_CONCURRENCY";
    /// `skip-group` or `stop-batch`.
    pub const FIFO_FAILURE_MODE: &str = "FIFO_FAILURE_MODE";
    /// Milliseconds before the deadline by which the handler has answered.
    pub const DEADLINE_MARGIN_MS: &str = "DEADLINE_MARGIN_MS";
    /// Milliseconds kept for settling the batch: no record starts once less
    /// than the margin and this are left.
    pub const SETTLEMENT_RESERVE_MS: &str = "SETTLEMENT_RESERVE_MS";
    /// Whether an all-retryable-failure batch fails the invocation.
    pub const FAIL_ON_ALL_RETRYABLE: &str = "FAIL_ON_ALL_RETRYABLE";
    /// The source queue's dead-letter queue URL; enables the DLQ fast path.
    pub const DLQ_URL: &str = "DLQ_URL";
    /// The source queue's `maxReceiveCount` (1 to 1000): a record failing
    /// retryably on that receive is dead-lettered with `RetriesExhausted`.
    /// Unset: the queue's redrive moves it, without a reason.
    pub const MAX_RECEIVE_COUNT: &str = "MAX_RECEIVE_COUNT";
    /// Whether retryable failures get a backed-off visibility timeout.
    pub const VISIBILITY_BACKOFF: &str = "VISIBILITY_BACKOFF";
    /// First retry's backoff ceiling, seconds.
    pub const BACKOFF_BASE_SECONDS: &str = "BACKOFF_BASE_SECONDS";
    /// Largest backoff, seconds (at most 43200).
    pub const BACKOFF_CAP_SECONDS: &str = "BACKOFF_CAP_SECONDS";
    /// How long completed idempotency records are kept, seconds.
    pub const IDEMPOTENCY_TTL_SECONDS: &str = "IDEMPOTENCY_TTL_SECONDS";
    /// Longest wait for the metrics sink, milliseconds.
    pub const METRICS_TIMEOUT_MS: &str = "METRICS_TIMEOUT_MS";
    /// Whether every metric is kept per second (`true`) or per minute.
    pub const METRICS_HIGH_RESOLUTION: &str = "METRICS_HIGH_RESOLUTION";
    /// A custom endpoint for every AWS service (local servers).
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    /// A custom SQS endpoint; wins over `AWS_ENDPOINT_URL`.
    pub const AWS_ENDPOINT_URL_SQS: &str = "AWS_ENDPOINT_URL_SQS";

    /// Every variable [`super::batch_config`] reads (all optional).
    pub const BATCH: &[&str] = &[
        ENVIRONMENT,
        SERVICE_NAME,
        MAX_CONCURRENCY,
        FIFO_FAILURE_MODE,
        DEADLINE_MARGIN_MS,
        SETTLEMENT_RESERVE_MS,
        FAIL_ON_ALL_RETRYABLE,
        DLQ_URL,
        MAX_RECEIVE_COUNT,
        VISIBILITY_BACKOFF,
        BACKOFF_BASE_SECONDS,
        BACKOFF_CAP_SECONDS,
        IDEMPOTENCY_TTL_SECONDS,
        METRICS_TIMEOUT_MS,
        METRICS_HIGH_RESOLUTION,
        AWS_ENDPOINT_URL,
        AWS_ENDPOINT_URL_SQS,
    ];
}

/// The batch processor's settings for the function `service`.
pub fn batch_config(env: &Env, service: &str) -> Result<BatchConfig, ConfigError> {
    let defaults = BatchConfig::default();
    let fifo_failure_mode = match env.choice_or(
        var::FIFO_FAILURE_MODE,
        "skip-group",
        &["skip-group", "stop-batch"],
    )? {
        "stop-batch" => FifoFailureMode::StopBatch,
        _ => FifoFailureMode::SkipGroup,
    };
    let backoff = if env.boolean_or(var::VISIBILITY_BACKOFF, true)? {
        let base = env.integer_or(
            var::BACKOFF_BASE_SECONDS,
            2,
            1..=u64::from(MAX_VISIBILITY_SECONDS),
        )?;
        let cap = env.integer_or(
            var::BACKOFF_CAP_SECONDS,
            900,
            base..=u64::from(MAX_VISIBILITY_SECONDS),
        )?;
        Some(Backoff {
            base_seconds: u32::try_from(base).unwrap_or(MAX_VISIBILITY_SECONDS),
            cap_seconds: u32::try_from(cap).unwrap_or(MAX_VISIBILITY_SECONDS),
        })
    } else {
        None
    };
    Ok(BatchConfig {
        service: env
            .optional(var::SERVICE_NAME)
            .unwrap_or_else(|| service.to_owned()),
        environment: env
            .choice_or(
                var::ENVIRONMENT,
                "development",
                &["development", "staging", "production"],
            )?
            .to_owned(),
        max_concurrency: usize::try_from(env.integer_or(
            var::MAX_CONCURRENCY,
            defaults.max_concurrency as u64,
            1..=1000,
        )?)
        .unwrap_or(defaults.max_concurrency),
        fifo_failure_mode,
        deadline_margin: Duration::from_millis(env.integer_or(var::DEADLINE_MARGIN_MS, 2000, 0..=600_000)?),
        settlement_reserve: Duration::from_millis(env.integer_or(
            var::SETTLEMENT_RESERVE_MS,
            1000,
            0..=600_000,
        )?),
        error_when_all_retryable: env.boolean_or(var::FAIL_ON_ALL_RETRYABLE, true)?,
        dead_letter_queue_url: env.optional(var::DLQ_URL),
        visibility_backoff: backoff,
        max_receive_count: match env.optional(var::MAX_RECEIVE_COUNT) {
            None => None,
            Some(_) => u32::try_from(env.integer_or(var::MAX_RECEIVE_COUNT, 0, 1..=1000)?).ok(),
        },
        idempotency_ttl: Duration::from_secs(env.integer_or(
            var::IDEMPOTENCY_TTL_SECONDS,
            86_400,
            60..=31_536_000,
        )?),
        send_retry: defaults.send_retry,
        metrics_timeout: Duration::from_millis(env.integer_or(var::METRICS_TIMEOUT_MS, 1000, 10..=10_000)?),
        high_resolution_metrics: env.boolean_or(var::METRICS_HIGH_RESOLUTION, false)?,
        sqs_endpoint_url: env
            .optional(var::AWS_ENDPOINT_URL_SQS)
            .or_else(|| env.optional(var::AWS_ENDPOINT_URL)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_variables() {
        let config = batch_config(&Env::default(), "inventory").unwrap();
        assert_eq!(config.service, "inventory");
        assert_eq!(config.environment, "development");
        assert_eq!(config.max_concurrency, 10);
        assert_eq!(config.dead_letter_queue_url, None);
        assert_eq!(config.max_receive_count, None, "the queue's redrive decides");
        assert!(!config.high_resolution_metrics, "per minute unless asked");
    }

    #[test]
    fn variables_override_defaults() {
        let env = Env::from_pairs([
            ("ENVIRONMENT", "production"),
            ("MAX_CONCURRENCY", "4"),
            ("FIFO_FAILURE_MODE", "STOP-BATCH"),
            ("DLQ_URL", "https://sqs/1/orders-dlq"),
            ("VISIBILITY_BACKOFF", "off"),
            ("MAX_RECEIVE_COUNT", "5"),
            ("METRICS_HIGH_RESOLUTION", "true"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        let config = batch_config(&env, "inventory").unwrap();
        assert_eq!(config.environment, "production");
        assert_eq!(config.max_concurrency, 4);
        assert_eq!(config.fifo_failure_mode, FifoFailureMode::StopBatch);
        assert_eq!(
            config.dead_letter_queue_url.as_deref(),
            Some("https://sqs/1/orders-dlq")
        );
        assert_eq!(config.visibility_backoff, None);
        assert_eq!(config.max_receive_count, Some(5));
        assert!(config.high_resolution_metrics);
        assert_eq!(config.sqs_endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_expectation() {
        let err = batch_config(&Env::from_pairs([("MAX_CONCURRENCY", "lots")]), "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable MAX_CONCURRENCY=\"lots\" is invalid: expected an integer from 1 to 1000"
        );
        let err = batch_config(&Env::from_pairs([("MAX_CONCURRENCY", "0")]), "x").unwrap_err();
        assert!(err.to_string().contains("MAX_CONCURRENCY"));
        for count in ["0", "1001", "five"] {
            let err = batch_config(&Env::from_pairs([("MAX_RECEIVE_COUNT", count)]), "x").unwrap_err();
            assert!(
                err.to_string().ends_with("expected an integer from 1 to 1000"),
                "{err}"
            );
        }
        let err = batch_config(&Env::from_pairs([("ENVIRONMENT", "prod")]), "x").unwrap_err();
        assert!(
            err.to_string()
                .contains("one of development, staging, production"),
            "{err}"
        );
        let err = batch_config(&Env::from_pairs([("BACKOFF_CAP_SECONDS", "50000")]), "x").unwrap_err();
        assert!(err.to_string().contains("BACKOFF_CAP_SECONDS"), "{err}");
        let err = Env::default()
            .required("INVENTORY_QUEUE_URL", "the inventory queue's URL")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable INVENTORY_QUEUE_URL is not set: the inventory queue's URL"
        );
    }
}
