//! The function's handler, built from its environment as its Lambda builds
//! it, and the queue client it consumes with.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_aws::sqs::SqsQueues;
use orderflow_aws::step_ports::EnvPorts;
use orderflow_aws::wiring::{self, Adapters, Mode};
use orderflow_batch::BatchProcessor;
use orderflow_batch::config::{ConfigError, Env, batch_config};
use orderflow_batch::processor::RecordStep;
use orderflow_embedded::poller::{BatchHandler, ProcessorHandler};

use super::error::ConsumeError;
use super::settings::{ConsumeSpec, INVOCATION_TIMEOUT};
use crate::invoke::Function;

/// The handler and the queue client, built from the environment before any
/// call to AWS.
pub struct Prepared {
    /// The function's handler, as the Lambda runs it.
    pub handler: Arc<dyn BatchHandler>,
    /// Receives, deletes and visibility changes on the source queue.
    pub queues: SqsQueues,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

/// Reads the function's environment (as its Lambda does) and builds its
/// handler. AWS adapters only: messages taken from a real queue must go on to
/// real queues and tables.
pub async fn prepare(spec: &ConsumeSpec, env: &Env) -> Result<Prepared, ConsumeError> {
    let function = spec.function.name();
    let config_error = |source| ConsumeError::Config { function, source };
    let mut config = batch_config(env, function).map_err(config_error)?;
    if let Some(url) = &spec.endpoint_url {
        config.sqs_endpoint_url = Some(url.clone());
    }
    let adapters = Adapters::from_env_at(env, spec.endpoint_url.as_deref())
        .await
        .map_err(config_error)?;
    let sdk = match (adapters.mode, &adapters.sdk) {
        (Mode::Aws, Some(sdk)) => sdk.clone(),
        _ => {
            return Err(config_error(ConfigError::Invalid {
                name: wiring::var::ORDERFLOW_ADAPTERS.to_owned(),
                value: env
                    .optional(wiring::var::ORDERFLOW_ADAPTERS)
                    .unwrap_or_default(),
                expected: "aws (consume takes messages from a real queue, so their results must go to real queues and tables)"
                    .to_owned(),
            }));
        }
    };
    let processor = adapters.processor(config);
    let ports = EnvPorts::new(env, &adapters);
    let handler = match spec.function {
        Function::Inventory => processor_handler(processor, inventory::step(&ports).map_err(config_error)?),
        Function::Shipping => processor_handler(processor, shipping::step(&ports).map_err(config_error)?),
        Function::Notification => {
            processor_handler(processor, notification::step(&ports).map_err(config_error)?)
        }
        Function::OrderApi | Function::OrderRelay => {
            return Err(ConsumeError::NotAConsumer(spec.function.name()));
        }
    };
    let handler = match spec.simulated_latency {
        Some(latency) if !latency.is_zero() => Arc::new(Delayed {
            inner: handler,
            latency,
        }),
        _ => handler,
    };
    Ok(Prepared {
        handler,
        queues: SqsQueues::new(aws_sdk_sqs::Client::new(&sdk)),
    })
}

fn processor_handler<S: RecordStep + 'static>(processor: BatchProcessor, step: S) -> Arc<dyn BatchHandler> {
    Arc::new(ProcessorHandler {
        processor,
        step,
        timeout: INVOCATION_TIMEOUT,
    })
}

/// A handler held `latency` before it runs (the hidden `--simulate-latency-ms`).
struct Delayed {
    inner: Arc<dyn BatchHandler>,
    latency: Duration,
}

#[async_trait]
impl BatchHandler for Delayed {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        tokio::time::sleep(self.latency).await;
        self.inner.invoke(event).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::DEFAULT_CONCURRENCY;
    use super::*;

    fn spec(function: Function) -> ConsumeSpec {
        ConsumeSpec {
            function,
            queue_url: "http://127.0.0.1:1/123456789012/work".to_owned(),
            concurrency: DEFAULT_CONCURRENCY,
            endpoint_url: Some("http://127.0.0.1:1".to_owned()),
            simulated_latency: None,
        }
    }

    async fn config_error(function: Function, vars: &[(&str, &str)]) -> String {
        let env = Env::from_pairs(vars.iter().copied());
        let error = prepare(&spec(function), &env).await.unwrap_err();
        assert_eq!(error.exit_code(), 2, "{error}");
        error.to_string()
    }

    #[tokio::test]
    async fn config_errors_name_the_variable() {
        let aws = ("ORDERFLOW_ADAPTERS", "aws");
        let no_metrics = ("METRICS_SINK", "off");
        let table = ("IDEMPOTENCY_TABLE", "idempotency");

        let error = config_error(Function::Shipping, &[aws, no_metrics]).await;
        assert_eq!(
            error,
            "shipping cannot start: environment variable IDEMPOTENCY_TABLE is not set: the idempotency table's name"
        );
        let error = config_error(Function::Shipping, &[aws, no_metrics, table]).await;
        assert!(error.contains("NOTIFICATIONS_QUEUE_URL"), "{error}");
        let error = config_error(Function::Inventory, &[aws, no_metrics, table]).await;
        assert!(error.contains("INVENTORY_QUEUE_URL"), "{error}");
        let error = config_error(
            Function::Notification,
            &[aws, no_metrics, table, ("MAX_CONCURRENCY", "0")],
        )
        .await;
        assert!(error.contains("MAX_CONCURRENCY"), "{error}");
        let error = config_error(Function::Notification, &[("ORDERFLOW_ADAPTERS", "embedded")]).await;
        assert!(error.contains("ORDERFLOW_ADAPTERS=\"embedded\""), "{error}");

        let error = config_error(Function::Notification, &[aws, no_metrics, table]).await;
        assert!(error.contains("ORDERS_TABLE"), "{error}");
        let env = Env::from_pairs([aws, no_metrics, table, ("ORDERS_TABLE", "orders")]);
        assert!(prepare(&spec(Function::Notification), &env).await.is_ok());
    }
}
