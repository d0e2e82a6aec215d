//! The `inventory` Lambda function: reads its settings, wires adapters, serves.

use std::sync::Arc;

use anyhow::Context;
use inventory::{EMBEDDED_DEFAULT_STOCK, InventoryStep, Routes, STEP, var};
use orderflow_aws::dynamodb::DynamoInventory;
use orderflow_aws::wiring::Adapters;
use orderflow_shared::BatchProcessor;
use orderflow_shared::config::{Env, batch_config};
use orderflow_shared::memory::InMemoryInventory;
use orderflow_shared::pipeline::{INVENTORY, NOTIFICATIONS};
use orderflow_shared::ports::InventoryStore;

/// mimalloc: small allocations are most of the per-record work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_shared::telemetry::init("info");
    let env = Env::from_process();
    let config = batch_config(&env, STEP).context("inventory cannot start")?;
    let adapters = Adapters::from_env(&env).await.context("inventory cannot start")?;
    let routes = Routes {
        reserved: adapters.queue_url(&env, var::INVENTORY_QUEUE_URL, INVENTORY)?,
        rejected: adapters.queue_url(&env, var::NOTIFICATIONS_QUEUE_URL, NOTIFICATIONS)?,
    };
    let inventory: Arc<dyn InventoryStore> = match &adapters.sdk {
        Some(sdk) => Arc::new(DynamoInventory::new(
            aws_sdk_dynamodb::Client::new(sdk),
            env.required(var::INVENTORY_TABLE, "the inventory table's name")?,
        )),
        None => {
            let stock = env.integer_or(
                var::INVENTORY_DEFAULT_STOCK,
                EMBEDDED_DEFAULT_STOCK.into(),
                0..=u32::MAX.into(),
            )?;
            Arc::new(InMemoryInventory::new(u32::try_from(stock)?))
        }
    };
    let processor = BatchProcessor::new(config, adapters.queue, adapters.idempotency, adapters.metrics);
    orderflow_shared::lambda::serve(processor, InventoryStep::new(inventory, routes))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
