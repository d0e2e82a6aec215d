//! `orderflow run`: the whole pipeline, end to end, with faults, and an account
//! of every order.
//!
//! Orders go to order-api's handler, which keeps each on the order of record;
//! the relay reads the record's changes and publishes each accepted order to
//! the orders queue (with `--entry queue`, orders go straight onto that queue,
//! as `orderflow send` sends them). An event source mapping per function polls
//! its queue and invokes the function's handler (the same code as in Lambda);
//! the run ends when every queue is empty, and then accounts for each order:
//! notified (shipped or rejected for stock), refused by the API (poison), or
//! in a dead-letter queue with its reason, and each valid order by its status on the order of record,
//! where the stages record their transitions. Anything else, and a valid
//! order in no final status and in no DLQ, is **lost**. A valid order in a
//! dead-letter queue fails the run too, even when it was notified: only
//! broken bodies belong there.
//!
//! Without `--endpoint-url` the queues are the embedded broker and time runs
//! on a paused clock: visibility timeouts and backoffs elapse instantly, so a
//! run with retries and crashes finishes in seconds. With it, the queues are
//! created on that endpoint (moto, LocalStack, AWS) with the template's
//! attributes and the AWS adapters are used, in real time; with
//! `--dynamodb-endpoint-url` the idempotency records, stock and the orders
//! table live in DynamoDB tables there too, and the relay reads the table's
//! stream with `GetShardIterator` and `GetRecords`, as Lambda's poller does.
//!
//! [`run`] is five stages, each a function in a file of its own: set the
//! pipeline up (`pipeline`), start the stages' pollers (`stages`) and the
//! relay (`relay`), produce the orders (`produce`, through `front_door` with
//! `--entry api`), wait for quiet (`quiet`), then stop the relay and the
//! stages and account for every order (`summarize`, over the pure `account`).

mod account;
mod backend;
mod clocks;
mod dead_letter_queues;
mod error;
mod faults;
mod front_door;
mod handler;
mod metric_totals;
mod options;
mod pipeline;
mod produce;
mod queues;
mod quiet;
mod relay;
mod sent_orders;
pub mod settings;
mod stages;
mod stores;
mod summarize;
mod summary;
mod table;
mod untimed_store;

use clocks::Clocks;
use pipeline::set_up;
use produce::produce;
use quiet::wait_for_quiet;
use relay::start_relay;
use stages::start_stages;
use summarize::summarize;

pub use error::RunError;
pub use faults::{INJECTED_CRASH, quiet_injected_crashes};
pub use options::{Entry, RunSpec, VISIBILITY_TIMEOUT_RANGE};
pub use summary::{DeadLetters, Duplicates, RunSummary};

/// Runs the pipeline and accounts for every order; `progress` hears, each
/// second, how many orders are accounted for so far, of how many.
pub async fn run(spec: &RunSpec, progress: &dyn Fn(usize, usize)) -> Result<RunSummary, RunError> {
    spec.validate()?;
    let clocks = Clocks::start();
    // The processor's backoff jitter uses this thread's generator: seeded, a run repeats.
    fastrand::seed(spec.seed);

    let pipeline = set_up(spec).await?;
    let stages = start_stages(spec, &pipeline);
    let relay = start_relay(spec, &pipeline);
    let produced = produce(spec, &pipeline).await;
    let timed_out = wait_for_quiet(spec, &pipeline, &relay, &clocks, progress).await;
    let relay = relay.stop().await;
    let stages = stages.stop().await;
    Ok(summarize(spec, &pipeline, &produced, &stages, &relay, timed_out, &clocks).await)
}
