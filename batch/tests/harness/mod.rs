//! The processor over the embedded adapters, shared by the SQS and the
//! stream source tests.

use std::sync::Arc;

use orderflow_batch::processor::{BatchConfig, BatchProcessor};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryMetrics, InMemoryQueues};

/// A processor and the embedded adapters behind it, to read back what it did.
pub struct Harness {
    pub queues: Arc<InMemoryQueues>,
    pub store: Arc<InMemoryIdempotencyStore>,
    pub metrics: Arc<InMemoryMetrics>,
    pub processor: BatchProcessor,
}

/// A processor with `config` over fresh embedded adapters.
pub fn harness(config: BatchConfig) -> Harness {
    harness_over(config, InMemoryIdempotencyStore::new())
}

/// As [`harness`], with a store that claims a batch's keys together (as
/// Redis's pipeline does).
#[allow(dead_code)] // the stream source's tests use only `harness`
pub fn harness_claiming_together(config: BatchConfig) -> Harness {
    harness_over(config, InMemoryIdempotencyStore::claiming_together())
}

fn harness_over(config: BatchConfig, store: InMemoryIdempotencyStore) -> Harness {
    let queues = Arc::new(InMemoryQueues::new());
    let store = Arc::new(store);
    let metrics = Arc::new(InMemoryMetrics::new());
    let processor = BatchProcessor::new(config, queues.clone(), store.clone(), metrics.clone());
    Harness {
        queues,
        store,
        metrics,
        processor,
    }
}
