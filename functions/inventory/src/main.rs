//! The `inventory` Lambda function: reads its settings, wires adapters, serves.

use std::sync::Arc;

use anyhow::Context;
use inventory::{EMBEDDED_DEFAULT_STOCK, InventoryStep, Routes, STEP};
use orderflow_shared::BatchProcessor;
use orderflow_shared::config::{Env, batch_config};
use orderflow_shared::memory::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryQueues};
use orderflow_shared::metrics::NoMetrics;
use orderflow_shared::pipeline::{INVENTORY, NOTIFICATIONS, embedded_queue_url};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_shared::telemetry::init("info");
    let env = Env::from_process();
    let config = batch_config(&env, STEP).context("inventory cannot start")?;
    let url = |name: &str, default: &str| env.optional(name).unwrap_or_else(|| embedded_queue_url(default));
    let routes = Routes {
        reserved: url("INVENTORY_QUEUE_URL", INVENTORY).into(),
        rejected: url("NOTIFICATIONS_QUEUE_URL", NOTIFICATIONS).into(),
    };
    let stock = env
        .integer_or(
            "INVENTORY_DEFAULT_STOCK",
            u64::from(EMBEDDED_DEFAULT_STOCK),
            0..=u64::from(u32::MAX),
        )
        .context("inventory cannot start")?;
    let processor = BatchProcessor::new(
        config,
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let inventory = Arc::new(InMemoryInventory::new(u32::try_from(stock).unwrap_or(u32::MAX)));
    orderflow_shared::lambda::serve(processor, InventoryStep::new(inventory, routes))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
