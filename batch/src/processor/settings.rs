//! How the processor behaves: concurrency, FIFO failure handling, the
//! deadline's margins, backoff, the dead-letter fast path.

use std::time::Duration;

use crate::publish::RetryPolicy;

/// What a FIFO batch does after a record fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FifoFailureMode {
    /// Report the rest of that message group failed; other groups go on.
    #[default]
    SkipGroup,
    /// Report every record after the failed one failed, in batch order.
    StopBatch,
}

/// Exponential backoff with full jitter for the visibility timeout of retried records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay, seconds.
    pub base_seconds: u32,
    /// The largest delay, seconds (at most SQS's 12 hours).
    pub cap_seconds: u32,
}

/// SQS's largest visibility timeout: 12 hours.
pub const MAX_VISIBILITY_SECONDS: u32 = 43_200;

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_seconds: 2,
            cap_seconds: 900,
        }
    }
}

impl Backoff {
    /// The visibility timeout for a message received `receive_count` times:
    /// uniformly random in `1..=min(cap, base * 2^(receive_count - 1))`.
    pub fn visibility_timeout(&self, receive_count: u32) -> u32 {
        let ceiling = self.ceiling(receive_count);
        fastrand::u32(1..=ceiling.max(1))
    }

    /// The upper bound of [`Backoff::visibility_timeout`] for a receive count.
    pub fn ceiling(&self, receive_count: u32) -> u32 {
        let doublings = receive_count.saturating_sub(1).min(31);
        let exp = u64::from(self.base_seconds) << doublings;
        let cap = self.cap_seconds.min(MAX_VISIBILITY_SECONDS);
        u32::try_from(exp.min(u64::from(cap))).unwrap_or(cap)
    }
}

/// How the batch processor behaves; every field has a production default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// The `Service` metric dimension.
    pub service: String,
    /// The `Environment` metric dimension.
    pub environment: String,
    /// Most records (standard queues) or message groups (FIFO) in flight at once.
    pub max_concurrency: usize,
    /// What a FIFO batch does after a failure.
    pub fifo_failure_mode: FifoFailureMode,
    /// The handler answers at the latest this long before the invocation's
    /// deadline: every call after the records (dead-letter sends, outgoing
    /// sends, completions, visibility changes, metrics) ends by then.
    pub deadline_margin: Duration,
    /// Time kept for settling the batch: no record starts, and running steps
    /// are cut off, once less than `deadline_margin + settlement_reserve` is left.
    pub settlement_reserve: Duration,
    /// Return an error (so Lambda backs off) when every record failed retryably.
    pub error_when_all_retryable: bool,
    /// Where permanently failed records go; `None` reports them as failures.
    pub dead_letter_queue_url: Option<String>,
    /// Raise the visibility timeout of retryable failures.
    pub visibility_backoff: Option<Backoff>,
    /// The source queue's `maxReceiveCount`: a record failing retryably on
    /// that receive is dead-lettered with `ErrorCode=RetriesExhausted` and
    /// its last error (needs `dead_letter_queue_url`), instead of being moved
    /// by the queue's redrive without a reason. `None`: the redrive moves it.
    pub max_receive_count: Option<u32>,
    /// How long a completed idempotency record is kept.
    pub idempotency_ttl: Duration,
    /// Retries of outgoing sends.
    pub send_retry: RetryPolicy,
    /// Longest wait for the metrics sink before giving up on it.
    pub metrics_timeout: Duration,
    /// Publish every metric per second instead of per minute.
    pub high_resolution_metrics: bool,
    /// A custom SQS endpoint, for queue URLs derived from event source ARNs.
    pub sqs_endpoint_url: Option<String>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            service: "orderflow".to_owned(),
            environment: "development".to_owned(),
            max_concurrency: 10,
            fifo_failure_mode: FifoFailureMode::SkipGroup,
            deadline_margin: Duration::from_secs(2),
            settlement_reserve: Duration::from_secs(1),
            error_when_all_retryable: true,
            dead_letter_queue_url: None,
            visibility_backoff: Some(Backoff::default()),
            max_receive_count: None,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            send_retry: RetryPolicy::default(),
            metrics_timeout: Duration::from_secs(1),
            high_resolution_metrics: false,
            sqs_endpoint_url: None,
        }
    }
}
