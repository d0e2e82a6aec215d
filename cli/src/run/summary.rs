//! What a run did: the summary it returns, printed as JSON or as a table.

use std::collections::BTreeMap;

use serde::Serialize;

/// One dead-letter queue's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetters {
    /// The queue's name.
    pub queue: String,
    /// Messages in it.
    pub messages: usize,
    /// Messages by reason: the `ErrorCode` of the fast path, or `maxReceiveCount`.
    pub reasons: BTreeMap<String, usize>,
}

/// Where duplicate deliveries were stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Duplicates {
    /// Records skipped because their step had completed (idempotency records).
    pub idempotency: u64,
    /// Notifications the notifier had already delivered.
    pub notifier: u64,
    /// FIFO sends dropped by the queue's deduplication.
    pub fifo_deduplication: u64,
}

impl Duplicates {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.idempotency + self.notifier + self.fifo_deduplication
    }
}

/// What a run did, and whether anything was lost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// `embedded`, or the endpoint's URL.
    pub queues: String,
    /// FIFO queues.
    pub fifo: bool,
    /// The seed.
    pub seed: u64,
    /// Orders sent (poison included).
    pub sent: usize,
    /// Orders sent with a broken body on purpose.
    pub poison_sent: usize,
    /// Orders order-api refused with 400 (`--entry api`): the poison ones.
    pub refused_at_api: usize,
    /// Orders the pipeline's entry did not take (after retries): they count as lost.
    pub send_failures: usize,
    /// Orders whose customer was notified (shipped or rejected).
    pub notified: usize,
    /// Of those, rejected for stock.
    pub rejected_for_stock: usize,
    /// Orders notified more than once (must be 0).
    pub notified_more_than_once: usize,
    /// Valid orders by their status on the order of record (`NOTIFIED`,
    /// `REJECTED`, `FAILED` are final; `none`: not on record).
    pub statuses: BTreeMap<String, usize>,
    /// Valid orders on record in no final status and in no dead-letter queue
    /// (must be 0: they are lost too).
    pub not_final: usize,
    /// Each dead-letter queue.
    pub dead_letter_queues: Vec<DeadLetters>,
    /// Duplicate deliveries stopped, by where.
    pub duplicates_suppressed: Duplicates,
    /// Deliveries of messages received before (retries after failures and crashes).
    pub retries: u64,
    /// Function invocations.
    pub invocations: u64,
    /// Invocations that died mid-batch.
    pub crashed_invocations: u64,
    /// Transient step failures injected.
    pub injected_failures: u64,
    /// Sent orders not accounted for: neither notified nor dead-lettered, or
    /// (a valid one) in no final status on record and in no dead-letter queue.
    pub lost: usize,
    /// Some of the lost orders, to look for.
    pub lost_examples: Vec<String>,
    /// Orders with a valid body that ended in a dead-letter queue (must be 0;
    /// notified or not: e.g. delivered again while still being processed).
    pub valid_orders_dead_lettered: usize,
    /// Some of them, to look for.
    pub valid_dead_lettered_examples: Vec<String>,
    /// Whether the run hit its time limit.
    pub timed_out: bool,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// Seconds on the run's clock (visibility timeouts and backoffs included).
    pub simulated_seconds: f64,
    /// Orders sent per wall-clock second, through all three stages.
    pub orders_per_second: f64,
    /// For FIFO runs: customers whose shipped orders were notified out of send order (must be 0).
    pub out_of_order_customers: usize,
    /// For FIFO runs: customers with two or more shipped orders (whose order could be wrong).
    pub customers_with_several_shipments: usize,
    /// The steps' own metrics summed over the run (`OrdersRejected`,
    /// `OrderValue`, `ShipmentsCreated Carrier=UPS`, ...): an invocation that
    /// crashed published none, so with crashes they can fall short.
    pub step_metrics: BTreeMap<String, f64>,
}

impl RunSummary {
    /// Whether the run did its job: every order accounted for, and no valid
    /// order dead-lettered.
    pub fn succeeded(&self) -> bool {
        self.lost == 0 && self.valid_orders_dead_lettered == 0
    }
}
