//! The `notification` Lambda function: reads its settings, wires adapters, serves.

use anyhow::Context;
use notification::{STEP, step_from_env};
use orderflow_aws::wiring::Adapters;
use orderflow_batch::config::{Env, batch_config};

/// mimalloc: small allocations are most of the per-record work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_batch::telemetry::init("info");
    let env = Env::from_process();
    let config = batch_config(&env, STEP).context("notification cannot start")?;
    let adapters = Adapters::from_env(&env)
        .await
        .context("notification cannot start")?;
    let step = step_from_env(&env, &adapters).context("notification cannot start")?;
    orderflow_batch::lambda::serve(adapters.processor(config), step)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
