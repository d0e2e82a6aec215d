//! The set-up stage: the pipeline a run drives, on its backend.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use orderflow_batch::ports::{IdempotencyStore, MetricsSink};
use orderflow_batch::processor::{BatchConfig, BatchProcessor};
use orderflow_embedded::InMemoryNotifier;
use orderflow_embedded::address::EMBEDDED_ENDPOINT;

use super::backend::Backend;
use super::error::RunError;
use super::metric_totals::MetricTotals;
use super::options::RunSpec;
use super::queues::Queues;
use super::stores::Stores;

/// What set-up made, and what every stage is built from: the queues on their
/// backend, the functions' stores and notifier, and the counters the account
/// reads.
pub(super) struct Pipeline {
    /// Where the queues live.
    pub(super) backend: Backend,
    /// `embedded`, or the endpoint's URL: the summary's `queues`.
    pub(super) label: String,
    /// The six queues.
    pub(super) queues: Queues,
    /// Idempotency records and stock.
    pub(super) stores: Stores,
    /// Where the notification function delivers: the account reads it.
    pub(super) notifier: Arc<InMemoryNotifier>,
    /// Every invocation's metrics, summed.
    pub(super) metrics: Arc<MetricTotals>,
    /// Transient failures injected, over all stages.
    pub(super) injected: Arc<AtomicU64>,
}

impl Pipeline {
    /// A function's batch processor over the run's queues and metric totals:
    /// `config` (the function's own settings) with the run's SQS endpoint.
    pub(super) fn processor(
        &self,
        spec: &RunSpec,
        config: BatchConfig,
        idempotency: Arc<dyn IdempotencyStore>,
    ) -> BatchProcessor {
        let config = BatchConfig {
            sqs_endpoint_url: Some(
                spec.endpoint_url
                    .clone()
                    .unwrap_or_else(|| EMBEDDED_ENDPOINT.to_owned()),
            ),
            ..config
        };
        BatchProcessor::new(
            config,
            self.backend.queue(),
            idempotency,
            Arc::clone(&self.metrics) as Arc<dyn MetricsSink>,
        )
    }
}

/// Creates the queues and the stores (on the endpoints, if any), named for
/// this run so that runs never share them.
pub(super) async fn set_up(spec: &RunSpec) -> Result<Pipeline, RunError> {
    let backend = Backend::connect(spec).await;
    let label = spec.endpoint_url.clone().unwrap_or_else(|| "embedded".to_owned());
    let prefix = backend.name_prefix(spec.seed);
    let setup = |source| RunError::Setup {
        endpoint: label.clone(),
        source,
    };
    let queues = backend.create_queues(spec, &prefix).await.map_err(setup)?;
    let stores = Stores::create(spec, &prefix).await.map_err(setup)?;
    Ok(Pipeline {
        backend,
        label,
        queues,
        stores,
        notifier: Arc::new(InMemoryNotifier::new()),
        metrics: Arc::new(MetricTotals::default()),
        injected: Arc::new(AtomicU64::new(0)),
    })
}
