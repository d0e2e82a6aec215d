//! `order-relay`: the transactional outbox. `order-api` only writes an order
//! to the orders table; this step reads the table's stream and publishes each
//! newly inserted order to the orders queue as `OrderCreated`. So an order is
//! published if and only if it was saved, with no dual write.
//!
//! - An `INSERT` is an accepted order: its new image is decoded in the
//!   layout of [`order_item`] and sent with the pipeline's attributes, and on
//!   a FIFO queue the customer as group and the order's deduplication ID
//!   ([`order_created_message`]). The batch processor sends ten per
//!   `SendMessageBatch`; the step makes no other call.
//! - A `MODIFY` (a stage recording its status) or `REMOVE` sends nothing, nor
//!   does an `INSERT` at a later status: an order that entered the pipeline
//!   without the API, recorded by its first stage, is already on its way.
//! - An image that is not an order item fails its record permanently, named by
//!   the broken attribute, never its value; the event source mapping retries
//!   it, bisects, and finally gives it to its on-failure destination.
//!
//! It keeps no idempotency records: a retried batch may publish an order
//! again, which the consumers' own idempotency (keyed by the order ID, with
//! the order's fingerprint) turns into a skipped duplicate.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::sync::Arc;

use orderflow_batch::RecordError;
use orderflow_batch::config::ConfigError;
use orderflow_batch::error::{FieldError, FieldErrors};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::processor::{Outgoing, RecordContext, RecordStep};
use orderflow_batch::queue_url::is_fifo;
use orderflow_batch::stream_source::{StreamEventName, StreamRecord};
use orderflow_orders::contracts::OrderCreated;
use orderflow_orders::order_item::{self, ItemError};
use orderflow_orders::order_message::order_created_message;
use orderflow_orders::order_record::{OrderStatus, detail};
use orderflow_orders::pipeline::Queue;
use orderflow_orders::ports::StepPorts;

/// The step's name.
pub const STEP: &str = "order-relay";

/// What the relay makes of one change of the orders table.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// An order was accepted: publish it.
    Accepted {
        /// The order as stored, its correlation ID the one it was accepted with.
        order: OrderCreated,
        /// The stored fingerprint.
        fingerprint: Fingerprint,
        /// The trace of the request that placed it (its acceptance's
        /// `traceHeader`), which its message carries on.
        trace_header: Option<String>,
    },
    /// Any other change: nothing to publish.
    Other {
        /// The change's sequence number (its key).
        sequence_number: String,
    },
}

/// Publishes accepted orders to the orders queue.
#[derive(Clone, Debug)]
pub struct RelayStep {
    orders_queue_url: Arc<str>,
    fifo: bool,
}

impl RelayStep {
    /// The relay to the orders queue at `orders_queue_url` (a `.fifo` URL
    /// gets groups and deduplication IDs).
    pub fn new(orders_queue_url: impl Into<Arc<str>>) -> Self {
        let orders_queue_url = orders_queue_url.into();
        RelayStep {
            fifo: is_fifo(&orders_queue_url),
            orders_queue_url,
        }
    }
}

/// The step over `ports`: it publishes to the orders queue.
pub fn step(ports: &dyn StepPorts) -> Result<RelayStep, ConfigError> {
    Ok(RelayStep::new(ports.queue_url(Queue::Orders)?))
}

/// A permanent error naming the change's part that is wrong.
fn unusable(rule: &'static str, message: String) -> RecordError {
    RecordError::Invalid {
        event: "OrderItem",
        errors: FieldErrors(vec![FieldError {
            field: "dynamodb.NewImage".to_owned(),
            rule,
            message: Cow::Owned(message),
        }]),
    }
}

impl RecordStep<dyn StreamRecord> for RelayStep {
    type Input = Change;

    fn name(&self) -> &'static str {
        STEP
    }

    fn decode(&self, record: &dyn StreamRecord) -> Result<Change, RecordError> {
        if record.event_name() != StreamEventName::Insert {
            return Ok(Change::Other {
                sequence_number: record.sequence_number().to_owned(),
            });
        }
        let image = record.new_image().ok_or_else(|| {
            unusable(
                "required",
                "an INSERT has no new image: the stream must carry new images".to_owned(),
            )
        })?;
        let item_error = |e: ItemError| unusable("orderItem", e.to_string());
        let item = order_item::item_from_json(image).map_err(item_error)?;
        if order_item::decode_status(&item).map_err(item_error)? != OrderStatus::Accepted {
            return Ok(Change::Other {
                sequence_number: record.sequence_number().to_owned(),
            });
        }
        Ok(Change::Accepted {
            order: order_item::decode_order(&item).map_err(item_error)?,
            fingerprint: order_item::decode_fingerprint(&item).map_err(item_error)?,
            trace_header: acceptance_trace(&item),
        })
    }

    /// The order ID: one order is inserted once.
    fn key<'a>(&self, input: &'a Change) -> Cow<'a, str> {
        match input {
            Change::Accepted { order, .. } => Cow::Borrowed(&order.order_id),
            Change::Other { sequence_number } => Cow::Borrowed(sequence_number),
        }
    }

    fn correlation_id<'a>(&self, input: &'a Change) -> &'a str {
        match input {
            Change::Accepted { order, .. } => &order.correlation_id,
            Change::Other { sequence_number } => sequence_number,
        }
    }

    fn fingerprint(&self, input: &Change) -> Fingerprint {
        match input {
            Change::Accepted { fingerprint, .. } => *fingerprint,
            Change::Other { sequence_number } => Fingerprint::of(|f| {
                f.str(sequence_number);
            }),
        }
    }

    async fn run(
        &self,
        input: Change,
        _: &RecordContext<'_, dyn StreamRecord>,
    ) -> Result<Vec<Outgoing>, RecordError> {
        match input {
            Change::Accepted {
                order, trace_header, ..
            } => {
                let mut message = order_created_message(&order, self.fifo)?;
                message.trace_header = trace_header;
                Ok(vec![Outgoing {
                    queue_url: Arc::clone(&self.orders_queue_url),
                    message,
                }])
            }
            Change::Other { .. } => Ok(Vec::new()),
        }
    }
}

/// The `traceHeader` of an item's acceptance (its first history entry), if any.
fn acceptance_trace(item: &order_item::Item) -> Option<String> {
    let order_item::ItemValue::L(history) = item.get("history")? else {
        return None;
    };
    let acceptance = order_item::decode_transition(history.first()?).ok()?;
    acceptance
        .details
        .into_iter()
        .find(|(name, _)| name == detail::TRACE_HEADER)
        .map(|(_, trace)| trace)
}

#[cfg(test)]
mod tests;
