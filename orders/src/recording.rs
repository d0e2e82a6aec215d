//! How a step records its transition on the order of record.

use orderflow_batch::error::PortError;

use crate::order_record::{Transition, TransitionOutcome};
use crate::ports::OrderStore;

/// Records a step's transition on a known order. An order the store does not
/// know is logged and left alone (it entered before its stage recorded
/// orders): a step never fails for it. A store error is the caller's to
/// retry.
pub async fn record_transition(
    orders: &dyn OrderStore,
    order_id: &str,
    transition: &Transition,
) -> Result<TransitionOutcome, PortError> {
    let outcome = orders.record(order_id, transition).await?;
    if outcome == TransitionOutcome::UnknownOrder {
        tracing::warn!(orderId = %order_id, status = transition.status.as_str(), "the order of record has no such order");
    }
    Ok(outcome)
}
