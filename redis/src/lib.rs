//! The idempotency port on Redis ([`RedisIdempotencyStore`]): for teams that
//! run `orderflow consume` next to a Redis they have, or functions in a VPC
//! with ElastiCache.
//!
//! A record is a hash at `<prefix><key>`: its state (`p` in progress, `c`
//! completed), the input's fingerprint and the second it lasts until, on the
//! caller's clock (as the port's other stores: a claim expires when the
//! caller's `now` reaches it). Redis's own expiry only cleans up: an
//! in-progress claim's key expires after its claim's length, a completed
//! one's after the retention. A claim and a release are Lua scripts (sent
//! with `EVAL`, so a Redis user needs no `SCRIPT`), each reading and writing
//! its key atomically; every operation names one key. The store talks to one
//! Redis (no cluster client). A batch's claims go in one pipeline (the
//! processor claims them together before running any), and so do its
//! completions: two round trips for a batch that succeeds.
//!
//! `rediss://` URLs speak TLS through rustls with ring, trusting the
//! machine's certificate authorities (or the bundle `SSL_CERT_FILE` names).

#![forbid(unsafe_code)]

mod connect;

pub use connect::ConnectError;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, ClaimRequest, Completion, EntryResults, IdempotencyStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Claims a key unless a live record holds it; answers `{"a"}` when acquired,
/// else the live record's state and fingerprint.
/// KEYS[1] the record; ARGV: fingerprint, now, until, cleanup seconds.
const CLAIM: &str = r"
local record = redis.call('HMGET', KEYS[1], 's', 'f', 'u')
if record[1] and tonumber(record[3]) > tonumber(ARGV[2]) then
  return {record[1], record[2] or ''}
end
redis.call('HSET', KEYS[1], 's', 'p', 'f', ARGV[1], 'u', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'a'}
";

/// Deletes the record only while it is a claim in progress (never a completion).
const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 's') == 'p' then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// What a store needs besides its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSettings {
    /// Put before every key (`orderflow:`), so the keys share a Redis with others.
    pub key_prefix: String,
    /// How long Redis keeps a completed record: at least the processor's
    /// `IDEMPOTENCY_TTL_SECONDS` (24 hours by default, the design's `SETEX`).
    pub retention: Duration,
    /// Longest wait for Redis's answer (or for a connection) before a call
    /// fails, retryably; `None` waits as long as it takes.
    pub response_timeout: Option<Duration>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            key_prefix: "orderflow:".to_owned(),
            retention: Duration::from_secs(24 * 3600),
            response_timeout: Some(Duration::from_secs(1)),
        }
    }
}

/// The idempotency records on Redis.
#[derive(Clone)]
pub struct RedisIdempotencyStore {
    connection: ConnectionManager,
    settings: RedisSettings,
    /// Requests sent and answered as one (a command, a script or a pipeline).
    round_trips: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedisIdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisIdempotencyStore")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// TLS needs rustls's process-wide crypto provider; rustls picks one by
/// itself only while exactly one is linked in. Ring is (the AWS SDK's
/// client uses it), so it is chosen unless the program chose already.
fn use_ring_for_tls() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one meanwhile: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A Redis error as the port's.
fn port_error(operation: &'static str, error: &redis::RedisError) -> PortError {
    PortError::new(error_kind(error), operation, error.to_string())
}

/// The port's kind of a Redis error: timeouts and lost connections are retryable.
pub(crate) fn error_kind(error: &redis::RedisError) -> PortErrorKind {
    if error.is_timeout() {
        PortErrorKind::Timeout
    } else if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() {
        PortErrorKind::Unavailable
    } else if matches!(
        error.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading | redis::ServerErrorKind::TryAgain)
    ) {
        PortErrorKind::Throttled
    } else {
        PortErrorKind::Other
    }
}

impl RedisIdempotencyStore {
    /// Connects to the Redis at `url` (`redis://[[user]:password@]host:port[/db]`,
    /// or `rediss://` for TLS, verified against the machine's certificate
    /// authorities) and checks that it answers; the connection reconnects by
    /// itself after it is lost.
    pub async fn connect(url: &str, settings: RedisSettings) -> Result<Self, ConnectError> {
        let client = redis::Client::open(url).map_err(|_| ConnectError::NotAUrl)?;
        if matches!(
            client.get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls { .. }
        ) {
            use_ring_for_tls();
        }
        // A few quick reconnection attempts: a call waits for them, and a
        // record's claim should fail retryably rather than hold the batch.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(settings.response_timeout)
            .set_connection_timeout(settings.response_timeout)
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let mut connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| ConnectError::of(&e))?;
        // Connecting sends no command: a Redis that wants a password the URL
        // lacks would only say so at the first claim.
        let _pong: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| ConnectError::of(&e))?;
        Ok(RedisIdempotencyStore {
            connection,
            settings,
            round_trips: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Round trips to Redis so far (this store and its clones): a batch's
    /// claims are one, its completions another.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn count_round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends `pipeline` in one round trip; its `expected` answers, or why not.
    async fn send<T: redis::FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
        operation: &'static str,
        expected: usize,
    ) -> Result<Vec<T>, PortError> {
        let mut connection = self.connection.clone();
        self.count_round_trip();
        let answers: Vec<T> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(|e| port_error(operation, &e))?;
        if answers.len() != expected {
            return Err(PortError::new(
                PortErrorKind::Other,
                operation,
                format!("{} answers for {expected} requests", answers.len()),
            ));
        }
        Ok(answers)
    }

    fn record_key(&self, key: &str) -> String {
        [self.settings.key_prefix.as_str(), key].concat()
    }
}

/// What a claim's answer means to a claim for `fingerprint`.
fn claim_of(answer: &[String], fingerprint: Fingerprint) -> Claim {
    match answer {
        [acquired] if acquired == "a" => Claim::Acquired,
        [state, stored, ..] => {
            Claim::of_live_record(state == "c", Fingerprint::from_hex(stored), fingerprint)
        }
        // Never answered by the script; a record it cannot read is not taken as free.
        _ => Claim::InProgress,
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        now: u64,
        in_progress_until: u64,
    ) -> Result<Claim, PortError> {
        let request = ClaimRequest { key, fingerprint };
        self.claim_all(&[request], now, in_progress_until)
            .await
            .pop()
            .unwrap_or_else(|| Err(PortError::new(PortErrorKind::Other, "Claim", "no answer")))
    }

    fn claims_together(&self) -> bool {
        true
    }

    /// Every claim of a batch in one pipeline (each its script on its key):
    /// one round trip. A failed round trip fails every claim (retryably when
    /// Redis timed out or could not be reached).
    async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
        now: u64,
        in_progress_until: u64,
    ) -> Vec<Result<Claim, PortError>> {
        let mut pipeline = redis::pipe();
        for request in requests {
            pipeline
                .cmd("EVAL")
                .arg(CLAIM)
                .arg(1)
                .arg(self.record_key(request.key))
                .arg(request.fingerprint.to_hex())
                .arg(now)
                .arg(in_progress_until)
                .arg(in_progress_until.saturating_sub(now).max(1));
        }
        match self
            .send::<Vec<String>>(&pipeline, "ClaimAll", requests.len())
            .await
        {
            Ok(answers) => answers
                .iter()
                .zip(requests)
                .map(|(answer, request)| Ok(claim_of(answer, request.fingerprint)))
                .collect(),
            Err(error) => requests.iter().map(|_| Err(error.clone())).collect(),
        }
    }

    async fn complete(&self, completion: Completion<'_>, keep_until: u64) -> Result<(), PortError> {
        self.complete_all(&[completion], keep_until)
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Every completion in one pipeline: one round trip for a batch.
    async fn complete_all(&self, completions: &[Completion<'_>], keep_until: u64) -> EntryResults {
        let retention = self.settings.retention.as_secs().max(1);
        let mut pipeline = redis::pipe();
        for completion in completions {
            let key = self.record_key(completion.key);
            pipeline
                .cmd("HSET")
                .arg(&key)
                .arg("s")
                .arg("c")
                .arg("f")
                .arg(completion.fingerprint.to_hex())
                .arg("u")
                .arg(keep_until)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(retention);
        }
        match self.send::<i64>(&pipeline, "Complete", completions.len()).await {
            Ok(_) => completions.iter().map(|_| Ok(())).collect(),
            Err(error) => completions.iter().map(|_| Err(error.clone())).collect(),
        }
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("EVAL").arg(RELEASE).arg(1).arg(self.record_key(key));
        let _deleted: Vec<i64> = self.send(&pipeline, "Release", 1).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claims_answer_reads_as_the_ports_claim() {
        let fp = Fingerprint::of(|f| {
            f.str("order");
        });
        let other = Fingerprint::of(|f| {
            f.str("another order");
        });
        let live = |state: &str, stored: Fingerprint| vec![state.to_owned(), stored.to_hex()];
        assert_eq!(claim_of(&["a".to_owned()], fp), Claim::Acquired);
        assert_eq!(claim_of(&live("p", fp), fp), Claim::InProgress);
        assert_eq!(claim_of(&live("c", fp), fp), Claim::Completed);
        assert_eq!(claim_of(&live("c", other), fp), Claim::Reused);
        assert_eq!(claim_of(&live("p", other), fp), Claim::Reused);
        assert_eq!(claim_of(&[], fp), Claim::InProgress, "unreadable: not free");
    }
}
