//! The waits between retries of a failed call.

use std::time::Duration;

use orderflow_batch::publish::RetryPolicy;

/// The wait before retry number `retry` (from 1): the policy's base delay
/// doubled at each retry up to its maximum, then between half of that and
/// all of it, at random.
pub(super) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let full = policy
        .base_delay
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(policy.max_delay);
    full / 2 + (full / 2).mul_f64(fastrand::f64())
}
