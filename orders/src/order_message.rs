//! The `OrderCreated` message on the orders queue, as every producer of the
//! pipeline sends it (the relay, `orderflow send`).

use orderflow_batch::error::RecordError;
use orderflow_batch::ports::OutgoingMessage;

use crate::contracts::{EventType, OrderCreated, attribute};
use crate::event_json;

/// The order as an `OrderCreated` message: its JSON as the body (correlation
/// ID and region resolved), the attributes `EventType`, `CorrelationId`,
/// `Priority` and `Region`, and on a FIFO queue the customer as message group
/// and [`OrderCreated::deduplication_id`] as deduplication ID (a repeated
/// publish within SQS's 5-minute window is then delivered once, and another
/// order reusing the order ID is not dropped as its duplicate).
pub fn order_created_message(order: &OrderCreated, fifo: bool) -> Result<OutgoingMessage, RecordError> {
    let mut message = OutgoingMessage::new(event_json::encode(order)?)
        .with_attribute(attribute::EVENT_TYPE, EventType::OrderCreated.as_str())
        .with_attribute(attribute::CORRELATION_ID, order.correlation_id.clone())
        .with_attribute(attribute::PRIORITY, order.priority())
        .with_attribute(attribute::REGION, order.shipping_region.clone());
    if fifo {
        message.group_id = Some(order.customer_id.clone());
        message.deduplication_id = Some(order.deduplication_id());
    }
    Ok(message)
}
