//! What every [`InventoryStore`] must do: reserve every line of an order or
//! none, never take stock twice for a retried order, answer a shortage (a
//! permanent outcome, never an error to retry) with exactly the short lines,
//! and keep orders apart. A store that keeps the order of record records a
//! reservation's transition with it, atomically: `RESERVED` exactly when the
//! stock is taken, an order past that status never moved back, its stock
//! still reserved.

use async_trait::async_trait;
use orderflow_aws::dynamodb::DynamoInventory;
use orderflow_embedded::InMemoryInventory;
use orderflow_orders::contracts::{OrderCreated, OrderItem, Shortage};
use orderflow_orders::money::Money;
use orderflow_orders::order_record::{OrderStatus, Transition};
use orderflow_orders::ports::{InventoryStore, OrderStore, Reservation};
use time::macros::datetime;

/// Seeding and reading an adapter's stock, which the port does not offer:
/// each adapter's own means (its table, its map).
#[async_trait]
pub trait Stockroom: Send + Sync {
    /// Sets one SKU's stock.
    async fn set_stock(&self, sku: &str, units: u32);
    /// One SKU's current stock.
    async fn stock(&self, sku: &str) -> u32;
}

#[async_trait]
impl Stockroom for InMemoryInventory {
    async fn set_stock(&self, sku: &str, units: u32) {
        InMemoryInventory::set_stock(self, sku, units);
    }

    async fn stock(&self, sku: &str) -> u32 {
        InMemoryInventory::stock(self, sku)
    }
}

#[async_trait]
impl Stockroom for DynamoInventory {
    async fn set_stock(&self, sku: &str, units: u32) {
        DynamoInventory::set_stock(self, sku, units)
            .await
            .expect("seeding stock");
    }

    async fn stock(&self, sku: &str) -> u32 {
        DynamoInventory::stock(self, sku).await.expect("reading stock")
    }
}

/// Runs every rule against `store`, seeded and read through `stockroom` (the
/// same adapter), and with `orders`, the order of record `store` records on.
/// The stores must start empty: no reservations or orders, and no stock for
/// a SKU the suite has not set.
pub async fn check(store: &dyn InventoryStore, stockroom: &dyn Stockroom, orders: Option<&dyn OrderStore>) {
    a_reservation_takes_every_line(store, stockroom).await;
    a_short_line_takes_nothing_and_names_exactly_the_short_lines(store, stockroom).await;
    a_retried_reservation_never_takes_stock_twice(store, stockroom).await;
    a_rejected_order_holds_no_reservation(store, stockroom).await;
    orders_are_kept_apart(store, stockroom).await;
    if let Some(orders) = orders {
        a_reservation_is_recorded_with_its_stock(store, stockroom, orders).await;
    }
}

fn order(order_id: &str, items: &[(&str, u32)]) -> OrderCreated {
    OrderCreated {
        version: "1.0".into(),
        order_id: order_id.to_owned(),
        customer_id: "cust-1".into(),
        items: lines(items),
        total_amount: Money::from_cents(1_000),
        created_at: datetime!(2026-11-28 09:30 UTC),
        shipping_region: "EU".into(),
        correlation_id: format!("corr-{order_id}"),
    }
}

fn reserved_at(minute: u8) -> Transition {
    Transition::new(
        OrderStatus::Reserved,
        datetime!(2026-11-28 10:00 UTC) + time::Duration::minutes(minute.into()),
    )
}

fn lines(pairs: &[(&str, u32)]) -> Vec<OrderItem> {
    pairs
        .iter()
        .map(|(sku, quantity)| OrderItem {
            sku: (*sku).to_owned(),
            quantity: *quantity,
        })
        .collect()
}

fn short(sku: &str, requested: u32, available: u32) -> Shortage {
    Shortage {
        sku: sku.to_owned(),
        requested,
        available,
    }
}

/// Reserves, failing the test on an error: every outcome here is an answer.
async fn reserve(store: &dyn InventoryStore, order_id: &str, items: &[(&str, u32)]) -> Reservation {
    store
        .reserve(&order(order_id, items), &reserved_at(0))
        .await
        .unwrap_or_else(|e| panic!("reserving {order_id}: {e} (a shortage is an answer, never an error)"))
}

async fn a_reservation_takes_every_line(store: &dyn InventoryStore, stockroom: &dyn Stockroom) {
    stockroom.set_stock("TAKE-A", 5).await;
    stockroom.set_stock("TAKE-B", 3).await;
    assert_eq!(
        reserve(store, "ord-take", &[("TAKE-A", 2), ("TAKE-B", 3)]).await,
        Reservation::Reserved,
        "the last units of a line can be reserved"
    );
    assert_eq!(
        (stockroom.stock("TAKE-A").await, stockroom.stock("TAKE-B").await),
        (3, 0),
        "each line takes its own quantity"
    );
}

async fn a_short_line_takes_nothing_and_names_exactly_the_short_lines(
    store: &dyn InventoryStore,
    stockroom: &dyn Stockroom,
) {
    stockroom.set_stock("SHORT-A", 5).await;
    stockroom.set_stock("SHORT-B", 1).await;
    stockroom.set_stock("SHORT-C", 4).await;
    let outcome = reserve(
        store,
        "ord-short",
        &[
            ("SHORT-A", 2),
            ("SHORT-B", 2),
            ("SHORT-C", 4),
            ("NEVER-STOCKED", 1),
        ],
    )
    .await;
    assert_eq!(
        outcome,
        Reservation::Short(vec![short("SHORT-B", 2, 1), short("NEVER-STOCKED", 1, 0)]),
        "the short lines in order, with what was asked and what there is; a SKU never stocked has 0"
    );
    assert_eq!(
        (
            stockroom.stock("SHORT-A").await,
            stockroom.stock("SHORT-B").await,
            stockroom.stock("SHORT-C").await
        ),
        (5, 1, 4),
        "nothing taken from any line, not even those in stock"
    );
}

async fn a_retried_reservation_never_takes_stock_twice(
    store: &dyn InventoryStore,
    stockroom: &dyn Stockroom,
) {
    stockroom.set_stock("RETRY-A", 10).await;
    stockroom.set_stock("RETRY-B", 1).await;
    let order = [("RETRY-A", 4), ("RETRY-B", 1)];
    assert_eq!(reserve(store, "ord-retry", &order).await, Reservation::Reserved);
    assert_eq!(
        reserve(store, "ord-retry", &order).await,
        Reservation::AlreadyReserved,
        "a retry, though RETRY-B is now out of stock: not short, already done"
    );
    assert_eq!(
        reserve(store, "ord-retry", &[("RETRY-A", 1)]).await,
        Reservation::AlreadyReserved,
        "the reservation is the order's, whatever lines a retry carries"
    );
    assert_eq!(
        (stockroom.stock("RETRY-A").await, stockroom.stock("RETRY-B").await),
        (6, 0),
        "taken once"
    );
}

async fn a_rejected_order_holds_no_reservation(store: &dyn InventoryStore, stockroom: &dyn Stockroom) {
    stockroom.set_stock("RESTOCK", 1).await;
    assert_eq!(
        reserve(store, "ord-restock", &[("RESTOCK", 3)]).await,
        Reservation::Short(vec![short("RESTOCK", 3, 1)])
    );
    assert_eq!(
        reserve(store, "ord-restock", &[("RESTOCK", 3)]).await,
        Reservation::Short(vec![short("RESTOCK", 3, 1)]),
        "still short: a shortage is never taken for an earlier reservation"
    );
    stockroom.set_stock("RESTOCK", 3).await;
    assert_eq!(
        reserve(store, "ord-restock", &[("RESTOCK", 3)]).await,
        Reservation::Reserved,
        "after a restock the order is reserved: its rejection left no reservation behind"
    );
    assert_eq!(stockroom.stock("RESTOCK").await, 0);
}

async fn orders_are_kept_apart(store: &dyn InventoryStore, stockroom: &dyn Stockroom) {
    stockroom.set_stock("APART", 3).await;
    for order_id in ["ord-apart-1", "ord-apart-2"] {
        assert_eq!(
            reserve(store, order_id, &[("APART", 1)]).await,
            Reservation::Reserved,
            "{order_id}: another order with the same lines is no retry"
        );
    }
    assert_eq!(stockroom.stock("APART").await, 1);
    assert_eq!(
        reserve(store, "ord-apart-3", &[("APART", 2)]).await,
        Reservation::Short(vec![short("APART", 2, 1)]),
        "what earlier orders took is gone for the next"
    );
    assert_eq!(stockroom.stock("APART").await, 1);
}

async fn a_reservation_is_recorded_with_its_stock(
    store: &dyn InventoryStore,
    stockroom: &dyn Stockroom,
    orders: &dyn OrderStore,
) {
    stockroom.set_stock("REC-A", 4).await;
    // Accepted by the API: moves to RESERVED with its stock.
    let accepted = order("ord-rec-1", &[("REC-A", 1)]);
    orders
        .accept(
            &accepted,
            accepted.fingerprint(),
            &Transition::accepted(datetime!(2026-11-28 09:31 UTC)),
        )
        .await
        .unwrap();
    assert_eq!(
        reserve(store, "ord-rec-1", &[("REC-A", 1)]).await,
        Reservation::Reserved
    );
    let record = orders.get("ord-rec-1").await.unwrap().expect("recorded");
    assert_eq!(record.status, OrderStatus::Reserved);
    assert_eq!(record.history.len(), 2, "{:?}", record.history);

    // Sent without the API: recorded at RESERVED from the order itself.
    assert_eq!(
        reserve(store, "ord-rec-2", &[("REC-A", 1)]).await,
        Reservation::Reserved
    );
    let record = orders.get("ord-rec-2").await.unwrap().expect("entered");
    assert_eq!(record.status, OrderStatus::Reserved);
    assert_eq!(record.order, order("ord-rec-2", &[("REC-A", 1)]));
    assert_eq!(record.history.len(), 1);

    // Short: nothing taken, nothing recorded.
    assert!(matches!(
        reserve(store, "ord-rec-3", &[("REC-A", 5)]).await,
        Reservation::Short(_)
    ));
    assert!(orders.get("ord-rec-3").await.unwrap().is_none());

    // Already past RESERVED (a late first delivery): the stock is still
    // reserved, the order not moved back.
    let late = order("ord-rec-4", &[("REC-A", 1)]);
    orders
        .accept(
            &late,
            late.fingerprint(),
            &Transition::accepted(datetime!(2026-11-28 09:31 UTC)),
        )
        .await
        .unwrap();
    let shipped = Transition::new(OrderStatus::Shipped, datetime!(2026-11-28 11:00 UTC));
    orders.record("ord-rec-4", &shipped).await.unwrap();
    assert_eq!(
        store.reserve(&late, &reserved_at(5)).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        stockroom.stock("REC-A").await,
        1,
        "three orders of one unit taken"
    );
    let record = orders.get("ord-rec-4").await.unwrap().unwrap();
    assert_eq!(record.status, OrderStatus::Shipped, "never moved back");

    // A retry changes nothing, on either side.
    assert_eq!(
        reserve(store, "ord-rec-1", &[("REC-A", 1)]).await,
        Reservation::AlreadyReserved
    );
    assert_eq!(stockroom.stock("REC-A").await, 1);
    assert_eq!(orders.get("ord-rec-1").await.unwrap().unwrap().history.len(), 2);
}
