//! Choosing adapters from the environment, once per process.
//!
//! `ORDERFLOW_ADAPTERS=aws` (the default) uses SQS, DynamoDB, CloudWatch and
//! SNS; `embedded` uses the in-memory adapters (for `cargo lambda watch` and
//! local runs). A missing or malformed variable is a [`ConfigError`] naming it.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use orderflow_batch::BatchProcessor;
use orderflow_batch::config::{ConfigError, Env};
use orderflow_batch::metrics::{EmfMetrics, NoMetrics};
use orderflow_batch::ports::{IdempotencyStore, MessageQueue, MetricsSink};
use orderflow_batch::processor::BatchConfig;
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryOrderStore, InMemoryQueues};

use orderflow_redis::{RedisIdempotencyStore, RedisSettings};

use crate::cloudwatch::CloudWatchMetrics;
use crate::dynamodb::DynamoIdempotencyStore;
use crate::sqs::SqsQueues;

/// Variable names read here.
pub mod var {
    /// `aws` (default) or `embedded`.
    pub const ORDERFLOW_ADAPTERS: &str = "ORDERFLOW_ADAPTERS";
    /// `cloudwatch` (default with AWS adapters), `emf` or `off` (default embedded).
    pub const METRICS_SINK: &str = "METRICS_SINK";
    /// The CloudWatch namespace; default `Orderflow`.
    pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
    /// The idempotency table (required with AWS adapters and the `dynamodb` store).
    pub const IDEMPOTENCY_TABLE: &str = "IDEMPOTENCY_TABLE";
    /// Where idempotency records go: with AWS adapters `dynamodb` (the
    /// default) or `redis`; with embedded adapters `memory` (the default) or `redis`.
    pub const IDEMPOTENCY_STORE: &str = "IDEMPOTENCY_STORE";
    /// The Redis of `IDEMPOTENCY_STORE=redis`: `redis://[[user]:password@]host:port[/db]`,
    /// or `rediss://` for TLS.
    /// Never written to a log or an error (it may hold a password).
    pub const REDIS_URL: &str = "REDIS_URL";
    /// Put before every idempotency key in Redis; default `orderflow:`.
    pub const REDIS_KEY_PREFIX: &str = "REDIS_KEY_PREFIX";
    /// An SNS topic for customer messages (optional: else logged).
    pub const NOTIFICATION_TOPIC_ARN: &str = "NOTIFICATION_TOPIC_ARN";
    /// The inventory table (required with AWS adapters by steps that reserve stock).
    pub const INVENTORY_TABLE: &str = "INVENTORY_TABLE";
    /// The orders table, the order of record (required with AWS adapters by
    /// functions that keep or read orders).
    pub const ORDERS_TABLE: &str = "ORDERS_TABLE";
    /// Stock per SKU of the embedded inventory (embedded adapters only).
    pub const INVENTORY_DEFAULT_STOCK: &str = "INVENTORY_DEFAULT_STOCK";
}

/// The default metrics namespace.
const DEFAULT_NAMESPACE: &str = "Orderflow";

/// Which adapters a process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SQS, DynamoDB, CloudWatch, SNS.
    Aws,
    /// In memory.
    Embedded,
}

impl Mode {
    /// The choices of `IDEMPOTENCY_STORE`, the default first. Records only in
    /// memory would let each instance redo the others' work: AWS adapters keep
    /// them in DynamoDB or Redis.
    pub fn idempotency_stores(self) -> &'static [&'static str] {
        match self {
            Mode::Aws => &["dynamodb", "redis"],
            Mode::Embedded => &["memory", "redis"],
        }
    }
}

/// Where the processor's metrics go (`METRICS_SINK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsSinkKind {
    /// One `PutMetricData` per invocation (`cloudwatch`; the default with AWS adapters).
    CloudWatch,
    /// Embedded Metric Format lines on stdout (`emf`).
    Emf,
    /// Nowhere (`off`; the default with embedded adapters).
    Off,
}

impl MetricsSinkKind {
    /// Reads `METRICS_SINK`, defaulting by `mode`.
    pub fn from_env(env: &Env, mode: Mode) -> Result<MetricsSinkKind, ConfigError> {
        let default = match mode {
            Mode::Aws => "cloudwatch",
            Mode::Embedded => "off",
        };
        Ok(
            match env.choice_or(var::METRICS_SINK, default, &["cloudwatch", "emf", "off"])? {
                "cloudwatch" => MetricsSinkKind::CloudWatch,
                "emf" => MetricsSinkKind::Emf,
                _ => MetricsSinkKind::Off,
            },
        )
    }
}

/// The adapters every consumer needs, plus the SDK configuration in AWS mode.
#[derive(Clone)]
pub struct Adapters {
    /// Which kind these are.
    pub mode: Mode,
    /// Outgoing messages, the DLQ and visibility changes.
    pub queue: Arc<dyn MessageQueue>,
    /// The idempotency store.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The metrics sink.
    pub metrics: Arc<dyn MetricsSink>,
    /// The SDK configuration, in AWS mode.
    pub sdk: Option<SdkConfig>,
    /// The order of record when embedded: one store for the process, so a
    /// step and its inventory see the same orders.
    pub embedded_orders: Arc<InMemoryOrderStore>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Adapters {
    /// Reads `ORDERFLOW_ADAPTERS`, `METRICS_SINK`, `METRICS_NAMESPACE` and (AWS)
    /// `IDEMPOTENCY_TABLE`, and builds the adapters and SDK clients once.
    pub async fn from_env(env: &Env) -> Result<Adapters, ConfigError> {
        Self::build(env, None, true).await
    }

    /// As [`Adapters::from_env`], with every AWS client on `endpoint_url` when
    /// given (a local server; see [`crate::load_sdk_config_for_endpoint`]).
    pub async fn from_env_at(env: &Env, endpoint_url: Option<&str>) -> Result<Adapters, ConfigError> {
        Self::build(env, endpoint_url, true).await
    }

    /// Like [`Adapters::from_env`], for a function that keeps no idempotency
    /// records (`order-api`, `order-relay`), so it needs no
    /// `IDEMPOTENCY_TABLE`; its `idempotency` store is an in-memory one that
    /// nothing uses.
    pub async fn without_idempotency_from_env(env: &Env) -> Result<Adapters, ConfigError> {
        Self::build(env, None, false).await
    }

    async fn build(
        env: &Env,
        endpoint_url: Option<&str>,
        needs_idempotency: bool,
    ) -> Result<Adapters, ConfigError> {
        let mode = match env.choice_or(var::ORDERFLOW_ADAPTERS, "aws", &["aws", "embedded"])? {
            "embedded" => Mode::Embedded,
            _ => Mode::Aws,
        };
        let sink = MetricsSinkKind::from_env(env, mode)?;
        let namespace = env
            .optional(var::METRICS_NAMESPACE)
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let sdk = if mode == Mode::Aws || sink == MetricsSinkKind::CloudWatch {
            Some(match endpoint_url {
                Some(url) => crate::load_sdk_config_for_endpoint(url).await,
                None => crate::load_sdk_config().await,
            })
        } else {
            None
        };
        let metrics: Arc<dyn MetricsSink> = match (sink, &sdk) {
            (MetricsSinkKind::CloudWatch, Some(sdk)) => {
                Arc::new(CloudWatchMetrics::new(metrics_client(sdk), namespace))
            }
            (MetricsSinkKind::Emf, _) => Arc::new(EmfMetrics::stdout(namespace)),
            _ => Arc::new(NoMetrics),
        };
        let queue: Arc<dyn MessageQueue> = match (mode, &sdk) {
            (Mode::Aws, Some(sdk)) => Arc::new(SqsQueues::new(aws_sdk_sqs::Client::new(sdk))),
            _ => Arc::new(InMemoryQueues::new()),
        };
        let stores = mode.idempotency_stores();
        let idempotency: Arc<dyn IdempotencyStore> = if needs_idempotency {
            let store = env.choice_or(var::IDEMPOTENCY_STORE, stores[0], stores)?;
            match (store, mode, &sdk) {
                ("redis", _, _) => redis_store(env).await?,
                ("dynamodb", Mode::Aws, Some(sdk)) => {
                    let table = env.required(var::IDEMPOTENCY_TABLE, "the idempotency table's name")?;
                    Arc::new(DynamoIdempotencyStore::new(
                        aws_sdk_dynamodb::Client::new(sdk),
                        table,
                    ))
                }
                _ => Arc::new(InMemoryIdempotencyStore::new()),
            }
        } else {
            Arc::new(InMemoryIdempotencyStore::new())
        };
        Ok(Adapters {
            mode,
            queue,
            idempotency,
            metrics,
            sdk: if mode == Mode::Aws { sdk } else { None },
            embedded_orders: Arc::new(InMemoryOrderStore::new()),
        })
    }

    /// The batch processor with `config` over these adapters.
    pub fn processor(&self, config: BatchConfig) -> BatchProcessor {
        BatchProcessor::new(
            config,
            Arc::clone(&self.queue),
            Arc::clone(&self.idempotency),
            Arc::clone(&self.metrics),
        )
    }
}

/// The idempotency store on the Redis at `REDIS_URL`, connected now: a
/// Redis that cannot be reached stops the start, naming the variable but not
/// its value.
async fn redis_store(env: &Env) -> Result<Arc<dyn IdempotencyStore>, ConfigError> {
    let url = env.required(
        var::REDIS_URL,
        "the Redis URL, redis://[[user]:password@]host:port[/db] or rediss:// for TLS",
    )?;
    let defaults = RedisSettings::default();
    let settings = RedisSettings {
        key_prefix: env.optional(var::REDIS_KEY_PREFIX).unwrap_or(defaults.key_prefix),
        retention: Duration::from_secs(env.integer_or(
            orderflow_batch::config::var::IDEMPOTENCY_TTL_SECONDS,
            defaults.retention.as_secs(),
            60..=31_536_000,
        )?),
        ..defaults
    };
    match RedisIdempotencyStore::connect(&url, settings).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) => Err(ConfigError::Unusable {
            name: var::REDIS_URL.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// A CloudWatch client that gives up quickly: metrics must never hold an invocation.
fn metrics_client(sdk: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_millis(800))
                .build(),
        )
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}
