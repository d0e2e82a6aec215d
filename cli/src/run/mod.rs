//! `orderflow run`: the whole pipeline, end to end, with faults, and an account
//! of every order.
//!
//! Orders go into the orders queue; an event source mapping per function polls
//! its queue and invokes the function's handler (the same code as in Lambda);
//! the run ends when every queue is empty, and then accounts for each order:
//! notified (shipped or rejected for stock), or in a dead-letter queue with
//! its reason. Anything else is **lost**. A valid order in a dead-letter queue
//! fails the run too, even when it was notified: only broken bodies belong
//! there.
//!
//! Without `--endpoint-url` the queues are the embedded broker and time runs
//! on a paused clock: visibility timeouts and backoffs elapse instantly, so a
//! run with retries and crashes finishes in seconds. With it, the queues are
//! created on that endpoint (moto, LocalStack, AWS) with the template's
//! attributes and the AWS adapters are used, in real time; with
//! `--dynamodb-endpoint-url` the idempotency records and stock live in
//! DynamoDB tables there too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::ports::{IdempotencyStore, MessageQueue, MetricsSink, OutgoingMessage};
use orderflow_batch::processor::{BatchConfig, BatchProcessor};
use orderflow_batch::publish::{RetryPolicy, publish_batch};
use orderflow_batch::queue_url::queue_name;
use orderflow_embedded::InMemoryNotifier;
use orderflow_embedded::address::EMBEDDED_ENDPOINT;
use orderflow_embedded::poller::{BatchHandler, MappingSettings, Poller, PollerStats, ProcessorHandler};
use orderflow_orders::contracts::attribute;
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};
use orderflow_orders::ports::{CustomerNotification, InventoryStore, Notifier, Template};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::invoke::Function;
use crate::send::order_message;
use crate::workload::orders;

mod backend;
mod dead_letter_queues;
mod error;
mod faults;
mod metric_totals;
mod options;
mod queues;
pub mod settings;
mod stores;
mod summary;
mod table;

use backend::Backend;
use dead_letter_queues::{dead_lettered_hint, read_dead_letters};
use faults::{CrashingHandler, FaultyStep};
use metric_totals::MetricTotals;
use queues::Queues;
use stores::Stores;

pub use error::RunError;
pub use faults::{INJECTED_CRASH, quiet_injected_crashes};
pub use options::{RunSpec, VISIBILITY_TIMEOUT_RANGE};
pub use summary::{DeadLetters, Duplicates, RunSummary};

use settings::{STAGES, Stage};

/// One running stage.
struct RunningStage {
    stats: Arc<PollerStats>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the pipeline and accounts for every order.
pub async fn run(spec: &RunSpec, progress: &dyn Fn(usize, usize)) -> Result<RunSummary, RunError> {
    spec.validate()?;
    let wall = std::time::Instant::now();
    let started = Instant::now();
    // The processor's backoff jitter uses this thread's generator: seeded, a run repeats.
    fastrand::seed(spec.seed);

    let backend = Backend::connect(spec).await;
    let queues_label = spec.endpoint_url.clone().unwrap_or_else(|| "embedded".to_owned());
    let prefix = backend.name_prefix(spec.seed);
    let setup = |source| RunError::Setup {
        endpoint: queues_label.clone(),
        source,
    };
    let queues = backend.create_queues(spec, &prefix).await.map_err(setup)?;
    let Stores {
        idempotency,
        inventory,
    } = Stores::create(spec, &prefix).await.map_err(setup)?;
    let notifier = Arc::new(InMemoryNotifier::new());
    let totals = Arc::new(MetricTotals::default());
    let injected = Arc::new(AtomicU64::new(0));

    let (stop, stopped) = watch::channel(false);
    let mut stages = Vec::new();
    for (i, stage) in STAGES.iter().enumerate() {
        let seed = spec.seed.wrapping_add(1 + i as u64);
        let handler = stage_handler(
            stage,
            spec,
            &queues,
            &backend,
            &idempotency,
            &inventory,
            &notifier,
            &totals,
            &injected,
            seed,
        );
        let stats = Arc::new(PollerStats::default());
        let (batch_size, batching_window) = if spec.fifo {
            (settings::FIFO_BATCH_SIZE, Duration::ZERO)
        } else {
            (stage.batch_size, stage.batching_window)
        };
        let embedded = backend.is_embedded();
        let poller = Poller {
            queue_url: queues.source(stage.source).to_owned(),
            consumer: backend.consumer(),
            queue: backend.queue(),
            handler,
            settings: MappingSettings {
                batch_size,
                batching_window,
                max_concurrency: settings::MAX_CONCURRENCY,
                // Lambda's pollers take 10 a call from SQS; the broker hands over a whole batch.
                receive_max: if embedded { batch_size } else { 10 },
                wait: Duration::from_secs(if embedded { 20 } else { 2 }),
                heartbeat: None,
                drain_timeout: settings::FUNCTION_TIMEOUT,
            },
            stats: Arc::clone(&stats),
        };
        stages.push(RunningStage {
            stats,
            task: tokio::spawn(poller.run(stopped.clone())),
        });
    }

    // The producer: every order, ten per batch call; poison ones too.
    let mut sent = SentOrders::with_capacity(spec.orders);
    let mut batch = Vec::with_capacity(10);
    let orders_queue = queues.source(ORDERS).to_owned();
    let queue = backend.queue();
    let mut unsent = 0usize;
    for order in orders(spec.seed, spec.poison_rate, spec.orders) {
        let message = order_message(&order, spec.fifo);
        let order_id = order.order["orderId"].as_str().unwrap_or_default().to_owned();
        let customer_id = order.order["customerId"].as_str().unwrap_or_default().to_owned();
        if let Some(correlation) = message.attribute(attribute::CORRELATION_ID) {
            sent.correlation_to_order
                .insert(correlation.to_owned(), order_id.clone());
        }
        if order.broken_rule.is_some() {
            sent.poison.insert(order_id.clone());
        }
        sent.orders.push((order_id, customer_id));
        batch.push(message);
        if batch.len() == 10 {
            unsent += send_all(&*queue, &orders_queue, &mut batch).await;
        }
    }
    unsent += send_all(&*queue, &orders_queue, &mut batch).await;

    // Wait until every source queue is empty (several checks in a row on SQS, whose counts are approximate).
    let limit = Duration::from_secs(spec.max_seconds);
    let mut quiet_checks = 0;
    let mut timed_out = false;
    let needed_quiet = if backend.is_embedded() { 1 } else { 3 };
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(
            notifier.sent_count() + dead_lettered_hint(&backend, &queues).await,
            spec.orders,
        );
        let mut left = 0;
        for stage in &STAGES {
            left += backend
                .outstanding(queues.source(stage.source))
                .await
                .unwrap_or(1);
        }
        quiet_checks = if left == 0 { quiet_checks + 1 } else { 0 };
        if quiet_checks >= needed_quiet {
            break;
        }
        if started.elapsed() > limit {
            timed_out = true;
            break;
        }
    }
    let _ = stop.send(true);
    for stage in &mut stages {
        let _ = (&mut stage.task).await;
    }

    // The account.
    let mut dead_letters = Vec::new();
    for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
        let url = queues.dlq(name);
        dead_letters.push((queue_name(url).to_owned(), read_dead_letters(&backend, url).await));
    }
    let account = account(&sent, &notifier.sent(), &dead_letters, spec.fifo);
    let counter =
        |f: fn(&PollerStats) -> &AtomicU64| stages.iter().map(|s| PollerStats::get(f(&s.stats))).sum::<u64>();
    let fifo_deduplication = backend.fifo_deduplicated(&queues);
    let elapsed = wall.elapsed().as_secs_f64();
    Ok(RunSummary {
        queues: queues_label,
        fifo: spec.fifo,
        seed: spec.seed,
        send_failures: unsent,
        duplicates_suppressed: Duplicates {
            idempotency: totals.duplicates.load(Ordering::Relaxed),
            notifier: notifier.deduplicated() as u64,
            fifo_deduplication,
        },
        retries: counter(|s| &s.redelivered),
        invocations: counter(|s| &s.invocations),
        crashed_invocations: counter(|s| &s.crashed_invocations),
        injected_failures: injected.load(Ordering::Relaxed),
        timed_out,
        elapsed_seconds: elapsed,
        simulated_seconds: started.elapsed().as_secs_f64(),
        orders_per_second: account.sent as f64 / elapsed.max(1e-9),
        ..account
    })
}

/// The orders a run sent, as the producer knows them.
#[derive(Clone, Debug, Default)]
struct SentOrders {
    /// Order and customer IDs, in the order sent.
    orders: Vec<(String, String)>,
    /// The orders sent with a broken body on purpose.
    poison: HashSet<String>,
    /// Each order's correlation ID, which every message about it carries.
    correlation_to_order: HashMap<String, String>,
}

impl SentOrders {
    fn with_capacity(orders: usize) -> Self {
        SentOrders {
            orders: Vec::with_capacity(orders),
            poison: HashSet::new(),
            correlation_to_order: HashMap::with_capacity(orders),
        }
    }
}

/// Accounts for every sent order: notified, dead-lettered (the DLQs' messages,
/// by queue name), or lost. Fills the summary's order counts; the rest is left
/// at its default.
fn account(
    sent: &SentOrders,
    delivered: &[CustomerNotification],
    dead_letters: &[(String, Vec<SqsMessage>)],
    fifo: bool,
) -> RunSummary {
    let mut times_notified: HashMap<&str, usize> = HashMap::new();
    let mut rejected = HashSet::new();
    for n in delivered {
        *times_notified.entry(n.order_id.as_str()).or_default() += 1;
        if n.template == Template::OrderRejected {
            rejected.insert(n.order_id.as_str());
        }
    }
    let mut accounted: HashSet<&str> = times_notified.keys().copied().collect();
    let mut dead_lettered: HashSet<&str> = HashSet::new();
    let mut dead_letter_queues = Vec::new();
    for (queue, messages) in dead_letters {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for m in messages {
            let reason = m
                .message_attributes
                .get(attribute::ERROR_CODE)
                .and_then(|a| a.string_value.clone())
                .unwrap_or_else(|| "maxReceiveCount".to_owned());
            *reasons.entry(reason).or_default() += 1;
            let order = m
                .message_attributes
                .get(attribute::CORRELATION_ID)
                .and_then(|a| a.string_value.as_deref())
                .and_then(|c| sent.correlation_to_order.get(c));
            if let Some(order) = order {
                accounted.insert(order.as_str());
                dead_lettered.insert(order.as_str());
            }
        }
        dead_letter_queues.push(DeadLetters {
            queue: queue.clone(),
            messages: messages.len(),
            reasons,
        });
    }
    let lost: Vec<&str> = sent
        .orders
        .iter()
        .map(|(o, _)| o.as_str())
        .filter(|o| !accounted.contains(*o))
        .collect();
    let valid_dead_lettered: Vec<&str> = sent
        .orders
        .iter()
        .map(|(o, _)| o.as_str())
        .filter(|o| dead_lettered.contains(*o) && !sent.poison.contains(*o))
        .collect();
    let (out_of_order_customers, customers_with_several_shipments) = if fifo {
        out_of_order(&sent.orders, delivered)
    } else {
        (0, 0)
    };
    RunSummary {
        sent: sent.orders.len(),
        poison_sent: sent.poison.len(),
        notified: times_notified.len(),
        rejected_for_stock: rejected.len(),
        notified_more_than_once: times_notified.values().filter(|n| **n > 1).count(),
        dead_letter_queues,
        lost: lost.len(),
        lost_examples: examples(&lost),
        valid_orders_dead_lettered: valid_dead_lettered.len(),
        valid_dead_lettered_examples: examples(&valid_dead_lettered),
        out_of_order_customers,
        customers_with_several_shipments,
        ..RunSummary::default()
    }
}

/// The first few of `orders`, for a summary.
fn examples(orders: &[&str]) -> Vec<String> {
    orders.iter().take(10).map(|o| (*o).to_owned()).collect()
}

/// Sends and clears `batch`; returns how many could not be sent (they count as lost).
async fn send_all(queue: &dyn MessageQueue, url: &str, batch: &mut Vec<OutgoingMessage>) -> usize {
    if batch.is_empty() {
        return 0;
    }
    let results = publish_batch(queue, url, std::mem::take(batch), &RetryPolicy::default()).await;
    results.iter().filter(|r| r.is_err()).count()
}

/// Customers whose shipment confirmations arrived out of the order their
/// orders were sent, and customers with two or more confirmations.
fn out_of_order(sent: &[(String, String)], delivered: &[CustomerNotification]) -> (usize, usize) {
    let position: HashMap<&str, usize> = sent
        .iter()
        .enumerate()
        .map(|(i, (o, _))| (o.as_str(), i))
        .collect();
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut several: HashSet<&str> = HashSet::new();
    let mut bad: HashSet<&str> = HashSet::new();
    for n in delivered
        .iter()
        .filter(|n| n.template == Template::ShipmentConfirmation)
    {
        let Some(&pos) = position.get(n.order_id.as_str()) else {
            continue;
        };
        let customer = n.customer_id.as_str();
        if let Some(&prev) = last.get(customer) {
            several.insert(customer);
            if prev > pos {
                bad.insert(customer);
            }
        }
        last.insert(customer, pos);
    }
    (bad.len(), several.len())
}

/// A function's handler: its step over the run's adapters, with faults injected.
#[allow(clippy::too_many_arguments)]
fn stage_handler(
    stage: &Stage,
    spec: &RunSpec,
    queues: &Queues,
    backend: &Backend,
    idempotency: &Arc<dyn IdempotencyStore>,
    inventory: &Arc<dyn InventoryStore>,
    notifier: &Arc<InMemoryNotifier>,
    totals: &Arc<MetricTotals>,
    injected: &Arc<AtomicU64>,
    seed: u64,
) -> Arc<dyn BatchHandler> {
    let config = BatchConfig {
        service: stage.function.name().to_owned(),
        dead_letter_queue_url: Some(queues.dlq(stage.source).to_owned()),
        sqs_endpoint_url: Some(
            spec.endpoint_url
                .clone()
                .unwrap_or_else(|| EMBEDDED_ENDPOINT.to_owned()),
        ),
        ..BatchConfig::default()
    };
    let processor = BatchProcessor::new(
        config,
        backend.queue(),
        Arc::clone(idempotency),
        Arc::clone(totals) as Arc<dyn MetricsSink>,
    );
    let url = |name: &str| -> Arc<str> { queues.source(name).into() };
    let timeout = settings::FUNCTION_TIMEOUT;
    let handler: Arc<dyn BatchHandler> = match stage.function {
        Function::Inventory => Arc::new(ProcessorHandler {
            processor,
            step: FaultyStep::new(
                inventory::InventoryStep::new(
                    Arc::clone(inventory),
                    inventory::Routes {
                        reserved: url(INVENTORY),
                        rejected: url(NOTIFICATIONS),
                    },
                ),
                spec.fail_rate,
                injected,
                seed,
            ),
            timeout,
        }),
        Function::Shipping => Arc::new(ProcessorHandler {
            processor,
            step: FaultyStep::new(
                shipping::ShippingStep::new(url(NOTIFICATIONS)),
                spec.fail_rate,
                injected,
                seed,
            ),
            timeout,
        }),
        _ => Arc::new(ProcessorHandler {
            processor,
            step: FaultyStep::new(
                notification::NotificationStep::new(Arc::clone(notifier) as Arc<dyn Notifier>),
                spec.fail_rate,
                injected,
                seed,
            ),
            timeout,
        }),
    };
    Arc::new(CrashingHandler::new(handler, spec.crash_rate, seed ^ 0x5eed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_letter(correlation_id: &str, error_code: Option<&str>) -> SqsMessage {
        let attribute = |value: &str| {
            let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
            attribute.string_value = Some(value.to_owned());
            attribute.data_type = Some("String".to_owned());
            attribute
        };
        let mut message = SqsMessage::default();
        message
            .message_attributes
            .insert(attribute::CORRELATION_ID.to_owned(), attribute(correlation_id));
        if let Some(code) = error_code {
            message
                .message_attributes
                .insert(attribute::ERROR_CODE.to_owned(), attribute(code));
        }
        message
    }

    fn shipped(order_id: &str) -> CustomerNotification {
        CustomerNotification {
            order_id: order_id.to_owned(),
            customer_id: format!("cust-{order_id}"),
            template: Template::ShipmentConfirmation,
            subject: String::new(),
            body: String::new(),
            correlation_id: format!("corr-{order_id}"),
            deduplication_id: format!("dedup-{order_id}"),
        }
    }

    /// Three orders sent, the third with a broken body.
    fn three_orders() -> SentOrders {
        let ids = ["ord-1", "ord-2", "ord-3"];
        SentOrders {
            orders: ids
                .iter()
                .map(|o| ((*o).to_owned(), format!("cust-{o}")))
                .collect(),
            poison: HashSet::from(["ord-3".to_owned()]),
            correlation_to_order: ids
                .iter()
                .map(|o| (format!("corr-{o}"), (*o).to_owned()))
                .collect(),
        }
    }

    fn table_row<'a>(table: &'a str, name: &str) -> Option<&'a str> {
        table
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    }

    #[test]
    fn a_valid_order_in_a_dead_letter_queue_fails_the_run_even_when_notified() {
        let dead_letters = vec![
            (
                "orders-dlq".to_owned(),
                vec![dead_letter("corr-ord-3", Some("ValidationFailed"))],
            ),
            // Delivered again while still being processed, until its receives ran out.
            ("inventory-dlq".to_owned(), vec![dead_letter("corr-ord-1", None)]),
            (
                "notifications-dlq".to_owned(),
                vec![dead_letter("corr-ord-1", None)],
            ),
        ];
        let summary = account(
            &three_orders(),
            &[shipped("ord-1"), shipped("ord-2")],
            &dead_letters,
            false,
        );
        assert_eq!(summary.lost, 0, "every order is accounted for");
        assert!(
            !summary.succeeded(),
            "a valid order was dead-lettered: {summary:?}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["validOrdersDeadLettered"], 1, "{json}");
        assert_eq!(
            table_row(&summary.table(), "valid orders dead-lettered"),
            Some("1 (e.g. ord-1)"),
            "{}",
            summary.table()
        );
    }

    #[test]
    fn poison_orders_in_the_orders_dlq_are_the_run_working() {
        let dead_letters = vec![
            (
                "orders-dlq".to_owned(),
                vec![dead_letter("corr-ord-3", Some("InvalidJson"))],
            ),
            ("inventory-dlq".to_owned(), Vec::new()),
            ("notifications-dlq".to_owned(), Vec::new()),
        ];
        let summary = account(
            &three_orders(),
            &[shipped("ord-1"), shipped("ord-2")],
            &dead_letters,
            false,
        );
        assert!(summary.succeeded(), "{summary:?}");
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["validOrdersDeadLettered"],
            0
        );
        assert_eq!(
            table_row(&summary.table(), "valid orders dead-lettered"),
            Some("0")
        );
        // A lost order fails the run as before.
        let summary = account(&three_orders(), &[shipped("ord-1")], &dead_letters, false);
        assert_eq!((summary.lost, summary.succeeded()), (1, false));
    }
}
