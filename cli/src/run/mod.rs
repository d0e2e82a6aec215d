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

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::metrics::InvocationMetrics;
use orderflow_batch::ports::{
    IdempotencyStore, MessageQueue, MetricsSink, OutgoingMessage, QueueConsumer, VisibilityChange,
};
use orderflow_batch::processor::{BatchConfig, BatchProcessor, Outgoing, RecordContext, RecordStep};
use orderflow_batch::publish::{RetryPolicy, change_visibility, publish_batch};
use orderflow_batch::queue_url::queue_name;
use orderflow_batch::sqs::SqsRecord;
use orderflow_embedded::address::EMBEDDED_ENDPOINT;
use orderflow_embedded::broker::{Broker, QueueSettings, Redrive};
use orderflow_embedded::poller::{BatchHandler, MappingSettings, Poller, PollerStats, ProcessorHandler};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryNotifier};
use orderflow_orders::contracts::attribute;
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS, dlq_name};
use orderflow_orders::ports::{CustomerNotification, InventoryStore, Notifier, Template};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::invoke::Function;
use crate::send::order_message;
use crate::workload::orders;

mod error;
mod options;
pub mod settings;
mod summary;
mod table;

pub use error::RunError;
pub use options::{RunSpec, VISIBILITY_TIMEOUT_RANGE};
pub use summary::{DeadLetters, Duplicates, RunSummary};

use settings::{MAX_RECEIVE_COUNT, STAGES, Stage};

tokio::task_local! {
    /// Records left to start before an injected crash, for the current invocation.
    static CRASH_COUNTDOWN: Cell<Option<usize>>;
}

/// The panic message of injected crashes (the run's panic hook keeps them quiet).
pub const INJECTED_CRASH: &str = "orderflow run: injected crash";

/// Keeps injected crashes (panics by design) out of stderr; other panics print as usual.
pub fn quiet_injected_crashes() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&INJECTED_CRASH) {
            default_hook(info);
        }
    }));
}

/// A step with transient failures and crashes injected.
struct FaultyStep<S> {
    inner: S,
    fail_rate: f64,
    rng: Mutex<fastrand::Rng>,
    injected: Arc<AtomicU64>,
}

/// Faults are injected only before a message's last two allowed receives, so a
/// message is never dead-lettered for injected faults alone.
fn faults_allowed(message: &dyn SqsRecord) -> bool {
    message.receive_count().unwrap_or(1) + 1 < MAX_RECEIVE_COUNT
}

impl<S: RecordStep> RecordStep for FaultyStep<S> {
    type Input = S::Input;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn decode(&self, message: &(dyn SqsRecord + 'static)) -> Result<S::Input, RecordError> {
        self.inner.decode(message)
    }

    fn key<'a>(&self, input: &'a S::Input) -> std::borrow::Cow<'a, str> {
        self.inner.key(input)
    }

    fn correlation_id<'a>(&self, input: &'a S::Input) -> &'a str {
        self.inner.correlation_id(input)
    }

    fn fingerprint(&self, input: &S::Input) -> orderflow_batch::fingerprint::Fingerprint {
        self.inner.fingerprint(input)
    }

    async fn run(&self, input: S::Input, context: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        let crash = CRASH_COUNTDOWN
            .try_with(|countdown| match countdown.get() {
                Some(0) => true,
                Some(n) => {
                    countdown.set(Some(n - 1));
                    false
                }
                None => false,
            })
            .unwrap_or(false);
        if crash {
            std::panic::panic_any(INJECTED_CRASH);
        }
        let fail = faults_allowed(context.message) && {
            let mut rng = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            rng.f64() < self.fail_rate
        };
        if fail {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(PortError::new(
                PortErrorKind::Timeout,
                "InjectedFault",
                "a transient failure (--fail-rate)",
            )
            .into());
        }
        self.inner.run(input, context).await
    }
}

/// A handler whose invocations sometimes die mid-batch.
struct CrashingHandler {
    inner: Arc<dyn BatchHandler>,
    crash_rate: f64,
    rng: Mutex<fastrand::Rng>,
}

#[async_trait]
impl BatchHandler for CrashingHandler {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        let crash_at = {
            let mut rng = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let crash = rng.f64() < self.crash_rate && event.records.iter().all(|m| faults_allowed(m));
            crash.then(|| rng.usize(..event.records.len().max(1)))
        };
        CRASH_COUNTDOWN
            .scope(Cell::new(crash_at), self.inner.invoke(event))
            .await
    }
}

/// Sums every invocation's metrics.
#[derive(Default)]
struct MetricTotals {
    duplicates: AtomicU64,
}

#[async_trait]
impl MetricsSink for MetricTotals {
    async fn publish(&self, metrics: &InvocationMetrics) -> Result<(), PortError> {
        self.duplicates
            .fetch_add(metrics.duplicates_skipped as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The pipeline's six queues.
#[derive(Clone, Debug)]
struct Queues {
    by_name: HashMap<&'static str, (String, String)>,
}

impl Queues {
    fn source(&self, name: &str) -> &str {
        &self.by_name[name].0
    }

    fn dlq(&self, name: &str) -> &str {
        &self.by_name[name].1
    }
}

/// Where the run's queues and stores live.
enum Backend {
    Embedded(Broker),
    Endpoint(SqsQueues),
}

impl Backend {
    fn queue(&self) -> Arc<dyn MessageQueue> {
        match self {
            Backend::Embedded(broker) => Arc::new(broker.clone()),
            Backend::Endpoint(sqs) => Arc::new(sqs.clone()),
        }
    }

    fn consumer(&self) -> Arc<dyn QueueConsumer> {
        match self {
            Backend::Embedded(broker) => Arc::new(broker.clone()),
            Backend::Endpoint(sqs) => Arc::new(sqs.clone()),
        }
    }

    async fn create_queues(&self, spec: &RunSpec, prefix: &str) -> Result<Queues, PortError> {
        let suffix = if spec.fifo { ".fifo" } else { "" };
        let mut by_name = HashMap::new();
        for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
            let source_name = format!("{prefix}{name}{suffix}");
            let dlq = dlq_name(&source_name);
            let urls = match self {
                Backend::Embedded(broker) => {
                    let dlq_url = broker.create_queue(QueueSettings {
                        retention: settings::DLQ_RETENTION,
                        content_based_deduplication: spec.fifo,
                        ..QueueSettings::new(dlq)
                    });
                    let url = broker.create_queue(QueueSettings {
                        visibility_timeout: spec.visibility(),
                        retention: settings::SOURCE_RETENTION,
                        content_based_deduplication: spec.fifo,
                        redrive: Some(Redrive {
                            dead_letter_queue_url: dlq_url.clone(),
                            max_receive_count: MAX_RECEIVE_COUNT,
                        }),
                        ..QueueSettings::new(source_name)
                    });
                    (url, dlq_url)
                }
                Backend::Endpoint(sqs) => create_sqs_queue_pair(sqs, &source_name, &dlq, spec).await?,
            };
            by_name.insert(name, urls);
        }
        Ok(Queues { by_name })
    }

    /// Messages left in a queue (approximate on SQS).
    async fn outstanding(&self, url: &str) -> Result<usize, PortError> {
        match self {
            Backend::Embedded(broker) => Ok(broker.depth(url)?.total()),
            Backend::Endpoint(sqs) => sqs_outstanding(sqs, url).await,
        }
    }
}

async fn create_sqs_queue_pair(
    sqs: &SqsQueues,
    source: &str,
    dlq: &str,
    spec: &RunSpec,
) -> Result<(String, String), PortError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let fifo_attributes = |attrs: Vec<(A, String)>| -> Vec<(A, String)> {
        let mut attrs = attrs;
        if spec.fifo {
            attrs.push((A::FifoQueue, "true".to_owned()));
            attrs.push((A::ContentBasedDeduplication, "true".to_owned()));
        }
        attrs
    };
    let create = |name: String, attrs: Vec<(A, String)>| async move {
        let mut request = sqs.client().create_queue().queue_name(name);
        for (k, v) in attrs {
            request = request.attributes(k, v);
        }
        request
            .send()
            .await
            .map_err(|e| orderflow_aws::error::classify("CreateQueue", e))?
            .queue_url
            .ok_or_else(|| PortError::new(PortErrorKind::Other, "CreateQueue", "no queue URL"))
    };
    let dlq_url = create(
        dlq.to_owned(),
        fifo_attributes(vec![(
            A::MessageRetentionPeriod,
            settings::DLQ_RETENTION.as_secs().to_string(),
        )]),
    )
    .await?;
    let dlq_arn = sqs.queue_arn(&dlq_url).await?;
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#);
    let url = create(
        source.to_owned(),
        fifo_attributes(vec![
            (A::VisibilityTimeout, spec.visibility().as_secs().to_string()),
            (
                A::MessageRetentionPeriod,
                settings::SOURCE_RETENTION.as_secs().to_string(),
            ),
            (A::ReceiveMessageWaitTimeSeconds, "20".to_owned()),
            (A::RedrivePolicy, redrive),
        ]),
    )
    .await?;
    Ok((url, dlq_url))
}

async fn sqs_outstanding(sqs: &SqsQueues, url: &str) -> Result<usize, PortError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .client()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| orderflow_aws::error::classify("GetQueueAttributes", e))?;
    Ok(out
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
        .unwrap_or(0))
}

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

    let (backend, queues_label, prefix) = match &spec.endpoint_url {
        None => (
            Backend::Embedded(Broker::new()),
            "embedded".to_owned(),
            String::new(),
        ),
        Some(url) => {
            let config = orderflow_aws::load_sdk_config_for_endpoint(url).await;
            let sqs = SqsQueues::new(aws_sdk_sqs::Client::new(&config));
            let prefix = format!(
                "orderflow-run-{}-{}-",
                spec.seed,
                orderflow_batch::clock::unix_millis() % 1_000_000
            );
            (Backend::Endpoint(sqs), url.clone(), prefix)
        }
    };
    let setup = |source| RunError::Setup {
        endpoint: queues_label.clone(),
        source,
    };
    let queues = backend.create_queues(spec, &prefix).await.map_err(setup)?;
    let (idempotency, inventory) = stores(spec, &prefix).await.map_err(setup)?;
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
        let embedded = matches!(backend, Backend::Embedded(_));
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
    let needed_quiet = if matches!(backend, Backend::Embedded(_)) {
        1
    } else {
        3
    };
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
    let mut fifo_deduplication = 0;
    if let Backend::Embedded(broker) = &backend {
        for url in queues.by_name.values().flat_map(|(s, d)| [s, d]) {
            if let Ok(c) = broker.counters(url) {
                fifo_deduplication += c.deduplicated;
            }
        }
    }
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

/// How many messages sit in the DLQs now (for the progress bar).
async fn dead_lettered_hint(backend: &Backend, queues: &Queues) -> usize {
    let mut n = 0;
    for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
        n += backend.outstanding(queues.dlq(name)).await.unwrap_or(0);
    }
    n
}

/// How long counting hides each dead letter it received, so that none is
/// received twice; far longer than counting takes.
const COUNTING_VISIBILITY: Duration = Duration::from_secs(600);

/// Receives everything in a DLQ to count it, each message once, then makes
/// the messages visible again: they stay in the queue for inspection.
async fn read_dead_letters(backend: &Backend, url: &str) -> Vec<SqsMessage> {
    let consumer = backend.consumer();
    let mut all: Vec<SqsMessage> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut empty = 0;
    while empty < 2 {
        match consumer
            .receive(url, 10, Duration::from_secs(1), Some(COUNTING_VISIBILITY))
            .await
        {
            Ok(batch) if batch.is_empty() => empty += 1,
            Ok(batch) => {
                empty = 0;
                for message in batch {
                    // Received again (counting outlasted its visibility): the newer receipt counts.
                    match message.message_id.clone().and_then(|id| by_id.get(&id).copied()) {
                        Some(seen) => all[seen] = message,
                        None => {
                            if let Some(id) = message.message_id.clone() {
                                by_id.insert(id, all.len());
                            }
                            all.push(message);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(queue = url, error = %e, "could not read a dead-letter queue");
                break;
            }
        }
    }
    let visible_again: Vec<VisibilityChange> = all
        .iter()
        .filter_map(|m| m.receipt_handle.clone())
        .map(|receipt_handle| VisibilityChange {
            receipt_handle,
            timeout_seconds: 0,
        })
        .collect();
    let failed = change_visibility(&*backend.queue(), url, &visible_again)
        .await
        .iter()
        .filter(|r| r.is_err())
        .count();
    if failed > 0 {
        tracing::warn!(
            queue = url,
            failed,
            hidden_for_s = COUNTING_VISIBILITY.as_secs(),
            "could not make counted dead letters visible again"
        );
    }
    all
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

/// The idempotency store and the inventory of a run.
async fn stores(
    spec: &RunSpec,
    prefix: &str,
) -> Result<(Arc<dyn IdempotencyStore>, Arc<dyn InventoryStore>), PortError> {
    match &spec.dynamodb_endpoint_url {
        None => Ok((
            Arc::new(InMemoryIdempotencyStore::new()),
            Arc::new(InMemoryInventory::new(spec.stock)),
        )),
        Some(endpoint) => {
            let config = orderflow_aws::load_sdk_config_for_endpoint(endpoint).await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            let (idempotency, stock) = (format!("{prefix}idempotency"), format!("{prefix}inventory"));
            create_table(&client, &idempotency, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE)).await?;
            create_table(&client, &stock, INVENTORY_KEY, None).await?;
            let inventory = DynamoInventory::new(client.clone(), stock);
            for sku in 1..=crate::workload::SKU_COUNT {
                inventory.set_stock(&format!("SKU-{sku:04}"), spec.stock).await?;
            }
            Ok((
                Arc::new(DynamoIdempotencyStore::new(client, idempotency)),
                Arc::new(inventory),
            ))
        }
    }
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
    fn faulty<S>(inner: S, spec: &RunSpec, injected: &Arc<AtomicU64>, seed: u64) -> FaultyStep<S> {
        FaultyStep {
            inner,
            fail_rate: spec.fail_rate,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            injected: Arc::clone(injected),
        }
    }
    let timeout = settings::FUNCTION_TIMEOUT;
    let handler: Arc<dyn BatchHandler> = match stage.function {
        Function::Inventory => Arc::new(ProcessorHandler {
            processor,
            step: faulty(
                inventory::InventoryStep::new(
                    Arc::clone(inventory),
                    inventory::Routes {
                        reserved: url(INVENTORY),
                        rejected: url(NOTIFICATIONS),
                    },
                ),
                spec,
                injected,
                seed,
            ),
            timeout,
        }),
        Function::Shipping => Arc::new(ProcessorHandler {
            processor,
            step: faulty(
                shipping::ShippingStep::new(url(NOTIFICATIONS)),
                spec,
                injected,
                seed,
            ),
            timeout,
        }),
        _ => Arc::new(ProcessorHandler {
            processor,
            step: faulty(
                notification::NotificationStep::new(Arc::clone(notifier) as Arc<dyn Notifier>),
                spec,
                injected,
                seed,
            ),
            timeout,
        }),
    };
    Arc::new(CrashingHandler {
        inner: handler,
        crash_rate: spec.crash_rate,
        rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed)),
    })
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

    #[test]
    fn faults_stop_before_the_last_receives() {
        let mut m = SqsMessage::default();
        for (count, allowed) in [("1", true), ("3", true), ("4", false), ("5", false)] {
            m.attributes
                .insert("ApproximateReceiveCount".into(), count.into());
            assert_eq!(faults_allowed(&m), allowed, "{count}");
        }
    }
}
