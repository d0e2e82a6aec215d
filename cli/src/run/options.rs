//! What to run: the command's flags, and the checks that refuse a run SQS or
//! Lambda would refuse.

use std::time::Duration;

use super::error::RunError;
use super::settings;
use crate::ranges::{Fraction, WholeNumber, check_fraction, check_whole_number};

/// The visibility timeouts SQS accepts: up to 12 hours.
pub const VISIBILITY_TIMEOUT_RANGE: WholeNumber = WholeNumber::seconds(0, 43_200);

/// Where the run's orders enter the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entry {
    /// `POST /orders` to order-api's handler, which keeps each order on
    /// record; the relay publishes it from the table's change stream. Broken
    /// orders are refused with 400 there.
    #[default]
    Api,
    /// Straight onto the orders queue, as `orderflow send` does (no API, no
    /// relay): broken orders end in the orders DLQ, and each valid order is
    /// recorded by its first stage.
    Queue,
}

/// What to run.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct RunSpec {
    /// Orders to send through the pipeline.
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
    /// FIFO queues everywhere (each customer's orders in order).
    #[arg(long)]
    pub fifo: bool,
    /// Where orders enter: order-api and the relay, or the orders queue.
    #[arg(long, value_enum, default_value_t = Entry::Api)]
    pub entry: Entry,
    /// Probability that a step attempt fails with a transient error (0 to 1). Faults
    /// clear before a message's last allowed receive, as transient faults do.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = Fraction)]
    pub fail_rate: f64,
    /// Fraction of orders whose body breaks the contract (0 to 1; they must end in the orders DLQ).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = Fraction)]
    pub poison_rate: f64,
    /// Probability that an invocation dies mid-batch, as a timeout or a panic would (0 to 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = Fraction)]
    pub crash_rate: f64,
    /// Seed of the orders and of the faults: the same seed, the same run.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Units of stock per SKU (200 SKUs); orders beyond it are rejected for stock.
    #[arg(long, default_value_t = 500)]
    pub stock: u32,
    /// Run against this SQS endpoint (moto, LocalStack, AWS) with the AWS
    /// adapters, in real time.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Keep idempotency records, stock and the orders table in DynamoDB on
    /// this endpoint (else in memory); the relay reads the table's stream there.
    #[arg(long, requires = "endpoint_url")]
    pub dynamodb_endpoint_url: Option<String>,
    /// Keep the functions' idempotency records in the Redis at this URL
    /// (`redis://host:port`, `rediss://` for TLS) instead of memory (or DynamoDB).
    #[arg(long, value_name = "REDIS_URL")]
    pub idempotency: Option<String>,
    /// The source queues' visibility timeout, seconds (default: the template's
    /// 185): at least the functions' timeout (30), at most SQS's 43200.
    #[arg(long, allow_negative_numbers = true, value_parser = VISIBILITY_TIMEOUT_RANGE.parser::<u64>())]
    pub visibility_timeout: Option<u64>,
    /// Give up after this long (seconds of the run's clock), counting what is left as lost.
    #[arg(long, default_value_t = 7200)]
    pub max_seconds: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl RunSpec {
    /// A run of `orders` orders with no faults, on the embedded broker.
    pub fn embedded(orders: usize) -> Self {
        RunSpec {
            orders,
            fifo: false,
            entry: Entry::Api,
            fail_rate: 0.0,
            poison_rate: 0.0,
            crash_rate: 0.0,
            seed: 7,
            stock: 500,
            endpoint_url: None,
            dynamodb_endpoint_url: None,
            idempotency: None,
            visibility_timeout: None,
            max_seconds: 7200,
            json: false,
        }
    }

    /// Checks the flags' ranges, as the command line does, and refuses what
    /// SQS or Lambda would: a visibility timeout beyond SQS's 12 hours, or
    /// below the functions' timeout.
    pub fn validate(&self) -> Result<(), RunError> {
        check_fraction("fail-rate", self.fail_rate)?;
        check_fraction("poison-rate", self.poison_rate)?;
        check_fraction("crash-rate", self.crash_rate)?;
        if self
            .idempotency
            .as_deref()
            .is_some_and(|url| !(url.starts_with("redis://") || url.starts_with("rediss://")))
        {
            return Err(RunError::IdempotencyNotRedis);
        }
        if let Some(seconds) = self.visibility_timeout {
            check_whole_number("visibility-timeout", seconds, &VISIBILITY_TIMEOUT_RANGE)?;
            if seconds < settings::FUNCTION_TIMEOUT.as_secs() {
                return Err(RunError::VisibilityBelowFunctionTimeout);
            }
        }
        Ok(())
    }

    /// The source queues' visibility timeout: the flag's, else the template's.
    pub(super) fn visibility(&self) -> Duration {
        self.visibility_timeout
            .map_or(settings::VISIBILITY_TIMEOUT, Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_timeouts_that_sqs_or_lambda_refuse_are_refused() {
        let with = |seconds| RunSpec {
            visibility_timeout: Some(seconds),
            ..RunSpec::embedded(10)
        };
        for seconds in [0, 29] {
            assert_eq!(
                with(seconds).validate().map_err(|e| e.to_string()),
                Err(
                    "--visibility-timeout must be at least the functions' timeout (30 seconds): \
                     Lambda maps no queue whose messages would come back while its function may still run"
                        .to_owned()
                ),
                "{seconds}"
            );
        }
        let error = with(43_201).validate().unwrap_err().to_string();
        assert_eq!(
            error,
            "--visibility-timeout must be a whole number of seconds from 0 to 43200"
        );
        assert!(with(30).validate().is_ok() && with(43_200).validate().is_ok());
        assert!(RunSpec::embedded(10).validate().is_ok());
    }
}
