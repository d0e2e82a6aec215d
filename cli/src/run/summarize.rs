//! The last stage: the account of every order, with what the stages counted
//! and how long it all took.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use orderflow_batch::queue_url::queue_name;
use orderflow_orders::order_record::OrderStatus;
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};
use orderflow_orders::ports::OrderStore;

use super::account::account;
use super::clocks::Clocks;
use super::dead_letter_queues::read_dead_letters;
use super::options::RunSpec;
use super::pipeline::Pipeline;
use super::relay::RelayStats;
use super::sent_orders::{Produced, SentOrders};
use super::stages::StoppedStages;
use super::summary::{Duplicates, RunSummary};

/// Each sent order's status on the order of record, by order ID (orders not
/// on record, or that could not be read, are left out).
async fn read_statuses(orders: &dyn OrderStore, sent: &SentOrders) -> HashMap<String, OrderStatus> {
    let mut statuses = HashMap::with_capacity(sent.orders.len());
    for (order_id, _) in &sent.orders {
        match orders.get(order_id).await {
            Ok(Some(record)) => {
                statuses.insert(order_id.clone(), record.status);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(order_id = %order_id, error = %e, "could not read the order's status"),
        }
    }
    statuses
}

/// Reads every dead-letter queue (leaving its messages there), accounts for
/// every order the producer sent, and adds the counters and the times.
pub(super) async fn summarize(
    spec: &RunSpec,
    pipeline: &Pipeline,
    produced: &Produced,
    stages: &StoppedStages,
    relay: &RelayStats,
    timed_out: bool,
    clocks: &Clocks,
) -> RunSummary {
    let mut dead_letters = Vec::new();
    for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
        let url = pipeline.queues.dlq(name);
        dead_letters.push((
            queue_name(url).to_owned(),
            read_dead_letters(&pipeline.backend, url).await,
        ));
    }
    let statuses = read_statuses(&*pipeline.stores.orders, &produced.sent).await;
    let account = account(
        &produced.sent,
        &pipeline.notifier.sent(),
        &dead_letters,
        &statuses,
        spec.fifo,
    );
    let fifo_deduplication = pipeline.backend.fifo_deduplicated(&pipeline.queues);
    let elapsed = clocks.wall_seconds();
    RunSummary {
        queues: pipeline.label.clone(),
        fifo: spec.fifo,
        seed: spec.seed,
        send_failures: produced.unsent,
        duplicates_suppressed: Duplicates {
            idempotency: pipeline.metrics.duplicates.load(Ordering::Relaxed),
            notifier: pipeline.notifier.deduplicated() as u64,
            fifo_deduplication,
        },
        retries: stages.total(|s| &s.redelivered) + relay.redelivered.load(Ordering::Relaxed),
        invocations: stages.total(|s| &s.invocations) + relay.invocations.load(Ordering::Relaxed),
        crashed_invocations: stages.total(|s| &s.crashed_invocations)
            + relay.crashed_invocations.load(Ordering::Relaxed),
        injected_failures: pipeline.injected.load(Ordering::Relaxed),
        timed_out,
        elapsed_seconds: elapsed,
        simulated_seconds: clocks.run_elapsed().as_secs_f64(),
        orders_per_second: account.sent as f64 / elapsed.max(1e-9),
        step_metrics: pipeline.metrics.steps(),
        ..account
    }
}
