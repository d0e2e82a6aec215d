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
