//! What to consume, and the fixed settings a consumer runs with: the
//! poller's batches and waits, and the time each batch and a stop get.

use std::time::Duration;

use orderflow_embedded::poller::MappingSettings;

use crate::invoke::Function;

/// Most messages per receive call and per batch (SQS's limit of a receive).
pub const BATCH_SIZE: usize = 10;
/// The long-poll wait of each receive (SQS's longest).
pub const WAIT: Duration = Duration::from_secs(20);
/// How long in-flight batches may take to finish after a stop signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The time each batch gets (Lambda's longest timeout): the processor's
/// deadline and its idempotency claims. Its messages stay hidden meanwhile
/// thanks to the heartbeat, not to their visibility timeout. A batch abandoned
/// in the middle of a record leaves that record's claim in progress until
/// then: a redelivery meanwhile fails as a duplicate in progress, and is
/// retried with backoff.
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a stop waits for a receive in progress to end: its long poll,
/// and time for the call to come back.
pub const RECEIVE_END_TIMEOUT: Duration = Duration::from_secs(WAIT.as_secs() + 10);
/// Batches at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// What to consume, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumeSpec {
    /// The function whose handler runs.
    pub function: Function,
    /// The queue to consume (the function's source queue).
    pub queue_url: String,
    /// Most batches in flight at once.
    pub concurrency: usize,
    /// An endpoint for every AWS client (a local server); else the environment's.
    pub endpoint_url: Option<String>,
    /// Test only: hold each batch this long before its handler runs, so that a
    /// test can stop the consumer with work in flight. `None` in real use.
    pub simulated_latency: Option<Duration>,
}

/// The poller's settings for `concurrency` batches on a queue whose
/// visibility timeout is `visibility_timeout`.
pub fn mapping_settings(concurrency: usize, visibility_timeout: Duration) -> MappingSettings {
    MappingSettings {
        batch_size: BATCH_SIZE,
        batching_window: Duration::ZERO,
        max_concurrency: concurrency.max(1),
        receive_max: BATCH_SIZE,
        wait: WAIT,
        heartbeat: Some(visibility_timeout),
        drain_timeout: DRAIN_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use orderflow_embedded::poller::heartbeat_interval;

    use super::*;

    #[test]
    fn the_heartbeat_extends_to_the_queue_timeout_every_half_of_it() {
        let settings = mapping_settings(4, Duration::from_secs(30));
        assert_eq!(settings.heartbeat, Some(Duration::from_secs(30)));
        assert_eq!(
            heartbeat_interval(settings.heartbeat.unwrap()),
            Duration::from_secs(15)
        );
        assert_eq!((settings.receive_max, settings.batch_size), (10, 10));
        assert_eq!(settings.batching_window, Duration::ZERO);
        assert_eq!(settings.wait, Duration::from_secs(20));
        assert_eq!(settings.max_concurrency, 4);
        assert_eq!(settings.drain_timeout, Duration::from_secs(30));
    }
}
