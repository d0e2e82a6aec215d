//! Test harness: local servers that speak the AWS protocols, and SDK clients for them.
//!
//! `tests/run.sh` installs moto (SQS, DynamoDB) and LocalStack (CloudWatch's
//! CBOR protocol, and SQS's message-move tasks, which moto lacks) into
//! `.venv/`, starts them, and exports their URLs as `ORDERFLOW_MOTO_URL` and
//! `ORDERFLOW_LOCALSTACK_URL`. Run alone (`cargo test`),
//! a test binary starts its own server from `.venv/` instead, watched so it
//! stops with the binary. A missing server fails the test with what to run; it
//! never skips.
//!
//! [`contracts`] holds one test suite per port, which every adapter of the
//! port must pass; `tests/contracts.rs` runs each against every adapter.
#![forbid(unsafe_code)]

pub mod contracts;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running local endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Its base URL, e.g. `http://127.0.0.1:5000`.
    pub url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// A minimal HTTP GET on loopback: the status code, if the server answered.
pub fn http_status(url: &str, path: &str) -> Option<u16> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Starts `program args...` in the background, killed when this process exits
/// (a shell watchdog polls this process), and waits until `ready` says it
/// answers at `url`.
fn start_watched(
    name: &str,
    program: &Path,
    args: &[String],
    env: &[(&str, String)],
    url: &str,
    ready: &dyn Fn() -> bool,
) {
    assert!(
        program.exists(),
        "{name} is not installed at {}: run `bash tests/run.sh` (it installs the pinned test servers into .venv/)",
        program.display()
    );
    let log = std::env::temp_dir().join(format!("orderflow-{name}-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("a log file for the test server");
    let watchdog = format!(
        r#""$@" & child=$!; while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null"#,
        parent = std::process::id()
    );
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(watchdog)
        .arg(name)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Reap it whenever it ends (with this process, through the watchdog).
    std::thread::spawn(move || child.wait());
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let tail = std::fs::read_to_string(&log).unwrap_or_default();
    panic!(
        "{name} did not become ready at {url} within 90 s; its log ({}):\n{tail}",
        log.display()
    );
}

fn endpoint_from_env_or(var: &str, start: impl FnOnce() -> String) -> Endpoint {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Endpoint { url },
        _ => Endpoint { url: start() },
    }
}

/// Whether a Redis answers `PING` at `host:port`.
fn redis_answers(address: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let mut answer = [0u8; 7];
    stream.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
        && stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// A Redis (`redis-server`, the Debian package), shared by the tests of one
/// binary: `ORDERFLOW_REDIS_URL`, else one started on a free port.
pub fn redis_server() -> &'static Endpoint {
    static REDIS: OnceLock<Endpoint> = OnceLock::new();
    REDIS.get_or_init(|| endpoint_from_env_or("ORDERFLOW_REDIS_URL", start_redis))
}

/// A Redis of the caller's own (a test that pauses or stops it must not
/// disturb the others), started on a free port, keeping nothing on disk.
pub fn own_redis_server() -> Endpoint {
    Endpoint { url: start_redis() }
}

/// A Redis of the caller's own that speaks only TLS (`rediss://`) and wants
/// a password, with a certificate for `localhost` signed by a certificate
/// authority made for it: one no machine trusts unless told to.
pub struct TlsRedis {
    /// `rediss://:<password>@localhost:<port>`.
    pub url: String,
    /// The authority's certificate (PEM), for `SSL_CERT_FILE`.
    pub authority_file: PathBuf,
}

/// Starts a [`TlsRedis`] wanting `password`.
pub fn own_tls_redis_server(password: &str) -> TlsRedis {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let dir = std::env::temp_dir().join(unique("orderflow-tls-redis"));
    std::fs::create_dir_all(&dir).expect("a directory for the certificates");
    let mut authority = CertificateParams::new(Vec::<String>::new()).expect("authority parameters");
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    authority
        .distinguished_name
        .push(rcgen::DnType::CommonName, "orderflow test authority");
    let authority_key = KeyPair::generate().expect("a key");
    let authority_certificate = authority.self_signed(&authority_key).expect("the authority");
    let issuer = Issuer::new(authority, authority_key);
    let server = CertificateParams::new(vec!["localhost".to_owned()]).expect("server parameters");
    let server_key = KeyPair::generate().expect("a key");
    let server_certificate = server.signed_by(&server_key, &issuer).expect("the certificate");
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("a certificate file");
        path.to_string_lossy().into_owned()
    };
    let authority_file = write("authority.pem", authority_certificate.pem());
    let tls = [
        "--tls-cert-file".to_owned(),
        write("server.pem", server_certificate.pem()),
        "--tls-key-file".to_owned(),
        write("server.key", server_key.serialize_pem()),
        "--tls-ca-cert-file".to_owned(),
        authority_file.clone(),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
        "--requirepass".to_owned(),
        password.to_owned(),
    ];
    let port = free_port();
    // No plain port: the TLS port alone, ready once it accepts connections.
    let mut args = redis_args("0");
    args.extend(["--tls-port".to_owned(), port.to_string()]);
    args.extend(tls);
    let address = format!("127.0.0.1:{port}");
    start_watched("redis (TLS)", &redis_program(), &args, &[], &address, &|| {
        TcpStream::connect(&address).is_ok()
    });
    TlsRedis {
        url: format!("rediss://:{password}@localhost:{port}"),
        authority_file: PathBuf::from(authority_file),
    }
}

/// The `redis-server` on `PATH`.
fn redis_program() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("redis-server is not installed: run `bash tests/run.sh` (it installs the Debian package)")
        })
}

/// A Redis on `port` of loopback that keeps nothing on disk.
fn redis_args(port: &str) -> Vec<String> {
    [
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect()
}

fn start_redis() -> String {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    start_watched(
        "redis",
        &redis_program(),
        &redis_args(&port.to_string()),
        &[],
        &address,
        &|| redis_answers(&address),
    );
    format!("redis://{address}")
}

/// moto's server (SQS and DynamoDB), shared by the tests of one binary.
pub fn moto() -> &'static Endpoint {
    static MOTO: OnceLock<Endpoint> = OnceLock::new();
    MOTO.get_or_init(|| {
        endpoint_from_env_or("ORDERFLOW_MOTO_URL", || {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let program = repo_root().join(".venv/moto/bin/moto_server");
            let args = [
                "-H".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
            ];
            start_watched("moto", &program, &args, &[], &url, &|| {
                http_status(&url, "/moto-api/") == Some(200)
            });
            url
        })
    })
}

/// Where DynamoDB tests go: moto with one request thread (see [`moto_serialized`]).
pub fn dynamodb_endpoint() -> &'static Endpoint {
    moto_serialized()
}

/// moto's server with one request thread, for tests of concurrent writes.
///
/// moto's threaded server applies DynamoDB writes without isolation from
/// concurrent requests (a transaction copies and restores whole tables), so
/// racing writes lose updates in ways DynamoDB never allows (seen here: 100
/// concurrent one-unit reservations took 94 units). One request
/// thread makes each transaction atomic, as DynamoDB's are, while the clients
/// still race each other over HTTP.
pub fn moto_serialized() -> &'static Endpoint {
    static MOTO: OnceLock<Endpoint> = OnceLock::new();
    MOTO.get_or_init(|| {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let program = repo_root().join(".venv/moto/bin/python");
        let launcher = format!(
            "from werkzeug.serving import run_simple\n\
             from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app\n\
             run_simple('127.0.0.1', {port}, DomainDispatcherApplication(create_backend_app), threaded=False, request_handler=MotoRequestHandler)\n"
        );
        let env = [("MOTO_PORT", port.to_string())];
        start_watched("moto-serialized", &program, &["-c".to_owned(), launcher], &env, &url, &|| {
            http_status(&url, "/moto-api/") == Some(200)
        });
        Endpoint { url }
    })
}

/// LocalStack on the host (CloudWatch, SQS), shared by the tests of one binary.
pub fn localstack() -> &'static Endpoint {
    static LOCALSTACK: OnceLock<Endpoint> = OnceLock::new();
    LOCALSTACK.get_or_init(|| {
        endpoint_from_env_or("ORDERFLOW_LOCALSTACK_URL", || {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let dir = std::env::temp_dir().join(format!("orderflow-embeddedstack-{}", std::process::id()));
            let program = repo_root().join(".venv/localstack/bin/python");
            let args = ["-m".to_owned(), "localstack.runtime.main".to_owned()];
            let env = localstack_env(port, &dir);
            let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
            start_watched("localstack", &program, &args, &env, &url, &|| {
                http_status(&url, "/_localstack/health") == Some(200)
            });
            url
        })
    })
}

/// The environment LocalStack needs to run on the host, offline, on `port`.
pub fn localstack_env(port: u16, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
        ("LOCALSTACK_HOST", format!("127.0.0.1:{port}")),
        ("SERVICES", "cloudwatch,sqs".to_owned()),
        // Queue URLs on the gateway itself, without DNS.
        ("SQS_ENDPOINT_STRATEGY", "path".to_owned()),
        ("DISABLE_EVENTS", "1".to_owned()),
        ("DNS_ADDRESS", "0".to_owned()),
        ("SKIP_SSL_CERT_DOWNLOAD", "1".to_owned()),
        ("LOCALSTACK_VOLUME_DIR", dir.join("volume").display().to_string()),
        ("FILESYSTEM_ROOT", dir.join("fs").display().to_string()),
    ]
}

/// SDK configuration for a local endpoint: dummy credentials, us-east-1.
pub async fn sdk_config(endpoint: &Endpoint) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "orderflow-tests"))
        .endpoint_url(&endpoint.url)
        .http_client(orderflow_aws::https_client())
        .load()
        .await
}

/// A name no other test uses: `<prefix>-<counter>-<pid>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

/// A queue and its URL and ARN.
#[derive(Clone, Debug)]
pub struct TestQueue {
    /// The queue URL.
    pub url: String,
    /// The queue ARN.
    pub arn: String,
}

/// Creates a queue with attributes (`VisibilityTimeout`, `RedrivePolicy`, `FifoQueue`, ...).
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> TestQueue {
    let mut request = client.create_queue().queue_name(name);
    for (k, v) in attributes {
        request = request.attributes(k.clone(), v);
    }
    let url = request
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .expect("queue ARN");
    TestQueue { url, arn }
}

/// Creates a queue with a dead-letter queue after `max_receive_count` receives.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> (TestQueue, TestQueue) {
    let dlq = create_queue(client, &format!("{name}-dlq"), &[]).await;
    let policy = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"{max_receive_count}"}}"#,
        dlq.arn
    );
    let queue = create_queue(
        client,
        name,
        &[
            (QueueAttributeName::RedrivePolicy, policy),
            (QueueAttributeName::VisibilityTimeout, "30".to_owned()),
        ],
    )
    .await;
    (queue, dlq)
}

/// Receives up to `max` messages (all attributes), waiting at most `wait_seconds` for the first.
pub async fn receive(
    client: &aws_sdk_sqs::Client,
    queue: &TestQueue,
    max: i32,
    wait_seconds: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    client
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(max.min(10))
        .wait_time_seconds(wait_seconds)
        .message_attribute_names("All")
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// Receives until `expected` messages arrived or `timeout` passed.
pub async fn receive_all(
    client: &aws_sdk_sqs::Client,
    queue: &TestQueue,
    expected: usize,
    timeout: Duration,
) -> Vec<aws_sdk_sqs::types::Message> {
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    while all.len() < expected && Instant::now() < deadline {
        all.extend(receive(client, queue, 10, 1).await);
    }
    all
}

/// The Lambda SQS event an event source mapping builds from received messages.
pub fn lambda_event(messages: &[aws_sdk_sqs::types::Message], queue: &TestQueue) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| orderflow_aws::sqs::lambda_record(m, &queue.arn, "us-east-1"))
        .collect::<Vec<SqsMessage>>();
    event
}

/// A queue's visible and in-flight messages (`ApproximateNumberOfMessages`
/// and `ApproximateNumberOfMessagesNotVisible`, exact on moto).
pub async fn visible_and_hidden(client: &aws_sdk_sqs::Client, queue_url: &str) -> (u64, u64) {
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let count = |name: QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name:?} of {queue_url}"))
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// The string attributes of a received message.
pub fn string_attributes(message: &aws_sdk_sqs::types::Message) -> HashMap<String, String> {
    message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
