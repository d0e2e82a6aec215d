//! The one start every function's `main` calls: logging, settings, adapters
//! from the environment, the step built over its ports, then serving. A
//! setting that is missing or malformed stops the start with a
//! [`StartError`] naming the function and the variable, before any
//! invocation is taken.

use std::sync::Arc;

use orderflow_batch::RecordStep;
use orderflow_batch::config::{ConfigError, Env, batch_config};
use orderflow_batch::no_idempotency::NoIdempotency;
use orderflow_batch::processor::BatchProcessor;
use orderflow_batch::stream_source::StreamRecord;
use orderflow_orders::ports::StepPorts;

use crate::step_ports::EnvPorts;
use crate::wiring::Adapters;

/// A function could not start.
#[derive(Debug, thiserror::Error)]
#[error("{function} cannot start: {source}")]
pub struct StartError {
    /// The function.
    pub function: &'static str,
    /// The setting at fault.
    #[source]
    pub source: ConfigError,
}

/// Serves the SQS consumer `function` until the runtime stops: the step
/// `build` makes over the environment's ports, under the batch processor its
/// settings describe.
pub async fn serve_consumer<S>(
    function: &'static str,
    build: impl FnOnce(&dyn StepPorts) -> Result<S, ConfigError>,
) -> Result<(), lambda_runtime::Error>
where
    S: RecordStep + 'static,
{
    init_telemetry(function);
    let env = Env::from_process();
    let error = |source| StartError { function, source };
    let config = batch_config(&env, function).map_err(error)?;
    let adapters = Adapters::from_env(&env).await.map_err(error)?;
    let step = build(&EnvPorts::new(&env, &adapters)).map_err(error)?;
    orderflow_batch::lambda::serve(adapters.processor(config), step).await
}

/// Serves the DynamoDB Streams consumer `function` until the runtime stops:
/// the step `build` makes, under a batch processor that keeps no idempotency
/// records ([`NoIdempotency`]: the step's effects must be harmless to
/// repeat, as a retried stream batch repeats them), so it needs no
/// `IDEMPOTENCY_TABLE`.
pub async fn serve_stream_consumer<S>(
    function: &'static str,
    build: impl FnOnce(&dyn StepPorts) -> Result<S, ConfigError>,
) -> Result<(), lambda_runtime::Error>
where
    S: RecordStep<dyn StreamRecord> + 'static,
{
    init_telemetry(function);
    let env = Env::from_process();
    let error = |source| StartError { function, source };
    let config = batch_config(&env, function).map_err(error)?;
    let adapters = Adapters::without_idempotency_from_env(&env)
        .await
        .map_err(error)?;
    let step = build(&EnvPorts::new(&env, &adapters)).map_err(error)?;
    let processor = BatchProcessor::new(config, adapters.queue, Arc::new(NoIdempotency), adapters.metrics);
    orderflow_batch::lambda::serve_stream(processor, step).await
}

/// Starts a function that is not a batch consumer (`order-api`): logging,
/// the adapters without idempotency records, and what `build` makes of the
/// ports.
pub async fn start<C>(
    function: &'static str,
    build: impl FnOnce(&dyn StepPorts) -> Result<C, ConfigError>,
) -> Result<C, StartError> {
    init_telemetry(function);
    let env = Env::from_process();
    let error = |source| StartError { function, source };
    let adapters = Adapters::without_idempotency_from_env(&env)
        .await
        .map_err(error)?;
    build(&EnvPorts::new(&env, &adapters)).map_err(error)
}

/// Logging for `function`, with the OpenTelemetry exporter beside it when the
/// build has it (the `otel` feature) and an OTLP endpoint is set. A setting
/// the exporter cannot honour is logged and leaves it off: the function's
/// work does not depend on its traces.
#[cfg(feature = "otel")]
fn init_telemetry(function: &'static str) {
    let exporter = orderflow_otel::OtlpSettings::from_env(function)
        .and_then(|settings| settings.as_ref().map(orderflow_otel::install).transpose());
    match exporter {
        Ok(layer) => orderflow_batch::telemetry::init_with(function, "info", layer),
        Err(e) => {
            orderflow_batch::telemetry::init(function, "info");
            tracing::warn!(error = %e, "spans are not exported");
        }
    }
}

/// Logging for `function`. This build has no OpenTelemetry exporter: an
/// OTLP endpoint set for it is logged as such rather than ignored.
#[cfg(not(feature = "otel"))]
fn init_telemetry(function: &'static str) {
    orderflow_batch::telemetry::init(function, "info");
    let endpoints = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ];
    if endpoints.iter().any(|v| std::env::var_os(v).is_some()) {
        tracing::warn!(
            "an OTLP endpoint is set, but this build has no OpenTelemetry exporter: build the function with its otel feature"
        );
    }
}
