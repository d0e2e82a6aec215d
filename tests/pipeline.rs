//! The whole pipeline, end to end, under faults: nothing is lost.

use orderflow::run::{Entry, RunSpec, RunSummary, run};

/// Runs on one thread with a paused clock, as `orderflow run` does.
fn run_embedded(spec: RunSpec) -> RunSummary {
    orderflow::run::quiet_injected_crashes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(run(&spec, &|_, _| {})).expect("the run starts")
}

fn faulty(orders: usize, fifo: bool) -> RunSpec {
    RunSpec {
        fifo,
        fail_rate: 0.1,
        poison_rate: 0.02,
        crash_rate: 0.01,
        ..RunSpec::embedded(orders)
    }
}

/// Nothing lost; every poison order refused by the API (`Entry::Api`) or in
/// the orders DLQ with its reason (`Entry::Queue`); every valid order
/// notified once and final on record.
fn assert_every_order_accounted_for(s: &RunSummary, entry: Entry) {
    assert_eq!(s.lost, 0, "lost: {:?}", s.lost_examples);
    assert!(!s.timed_out);
    let orders_dlq = &s.dead_letter_queues[0];
    assert!(orders_dlq.queue.contains("orders-dlq"), "{}", orders_dlq.queue);
    match entry {
        Entry::Api => {
            assert_eq!(s.refused_at_api, s.poison_sent);
            assert_eq!(orders_dlq.messages, 0, "{orders_dlq:?}");
        }
        Entry::Queue => {
            assert_eq!(s.refused_at_api, 0);
            assert_eq!(orders_dlq.messages, s.poison_sent);
            assert_eq!(orders_dlq.reasons.values().sum::<usize>(), s.poison_sent);
            assert!(
                !orders_dlq.reasons.contains_key("maxReceiveCount"),
                "{:?}",
                orders_dlq.reasons
            );
        }
    }
    // Every other order is notified exactly once, and final on record.
    assert_eq!(s.notified, s.sent - s.poison_sent);
    assert_eq!(s.notified_more_than_once, 0);
    let finals: usize = ["NOTIFIED", "REJECTED", "FAILED"]
        .iter()
        .filter_map(|status| s.statuses.get(*status))
        .sum();
    assert_eq!(finals, s.sent - s.poison_sent, "{:?}", s.statuses);
    assert_eq!(s.not_final, 0);
    for dlq in &s.dead_letter_queues[1..] {
        assert_eq!(dlq.messages, 0, "{dlq:?}");
    }
}

#[test]
fn ten_thousand_orders_under_failures_poison_and_crashes_lose_nothing() {
    let s = run_embedded(faulty(10_000, false));
    eprintln!("{}", s.table());
    assert_eq!(s.sent, 10_000);
    assert!(s.poison_sent > 100, "poison orders were sent: {}", s.poison_sent);
    assert!(
        s.injected_failures > 1_000,
        "failures were injected: {}",
        s.injected_failures
    );
    assert!(
        s.crashed_invocations > 0,
        "invocations crashed: {}",
        s.crashed_invocations
    );
    assert!(s.retries > 0);
    // The relay's crashed batches published orders again: harmless duplicates.
    assert!(s.duplicates_suppressed.idempotency > 0);
    assert_every_order_accounted_for(&s, Entry::Api);
}

#[test]
fn orders_under_faults_with_their_idempotency_records_in_redis_lose_nothing() {
    let s = run_embedded(RunSpec {
        idempotency: Some(orderflow_tests::redis_server().url.clone()),
        ..faulty(10_000, false)
    });
    eprintln!("{}", s.table());
    assert!(
        s.crashed_invocations > 0 && s.injected_failures > 100,
        "{}",
        s.table()
    );
    // The relay's crashed batches published orders again: Redis's records stopped them.
    assert!(s.duplicates_suppressed.idempotency > 0);
    assert_every_order_accounted_for(&s, Entry::Api);
}

#[test]
fn orders_sent_straight_to_the_queue_are_recorded_by_their_first_stage() {
    let s = run_embedded(RunSpec {
        entry: Entry::Queue,
        ..faulty(2_000, false)
    });
    eprintln!("{}", s.table());
    assert!(s.poison_sent > 10, "{}", s.poison_sent);
    assert_every_order_accounted_for(&s, Entry::Queue);
}

#[test]
fn a_fifo_run_notifies_each_customers_orders_in_the_order_sent() {
    let s = run_embedded(faulty(4_000, true));
    eprintln!("{}", s.table());
    assert!(
        s.crashed_invocations > 0,
        "invocations crashed: {}",
        s.crashed_invocations
    );
    assert!(
        s.customers_with_several_shipments > 50,
        "{}",
        s.customers_with_several_shipments
    );
    assert_eq!(s.out_of_order_customers, 0);
    assert_every_order_accounted_for(&s, Entry::Api);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run_embedded(faulty(1_000, false));
    let b = run_embedded(faulty(1_000, false));
    assert_eq!(
        (
            a.injected_failures,
            a.retries,
            a.invocations,
            a.crashed_invocations,
            a.poison_sent
        ),
        (
            b.injected_failures,
            b.retries,
            b.invocations,
            b.crashed_invocations,
            b.poison_sent
        )
    );
}

#[test]
fn out_of_stock_orders_are_rejected_and_notified() {
    let s = run_embedded(RunSpec {
        stock: 20,
        ..RunSpec::embedded(2_000)
    });
    assert!(s.rejected_for_stock > 0, "{}", s.rejected_for_stock);
    assert_eq!(s.notified, 2_000);
    assert_eq!(s.lost, 0);
}

#[test]
fn the_steps_metrics_count_each_order_once_through_failures_and_retries() {
    // Transient failures and their retries, duplicates from the API's and the
    // relay's retries; no crashes (a crashed invocation publishes nothing).
    let s = run_embedded(RunSpec {
        stock: 20,
        fail_rate: 0.1,
        ..RunSpec::embedded(2_000)
    });
    eprintln!("{}", s.table());
    assert!(
        s.injected_failures > 100 && s.retries > 0,
        "{}",
        s.injected_failures
    );
    assert!(s.rejected_for_stock > 0, "{}", s.rejected_for_stock);
    let total = |prefix: &str| -> f64 {
        s.step_metrics
            .iter()
            .filter(|(label, _)| label.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(
        total("OrdersRejected"),
        s.rejected_for_stock as f64,
        "{:?}",
        s.step_metrics
    );
    let shipped = s.notified - s.rejected_for_stock;
    assert_eq!(
        total("ShipmentsCreated Carrier="),
        shipped as f64,
        "{:?}",
        s.step_metrics
    );
    assert!(
        s.step_metrics
            .keys()
            .filter(|l| l.starts_with("ShipmentsCreated Carrier="))
            .count()
            > 1,
        "by carrier: {:?}",
        s.step_metrics
    );
    assert!(total("OrderValue") > 0.0);
}

/// SQS on moto's server; idempotency records and stock in memory (the DynamoDB
/// adapters have their own tests in aws.rs: one-thread moto makes 500 orders'
/// 3,500 DynamoDB calls take minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_orders_through_moto_lose_nothing() {
    let spec = RunSpec {
        fail_rate: 0.02,
        poison_rate: 0.02,
        endpoint_url: Some(orderflow_tests::moto().url.clone()),
        max_seconds: 600,
        ..RunSpec::embedded(500)
    };
    orderflow::run::quiet_injected_crashes();
    let s = run(&spec, &|_, _| {}).await.expect("the run starts");
    eprintln!("{}", s.table());
    assert_every_order_accounted_for(&s, Entry::Api);
    assert!(s.invocations > 0);
}

/// The whole path on moto: orders kept in a DynamoDB table, the relay reading
/// its stream with `GetShardIterator` and `GetRecords`, the stages recording
/// their transitions there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_kept_in_a_table_are_relayed_from_its_stream_and_end_final_on_record() {
    let moto = orderflow_tests::moto().url.clone();
    let spec = RunSpec {
        poison_rate: 0.1,
        seed: 5,
        endpoint_url: Some(moto.clone()),
        dynamodb_endpoint_url: Some(moto),
        max_seconds: 600,
        ..RunSpec::embedded(30)
    };
    let s = run(&spec, &|_, _| {}).await.expect("the run starts");
    eprintln!("{}", s.table());
    assert!(s.poison_sent > 0, "{}", s.poison_sent);
    assert_every_order_accounted_for(&s, Entry::Api);
    assert_eq!(s.statuses.get("NOTIFIED"), Some(&(30 - s.poison_sent)));
}
