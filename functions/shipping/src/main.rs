//! The `shipping` Lambda function: reads its settings, wires adapters, serves.

use anyhow::Context;
use orderflow_aws::wiring::Adapters;
use orderflow_batch::config::{Env, batch_config};
use shipping::{STEP, step_from_env};

/// mimalloc: small allocations are most of the per-record work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_batch::telemetry::init("info");
    let env = Env::from_process();
    let config = batch_config(&env, STEP).context("shipping cannot start")?;
    let adapters = Adapters::from_env(&env).await.context("shipping cannot start")?;
    let step = step_from_env(&env, &adapters).context("shipping cannot start")?;
    orderflow_batch::lambda::serve(adapters.processor(config), step)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
