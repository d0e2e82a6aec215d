//! The invocation a batch arrives in: its request ID and deadline.

use std::time::Duration;

use tokio::time::Instant;

use crate::clock::unix_millis;

/// The invocation's identity and deadline.
#[derive(Clone, Debug)]
pub struct InvocationContext {
    /// The Lambda request ID.
    pub request_id: String,
    /// When Lambda will stop the invocation.
    pub deadline: Instant,
}

impl InvocationContext {
    /// The context of a Lambda invocation.
    pub fn from_lambda(context: &lambda_runtime::Context) -> Self {
        // Lambda sends the deadline in Unix milliseconds; `cargo lambda watch`
        // sends a fixed 600000 (ten minutes from now). No real deadline is before 2001.
        let remaining = if context.deadline < 1_000_000_000_000 {
            Duration::from_millis(context.deadline)
        } else {
            Duration::from_millis(context.deadline.saturating_sub(unix_millis()))
        };
        InvocationContext {
            request_id: context.request_id.clone(),
            deadline: Instant::now() + remaining,
        }
    }

    /// A context with `timeout` left, for local runs and tests.
    pub fn with_timeout(request_id: impl Into<String>, timeout: Duration) -> Self {
        InvocationContext {
            request_id: request_id.into(),
            deadline: Instant::now() + timeout,
        }
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
