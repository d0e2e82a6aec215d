//! The `shipping` Lambda function: reads its settings, wires adapters, serves.

use std::sync::Arc;

use anyhow::Context;
use orderflow_shared::BatchProcessor;
use orderflow_shared::config::{Env, batch_config};
use orderflow_shared::memory::{InMemoryIdempotencyStore, InMemoryQueues};
use orderflow_shared::metrics::NoMetrics;
use orderflow_shared::pipeline::{NOTIFICATIONS, embedded_queue_url};
use shipping::{STEP, ShippingStep};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_shared::telemetry::init("info");
    let env = Env::from_process();
    let config = batch_config(&env, STEP).context("shipping cannot start")?;
    let notifications = env
        .optional("NOTIFICATIONS_QUEUE_URL")
        .unwrap_or_else(|| embedded_queue_url(NOTIFICATIONS));
    let processor = BatchProcessor::new(
        config,
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    orderflow_shared::lambda::serve(processor, ShippingStep::new(notifications.into()))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
