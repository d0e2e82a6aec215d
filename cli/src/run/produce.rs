//! The producer: every order into the pipeline, poison ones too, noting what
//! it sent for the account. Through order-api's handler (`--entry api`, see
//! `front_door`), or onto the orders queue, ten per batch call (`--entry queue`).

use orderflow_batch::ports::{MessageQueue, OutgoingMessage};
use orderflow_batch::publish::{RetryPolicy, publish_batch};
use orderflow_orders::contracts::attribute;
use orderflow_orders::pipeline::ORDERS;

use super::front_door::post_orders;
use super::options::{Entry, RunSpec};
use super::pipeline::Pipeline;
use super::sent_orders::{Produced, SentOrders};
use crate::send::order_message;
use crate::workload::orders;

/// Sends `spec.orders` orders of `spec.seed`'s workload into the pipeline at `spec.entry`.
pub(super) async fn produce(spec: &RunSpec, pipeline: &Pipeline) -> Produced {
    match spec.entry {
        Entry::Api => post_orders(spec, pipeline).await,
        Entry::Queue => send_orders(spec, pipeline).await,
    }
}

/// Sends the orders to the orders queue, ten a call.
async fn send_orders(spec: &RunSpec, pipeline: &Pipeline) -> Produced {
    let mut sent = SentOrders::with_capacity(spec.orders);
    let mut batch = Vec::with_capacity(10);
    let orders_queue = pipeline.queues.source(ORDERS).to_owned();
    let queue = pipeline.backend.queue();
    let mut unsent = 0usize;
    for order in orders(spec.seed, spec.poison_rate, spec.orders) {
        let message = order_message(&order, spec.fifo);
        sent.record(&order, message.attribute(attribute::CORRELATION_ID));
        batch.push(message);
        if batch.len() == 10 {
            unsent += send_all(&*queue, &orders_queue, &mut batch).await;
        }
    }
    unsent += send_all(&*queue, &orders_queue, &mut batch).await;
    Produced { sent, unsent }
}

/// Sends and clears `batch`; returns how many could not be sent (they count as lost).
async fn send_all(queue: &dyn MessageQueue, url: &str, batch: &mut Vec<OutgoingMessage>) -> usize {
    if batch.is_empty() {
        return 0;
    }
    let results = publish_batch(queue, url, std::mem::take(batch), &RetryPolicy::default()).await;
    results.iter().filter(|r| r.is_err()).count()
}
