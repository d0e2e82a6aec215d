//! Choosing Redis for the idempotency records (`IDEMPOTENCY_STORE=redis`),
//! against a real redis-server (`tests/run.sh` starts one; without it the
//! tests start their own, and fail if `redis-server` is not installed).

use std::time::Instant;

use orderflow_aws::wiring::{Adapters, var};
use orderflow_batch::config::{ConfigError, Env};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::Claim;
use orderflow_tests::{own_tls_redis_server, redis_server, unique};

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

/// Set in the environment of the child process of
/// [`a_redis_over_tls_wanting_a_password_serves_once_its_authority_is_trusted`]:
/// the URL of the TLS Redis it was started for.
const TLS_CHILD_URL: &str = "ORDERFLOW_TEST_TLS_REDIS_URL";
const TLS_PASSWORD: &str = "correct-horse-7";

/// `rediss://` with a password: refused while the Redis's certificate
/// authority is not trusted; trusted through `SSL_CERT_FILE` (as a deployment
/// trusts a private authority; the variable is read when connecting, so the
/// trusting half runs in a child process of this test with it set), the
/// records are kept there; a wrong or missing password and a host the
/// certificate is not for are refused, each named, none repeated.
#[tokio::test]
async fn a_redis_over_tls_wanting_a_password_serves_once_its_authority_is_trusted() {
    const NAME: &str = "a_redis_over_tls_wanting_a_password_serves_once_its_authority_is_trusted";
    if let Ok(url) = std::env::var(TLS_CHILD_URL) {
        return tls_redis_trusted(&url).await;
    }
    let server = own_tls_redis_server(TLS_PASSWORD);
    let untrusted = start_on_redis(&server.url).await;
    assert_refused_without_the_url(&untrusted, "TLS certificate was refused", &server.url);

    let child = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(TLS_CHILD_URL, &server.url)
        .env("SSL_CERT_FILE", &server.authority_file)
        .output()
        .expect("the child test runs");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success() && stdout.contains("1 passed"),
        "the trusting half failed or did not run:\n{stdout}\n{stderr}"
    );
}

/// Adapters on the Redis at `url` under a prefix of their own.
async fn start_on_redis(url: &str) -> Result<Adapters, ConfigError> {
    let prefix = format!("{}:", unique("tls"));
    Adapters::from_env(&env(&[
        (var::ORDERFLOW_ADAPTERS, "embedded"),
        (var::IDEMPOTENCY_STORE, "redis"),
        (var::REDIS_URL, url),
        (var::REDIS_KEY_PREFIX, &prefix),
    ]))
    .await
}

/// `started` failed naming `REDIS_URL` and `reason`, and no part of `url`.
fn assert_refused_without_the_url(started: &Result<Adapters, ConfigError>, reason: &str, url: &str) {
    let error = match started {
        Ok(_) => panic!("started on {reason:?}"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(var::REDIS_URL) && error.contains(reason),
        "{error}"
    );
    let (_, authority) = url.split_once("://").unwrap_or_default();
    let (credentials, address) = authority.rsplit_once('@').unwrap_or(("", authority));
    let port = address.rsplit(':').next().unwrap_or_default();
    for part in [credentials.trim_start_matches(':'), port] {
        assert!(
            part.is_empty() || !error.contains(part),
            "{error} repeats part of the URL"
        );
    }
}

/// The half of the TLS test that trusts the Redis's authority.
async fn tls_redis_trusted(url: &str) {
    let trusted = start_on_redis(url).await.expect("a trusted TLS Redis");
    let fp = Fingerprint::of(|f| {
        f.str("order");
    });
    let idempotency = &trusted.idempotency;
    assert_eq!(
        idempotency.claim("inventory#o-1", fp, 100, 160).await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        idempotency.claim("inventory#o-1", fp, 101, 161).await.unwrap(),
        Claim::InProgress,
        "the claim is kept in the Redis"
    );

    let wrong = url.replace(TLS_PASSWORD, "not-the-password");
    assert_refused_without_the_url(
        &start_on_redis(&wrong).await,
        "refused the URL's credentials",
        &wrong,
    );
    let none = url.replace(&format!(":{TLS_PASSWORD}@"), "");
    assert_refused_without_the_url(
        &start_on_redis(&none).await,
        "refused the URL's credentials",
        &none,
    );
    // The certificate is for localhost, not for the address.
    let elsewhere = url.replace("@localhost:", "@127.0.0.1:");
    assert_refused_without_the_url(
        &start_on_redis(&elsewhere).await,
        "TLS certificate was refused",
        &elsewhere,
    );
}

#[tokio::test]
async fn aws_adapters_never_keep_idempotency_records_only_in_memory() {
    let refused = Adapters::from_env(&env(&[(var::IDEMPOTENCY_STORE, "memory")])).await;
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, expected, .. }) if name == var::IDEMPOTENCY_STORE && expected.contains("dynamodb, redis")),
        "{refused:?}"
    );
}

/// Counts its runs by key; the first run pauses the Redis at `pause` (if
/// any), as a Redis that stops answering in the middle of a batch.
struct CountingStep {
    runs: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    pause: tokio::sync::Mutex<Option<(redis::Client, u64)>>,
}

impl orderflow_batch::RecordStep for CountingStep {
    type Input = String;

    fn name(&self) -> &'static str {
        "counting"
    }

    fn decode(
        &self,
        message: &dyn orderflow_batch::sqs::SqsRecord,
    ) -> Result<String, orderflow_batch::RecordError> {
        Ok(orderflow_batch::sqs::body(message)?.to_owned())
    }

    fn key<'a>(&self, input: &'a String) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(input)
    }

    fn correlation_id<'a>(&self, input: &'a String) -> &'a str {
        input
    }

    fn fingerprint(&self, input: &String) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(input);
        })
    }

    async fn run(
        &self,
        input: String,
        _: &orderflow_batch::RecordContext<'_>,
    ) -> Result<Vec<orderflow_batch::Outgoing>, orderflow_batch::RecordError> {
        if let Some((client, ms)) = self.pause.lock().await.take() {
            pause_redis(&client, ms).await;
        }
        *self.runs.lock().unwrap().entry(input).or_default() += 1;
        Ok(Vec::new())
    }
}

/// Makes the Redis of `client` answer no one for `ms` milliseconds.
async fn pause_redis(client: &redis::Client, ms: u64) {
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a connection");
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("ALL")
        .query_async(&mut connection)
        .await
        .expect("paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_loses_nothing_and_runs_nothing_twice() {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    use orderflow_batch::metrics::NoMetrics;
    use orderflow_batch::processor::{
        BatchConfig, BatchError, BatchProcessor, InvocationContext, RecordOutcome,
    };
    use orderflow_embedded::InMemoryQueues;
    use orderflow_redis::{RedisIdempotencyStore, RedisSettings};
    use orderflow_tests::own_redis_server;

    let redis = own_redis_server();
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let store = RedisIdempotencyStore::connect(&redis.url, RedisSettings::default())
        .await
        .unwrap();
    // Short margins, so a 3 s invocation runs its records and its claims
    // expire 4 s after it starts.
    let processor = BatchProcessor::new(
        BatchConfig {
            deadline_margin: Duration::from_millis(200),
            settlement_reserve: Duration::from_millis(200),
            ..Default::default()
        },
        Arc::new(InMemoryQueues::new()),
        Arc::new(store),
        Arc::new(NoMetrics),
    );
    let mut event = SqsEvent::default();
    event.records = (0..20)
        .map(|i| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m-{i}"));
            m.body = Some(format!("order-{i}"));
            m
        })
        .collect();
    let step = CountingStep {
        runs: Default::default(),
        pause: Default::default(),
    };
    let context = || InvocationContext::with_timeout("req", Duration::from_secs(3));
    let runs = || step.runs.lock().unwrap().clone();

    // Not answering when the batch is claimed: no step runs, every record is
    // retried. (Redis runs the claims once the pause ends: they hold their
    // keys until they expire, as a claim whose answer was lost does.)
    pause_redis(&client, 2000).await;
    let result = processor.process(&event, &context(), &step).await;
    assert!(
        matches!(result, Err(BatchError::AllRecordsFailed { count: 20, .. })),
        "{result:?}"
    );
    assert!(runs().is_empty(), "no claim is assumed: {:?}", runs());
    tokio::time::sleep(Duration::from_millis(4500)).await;

    // Stops answering once the batch is claimed and running: every record is
    // processed once (its completion is lost, its claim stays in progress).
    *step.pause.lock().await = Some((client.clone(), 1500));
    let report = processor
        .process(&event, &context(), &step)
        .await
        .expect("a response");
    assert!(
        report.outcomes.iter().all(|o| *o == RecordOutcome::Processed),
        "{:?}",
        report.outcomes
    );
    assert_eq!(runs().len(), 20);
    assert!(runs().values().all(|&n| n == 1), "{:?}", runs());
    tokio::time::sleep(Duration::from_millis(1600)).await;

    // Delivered again (a lost delete, say): skipped as done when the
    // completions Redis queued during the pause landed, else retried while
    // the claims are live; run a second time, never.
    let again = processor.process(&event, &context(), &step).await;
    match &again {
        Ok(report) => assert!(
            report.outcomes.iter().all(|o| *o == RecordOutcome::Duplicate),
            "{again:?}"
        ),
        Err(error) => assert!(
            matches!(error, BatchError::AllRecordsFailed { count: 20, .. }),
            "{again:?}"
        ),
    }
    assert!(
        runs().values().all(|&n| n == 1),
        "nothing ran twice: {:?}",
        runs()
    );
}
