//! Counting AWS calls by operation, to check how many calls an invocation makes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// An SDK interceptor counting operations (`SendMessageBatch`, `PutMetricData`, ...)
/// of every client it is added to, once per operation (retry attempts are not
/// counted again). Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CallCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls of `operation` so far.
    pub fn count(&self, operation: &str) -> usize {
        self.counts
            .lock()
            .map_or(0, |c| c.get(operation).copied().unwrap_or(0))
    }

    /// Every operation and its count.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Back to zero.
    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(metadata), Ok(mut counts)) = (cfg.load::<Metadata>(), self.counts.lock()) {
            *counts.entry(metadata.name().to_owned()).or_default() += 1;
        }
        Ok(())
    }
}
