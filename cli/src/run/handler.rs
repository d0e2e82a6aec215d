//! A function's handler as the run invokes it: the function's step over the
//! run's adapters, in the function's batch processor, with faults injected.

use std::sync::Arc;

use orderflow_batch::processor::{BatchConfig, BatchProcessor, RecordStep};
use orderflow_embedded::poller::{BatchHandler, ProcessorHandler};
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS};
use orderflow_orders::ports::Notifier;

use super::faults::{CrashingHandler, FaultyStep};
use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::settings::{self, Stage};
use crate::invoke::Function;

/// `stage`'s function as its event source mapping invokes it; `seed` seeds
/// its faults, so that a run repeats.
pub(super) fn stage_handler(
    stage: &Stage,
    spec: &RunSpec,
    pipeline: &Pipeline,
    seed: u64,
) -> Arc<dyn BatchHandler> {
    let processor = processor(stage, spec, pipeline);
    let url = |name: &str| -> Arc<str> { pipeline.queues.source(name).into() };
    let handler = match stage.function {
        Function::Inventory => {
            let routes = inventory::Routes {
                reserved: url(INVENTORY),
                rejected: url(NOTIFICATIONS),
            };
            let step = inventory::InventoryStep::new(
                Arc::clone(&pipeline.stores.inventory),
                Arc::clone(&pipeline.stores.orders),
                routes,
            );
            with_failures(processor, step, spec, pipeline, seed)
        }
        Function::Shipping => {
            let step = shipping::ShippingStep::new(url(NOTIFICATIONS), Arc::clone(&pipeline.stores.orders));
            with_failures(processor, step, spec, pipeline, seed)
        }
        _ => {
            let notifier = Arc::clone(&pipeline.notifier) as Arc<dyn Notifier>;
            let step = notification::NotificationStep::new(notifier, Arc::clone(&pipeline.stores.orders));
            with_failures(processor, step, spec, pipeline, seed)
        }
    };
    Arc::new(CrashingHandler::new(handler, spec.crash_rate, seed ^ 0x5eed))
}

/// The function's batch processor, as its deployment configures it, over the
/// run's queues, idempotency store and metric totals.
fn processor(stage: &Stage, spec: &RunSpec, pipeline: &Pipeline) -> BatchProcessor {
    let config = BatchConfig {
        service: stage.function.name().to_owned(),
        dead_letter_queue_url: Some(pipeline.queues.dlq(stage.source).to_owned()),
        max_receive_count: Some(settings::MAX_RECEIVE_COUNT),
        ..BatchConfig::default()
    };
    pipeline.processor(spec, config, Arc::clone(&pipeline.stores.idempotency))
}

/// `step` in `processor`, with transient failures injected (`--fail-rate`).
fn with_failures<S: RecordStep + 'static>(
    processor: BatchProcessor,
    step: S,
    spec: &RunSpec,
    pipeline: &Pipeline,
    seed: u64,
) -> Arc<dyn BatchHandler> {
    Arc::new(ProcessorHandler {
        processor,
        step: FaultyStep::new(step, spec.fail_rate, &pipeline.injected, seed),
        timeout: settings::FUNCTION_TIMEOUT,
    })
}
