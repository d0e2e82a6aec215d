//! The `notification` Lambda function: reads its settings, wires adapters, serves.

use std::sync::Arc;

use anyhow::Context;
use notification::{NotificationStep, STEP};
use orderflow_shared::BatchProcessor;
use orderflow_shared::config::{Env, batch_config};
use orderflow_shared::memory::{InMemoryIdempotencyStore, InMemoryNotifier, InMemoryQueues};
use orderflow_shared::metrics::NoMetrics;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_shared::telemetry::init("info");
    let env = Env::from_process();
    let config = batch_config(&env, STEP).context("notification cannot start")?;
    let processor = BatchProcessor::new(
        config,
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    orderflow_shared::lambda::serve(
        processor,
        NotificationStep::new(Arc::new(InMemoryNotifier::new())),
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
