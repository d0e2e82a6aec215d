//! Decoding a batch: each record's input, idempotency key, correlation ID
//! and fingerprint, and how it enters the run (ready, a follower or rival of
//! an earlier record with its key, or refused).

use rustc_hash::FxHashMap;
use tracing::{debug, info_span, warn};

use crate::error::RecordError;
use crate::fingerprint::Fingerprint;
use crate::source::EventSource;

use super::step::{RecordStep, idempotency_key_parts};

/// How a record enters the run.
pub(super) enum Stage {
    /// Decoded; runs under its idempotency key.
    Ready,
    /// Same business key and fingerprint as an earlier record: its outcome follows that one's.
    Follower { leader: usize },
    /// Same business key as an earlier record, other content: refused as a
    /// reuse of the key when the leader's content holds the key, else retried
    /// (the store decides next time).
    Rival { leader: usize },
    /// Not run: it could not be decoded, or reuses an earlier record's key for other content.
    Refused(RecordError),
}

/// The batch, decoded: how each record enters the run, the decoded inputs
/// (taken by the run), and each record's idempotency key (empty when undecodable).
pub(super) struct Decoding<T> {
    pub(super) stages: Vec<Stage>,
    pub(super) inputs: Vec<Option<T>>,
    pub(super) keys: RecordStrings,
    /// Each record's correlation ID (empty when undecodable).
    pub(super) correlation_ids: RecordStrings,
    /// Each decoded record's fingerprint.
    pub(super) fingerprints: Vec<Option<Fingerprint>>,
}

/// Decodes every record, in order, and marks records whose business key an
/// earlier record of the batch has as its followers.
pub(super) fn decode_all<Src: EventSource, S: RecordStep<Src::StepRecord>>(
    step: &S,
    records: &[Src::Record],
    latencies: &mut Vec<f64>,
) -> Decoding<S::Input> {
    let n = records.len();
    let mut inputs = Vec::with_capacity(n);
    let mut keys = RecordStrings::with_capacity(n);
    let mut correlation_ids = RecordStrings::with_capacity(n);
    let mut fingerprints = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    for record in records {
        let started = std::time::Instant::now();
        match step.decode(Src::step_record(record)) {
            Ok(input) => {
                keys.push(&idempotency_key_parts(step.name(), &step.key(&input)));
                correlation_ids.push(&[step.correlation_id(&input)]);
                fingerprints.push(Some(step.fingerprint(&input)));
                inputs.push(Some(input));
                errors.push(None);
            }
            Err(e) => {
                let correlation_id = Src::fallback_correlation_id(record);
                let span = info_span!(
                    "record",
                    message_id = Src::record_id(record).unwrap_or_default(),
                    correlation_id = %correlation_id
                );
                span.in_scope(
                    || warn!(code = e.code(), error = %e, permanent = e.is_permanent(), "record rejected"),
                );
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                keys.push(&[]);
                correlation_ids.push(&[]);
                fingerprints.push(None);
                inputs.push(None);
                errors.push(Some(e));
            }
        }
    }
    let mut leaders: FxHashMap<&str, usize> = FxHashMap::default();
    leaders.reserve(n);
    let stages: Vec<Stage> = errors
        .into_iter()
        .enumerate()
        .map(|(i, error)| match error {
            Some(e) => Stage::Refused(e),
            None => match leaders.get(keys.get(i)) {
                Some(&leader) if fingerprints[leader] == fingerprints[i] => {
                    debug!(
                        message_id = Src::record_id(&records[i]),
                        "same business key as an earlier record"
                    );
                    Stage::Follower { leader }
                }
                Some(&leader) => Stage::Rival { leader },
                None => {
                    leaders.insert(keys.get(i), i);
                    Stage::Ready
                }
            },
        })
        .collect();
    drop(leaders);
    for (stage, input) in std::iter::zip(&stages, &mut inputs) {
        if !matches!(stage, Stage::Ready) {
            *input = None; // never runs
        }
    }
    Decoding {
        stages,
        inputs,
        keys,
        correlation_ids,
        fingerprints,
    }
}

/// One string per record, end to end in one buffer: a batch's keys or
/// correlation IDs cost one growing allocation instead of one each.
pub(super) struct RecordStrings {
    text: String,
    ends: Vec<usize>,
}

impl RecordStrings {
    pub(super) fn with_capacity(records: usize) -> Self {
        RecordStrings {
            // Keys and UUIDs run to a few dozen bytes.
            text: String::with_capacity(records * 40),
            ends: Vec::with_capacity(records),
        }
    }

    /// Appends the next record's string, written as the concatenation of `parts`.
    pub(super) fn push(&mut self, parts: &[&str]) {
        for part in parts {
            self.text.push_str(part);
        }
        self.ends.push(self.text.len());
    }

    /// Record `i`'s string (empty past the last record).
    pub(super) fn get(&self, i: usize) -> &str {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or_default()
    }
}
