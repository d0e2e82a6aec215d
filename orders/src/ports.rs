//! The order steps' own ports: the order of record, stock and customer
//! notifications, and [`StepPorts`], through which a step is built without knowing what backs
//! them. The batch processor's ports (queues, idempotency, metrics) are
//! `orderflow_batch::ports`.

use std::sync::Arc;

use async_trait::async_trait;
use orderflow_batch::config::ConfigError;
use orderflow_batch::error::PortError;
use orderflow_batch::fingerprint::Fingerprint;

use crate::contracts::{OrderCreated, Shortage};
use crate::order_record::{Acceptance, OrderRecord, Transition, TransitionOutcome};
use crate::pipeline::Queue;

/// What a step is built from: where the pipeline's queues are and the ports
/// it uses. The wiring implements it (AWS adapters from the environment, or
/// embedded ones), so a step never decides what backs its ports.
pub trait StepPorts {
    /// The URL of one of the pipeline's queues.
    fn queue_url(&self, queue: Queue) -> Result<Arc<str>, ConfigError>;
    /// The stock.
    fn inventory(&self) -> Result<Arc<dyn InventoryStore>, ConfigError>;
    /// Where customer messages go.
    fn notifier(&self) -> Result<Arc<dyn Notifier>, ConfigError>;
    /// The order of record.
    fn orders(&self) -> Result<Arc<dyn OrderStore>, ConfigError>;
}

/// What a stock reservation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Every line was reserved now.
    Reserved,
    /// This order's reservation already exists (a retry): nothing was taken twice.
    AlreadyReserved,
    /// Not enough stock; nothing was reserved.
    Short(Vec<Shortage>),
}

/// Stock levels, reserved all-or-nothing per order.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Reserves every line of the order or none, recording the reservation under
    /// the order ID so a retried reservation never takes stock twice. A store
    /// that keeps the order of record applies `reserved` to the order in the
    /// same atomic write ([`OrderStore::record_entered`]'s rules), so an order
    /// is never `RESERVED` without its stock or the other way round.
    async fn reserve(&self, order: &OrderCreated, reserved: &Transition) -> Result<Reservation, PortError>;
}

/// The order of record: one entry per order ID, accepted once and moved
/// forward by the steps ([`OrderStatus::may_become`](crate::order_record::OrderStatus::may_become)).
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Records `order` as accepted by `acceptance` (its time and details,
    /// such as the request's trace header), in one atomic check-and-write:
    /// [`Acceptance::Accepted`] if the ID is new; if it is taken,
    /// [`Acceptance::AlreadyAccepted`] when `fingerprint` is the stored one
    /// (a retry: the stored order and its correlation ID stay), else
    /// [`Acceptance::Conflict`]. Never replaces a stored order.
    async fn accept(
        &self,
        order: &OrderCreated,
        fingerprint: Fingerprint,
        acceptance: &Transition,
    ) -> Result<Acceptance, PortError>;

    /// The order's record, or `None` if no order has this ID.
    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, PortError>;

    /// Moves the order to `transition`'s status and appends it to the
    /// history, in one atomic write, if the order may move there; else
    /// [`TransitionOutcome::Unchanged`] (nothing written).
    async fn record(&self, order_id: &str, transition: &Transition) -> Result<TransitionOutcome, PortError>;

    /// As [`OrderStore::record`] for `order`; when no order has its ID (it
    /// entered the pipeline without the API, e.g. `orderflow send`), records
    /// it at the transition's status, that transition its history
    /// ([`OrderRecord::entered`](crate::order_record::OrderRecord::entered)),
    /// and answers [`TransitionOutcome::Applied`].
    async fn record_entered(
        &self,
        order: &OrderCreated,
        transition: &Transition,
    ) -> Result<TransitionOutcome, PortError>;
}

/// Which message a customer gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Template {
    /// The order shipped.
    ShipmentConfirmation,
    /// The order was rejected for stock.
    OrderRejected,
}

impl Template {
    /// The template's name, e.g. `shipment-confirmation`.
    pub fn name(self) -> &'static str {
        match self {
            Template::ShipmentConfirmation => "shipment-confirmation",
            Template::OrderRejected => "order-rejected",
        }
    }
}

/// A message to a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerNotification {
    /// The order it is about.
    pub order_id: String,
    /// The recipient.
    pub customer_id: String,
    /// Which template was rendered.
    pub template: Template,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
    /// Carried from the order.
    pub correlation_id: String,
    /// The same for every delivery of this order's message with this template:
    /// a notifier that deduplicates (an SNS FIFO topic, the embedded one)
    /// delivers it once even when the step runs again after a crash.
    pub deduplication_id: String,
}

/// Delivers customer messages (email/SMS through SNS, or a log line).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one message.
    async fn notify(&self, notification: &CustomerNotification) -> Result<(), PortError>;
}
