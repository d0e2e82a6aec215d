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
    let queues = Arc::new(InMemoryQueues::new());
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let metrics = Arc::new(InMemoryMetrics::new());
    let processor = BatchProcessor::new(config, queues.clone(), store.clone(), metrics.clone());
    Harness {
        queues,
        store,
        metrics,
        processor,
    }
}
