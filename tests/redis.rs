//! Choosing Redis for the idempotency records (`IDEMPOTENCY_STORE=redis`),
//! against a real redis-server (`tests/run.sh` starts one; without it the
//! tests start their own, and fail if `redis-server` is not installed).

use std::time::Instant;

use orderflow_aws::wiring::{Adapters, var};
use orderflow_batch::config::{ConfigError, Env};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::Claim;
use orderflow_tests::{redis_server, unique};

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn instances_told_to_share_a_redis_share_their_claims() {
    let prefix = format!("{}:", unique("wiring"));
    let settings = env(&[
        (var::ORDERFLOW_ADAPTERS, "embedded"),
        (var::IDEMPOTENCY_STORE, "redis"),
        (var::REDIS_URL, &redis_server().url),
        (var::REDIS_KEY_PREFIX, &prefix),
    ]);
    let one = Adapters::from_env(&settings).await.expect("adapters on Redis");
    let two = Adapters::from_env(&settings).await.expect("adapters on Redis");
    let fp = Fingerprint::of(|f| {
        f.str("order");
    });
    assert_eq!(
        one.idempotency
            .claim("inventory#o-1", fp, 100, 160)
            .await
            .unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        two.idempotency
            .claim("inventory#o-1", fp, 101, 161)
            .await
            .unwrap(),
        Claim::InProgress,
        "another instance sees the first one's claim: the records are in Redis, not in memory"
    );
    // Embedded adapters without the setting keep them in memory, each its own.
    let alone = Adapters::from_env(&env(&[(var::ORDERFLOW_ADAPTERS, "embedded")]))
        .await
        .unwrap();
    assert_eq!(
        alone
            .idempotency
            .claim("inventory#o-1", fp, 101, 161)
            .await
            .unwrap(),
        Claim::Acquired
    );
}

#[tokio::test]
async fn a_100_record_batch_costs_two_round_trips_to_redis() {
    use std::sync::Arc;
    use std::time::Duration;

    use orderflow::workload::{WorkloadSpec, generate_event};
    use orderflow_batch::metrics::NoMetrics;
    use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
    use orderflow_batch::sqs::SqsBatch;
    use orderflow_embedded::{InMemoryInventory, InMemoryOrderStore, InMemoryQueues};
    use orderflow_redis::{RedisIdempotencyStore, RedisSettings};

    let store = RedisIdempotencyStore::connect(
        &redis_server().url,
        RedisSettings {
            key_prefix: format!("{}:", unique("round-trips")),
            ..Default::default()
        },
    )
    .await
    .expect("a Redis");
    let processor = BatchProcessor::new(
        BatchConfig::default(),
        Arc::new(InMemoryQueues::new()),
        Arc::new(store.clone()),
        Arc::new(NoMetrics),
    );
    let orders = Arc::new(InMemoryOrderStore::new());
    let step = inventory::InventoryStep::new(
        Arc::new(InMemoryInventory::new(1_000_000)),
        orders,
        inventory::Routes {
            reserved: "https://sqs.us-east-1.amazonaws.com/1/inventory".into(),
            rejected: "https://sqs.us-east-1.amazonaws.com/1/notifications".into(),
        },
    );
    let spec = WorkloadSpec {
        records: 100,
        invalid: 0.0,
        seed: 11,
        ..Default::default()
    };
    let mut bytes = Vec::new();
    generate_event(&spec, &mut bytes).unwrap();
    let event: SqsBatch = serde_json::from_slice(&bytes).unwrap();
    let context = || InvocationContext::with_timeout("req", Duration::from_secs(60));

    processor
        .handle(&event, &context(), &step)
        .await
        .expect("a response");
    assert_eq!(
        store.round_trips(),
        2,
        "the batch's claims in one, its completions in another"
    );
    // Delivered again: every claim answers Completed, nothing to complete.
    processor
        .handle(&event, &context(), &step)
        .await
        .expect("a response");
    assert_eq!(store.round_trips(), 3, "the claims alone");
}

#[tokio::test]
async fn a_missing_or_unreachable_redis_stops_the_start_naming_the_variable_never_its_value() {
    let missing = Adapters::from_env(&env(&[
        (var::ORDERFLOW_ADAPTERS, "embedded"),
        (var::IDEMPOTENCY_STORE, "redis"),
    ]))
    .await;
    assert!(
        matches!(&missing, Err(ConfigError::Missing { name, .. }) if name == var::REDIS_URL),
        "{missing:?}"
    );

    // A port nobody listens on, and a password that must not be repeated.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{closed}");
    let started = Instant::now();
    let unreachable = Adapters::from_env(&env(&[
        (var::ORDERFLOW_ADAPTERS, "embedded"),
        (var::IDEMPOTENCY_STORE, "redis"),
        (var::REDIS_URL, &url),
    ]))
    .await;
    let error = unreachable.expect_err("no Redis there").to_string();
    assert!(error.contains(var::REDIS_URL), "{error}");
    assert!(
        !error.contains("hunter2") && !error.contains(&closed.to_string()),
        "{error}"
    );
    eprintln!("an unreachable Redis was reported after {:?}", started.elapsed());
}

#[tokio::test]
async fn aws_adapters_never_keep_idempotency_records_only_in_memory() {
    let refused = Adapters::from_env(&env(&[(var::IDEMPOTENCY_STORE, "memory")])).await;
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, expected, .. }) if name == var::IDEMPOTENCY_STORE && expected.contains("dynamodb, redis")),
        "{refused:?}"
    );
}
