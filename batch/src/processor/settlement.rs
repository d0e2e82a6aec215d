//! Settling a batch: what the steps did becomes one outcome a record, in
//! phases that run in this order, each for a reason:
//!
//! 1. [`classify`](Settlement::classify): each record's stage and status
//!    give its final outcome, or the phase it waits for (a dead-letter send,
//!    the send of its messages, its leader's outcome).
//! 2. [`dead_letter`](Settlement::dead_letter): permanent failures go to the
//!    DLQ first. A record that could not be dead-lettered is reported failed,
//!    which the FIFO cut must know.
//! 3. [`cut_failed_groups`](Settlement::cut_failed_groups) (FIFO only): after a
//!    record is reported failed, the later records of its group (or batch)
//!    are too, and their messages are dropped *before* anything is sent, so
//!    a group's order holds downstream.
//! 4. [`send`](Settlement::send): the remaining records' messages go out,
//!    ten per call per queue; a record whose message was not delivered is
//!    retried.
//! 5. [`follow`]: followers take their leader's outcome, known only now.
//! 6. [`record_claims`](Settlement::record_claims): the claims of records
//!    whose messages all went out are completed, only now, so a crash before
//!    loses nothing; every other claim is released.
//! 7. [`back_off`](Settlement::back_off): records that ran and failed
//!    retryably get a longer visibility timeout.
//! 8. [`respond`](Settlement::respond): `batchItemFailures` and the metrics.
//!
//! Between phases a record is a [`Pending`] whose type parameters say which
//! waits remain: a phase that has run turns its parameter into
//! [`Infallible`], so a record a phase should have settled cannot reach a
//! later one, and the final outcomes need no default. Every call ends by
//! `settle_by` (the deadline less its margin); what it cut off is reported
//! failed with [`DEADLINE_REACHED`].

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::clock::unix_seconds;
use crate::error::RecordError;
use crate::fingerprint::Fingerprint;
use crate::metrics::InvocationMetrics;
use crate::ports::{Completion, EntryResults, OutgoingMessage};
use crate::publish::publish_batch;
use crate::queue_url::queue_name;
use crate::source::EventSource;

use super::BatchProcessor;
use super::decode::{RecordStrings, Stage};
use super::outcome::{BatchReport, FailureReason, RecordOutcome};
use super::settings::FifoFailureMode;
use super::step::Outgoing;
use super::step_results::{StepResults, StepStatus};

/// The warning logged for each record dead-lettered, with its `code`: what
/// the dashboard's dead-letter reasons count.
pub const DEAD_LETTERED_LOG_MESSAGE: &str = "record dead-lettered";

/// The code of records the invocation's deadline margin cut off.
pub(super) const DEADLINE_REACHED: &str = "DeadlineReached";

/// A record between phases: settled, or waiting for the dead-letter send
/// (`D`), the send of its messages (`S`), or its leader.
#[derive(Debug, PartialEq)]
pub(super) enum Pending<D, S> {
    /// Its outcome is final.
    Settled(RecordOutcome),
    /// A permanent failure, for the DLQ.
    DeadLetter(D),
    /// Succeeded: its messages wait to be sent.
    Send(S),
    /// Follows the outcome of the earlier record with its key and content.
    Follow(usize),
}

/// After [`Settlement::classify`].
/// A dead letter's error is boxed: every phase's records are then the same
/// size, and each phase's conversion reuses the last one's allocation.
pub(super) type Classified = Pending<Box<RecordError>, Vec<Outgoing>>;
/// After [`Settlement::dead_letter`]: nothing waits for the DLQ.
pub(super) type Unsent = Pending<Infallible, Vec<Outgoing>>;
/// After [`Settlement::send`]: only followers wait.
pub(super) type Sent = Pending<Infallible, Infallible>;

/// The state of settling one batch.
pub(super) struct Settlement<'a, Src: EventSource> {
    processor: &'a BatchProcessor,
    source: &'a Src,
    records: &'a [Src::Record],
    keys: &'a RecordStrings,
    fingerprints: &'a [Option<Fingerprint>],
    /// Every call ends by then.
    settle_by: Instant,
    /// Records that ran and failed retryably: backed off.
    ran_and_failed: Vec<usize>,
    /// Claims to release.
    releases: Vec<&'a str>,
    /// Claims to complete.
    completions: Vec<Completion<'a>>,
    /// Messages delivered, by queue URL.
    forwarded: BTreeMap<String, usize>,
}

impl<'a, Src: EventSource> Settlement<'a, Src> {
    /// Settlement of `source`'s `records`, whose keys and fingerprints decoding found.
    pub(super) fn new(
        processor: &'a BatchProcessor,
        source: &'a Src,
        records: &'a [Src::Record],
        keys: &'a RecordStrings,
        fingerprints: &'a [Option<Fingerprint>],
        settle_by: Instant,
    ) -> Self {
        Settlement {
            processor,
            source,
            records,
            keys,
            fingerprints,
            settle_by,
            ran_and_failed: Vec::new(),
            releases: Vec::new(),
            completions: Vec::new(),
            forwarded: BTreeMap::new(),
        }
    }

    /// Every phase, in the order of the module docs.
    pub(super) async fn settle(
        mut self,
        stages: Vec<Stage>,
        steps: StepResults,
        metrics: InvocationMetrics,
        ordered: bool,
    ) -> BatchReport<Src::Response> {
        let classified = self.classify(stages, steps.statuses, &steps.held);
        for i in steps.unrun_claims {
            self.releases.push(self.keys.get(i));
        }
        let unsent = self.dead_letter(classified).await;
        let unsent = if ordered {
            self.cut_failed_groups(unsent)
        } else {
            unsent
        };
        let sent = self.send(unsent).await;
        let outcomes = follow(sent);
        self.record_claims().await;
        self.back_off(&outcomes).await;
        self.respond(outcomes, metrics)
    }

    /// Phase 1: each record's outcome, or the phase it waits for.
    pub(super) fn classify(
        &mut self,
        stages: Vec<Stage>,
        statuses: Vec<StepStatus>,
        held: &[bool],
    ) -> Vec<Classified> {
        let dead_letters = self.source.dead_letter_destination().is_some();
        let for_good = |e: RecordError| {
            if dead_letters {
                Pending::DeadLetter(Box::new(e))
            } else {
                failed(FailureReason::Permanent, e.code())
            }
        };
        let mut classified = Vec::with_capacity(stages.len());
        for (i, (stage, status)) in stages.into_iter().zip(statuses).enumerate() {
            classified.push(match (stage, status) {
                (Stage::Refused(e), _) if e.is_permanent() => for_good(e),
                (Stage::Refused(e), _) => {
                    self.retry_or_give_up(i, FailureReason::Retryable, e.code(), || e.to_string())
                }
                (Stage::Follower { leader }, _) => Pending::Follow(leader),
                (Stage::Rival { leader }, _) if held.get(leader).copied().unwrap_or(false) => {
                    let e = RecordError::IdempotencyKeyReused;
                    warn!(
                        message_id = Src::record_id(&self.records[i]).unwrap_or_default(),
                        code = e.code(),
                        error = %e,
                        "record rejected"
                    );
                    for_good(e)
                }
                (Stage::Rival { .. }, _) => {
                    self.retry_or_give_up(i, FailureReason::Retryable, "KeyContended", || {
                        "a record of this batch under the same key, with other content, did not finish"
                            .to_owned()
                    })
                }
                (Stage::Ready, StepStatus::Succeeded(messages)) => Pending::Send(messages),
                (Stage::Ready, StepStatus::Duplicate) => Pending::Settled(RecordOutcome::Duplicate),
                (Stage::Ready, StepStatus::Failed(e)) if e.is_permanent() => for_good(e),
                (Stage::Ready, StepStatus::Failed(e)) => {
                    let pending =
                        self.retry_or_give_up(i, FailureReason::Retryable, e.code(), || e.to_string());
                    if matches!(pending, Pending::Settled(_)) {
                        self.ran_and_failed.push(i);
                    }
                    pending
                }
                (Stage::Ready, StepStatus::Skipped) => {
                    self.retry_or_give_up(i, FailureReason::Skipped, "GroupFailed", || {
                        "an earlier record of its message group failed".to_owned()
                    })
                }
                (Stage::Ready, StepStatus::NotRun) => {
                    self.retry_or_give_up(i, FailureReason::Deadline, DEADLINE_REACHED, deadline_message)
                }
                (Stage::Ready, StepStatus::Claimed) => {
                    self.releases.push(self.keys.get(i));
                    self.retry_or_give_up(i, FailureReason::Deadline, DEADLINE_REACHED, deadline_message)
                }
            });
        }
        classified
    }

    /// A record failed retryably (`code`, `message`): reported failed for
    /// a retry, unless this receive is the last its source allows and it has
    /// a dead-letter destination: then it is dead-lettered with its reason
    /// (`RetriesExhausted`), rather than moved without one by the redrive.
    fn retry_or_give_up(
        &self,
        i: usize,
        reason: FailureReason,
        code: &'static str,
        message: impl FnOnce() -> String,
    ) -> Classified {
        let last_receive = self
            .source
            .dead_letter_destination()
            .and_then(|_| self.source.last_receive(&self.records[i]));
        match last_receive {
            None => failed(reason, code),
            Some(receive_count) => Pending::DeadLetter(Box::new(RecordError::RetriesExhausted {
                last_code: code,
                last_message: message(),
                receive_count,
            })),
        }
    }

    /// Phase 2: permanent failures to the source's dead-letter destination,
    /// as one batched send.
    pub(super) async fn dead_letter(&mut self, classified: Vec<Classified>) -> Vec<Unsent> {
        let dead: Vec<(&Src::Record, &RecordError)> = classified
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                Pending::DeadLetter(e) => Some((&self.records[i], &**e)),
                _ => None,
            })
            .collect();
        let results = match (self.source.dead_letter_destination(), dead.is_empty()) {
            (Some(destination), false) => {
                let results = before(self.settle_by, self.source.dead_letter(&dead)).await;
                match &results {
                    None => warn!(
                        records = dead.len(),
                        "deadline margin reached before the dead-letter sends finished; those records are reported failed"
                    ),
                    Some(results) => {
                        let delivered = results.iter().filter(|r| r.is_ok()).count();
                        if delivered > 0 {
                            *self.forwarded.entry(destination.to_owned()).or_default() += delivered;
                        }
                    }
                }
                results.unwrap_or_default()
            }
            _ => Vec::new(),
        };
        drop(dead);
        // One result per dead letter, in order; none when the deadline cut the send off.
        let mut results = results.into_iter();
        classified
            .into_iter()
            .enumerate()
            .map(|(i, pending)| match pending {
                Pending::DeadLetter(error) => Pending::Settled(match results.next() {
                    Some(Ok(())) => {
                        warn!(
                            message_id = Src::record_id(&self.records[i]).unwrap_or_default(),
                            code = error.code(),
                            "{DEAD_LETTERED_LOG_MESSAGE}"
                        );
                        RecordOutcome::DeadLettered { code: error.code() }
                    }
                    Some(Err(send_error)) => {
                        warn!(
                            message_id = Src::record_id(&self.records[i]).unwrap_or_default(),
                            error = %send_error,
                            "could not dead-letter a permanently failed record; reporting it failed"
                        );
                        RecordOutcome::Failed {
                            reason: FailureReason::Permanent,
                            code: error.code(),
                        }
                    }
                    None => RecordOutcome::Failed {
                        reason: FailureReason::Deadline,
                        code: DEADLINE_REACHED,
                    },
                }),
                Pending::Settled(outcome) => Pending::Settled(outcome),
                Pending::Send(messages) => Pending::Send(messages),
                Pending::Follow(leader) => Pending::Follow(leader),
            })
            .collect()
    }

    /// Phase 3 (FIFO): after a record is reported failed, every later record
    /// of its group (or, by setting, of the batch) is too; their messages are
    /// dropped and their claims released.
    pub(super) fn cut_failed_groups(&mut self, mut unsent: Vec<Unsent>) -> Vec<Unsent> {
        let whole_batch = self.processor.config.fifo_failure_mode == FifoFailureMode::StopBatch;
        let mut failed_groups: HashSet<&str> = HashSet::new();
        let mut batch_failed = false;
        for (i, (record, pending)) in self.records.iter().zip(&mut unsent).enumerate() {
            let group = Src::group(record);
            let reported = matches!(
                pending,
                Pending::Settled(RecordOutcome::DeadLettered { .. } | RecordOutcome::Failed { .. })
            );
            if !reported && (batch_failed || failed_groups.contains(group)) {
                if matches!(pending, Pending::Send(_)) {
                    self.releases.push(self.keys.get(i));
                }
                *pending = failed(FailureReason::Skipped, "GroupFailed");
            }
            if matches!(pending, Pending::Settled(RecordOutcome::Failed { .. })) {
                failed_groups.insert(group);
                batch_failed |= whole_batch;
            }
        }
        unsent
    }

    /// Phase 4: every waiting record's messages, per destination queue, all
    /// queues at once. A record is processed when all its messages went out.
    pub(super) async fn send(&mut self, unsent: Vec<Unsent>) -> Vec<Sent> {
        // Per queue, in batch order: the messages and the record each came from.
        let mut queues: Vec<(Arc<str>, Vec<OutgoingMessage>, Vec<usize>)> = Vec::new();
        let mut waiting: Vec<usize> = Vec::new();
        let mut sent: Vec<Sent> = unsent
            .into_iter()
            .enumerate()
            .map(|(i, pending)| match pending {
                Pending::Send(messages) => {
                    waiting.push(i);
                    for outgoing in messages {
                        let slot = match queues.iter().position(|(q, _, _)| *q == outgoing.queue_url) {
                            Some(slot) => slot,
                            None => {
                                queues.push((outgoing.queue_url.clone(), Vec::new(), Vec::new()));
                                queues.len() - 1
                            }
                        };
                        queues[slot].1.push(outgoing.message);
                        queues[slot].2.push(i);
                    }
                    Pending::Settled(RecordOutcome::Processed)
                }
                Pending::Settled(outcome) => Pending::Settled(outcome),
                Pending::Follow(leader) => Pending::Follow(leader),
                Pending::DeadLetter(never) => match never {},
            })
            .collect();
        let this: &Self = self;
        let (destinations, sends): (Vec<_>, Vec<_>) = queues
            .into_iter()
            .map(|(url, messages, owners)| {
                let destination = Arc::clone(&url);
                let send = async move { this.publish(&destination, messages).await };
                ((url, owners), send)
            })
            .unzip();
        let results = futures::future::join_all(sends).await;
        for ((url, owners), results) in destinations.iter().zip(results) {
            let Some(results) = results else {
                // Some may have gone out before the cut: the retry's duplicates are skipped downstream.
                warn!(
                    queue = queue_name(url),
                    "deadline margin reached before a destination's sends finished; their records will be retried"
                );
                for &i in owners {
                    sent[i] = failed(FailureReason::Deadline, DEADLINE_REACHED);
                }
                continue;
            };
            let mut delivered = 0;
            for (&i, result) in owners.iter().zip(results) {
                match result {
                    Ok(()) => delivered += 1,
                    Err(e) => {
                        if sent[i] == Pending::Settled(RecordOutcome::Processed) {
                            warn!(queue = queue_name(url), error = %e, "could not send a record's message; the record will be retried");
                        }
                        sent[i] = failed(FailureReason::Retryable, e.kind.code());
                    }
                }
            }
            if delivered > 0 {
                *self.forwarded.entry(url.to_string()).or_default() += delivered;
            }
        }
        for i in waiting {
            match (&sent[i], self.fingerprints[i]) {
                (Pending::Settled(RecordOutcome::Processed), Some(fingerprint)) => {
                    self.completions.push(Completion {
                        key: self.keys.get(i),
                        fingerprint,
                    })
                }
                _ => self.releases.push(self.keys.get(i)),
            }
        }
        sent
    }

    /// Phase 6: completes the claims of processed records and releases the
    /// rest, by `settle_by`; a claim left expires with its in-progress time.
    pub(super) async fn record_claims(&mut self) {
        let store = &self.processor.idempotency;
        if !self.completions.is_empty() {
            let keep_until = unix_seconds() + self.processor.config.idempotency_ttl.as_secs();
            match before(self.settle_by, store.complete_all(&self.completions, keep_until)).await {
                Some(results) => {
                    for (completion, result) in self.completions.iter().zip(results) {
                        if let Err(e) = result {
                            // The effect happened; a redelivery after the claim expires may repeat it.
                            warn!(key = completion.key, error = %e, "could not mark the step completed");
                        }
                    }
                }
                None => warn!(
                    steps = self.completions.len(),
                    "deadline margin reached before the steps were marked completed; their claims expire"
                ),
            }
        }
        let limit = self.processor.config.max_concurrency.max(1);
        let releases = std::mem::take(&mut self.releases);
        let released =
            futures::stream::iter(releases).for_each_concurrent(limit, |key| self.processor.release(key));
        if before(self.settle_by, released).await.is_none() {
            warn!("deadline margin reached before every claim was released; the rest expire");
        }
    }

    /// Phase 7: the source delays the redelivery of records that ran and
    /// are still reported retryable (SQS: a longer visibility timeout), by
    /// `settle_by`.
    pub(super) async fn back_off(&self, outcomes: &[RecordOutcome]) {
        let retried: Vec<&Src::Record> = self
            .ran_and_failed
            .iter()
            .filter(|&&i| {
                matches!(
                    outcomes[i],
                    RecordOutcome::Failed {
                        reason: FailureReason::Retryable,
                        ..
                    }
                )
            })
            .map(|&i| &self.records[i])
            .collect();
        if retried.is_empty() {
            return;
        }
        if before(self.settle_by, self.source.back_off(&retried))
            .await
            .is_none()
        {
            warn!("deadline margin reached before every failed record was backed off");
        }
    }

    /// Phase 8: the response names every failed record once; the metrics
    /// count the outcomes.
    pub(super) fn respond(
        self,
        outcomes: Vec<RecordOutcome>,
        mut metrics: InvocationMetrics,
    ) -> BatchReport<Src::Response> {
        let mut failed: Vec<&str> = Vec::new();
        let mut reported: HashSet<&str> = HashSet::new();
        for (record, outcome) in self.records.iter().zip(&outcomes) {
            if let RecordOutcome::DeadLettered { code } | RecordOutcome::Failed { code, .. } = outcome
                && *code == RecordError::IdempotencyKeyReused.code()
            {
                metrics.keys_reused += 1;
            }
            match outcome {
                RecordOutcome::Processed => metrics.processed += 1,
                RecordOutcome::Duplicate => metrics.duplicates_skipped += 1,
                RecordOutcome::DeadLettered { .. } => metrics.sent_to_dlq += 1,
                RecordOutcome::Failed { .. } => {
                    metrics.failed += 1;
                    let id = Src::record_id(record).unwrap_or_default();
                    if !id.is_empty() && reported.insert(id) {
                        failed.push(id);
                    }
                }
            }
        }
        info!(
            records = outcomes.len(),
            processed = metrics.processed,
            duplicates = metrics.duplicates_skipped,
            dead_lettered = metrics.sent_to_dlq,
            failed = metrics.failed,
            "batch done"
        );
        BatchReport {
            response: self.source.respond(failed),
            outcomes,
            metrics,
            forwarded: self.forwarded,
        }
    }

    /// Sends `messages` to `queue_url` by `settle_by` (`None` when cut off),
    /// counting what was delivered.
    async fn publish(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Option<EntryResults> {
        let processor = self.processor;
        before(
            self.settle_by,
            publish_batch(
                &*processor.queue,
                queue_url,
                messages,
                &processor.config.send_retry,
            ),
        )
        .await
    }
}

/// Phase 5: followers take their leader's outcome: a duplicate when it was
/// processed or a duplicate itself, else retried.
pub(super) fn follow(sent: Vec<Sent>) -> Vec<RecordOutcome> {
    let mut followers: Vec<(usize, usize)> = Vec::new();
    let mut outcomes: Vec<RecordOutcome> = sent
        .into_iter()
        .enumerate()
        .map(|(i, pending)| match pending {
            Pending::Settled(outcome) => outcome,
            Pending::Follow(leader) => {
                followers.push((i, leader));
                // Unless its leader succeeded (below).
                RecordOutcome::Failed {
                    reason: FailureReason::Retryable,
                    code: "DuplicateOfFailed",
                }
            }
            Pending::DeadLetter(never) | Pending::Send(never) => match never {},
        })
        .collect();
    for (i, leader) in followers {
        if matches!(
            outcomes.get(leader),
            Some(RecordOutcome::Processed | RecordOutcome::Duplicate)
        ) {
            outcomes[i] = RecordOutcome::Duplicate;
        }
    }
    outcomes
}

/// A record reported failed.
/// Why a record the deadline cut off failed.
fn deadline_message() -> String {
    "the invocation's deadline came before it finished".to_owned()
}

fn failed<D, S>(reason: FailureReason, code: &'static str) -> Pending<D, S> {
    Pending::Settled(RecordOutcome::Failed { reason, code })
}

/// Runs one call of the settlement unless `bound` passes first; starts
/// nothing once it has passed.
async fn before<T>(bound: Instant, call: impl Future<Output = T>) -> Option<T> {
    if Instant::now() >= bound {
        return None;
    }
    tokio::time::timeout_at(bound, call).await.ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::error::{PortError, PortErrorKind};
    use crate::ports::{Claim, IdempotencyStore, MessageQueue, MetricsSink, Undelivered, VisibilityChange};
    use crate::processor::BatchConfig;

    const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/1/source-dlq";
    const OUT: &str = "https://sqs.us-east-1.amazonaws.com/1/out";
    const BROKEN: &str = "https://sqs.us-east-1.amazonaws.com/1/broken";

    /// Delivers to every queue but [`BROKEN`]; records what it was given.
    #[derive(Default)]
    struct Ports {
        sent: Mutex<HashMap<String, usize>>,
        completed: Mutex<Vec<String>>,
        released: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl MessageQueue for Ports {
        async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
            if queue_url == BROKEN {
                let error = PortError::new(PortErrorKind::NotFound, "SendMessageBatch", "no such queue");
                return Undelivered::all(messages, &error);
            }
            *self.sent.lock().unwrap().entry(queue_url.to_owned()).or_default() += messages.len();
            Vec::new()
        }

        async fn change_visibility_batch(
            &self,
            _queue_url: &str,
            changes: &[VisibilityChange],
        ) -> Result<EntryResults, PortError> {
            Ok(vec![Ok(()); changes.len()])
        }
    }

    #[async_trait]
    impl IdempotencyStore for Ports {
        async fn claim(&self, _: &str, _: Fingerprint, _: u64, _: u64) -> Result<Claim, PortError> {
            Ok(Claim::Acquired)
        }

        async fn complete(&self, completion: Completion<'_>, _: u64) -> Result<(), PortError> {
            self.completed.lock().unwrap().push(completion.key.to_owned());
            Ok(())
        }

        async fn release(&self, key: &str) -> Result<(), PortError> {
            self.released.lock().unwrap().push(key.to_owned());
            Ok(())
        }
    }

    #[async_trait]
    impl MetricsSink for Ports {
        async fn publish(&self, _: &InvocationMetrics) -> Result<(), PortError> {
            Ok(())
        }
    }

    fn processor(ports: &Arc<Ports>, mode: FifoFailureMode) -> BatchProcessor {
        let config = BatchConfig {
            fifo_failure_mode: mode,
            ..BatchConfig::default()
        };
        BatchProcessor::new(config, ports.clone(), ports.clone(), ports.clone())
    }

    /// A record of [`TestSource`]: an ID and an ordering group.
    struct TestRecord {
        id: String,
        group: String,
    }

    /// A source that is not SQS: its dead letters go to `destination` (all
    /// refused when it is [`BROKEN`]); it notes what it backs off.
    struct TestSource {
        destination: Option<&'static str>,
        backed_off: Mutex<Vec<String>>,
    }

    fn test_source(destination: Option<&'static str>) -> TestSource {
        TestSource {
            destination,
            backed_off: Mutex::default(),
        }
    }

    impl EventSource for TestSource {
        type Record = TestRecord;
        type StepRecord = TestRecord;
        type Response = Vec<String>;

        fn step_record(record: &TestRecord) -> &TestRecord {
            record
        }

        fn record_id(record: &TestRecord) -> Option<&str> {
            Some(&record.id)
        }

        fn fallback_correlation_id(record: &TestRecord) -> String {
            record.id.clone()
        }

        fn ordered(&self, _: &[TestRecord]) -> bool {
            true
        }

        fn group(record: &TestRecord) -> &str {
            &record.group
        }

        fn dead_letter_destination(&self) -> Option<&str> {
            self.destination
        }

        async fn dead_letter(&self, failures: &[(&TestRecord, &RecordError)]) -> EntryResults {
            let refused = PortError::new(PortErrorKind::Rejected, "DeadLetter", "refused");
            let result = if self.destination == Some(BROKEN) {
                Err(refused)
            } else {
                Ok(())
            };
            vec![result; failures.len()]
        }

        async fn back_off(&self, records: &[&TestRecord]) {
            let mut backed_off = self.backed_off.lock().unwrap();
            backed_off.extend(records.iter().map(|r| r.id.clone()));
        }

        fn respond(&self, failed: Vec<&str>) -> Vec<String> {
            failed.into_iter().map(str::to_owned).collect()
        }
    }

    /// Records `m0`, `m1`, ... in ordering groups `groups`.
    fn records(groups: &[&str]) -> Vec<TestRecord> {
        groups
            .iter()
            .enumerate()
            .map(|(i, group)| TestRecord {
                id: format!("m{i}"),
                group: (*group).to_owned(),
            })
            .collect()
    }

    /// Keys `k0`, `k1`, ...
    fn keys(n: usize) -> RecordStrings {
        let mut keys = RecordStrings::with_capacity(n);
        for i in 0..n {
            keys.push(&[&format!("k{i}")]);
        }
        keys
    }

    fn fingerprints(n: usize) -> Vec<Option<Fingerprint>> {
        (0..n)
            .map(|i| {
                Some(Fingerprint::of(|f| {
                    f.str(&i.to_string());
                }))
            })
            .collect()
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    fn message(queue: &str) -> Outgoing {
        Outgoing {
            queue_url: queue.into(),
            message: OutgoingMessage::new("{}".to_owned()),
        }
    }

    fn failed_with<D, S>(reason: FailureReason, code: &'static str) -> Pending<D, S> {
        failed(reason, code)
    }

    #[tokio::test]
    async fn classify_settles_each_stage_and_status_or_says_what_it_waits_for() {
        let ports = Arc::new(Ports::default());
        let processor = processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(Some(DLQ));
        let records = records(&[""; 10]);
        let (keys, prints) = (keys(10), fingerprints(10));
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let retryable = || RecordError::InProgress { key: "k".into() };
        let stages = vec![
            Stage::Refused(RecordError::MissingBody),
            Stage::Refused(retryable()),
            Stage::Follower { leader: 4 },
            Stage::Rival { leader: 4 },
            Stage::Ready,
            Stage::Ready,
            Stage::Ready,
            Stage::Ready,
            Stage::Ready,
            Stage::Ready,
        ];
        let statuses = vec![
            StepStatus::NotRun,
            StepStatus::NotRun,
            StepStatus::NotRun,
            StepStatus::NotRun,
            StepStatus::Succeeded(vec![message(OUT)]),
            StepStatus::Duplicate,
            StepStatus::Failed(RecordError::UnsupportedVersion),
            StepStatus::Failed(retryable()),
            StepStatus::NotRun,
            StepStatus::Claimed,
        ];
        let mut held = vec![false; 10];
        held[4] = true;
        let classified = settlement.classify(stages, statuses, &held);
        // Errors are not comparable: their debug text is.
        let expected: Vec<Classified> = vec![
            Pending::DeadLetter(Box::new(RecordError::MissingBody)),
            failed_with(FailureReason::Retryable, "InProgress"),
            Pending::Follow(4),
            Pending::DeadLetter(Box::new(RecordError::IdempotencyKeyReused)),
            Pending::Send(vec![message(OUT)]),
            Pending::Settled(RecordOutcome::Duplicate),
            Pending::DeadLetter(Box::new(RecordError::UnsupportedVersion)),
            failed_with(FailureReason::Retryable, "InProgress"),
            failed_with(FailureReason::Deadline, DEADLINE_REACHED),
            failed_with(FailureReason::Deadline, DEADLINE_REACHED),
        ];
        assert_eq!(format!("{classified:#?}"), format!("{expected:#?}"));
        assert_eq!(
            settlement.ran_and_failed,
            [7],
            "only a record that ran is backed off"
        );
        assert_eq!(
            settlement.releases,
            ["k9"],
            "a claim the deadline cut off is released"
        );

        // Without a DLQ, permanent failures are reported; a rival whose leader
        // does not hold the key is retried.
        let processor = self::processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(None);
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let classified = settlement.classify(
            vec![
                Stage::Refused(RecordError::MissingBody),
                Stage::Ready,
                Stage::Rival { leader: 1 },
            ],
            vec![
                StepStatus::NotRun,
                StepStatus::Failed(RecordError::UnsupportedVersion),
                StepStatus::NotRun,
            ],
            &[false; 3],
        );
        let expected: Vec<Classified> = vec![
            failed_with(FailureReason::Permanent, "MissingBody"),
            failed_with(FailureReason::Permanent, "UnsupportedVersion"),
            failed_with(FailureReason::Retryable, "KeyContended"),
        ];
        assert_eq!(format!("{classified:#?}"), format!("{expected:#?}"));
    }

    #[tokio::test]
    async fn dead_letter_settles_each_waiting_record_by_its_send() {
        let waiting = || {
            vec![
                Pending::DeadLetter(Box::new(RecordError::MissingBody)),
                Pending::Send(vec![]),
                Pending::Follow(0),
                Pending::DeadLetter(Box::new(RecordError::UnsupportedVersion)),
            ]
        };
        let ports = Arc::new(Ports::default());
        let records = records(&[""; 4]);
        let (keys, prints) = (keys(4), fingerprints(4));

        let processor = processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(Some(DLQ));
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let unsent = settlement.dead_letter(waiting()).await;
        assert_eq!(
            unsent,
            vec![
                Pending::Settled(RecordOutcome::DeadLettered { code: "MissingBody" }),
                Pending::Send(vec![]),
                Pending::Follow(0),
                Pending::Settled(RecordOutcome::DeadLettered {
                    code: "UnsupportedVersion"
                }),
            ]
        );
        assert_eq!(settlement.forwarded[DLQ], 2, "dead letters count as forwarded");

        let processor = self::processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(Some(BROKEN));
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let unsent = settlement.dead_letter(waiting()).await;
        assert_eq!(unsent[0], failed_with(FailureReason::Permanent, "MissingBody"));

        let past = Instant::now() - Duration::from_millis(1);
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, past);
        let unsent = settlement.dead_letter(waiting()).await;
        assert_eq!(unsent[3], failed_with(FailureReason::Deadline, DEADLINE_REACHED));
    }

    #[tokio::test]
    async fn a_failed_record_cuts_the_rest_of_its_group_and_drops_their_messages() {
        let ports = Arc::new(Ports::default());
        let records = records(&["a", "a", "b", "a", "a", "c"]);
        let (keys, prints) = (keys(6), fingerprints(6));
        let unsent = || -> Vec<Unsent> {
            vec![
                Pending::Send(vec![message(OUT)]),
                failed(FailureReason::Retryable, "Timeout"),
                Pending::Send(vec![message(OUT)]),
                Pending::Send(vec![message(OUT)]),
                Pending::Follow(0),
                Pending::Settled(RecordOutcome::Duplicate),
            ]
        };
        let skipped = || failed_with(FailureReason::Skipped, "GroupFailed");

        let processor = processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(None);
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let cut = settlement.cut_failed_groups(unsent());
        assert_eq!(cut[0], Pending::Send(vec![message(OUT)]), "before the failure");
        assert_eq!(cut[2], Pending::Send(vec![message(OUT)]), "another group");
        assert_eq!((&cut[3], &cut[4]), (&skipped(), &skipped()));
        assert_eq!(cut[5], Pending::Settled(RecordOutcome::Duplicate));
        assert_eq!(settlement.releases, ["k3"], "the dropped record's claim");

        let processor = self::processor(&ports, FifoFailureMode::StopBatch);
        let source = test_source(None);
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let cut = settlement.cut_failed_groups(unsent());
        assert_eq!(cut[0], Pending::Send(vec![message(OUT)]));
        assert!(cut[2..].iter().all(|p| *p == skipped()), "{cut:?}");
        assert_eq!(settlement.releases, ["k2", "k3"]);
    }

    #[tokio::test]
    async fn a_record_is_processed_when_all_its_messages_went_out() {
        let ports = Arc::new(Ports::default());
        let processor = processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(None);
        let records = records(&[""; 4]);
        let (keys, prints) = (keys(4), fingerprints(4));
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let sent = settlement
            .send(vec![
                Pending::Send(vec![message(OUT), message(OUT)]),
                Pending::Send(vec![message(OUT), message(BROKEN)]),
                Pending::Send(vec![]),
                Pending::Follow(0),
            ])
            .await;
        assert_eq!(
            sent,
            vec![
                Pending::Settled(RecordOutcome::Processed),
                failed_with(FailureReason::Retryable, "NotFound"),
                Pending::Settled(RecordOutcome::Processed),
                Pending::Follow(0),
            ]
        );
        let completed: Vec<&str> = settlement.completions.iter().map(|c| c.key).collect();
        assert_eq!(completed, ["k0", "k2"]);
        assert_eq!(settlement.releases, ["k1"]);
        assert_eq!(settlement.forwarded[OUT], 3);

        settlement.record_claims().await;
        assert_eq!(*ports.completed.lock().unwrap(), ["k0", "k2"]);
        assert_eq!(*ports.released.lock().unwrap(), ["k1"]);
    }

    #[test]
    fn followers_take_their_leaders_outcome() {
        let outcomes = follow(vec![
            Pending::Settled(RecordOutcome::Processed),
            Pending::Follow(0),
            Pending::Settled(RecordOutcome::Duplicate),
            Pending::Follow(2),
            failed(FailureReason::Retryable, "Timeout"),
            Pending::Follow(4),
        ]);
        assert_eq!(outcomes[1], RecordOutcome::Duplicate);
        assert_eq!(outcomes[3], RecordOutcome::Duplicate);
        assert_eq!(
            outcomes[5],
            RecordOutcome::Failed {
                reason: FailureReason::Retryable,
                code: "DuplicateOfFailed"
            }
        );
    }

    #[test]
    fn the_response_names_each_failed_message_once_and_the_metrics_count_every_outcome() {
        let ports = Arc::new(Ports::default());
        let processor = processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(None);
        let mut records = records(&[""; 5]);
        records[4].id = "m3".into();
        let (keys, prints) = (keys(5), fingerprints(5));
        let settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        let failure = RecordOutcome::Failed {
            reason: FailureReason::Retryable,
            code: "Timeout",
        };
        let report = settlement.respond(
            vec![
                RecordOutcome::Processed,
                RecordOutcome::Duplicate,
                RecordOutcome::DeadLettered {
                    code: "IdempotencyKeyReused",
                },
                failure.clone(),
                failure,
            ],
            InvocationMetrics::default(),
        );
        assert_eq!(report.response, ["m3"]);
        let m = &report.metrics;
        assert_eq!(
            (
                m.processed,
                m.duplicates_skipped,
                m.sent_to_dlq,
                m.failed,
                m.keys_reused
            ),
            (1, 1, 1, 2, 1)
        );
    }

    #[tokio::test]
    async fn only_records_that_ran_and_are_still_retried_are_backed_off() {
        let ports = Arc::new(Ports::default());
        let processor = processor(&ports, FifoFailureMode::SkipGroup);
        let source = test_source(None);
        let records = records(&[""; 3]);
        let (keys, prints) = (keys(3), fingerprints(3));
        let mut settlement = Settlement::new(&processor, &source, &records, &keys, &prints, later());
        settlement.ran_and_failed = vec![1, 2];
        let retried = RecordOutcome::Failed {
            reason: FailureReason::Retryable,
            code: "Timeout",
        };
        let outcomes = [retried.clone(), retried, RecordOutcome::Duplicate];
        settlement.back_off(&outcomes).await;
        assert_eq!(*source.backed_off.lock().unwrap(), ["m1"]);
    }
}
