//! How a step records its transition on the order of record.

use orderflow_batch::error::PortError;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::order_record::{OrderStatus, Transition, TransitionOutcome, detail};
use crate::ports::OrderStore;
use crate::validation::rules::ID;

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
        tracing::warn!(order_id = %order_id, status = transition.status.as_str(), "the order of record has no such order");
    }
    Ok(outcome)
}

/// The info line logged each time an order becomes `FAILED`: the template's
/// metric filters count it as the dashboard's failed transitions.
pub const FAILED_LOG_MESSAGE: &str = "order failed";

/// Codes under which a dead-lettered body names an order that is not its
/// own: another order holds the key, so that order must not be failed.
const NOT_THE_BODYS_ORDER: [&str; 1] = ["IdempotencyKeyReused"];

/// Only the order ID of a body, whatever else it holds or breaks.
#[derive(Deserialize)]
struct OrderIdOnly<'a> {
    #[serde(rename = "orderId", borrow, default)]
    order_id: Option<std::borrow::Cow<'a, str>>,
}

/// Records `FAILED` (with the error code) on the order a dead-lettered body
/// names, when its order ID can be read and keeps the `orderId` rule; an
/// order not on record, or already final, is left as it is. Not for a
/// reused key: that body names another order.
pub async fn record_failure(
    orders: &dyn OrderStore,
    body: Option<&str>,
    code: &'static str,
    at: OffsetDateTime,
) -> Result<TransitionOutcome, PortError> {
    let order_id = body
        .filter(|_| !NOT_THE_BODYS_ORDER.contains(&code))
        .and_then(|body| serde_json::from_str::<OrderIdOnly<'_>>(body).ok())
        .and_then(|only| only.order_id)
        .filter(|id| ID.accepts(id));
    let Some(order_id) = order_id else {
        return Ok(TransitionOutcome::UnknownOrder);
    };
    let failed = Transition::new(OrderStatus::Failed, at).with(detail::ERROR_CODE, code);
    let outcome = orders.record(&order_id, &failed).await?;
    if outcome == TransitionOutcome::Applied {
        tracing::info!(order_id = %order_id, error_code = code, "{FAILED_LOG_MESSAGE}");
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::OrderCreated;
    use crate::order_record::{Acceptance, OrderRecord};
    use async_trait::async_trait;
    use orderflow_batch::fingerprint::Fingerprint;
    use std::sync::Mutex;

    /// Remembers what was recorded; knows every order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Transition)>>);

    #[async_trait]
    impl OrderStore for Recorder {
        async fn accept(
            &self,
            _: &OrderCreated,
            _: Fingerprint,
            _: &Transition,
        ) -> Result<Acceptance, PortError> {
            Ok(Acceptance::Accepted)
        }
        async fn get(&self, _: &str) -> Result<Option<OrderRecord>, PortError> {
            Ok(None)
        }
        async fn record(
            &self,
            order_id: &str,
            transition: &Transition,
        ) -> Result<TransitionOutcome, PortError> {
            self.0
                .lock()
                .unwrap()
                .push((order_id.to_owned(), transition.clone()));
            Ok(TransitionOutcome::Applied)
        }
        async fn record_entered(
            &self,
            _: &OrderCreated,
            _: &Transition,
        ) -> Result<TransitionOutcome, PortError> {
            unreachable!("a failure is recorded only on a known order")
        }
    }

    #[tokio::test]
    async fn a_dead_letter_fails_the_order_its_body_names_when_it_can_be_read() {
        let store = Recorder::default();
        let at = OffsetDateTime::UNIX_EPOCH;
        let broken = r#"{"orderId":"ord-1","items":"not a list","totalAmount":-1}"#;
        assert_eq!(
            record_failure(&store, Some(broken), "ValidationFailed", at)
                .await
                .unwrap(),
            TransitionOutcome::Applied
        );
        let recorded = store.0.lock().unwrap().clone();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].0, "ord-1");
        assert_eq!(recorded[0].1.status, OrderStatus::Failed);
        assert_eq!(
            recorded[0].1.details,
            [(detail::ERROR_CODE.to_owned(), "ValidationFailed".to_owned())]
        );
        for (body, code) in [
            (Some("not json"), "InvalidJson"),
            (Some(r#"{"customerId":"c"}"#), "ValidationFailed"),
            (Some(r#"{"orderId":"ord 1"}"#), "ValidationFailed"),
            (Some(r#"{"orderId":17}"#), "ValidationFailed"),
            (None, "MissingBody"),
            (Some(r#"{"orderId":"ord-2"}"#), "IdempotencyKeyReused"),
        ] {
            assert_eq!(
                record_failure(&store, body, code, at).await.unwrap(),
                TransitionOutcome::UnknownOrder,
                "{body:?} {code}"
            );
        }
        assert_eq!(store.0.lock().unwrap().len(), 1, "nothing else recorded");
    }
}
