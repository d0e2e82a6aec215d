//! The one start every function's `main` calls: logging, settings, adapters
//! from the environment, the step built over its ports, then serving. A
//! setting that is missing or malformed stops the start with a
//! [`StartError`] naming the function and the variable, before any
//! invocation is taken.

use std::sync::Arc;

use orderflow_batch::RecordStep;
use orderflow_batch::config::{ConfigError, Env, batch_config};
use orderflow_batch::ports::MessageQueue;
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
    orderflow_batch::telemetry::init("info");
    let env = Env::from_process();
    let error = |source| StartError { function, source };
    let config = batch_config(&env, function).map_err(error)?;
    let adapters = Adapters::from_env(&env).await.map_err(error)?;
    let step = build(&EnvPorts::new(&env, &adapters)).map_err(error)?;
    orderflow_batch::lambda::serve(adapters.processor(config), step).await
}

/// Starts a function that only sends messages (no idempotency records):
/// logging, the queue adapter and what `build` makes of the ports.
pub async fn start_sender<C>(
    function: &'static str,
    build: impl FnOnce(&dyn StepPorts) -> Result<C, ConfigError>,
) -> Result<(Arc<dyn MessageQueue>, C), StartError> {
    orderflow_batch::telemetry::init("info");
    let env = Env::from_process();
    let error = |source| StartError { function, source };
    let adapters = Adapters::sender_from_env(&env).await.map_err(error)?;
    let built = build(&EnvPorts::new(&env, &adapters)).map_err(error)?;
    Ok((adapters.queue, built))
}
