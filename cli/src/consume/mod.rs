//! `orderflow consume`: a function's handler as a long-running SQS consumer,
//! for running outside Lambda (in a container).
//!
//! It runs the handler the Lambda runs: the function's step, built from the
//! same environment by its `step` over
//! [`EnvPorts`](orderflow_aws::step_ports::EnvPorts), under the same
//! [`BatchProcessor`](orderflow_batch::BatchProcessor) settings
//! ([`batch_config`](orderflow_batch::config::batch_config): idempotency, the
//! DLQ fast path with `DLQ_URL`, backoff, metrics). A
//! [`Poller`](orderflow_embedded::poller::Poller) stands in for the event
//! source mapping: long polls ([`WAIT`]) of up to [`BATCH_SIZE`] messages, one
//! batch per receive, up to `--concurrency` batches at once; what succeeded is
//! deleted, failures are left to their visibility timeout (or the processor's
//! backoff).
//!
//! There is no Lambda deadline: each batch gets [`INVOCATION_TIMEOUT`], and a
//! heartbeat keeps its messages hidden meanwhile, extending their visibility
//! to the queue's `VisibilityTimeout` every half of it.
//!
//! On SIGINT or SIGTERM it stops receiving, gives in-flight batches up to
//! [`DRAIN_TIMEOUT`] to finish (and be deleted), then abandons the rest: their
//! heartbeats stop, so their messages come back at most one visibility timeout
//! after the last extension. A long poll waiting at the signal cannot be
//! called back: SQS hands it whatever arrives until its wait ends. So it is
//! waited for (at most [`WAIT`], alongside the drain), and whatever a receive
//! gets once the stop has begun goes back to the queue at once (visibility 0),
//! unprocessed (see `receives`). A second signal stops at once.
//!
//! One file per part: `settings` what to consume and with which limits,
//! `handler` the function's handler, `running` the consumer from start to
//! stop, built on `receives` (receives a stop can leave behind),
//! `give_back` (returning what they get), and `signals`; `report` how the
//! run went, `error` why it could not.

mod error;
mod give_back;
mod handler;
mod receives;
mod report;
mod running;
mod settings;
mod signals;

use std::time::Duration;

use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::config::Env;

use running::Running;

pub use error::ConsumeError;
pub use handler::{Prepared, prepare};
pub use report::{ConsumeReport, InFlight};
pub use settings::{
    BATCH_SIZE, ConsumeSpec, DEFAULT_CONCURRENCY, DRAIN_TIMEOUT, INVOCATION_TIMEOUT, RECEIVE_END_TIMEOUT,
    WAIT, mapping_settings,
};

/// Consumes `spec.queue_url` with the function's handler until SIGINT or
/// SIGTERM, then stops gracefully (see the module's documentation). Until
/// consuming starts, the signals keep their default action: nothing is in
/// flight yet, and a startup stuck on an unreachable endpoint still stops.
pub async fn consume(spec: &ConsumeSpec, env: &Env) -> Result<ConsumeReport, ConsumeError> {
    let Prepared { handler, queues } = prepare(spec, env).await?;
    let visibility = visibility_timeout(&queues, &spec.queue_url).await?;
    let mut running = Running::start(spec, handler, queues, visibility)?;
    let signal = running.until_signal().await?;
    let stop = running.stop(signal).await?;
    Ok(running.report(spec, visibility, stop))
}

/// The queue's visibility timeout, which the heartbeat extends to. A queue
/// that hides received messages for no time at all cannot be consumed: its
/// messages would be delivered again while they run.
async fn visibility_timeout(queues: &SqsQueues, queue_url: &str) -> Result<Duration, ConsumeError> {
    let visibility = queues
        .visibility_timeout(queue_url)
        .await
        .map_err(|source| ConsumeError::Queue {
            queue_url: queue_url.to_owned(),
            source,
        })?;
    if visibility.as_secs() == 0 {
        return Err(ConsumeError::NoVisibilityTimeout {
            queue_url: queue_url.to_owned(),
        });
    }
    Ok(visibility)
}
