//! Running the steps: records in chains (each alone in an unordered batch,
//! each group in order in an ordered one: a FIFO queue's message groups), a fixed number of workers, each
//! record under its idempotency claim, none started past the cutoff.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{debug, info_span, warn};

use crate::error::PortError;
use crate::error::RecordError;
use crate::fingerprint::Fingerprint;
use crate::metrics::InvocationMetrics;
use crate::metrics::step::RecordedMetrics;
use crate::ports::{Claim, ClaimRequest};
use crate::source::EventSource;

use super::decode::{Decoding, RecordStrings, Stage, decode_all};
use super::in_span::InSpan;
use super::invocation::InvocationContext;
use super::outcome::{BatchReport, RecordOutcome};
use super::settings::FifoFailureMode;
use super::settlement::Settlement;
use super::step::{RecordContext, RecordStep};
use super::step_results::{StepResults, StepStatus};
use super::{BatchProcessor, lock};

/// What the workers take and record as records run, under one lock.
struct Progress<T> {
    /// The decoded inputs, each taken by the record's run.
    inputs: Vec<Option<T>>,
    statuses: Vec<StepStatus>,
    /// Whether the record's key is held for its fingerprint: its claim was
    /// acquired, or found completed or in progress for the same fingerprint.
    held: Vec<bool>,
    /// Milliseconds, one a record that ran (and one a record that failed to decode).
    latencies: Vec<f64>,
    /// When the store claims a batch's keys together: each ready record's
    /// answer, taken by its run (empty otherwise).
    claimed_together: Vec<Option<Result<Claim, PortError>>>,
}

/// Shared state of one run of the steps.
struct Run<'a, Src: EventSource, S: RecordStep<Src::StepRecord>> {
    step: &'a S,
    records: &'a [Src::Record],
    stages: &'a [Stage],
    keys: &'a RecordStrings,
    correlation_ids: &'a RecordStrings,
    fingerprints: &'a [Option<Fingerprint>],
    progress: Mutex<Progress<S::Input>>,
    /// What the steps record through their contexts' metrics.
    recorded: RecordedMetrics,
    cutoff: Instant,
    /// Records run in order within their groups.
    ordered: bool,
    /// Permanent failures go to a dead-letter destination (so an ordered
    /// group goes on after one).
    dead_letters: bool,
    in_progress_until: u64,
    /// Whether the store claims a batch's keys together (asked once a batch).
    claims_together: bool,
    /// The wall-clock time at `started`: a record's time is derived from the
    /// deadline check's clock read instead of reading the wall clock again.
    wall_at_start: OffsetDateTime,
    started: Instant,
}

impl<Src: EventSource, S: RecordStep<Src::StepRecord>> Run<'_, Src, S> {
    /// The wall-clock time at `instant`.
    fn wall_at(&self, instant: Instant) -> OffsetDateTime {
        time::Duration::try_from(instant.saturating_duration_since(self.started))
            .ok()
            .and_then(|elapsed| self.wall_at_start.checked_add(elapsed))
            .unwrap_or(self.wall_at_start)
    }
}

impl BatchProcessor {
    pub(super) async fn run_batch<Src: EventSource, S: RecordStep<Src::StepRecord>>(
        &self,
        source: &Src,
        records: &[Src::Record],
        context: &InvocationContext,
        step: &S,
        mut metrics: InvocationMetrics,
    ) -> BatchReport<Src::Response> {
        let ordered = source.ordered(records);
        let mut latencies = Vec::with_capacity(records.len());
        let Decoding {
            stages,
            inputs,
            keys,
            correlation_ids,
            fingerprints,
        } = decode_all::<Src, S>(step, records, &mut latencies);

        let settle_by = self.settle_by(context);
        let cutoff = settle_by
            .checked_sub(self.config.settlement_reserve)
            .unwrap_or(settle_by);
        let remaining = context.remaining().as_secs() + 1;
        let wall_now = crate::clock::now_utc();
        let unix_now = u64::try_from(wall_now.unix_timestamp()).unwrap_or(0);
        let run: Run<'_, Src, S> = Run {
            step,
            records,
            stages: &stages,
            keys: &keys,
            correlation_ids: &correlation_ids,
            fingerprints: &fingerprints,
            progress: Mutex::new(Progress {
                inputs,
                statuses: (0..records.len()).map(|_| StepStatus::NotRun).collect(),
                held: vec![false; records.len()],
                latencies,
                claimed_together: Vec::new(),
            }),
            recorded: RecordedMetrics::for_batch(records.len()),
            cutoff,
            ordered,
            dead_letters: source.dead_letter_destination().is_some(),
            in_progress_until: unix_now + remaining,
            claims_together: self.idempotency.claims_together(),
            wall_at_start: wall_now,
            started: Instant::now(),
        };
        if run.claims_together {
            self.claim_together(&run, unix_now).await;
        }
        let (order, chains) = self.chains::<Src>(records, &stages, ordered);
        // `limit` workers take the chains in order: one future per worker, not
        // per record, so a large batch costs no per-record task allocation.
        let next_chain = AtomicUsize::new(0);
        let worker_count = self.config.max_concurrency.max(1).min(chains.len());
        let workers: FuturesUnordered<_> = (0..worker_count)
            .map(|_| async {
                let mut now = Instant::now();
                while let Some(chain) = chains.get(next_chain.fetch_add(1, Ordering::Relaxed)) {
                    now = self.run_chain(&run, &order[chain.clone()], now).await;
                }
            })
            .collect();
        let steps = workers.collect::<()>();
        if tokio::time::timeout_at(cutoff, steps).await.is_err() {
            warn!("deadline margin reached: unfinished records are reported failed");
        }

        let Progress {
            statuses,
            held,
            latencies,
            claimed_together,
            ..
        } = run
            .progress
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        metrics.latencies_ms = latencies;
        let recorded = run.recorded;
        // Claimed with the batch's but never run: released by the settlement.
        let unrun_claims = claimed_together
            .iter()
            .enumerate()
            .filter(|(_, answer)| matches!(answer, Some(Ok(Claim::Acquired))))
            .map(|(i, _)| i)
            .collect();
        let steps = StepResults {
            statuses,
            held,
            unrun_claims,
        };
        let mut report = Settlement::new(self, source, records, &keys, &fingerprints, settle_by)
            .settle(stages, steps, metrics, ordered)
            .await;
        // A step's metrics count once its record is processed: a failed run is retried.
        let outcomes = &report.outcomes;
        report.metrics.steps =
            recorded.aggregate(|i| matches!(outcomes.get(i), Some(RecordOutcome::Processed)));
        report
    }

    /// Claims every ready record's key in one call to the store, before any
    /// runs, and leaves each answer for its record's run. Cut off by the
    /// cutoff like the runs: then no record runs, and a claim made meanwhile
    /// expires with the invocation.
    async fn claim_together<Src: EventSource, S: RecordStep<Src::StepRecord>>(
        &self,
        run: &Run<'_, Src, S>,
        now: u64,
    ) {
        let ready: Vec<(usize, ClaimRequest<'_>)> = (0..run.records.len())
            .filter(|&i| matches!(run.stages[i], Stage::Ready))
            .filter_map(|i| {
                let fingerprint = run.fingerprints[i]?;
                Some((
                    i,
                    ClaimRequest {
                        key: run.keys.get(i),
                        fingerprint,
                    },
                ))
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        let requests: Vec<ClaimRequest<'_>> = ready.iter().map(|(_, r)| *r).collect();
        let claims = self.idempotency.claim_all(&requests, now, run.in_progress_until);
        let Ok(mut answers) = tokio::time::timeout_at(run.cutoff, claims).await else {
            warn!("deadline margin reached while claiming the batch's keys");
            return;
        };
        if answers.len() != ready.len() {
            let error = PortError::new(
                crate::error::PortErrorKind::Other,
                "ClaimAll",
                format!("{} answers for {} claims", answers.len(), ready.len()),
            );
            answers = ready.iter().map(|_| Err(error.clone())).collect();
        }
        let mut progress = lock(&run.progress);
        progress.claimed_together = (0..run.records.len()).map(|_| None).collect();
        for ((i, _), answer) in ready.iter().zip(answers) {
            progress.claimed_together[*i] = Some(answer);
        }
    }

    /// Which records run one after another: every ready record alone when
    /// the batch is unordered, each group (or the whole batch) in order when
    /// it is ordered. Returns record indices in run order, and each chain's
    /// range of them.
    fn chains<Src: EventSource>(
        &self,
        records: &[Src::Record],
        stages: &[Stage],
        ordered: bool,
    ) -> (Vec<usize>, Vec<Range<usize>>) {
        if !ordered {
            let order: Vec<usize> = (0..records.len())
                .filter(|&i| matches!(stages[i], Stage::Ready))
                .collect();
            let chains = (0..order.len()).map(|i| i..i + 1).collect();
            return (order, chains);
        }
        if self.config.fifo_failure_mode == FifoFailureMode::StopBatch {
            let all = 0..records.len();
            return (all.clone().collect(), std::iter::once(all).collect());
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let g = *index.entry(Src::group(r)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        let mut order = Vec::with_capacity(records.len());
        let mut chains = Vec::with_capacity(groups.len());
        for group in groups {
            chains.push(order.len()..order.len() + group.len());
            order.extend(group);
        }
        (order, chains)
    }

    /// Runs one chain's records in order, from `now` (the clock as the last
    /// record of this worker ended, so a record's start costs no clock read);
    /// returns the time its last record ended.
    async fn run_chain<Src: EventSource, S: RecordStep<Src::StepRecord>>(
        &self,
        run: &Run<'_, Src, S>,
        chain: &[usize],
        mut now: Instant,
    ) -> Instant {
        for (pos, &i) in chain.iter().enumerate() {
            let ok = match &run.stages[i] {
                Stage::Refused(e) => e.is_permanent() && run.dead_letters,
                Stage::Follower { .. } | Stage::Rival { .. } => true,
                Stage::Ready => {
                    if now >= run.cutoff {
                        return now; // the rest stays NotRun: reported as cut off by the deadline
                    }
                    let (ok, ended) = self.run_record(run, i, now).await;
                    now = ended;
                    ok
                }
            };
            if !ok && run.ordered {
                let statuses = &mut lock(&run.progress).statuses;
                for &j in &chain[pos + 1..] {
                    statuses[j] = StepStatus::Skipped;
                }
                return now;
            }
        }
        now
    }

    /// Claims, runs and records one step, which starts `started`; returns
    /// whether it succeeded or was a duplicate, and when it ended.
    async fn run_record<Src: EventSource, S: RecordStep<Src::StepRecord>>(
        &self,
        run: &Run<'_, Src, S>,
        i: usize,
        started: Instant,
    ) -> (bool, Instant) {
        let record = &run.records[i];
        let message_id = Src::record_id(record).unwrap_or_default();
        let Some(input) = lock(&run.progress).inputs[i].take() else {
            return (false, started); // never: each ready record runs once
        };
        let key = run.keys.get(i);
        let Some(fingerprint) = run.fingerprints[i] else {
            return (false, started); // never: every decoded record has one
        };
        let correlation_id = run.correlation_ids.get(i);
        let started_at = run.wall_at(started);
        let trace_header = Src::trace_header(record);
        let span = info_span!(
            "record",
            message_id = message_id,
            correlation_id = correlation_id,
            xray_trace_id = tracing::field::Empty
        );
        if let Some(root) = trace_header.and_then(crate::telemetry::trace_root) {
            span.record("xray_trace_id", root);
        }
        let record_run = async {
            let claimed_together = if run.claims_together {
                lock(&run.progress)
                    .claimed_together
                    .get_mut(i)
                    .and_then(Option::take)
            } else {
                None
            };
            let claim = match claimed_together {
                Some(answer) => answer,
                None => {
                    self.idempotency
                        .claim(
                            key,
                            fingerprint,
                            u64::try_from(started_at.unix_timestamp()).unwrap_or(0),
                            run.in_progress_until,
                        )
                        .await
                }
            };
            // Whether this record's fingerprint holds the key (its rivals depend on it);
            // recorded with the status, under the lock taken for it anyway.
            let held = matches!(claim, Ok(Claim::Acquired | Claim::Completed | Claim::InProgress));
            let status = match claim {
                Err(e) => StepStatus::Failed(e.into()),
                Ok(Claim::Completed) => {
                    debug!(key, "already done: skipped");
                    StepStatus::Duplicate
                }
                Ok(Claim::InProgress) => StepStatus::Failed(RecordError::InProgress { key: key.to_owned() }),
                Ok(Claim::Reused) => StepStatus::Failed(RecordError::IdempotencyKeyReused),
                Ok(Claim::Acquired) => {
                    {
                        let mut progress = lock(&run.progress);
                        progress.statuses[i] = StepStatus::Claimed;
                        progress.held[i] = true;
                    }
                    let context = RecordContext {
                        message_id,
                        correlation_id,
                        idempotency_key: key,
                        message: Src::step_record(record),
                        started_at,
                        metrics: run.recorded.for_record(i),
                    };
                    match run.step.run(input, &context).await {
                        Ok(mut messages) => {
                            // The trace follows the order: each message carries on its record's.
                            if let Some(trace) = trace_header {
                                for outgoing in &mut messages {
                                    outgoing
                                        .message
                                        .trace_header
                                        .get_or_insert_with(|| trace.to_owned());
                                }
                            }
                            StepStatus::Succeeded(messages)
                        }
                        Err(e) => {
                            self.release(key).await;
                            StepStatus::Failed(e)
                        }
                    }
                }
            };
            let ok = matches!(status, StepStatus::Succeeded(_) | StepStatus::Duplicate);
            if let StepStatus::Failed(e) = &status {
                warn!(code = e.code(), error = %e, permanent = e.is_permanent(), "record failed");
            }
            let ended = Instant::now();
            let mut progress = lock(&run.progress);
            progress.latencies.push((ended - started).as_secs_f64() * 1000.0);
            progress.statuses[i] = status;
            progress.held[i] = held;
            (ok, ended)
        };
        InSpan::new(record_run, span).await
    }
}
