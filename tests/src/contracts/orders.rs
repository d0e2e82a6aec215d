//! What every [`OrderStore`] must do: accept an order once (a retried
//! acceptance is told apart from another order under the same ID, and
//! neither changes the stored order), give back what it stored, and move an
//! order forward only, idempotently: a repeated or late transition changes
//! nothing, and nothing follows a final status. Each write is one atomic
//! check-and-write: of racing writers, exactly one wins.

use orderflow_orders::contracts::{OrderCreated, OrderItem};
use orderflow_orders::money::Money;
use orderflow_orders::order_record::{Acceptance, OrderRecord, OrderStatus, Transition, TransitionOutcome};
use orderflow_orders::ports::OrderStore;
use time::OffsetDateTime;
use time::macros::datetime;

/// Runs every rule against `store`, which must be empty.
pub async fn check(store: &dyn OrderStore) {
    a_new_order_is_accepted_and_read_back(store).await;
    a_retried_acceptance_keeps_the_original_order(store).await;
    another_order_under_a_taken_id_is_a_conflict(store).await;
    a_transition_is_applied_once(store).await;
    a_late_transition_never_moves_an_order_back(store).await;
    an_unknown_order_is_neither_read_nor_moved(store).await;
    an_order_that_bypassed_the_api_is_recorded_from_its_first_transition(store).await;
    nothing_follows_a_final_status(store).await;
    transitions_keep_orders_apart(store).await;
    racing_writes_apply_once(store).await;
}

/// Accepted at, and a later time for each transition (offsets and fractions
/// kept: every time comes back as the instant it was).
const ACCEPTED_AT: OffsetDateTime = datetime!(2026-11-28 09:31:00.5 UTC);

fn at(minute: i64) -> OffsetDateTime {
    datetime!(2026-11-28 11:00:00.125 +1) + time::Duration::minutes(minute)
}

fn order(order_id: &str) -> OrderCreated {
    OrderCreated {
        version: "1.0".into(),
        order_id: order_id.to_owned(),
        customer_id: "cust-1".into(),
        items: vec![
            OrderItem {
                sku: "SKU-A".into(),
                quantity: 2,
            },
            OrderItem {
                sku: "SKU-B".into(),
                quantity: 1000,
            },
        ],
        total_amount: Money::from_cents(123_405),
        created_at: datetime!(2026-11-28 09:30:00.25 +2),
        shipping_region: "EU".into(),
        correlation_id: format!("corr-{order_id}"),
    }
}

async fn accept(store: &dyn OrderStore, order: &OrderCreated) -> Acceptance {
    store
        .accept(order, order.fingerprint(), &Transition::accepted(ACCEPTED_AT))
        .await
        .unwrap_or_else(|e| panic!("accepting {}: {e}", order.order_id))
}

async fn get(store: &dyn OrderStore, order_id: &str) -> Option<OrderRecord> {
    store
        .get(order_id)
        .await
        .unwrap_or_else(|e| panic!("reading {order_id}: {e}"))
}

async fn record(store: &dyn OrderStore, order_id: &str, transition: &Transition) -> TransitionOutcome {
    store
        .record(order_id, transition)
        .await
        .unwrap_or_else(|e| panic!("recording {:?} on {order_id}: {e}", transition.status))
}

/// Accepts a new order, failing the test unless it is new.
async fn accepted(store: &dyn OrderStore, order_id: &str) -> OrderRecord {
    let order = order(order_id);
    assert_eq!(
        accept(store, &order).await,
        Acceptance::Accepted,
        "{order_id} is new"
    );
    get(store, order_id)
        .await
        .unwrap_or_else(|| panic!("{order_id} was accepted"))
}

async fn a_new_order_is_accepted_and_read_back(store: &dyn OrderStore) {
    let stored = accepted(store, "ord-new").await;
    assert_eq!(
        stored.order,
        order("ord-new"),
        "every contract field, as accepted"
    );
    assert_eq!(stored.fingerprint, order("ord-new").fingerprint());
    assert_eq!(stored.status, OrderStatus::Accepted);
    assert_eq!(
        stored.history,
        vec![Transition::new(OrderStatus::Accepted, ACCEPTED_AT)]
    );
    assert_eq!(stored.updated_at, ACCEPTED_AT);
}

async fn a_retried_acceptance_keeps_the_original_order(store: &dyn OrderStore) {
    let original = accepted(store, "ord-retry").await;
    let retry = OrderCreated {
        correlation_id: "corr-of-the-retry".into(),
        version: "1.1".into(),
        ..order("ord-retry")
    };
    assert_eq!(
        store
            .accept(&retry, retry.fingerprint(), &Transition::accepted(at(5)))
            .await
            .expect("accepting a retry"),
        Acceptance::AlreadyAccepted {
            correlation_id: "corr-ord-retry".into()
        },
        "the same order under a new correlation ID and version: a retry, answered with the first correlation ID"
    );
    assert_eq!(
        get(store, "ord-retry").await,
        Some(original),
        "a retry changes nothing"
    );
}

async fn another_order_under_a_taken_id_is_a_conflict(store: &dyn OrderStore) {
    let original = accepted(store, "ord-taken").await;
    let mut other = order("ord-taken");
    other.items[0].quantity = 3;
    assert_eq!(accept(store, &other).await, Acceptance::Conflict);
    let other_customer = OrderCreated {
        customer_id: "cust-2".into(),
        ..order("ord-taken")
    };
    assert_eq!(accept(store, &other_customer).await, Acceptance::Conflict);
    assert_eq!(
        get(store, "ord-taken").await,
        Some(original),
        "the stored order is unchanged"
    );
}

async fn a_transition_is_applied_once(store: &dyn OrderStore) {
    accepted(store, "ord-reserve").await;
    let reserved = Transition::new(OrderStatus::Reserved, at(1))
        .with("skus", "SKU-A,SKU-B")
        .with("lines", "2");
    assert_eq!(
        record(store, "ord-reserve", &reserved).await,
        TransitionOutcome::Applied
    );
    let after = get(store, "ord-reserve").await.expect("the order");
    assert_eq!(after.status, OrderStatus::Reserved);
    assert_eq!(after.updated_at, at(1));
    assert_eq!(
        after.history,
        vec![
            Transition::new(OrderStatus::Accepted, ACCEPTED_AT),
            Transition::new(OrderStatus::Reserved, at(1))
                .with("lines", "2")
                .with("skus", "SKU-A,SKU-B"),
        ],
        "appended, its details in name order"
    );
    assert_eq!(after.order, order("ord-reserve"), "the order itself untouched");

    let again = Transition::new(OrderStatus::Reserved, at(2)).with("lines", "9");
    assert_eq!(
        record(store, "ord-reserve", &again).await,
        TransitionOutcome::Unchanged,
        "already reserved"
    );
    assert_eq!(
        get(store, "ord-reserve").await,
        Some(after),
        "history not duplicated, time not moved"
    );
}

async fn a_late_transition_never_moves_an_order_back(store: &dyn OrderStore) {
    accepted(store, "ord-late").await;
    let shipped = Transition::new(OrderStatus::Shipped, at(3))
        .with("shipmentId", "shp-1")
        .with("carrier", "DHL");
    assert_eq!(
        record(store, "ord-late", &shipped).await,
        TransitionOutcome::Applied,
        "a step may skip ahead: the reservation's transition is late"
    );
    let before = get(store, "ord-late").await.expect("the order");
    for late in [
        OrderStatus::Reserved,
        OrderStatus::Rejected,
        OrderStatus::Accepted,
        OrderStatus::Shipped,
    ] {
        assert_eq!(
            record(store, "ord-late", &Transition::new(late, at(4))).await,
            TransitionOutcome::Unchanged,
            "{} after SHIPPED",
            late.as_str()
        );
    }
    let after = get(store, "ord-late").await.expect("the order");
    assert_eq!(after.status, OrderStatus::Shipped);
    assert_eq!(after, before, "nothing written");
}

async fn an_unknown_order_is_neither_read_nor_moved(store: &dyn OrderStore) {
    assert_eq!(get(store, "ord-unknown").await, None);
    for status in [OrderStatus::Reserved, OrderStatus::Failed, OrderStatus::Accepted] {
        assert_eq!(
            record(store, "ord-unknown", &Transition::new(status, at(1))).await,
            TransitionOutcome::UnknownOrder,
            "{}",
            status.as_str()
        );
    }
    assert_eq!(
        get(store, "ord-unknown").await,
        None,
        "a transition never creates an order"
    );
}

async fn an_order_that_bypassed_the_api_is_recorded_from_its_first_transition(store: &dyn OrderStore) {
    let order = order("ord-entered");
    let rejected = Transition::new(OrderStatus::Rejected, at(1)).with("shortSkus", "SKU-A");
    let outcome = store.record_entered(&order, &rejected).await.unwrap();
    assert_eq!(outcome, TransitionOutcome::Applied);
    let record = get(store, "ord-entered").await.expect("recorded from the order");
    assert_eq!(
        record,
        OrderRecord::entered(order.clone(), order.fingerprint(), &rejected),
        "the order as the step knew it, the transition its whole history"
    );
    // Known now: the rules of any order hold (nothing follows REJECTED).
    let notified = Transition::new(OrderStatus::Notified, at(2));
    assert_eq!(
        store.record_entered(&order, &notified).await.unwrap(),
        TransitionOutcome::Unchanged
    );
    // An accepted order is moved, not replaced: its history keeps the acceptance.
    let accepted_order = accepted(store, "ord-entered-2").await;
    let reserved = Transition::new(OrderStatus::Reserved, at(3));
    assert_eq!(
        store
            .record_entered(&accepted_order.order, &reserved)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    let record = get(store, "ord-entered-2").await.unwrap();
    assert_eq!(record.history.len(), 2);
    assert_eq!(record.order, accepted_order.order);
}

async fn nothing_follows_a_final_status(store: &dyn OrderStore) {
    accepted(store, "ord-failed").await;
    let failed = Transition::new(OrderStatus::Failed, at(2)).with("errorCode", "Throttled");
    assert_eq!(
        record(store, "ord-failed", &failed).await,
        TransitionOutcome::Applied,
        "FAILED may follow ACCEPTED"
    );
    let after = get(store, "ord-failed").await.expect("the order");
    assert_eq!(after.status, OrderStatus::Failed);
    for next in OrderStatus::ALL {
        assert_eq!(
            record(store, "ord-failed", &Transition::new(next, at(6))).await,
            TransitionOutcome::Unchanged,
            "{} after FAILED",
            next.as_str()
        );
    }
    assert_eq!(get(store, "ord-failed").await, Some(after));

    // The whole way to NOTIFIED, then nothing (not even FAILED).
    accepted(store, "ord-notified").await;
    for (minute, status) in [
        (1, OrderStatus::Reserved),
        (2, OrderStatus::Shipped),
        (3, OrderStatus::Notified),
    ] {
        assert_eq!(
            record(store, "ord-notified", &Transition::new(status, at(minute))).await,
            TransitionOutcome::Applied,
            "{}",
            status.as_str()
        );
    }
    assert_eq!(
        record(
            store,
            "ord-notified",
            &Transition::new(OrderStatus::Failed, at(4))
        )
        .await,
        TransitionOutcome::Unchanged,
        "FAILED after NOTIFIED"
    );
    let done = get(store, "ord-notified").await.expect("the order");
    assert_eq!(done.status, OrderStatus::Notified);
    let statuses: Vec<OrderStatus> = done.history.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Accepted,
            OrderStatus::Reserved,
            OrderStatus::Shipped,
            OrderStatus::Notified
        ]
    );
}

async fn transitions_keep_orders_apart(store: &dyn OrderStore) {
    accepted(store, "ord-apart-1").await;
    let untouched = accepted(store, "ord-apart-2").await;
    let rejected = Transition::new(OrderStatus::Rejected, at(1)).with("SKU-B", "short");
    assert_eq!(
        record(store, "ord-apart-1", &rejected).await,
        TransitionOutcome::Applied
    );
    assert_eq!(
        get(store, "ord-apart-1").await.map(|r| r.status),
        Some(OrderStatus::Rejected)
    );
    assert_eq!(get(store, "ord-apart-2").await, Some(untouched));
}

async fn racing_writes_apply_once(store: &dyn OrderStore) {
    const RACERS: usize = 8;
    let order = order("ord-race");
    let acceptances = futures::future::join_all((0..RACERS).map(|_| accept(store, &order))).await;
    let first = acceptances.iter().filter(|a| **a == Acceptance::Accepted).count();
    assert_eq!(
        first, 1,
        "exactly one of {RACERS} racing acceptances is the first: {acceptances:?}"
    );
    let retries = acceptances
        .iter()
        .filter(|a| {
            **a == Acceptance::AlreadyAccepted {
                correlation_id: "corr-ord-race".into(),
            }
        })
        .count();
    assert_eq!(retries, RACERS - 1, "the others are retries");

    let shipped = Transition::new(OrderStatus::Shipped, at(1));
    let outcomes = futures::future::join_all((0..RACERS).map(|_| record(store, "ord-race", &shipped))).await;
    let applied = outcomes
        .iter()
        .filter(|o| **o == TransitionOutcome::Applied)
        .count();
    assert_eq!(
        applied, 1,
        "exactly one of {RACERS} racing transitions applies: {outcomes:?}"
    );
    let history = get(store, "ord-race").await.expect("the order").history;
    assert_eq!(history.len(), 2, "accepted once, shipped once: {history:?}");
}
