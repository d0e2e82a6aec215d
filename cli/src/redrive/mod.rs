//! `orderflow redrive`: moving a dead-letter queue's messages back to their
//! source queue after a fix.
//!
//! Two ways, chosen by [`RedriveMode`]:
//!
//! - **The message-move task** (`StartMessageMoveTask`, SQS's own DLQ redrive):
//!   SQS moves the messages itself, unchanged; this polls
//!   `ListMessageMoveTasks` until the task ends and reports its counts. Used
//!   when the endpoint offers it and no `--max` is given (a task has a rate,
//!   not a count). Interrupting the command does not stop a started task
//!   (`aws sqs cancel-message-move-task` does).
//! - **Receive, send, delete**: receive up to ten messages, send them to the
//!   target in one `SendMessageBatch` (failed entries resent alone), then
//!   delete from the DLQ only the messages whose send succeeded. A crash
//!   between send and delete leaves a message in both queues: it is
//!   duplicated, never lost (the consumers are idempotent).
//!
//! What the receive path changes: each message keeps its body and message
//! attributes (with their data types), except the DLQ diagnostics
//! `ErrorCode`, `ErrorMessage`, `FailedAt` and `SourceQueue`, which describe
//! the failure the fix addressed: a redriven message carrying them would look
//! like a fresh failure in logs, and they use up 4 of SQS's 10 attributes.
//! `OriginalMessageId` stays, to trace the message to its first delivery (a
//! new failure overwrites it). The move task keeps every attribute. On a FIFO
//! target each message keeps its message group, and its deduplication ID is
//! its DLQ message ID, so a redrive rerun within SQS's five-minute window
//! after a crash does not even duplicate.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use orderflow_aws::error::{batch_entry_error, classify, is_unsupported_operation};
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::publish::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, RetryPolicy};
use orderflow_batch::queue_url::is_fifo;
use orderflow_orders::contracts::attribute;
use serde::Serialize;

/// DLQ diagnostics the receive path drops (see the module documentation).
pub const DROPPED_ATTRIBUTES: [&str; 4] = [
    attribute::ERROR_CODE,
    attribute::ERROR_MESSAGE,
    attribute::FAILED_AT,
    attribute::SOURCE_QUEUE,
];

/// How long a started move task may take to appear in `ListMessageMoveTasks`.
const TASK_LISTING_TIMEOUT: Duration = Duration::from_secs(60);

/// Which way to move the messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RedriveMode {
    /// The message-move task when the endpoint offers it and no `--max` is
    /// given, else receive, send, delete.
    #[default]
    Auto,
    /// Only the message-move task.
    MoveTask,
    /// Only receive, send, delete.
    Receive,
}

/// How to redrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedriveSpec {
    /// Move at most this many messages (receive path only).
    pub max: Option<u64>,
    /// Which way.
    pub mode: RedriveMode,
    /// Long-poll wait of each receive, in seconds; two empty receives end the run.
    pub wait_seconds: i32,
    /// How long a received message stays hidden in the DLQ while it is sent
    /// and deleted, in seconds.
    pub visibility_timeout: i32,
    /// How often the move task's status is read.
    pub poll_interval: Duration,
    /// Retries of failed sends and deletes.
    pub retry: RetryPolicy,
}

impl Default for RedriveSpec {
    fn default() -> Self {
        RedriveSpec {
            max: None,
            mode: RedriveMode::Auto,
            wait_seconds: 1,
            visibility_timeout: 60,
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        }
    }
}

/// The way the messages were moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// SQS's message-move task.
    MoveTask,
    /// Receive, send, delete.
    Receive,
}

/// How a message-move task ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutcome {
    /// `COMPLETED`, `CANCELLED` or `FAILED`.
    pub status: String,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
    /// Messages in the DLQ when the task started (SQS's approximation).
    pub approximate_to_move: Option<i64>,
}

/// How a redrive went.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    /// The dead-letter queue.
    pub dlq_url: String,
    /// Where the messages went.
    pub target_url: String,
    /// Which way they went.
    pub method: Method,
    /// Why the receive path was used in `auto` mode.
    pub fallback_reason: Option<String>,
    /// Distinct messages received from the DLQ (the move task: its count to move).
    pub received: u64,
    /// Messages now in the target queue.
    pub moved: u64,
    /// Messages whose send failed: still in the DLQ (visible again at the end).
    pub failed_to_send: u64,
    /// Messages sent but not deleted: in both queues (a duplicate, not a loss).
    pub failed_to_delete: u64,
    /// The move task's end, when it was used.
    pub task: Option<TaskOutcome>,
    /// The error that ended the run early, if one did.
    pub stopped_by: Option<String>,
    /// Wall time, in seconds.
    pub elapsed_seconds: f64,
}

impl RedriveReport {
    /// Whether every message found was moved and removed from the DLQ.
    pub fn is_clean(&self) -> bool {
        self.failed_to_send == 0
            && self.failed_to_delete == 0
            && self.stopped_by.is_none()
            && self.task.as_ref().is_none_or(|t| t.status == "COMPLETED")
    }

    /// The summary for stderr.
    pub fn summary(&self) -> String {
        let method = match self.method {
            Method::MoveTask => "message-move task",
            Method::Receive => "receive, send, delete",
        };
        let mut text = format!(
            "redrive {} -> {} ({method}): {} received, {} moved, {} failed to send (left in the DLQ), {} failed to delete (duplicated) in {:.2} s",
            self.dlq_url,
            self.target_url,
            self.received,
            self.moved,
            self.failed_to_send,
            self.failed_to_delete,
            self.elapsed_seconds
        );
        if let Some(reason) = &self.fallback_reason {
            text.push_str(&format!("\n  not a move task: {reason}"));
        }
        if let Some(task) = &self.task {
            text.push_str(&format!("\n  move task {}", task.status));
            if let Some(reason) = &task.failure_reason {
                text.push_str(&format!(": {reason}"));
            }
        }
        if let Some(error) = &self.stopped_by {
            text.push_str(&format!("\n  stopped early: {error}"));
        }
        text
    }
}

/// Why a redrive could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// A call it needs failed (a queue's ARN, starting the move task).
    #[error(transparent)]
    Port(#[from] PortError),
    /// `--max` with `--mode move-task`: a move task cannot stop at a count.
    #[error(
        "a message-move task cannot stop after a number of messages: use --mode receive (or auto) with --max"
    )]
    MaxWithMoveTask,
    /// The endpoint does not offer the message-move task and `--mode move-task` insisted.
    #[error("the endpoint does not support the message-move task ({0}): use --mode receive")]
    MoveTaskUnsupported(String),
    /// The endpoint offers the move task but refused this one (e.g. the source
    /// is not configured as any queue's DLQ, or the task is not allowed).
    #[error("{0}; --mode receive moves the messages without a move task")]
    MoveTaskRefused(PortError),
    /// A started task never appeared in `ListMessageMoveTasks`.
    #[error(
        "move task {handle} was started but never listed by ListMessageMoveTasks; check it with `aws sqs list-message-move-tasks`"
    )]
    TaskNotListed {
        /// The task's handle.
        handle: String,
    },
}

/// Moves the messages of `dlq_url` to `target_url`, calling `progress` with
/// a line now and then (the move task's counts). Per-message failures are in
/// the report; `Err` means nothing could be started.
pub async fn redrive(
    queues: &SqsQueues,
    dlq_url: &str,
    target_url: &str,
    spec: &RedriveSpec,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RedriveReport, RedriveError> {
    let started = Instant::now();
    let mut report = RedriveReport {
        dlq_url: dlq_url.to_owned(),
        target_url: target_url.to_owned(),
        method: Method::Receive,
        fallback_reason: None,
        received: 0,
        moved: 0,
        failed_to_send: 0,
        failed_to_delete: 0,
        task: None,
        stopped_by: None,
        elapsed_seconds: 0.0,
    };
    match (spec.mode, spec.max) {
        (RedriveMode::MoveTask, Some(_)) => return Err(RedriveError::MaxWithMoveTask),
        (RedriveMode::Auto, Some(_)) => {
            report.fallback_reason = Some("--max given: a move task has a rate, not a count".to_owned());
        }
        (RedriveMode::Auto | RedriveMode::MoveTask, None) => {
            let dlq_arn = queues.queue_arn(dlq_url).await?;
            let target_arn = queues.queue_arn(target_url).await?;
            match move_task(queues.client(), &dlq_arn, &target_arn, spec, progress).await? {
                TaskRun::Ended(task, moved) => {
                    report.method = Method::MoveTask;
                    report.received = task.approximate_to_move.map_or(moved, |n| n.max(0) as u64);
                    report.moved = moved;
                    report.task = Some(task);
                    report.elapsed_seconds = started.elapsed().as_secs_f64();
                    return Ok(report);
                }
                TaskRun::Unsupported(reason) if spec.mode == RedriveMode::Auto => {
                    report.fallback_reason = Some(format!("the endpoint does not support it ({reason})"));
                }
                TaskRun::Unsupported(reason) => return Err(RedriveError::MoveTaskUnsupported(reason)),
            }
        }
        (RedriveMode::Receive, _) => {}
    }
    receive_send_delete(queues.client(), dlq_url, target_url, spec, &mut report).await;
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

enum TaskRun {
    /// The task ended, having moved this many messages.
    Ended(TaskOutcome, u64),
    /// The endpoint does not offer the operation named.
    Unsupported(String),
}

/// One attempt per call, so an operation the endpoint lacks is found at once;
/// retryable failures are retried here instead.
fn no_sdk_retries() -> aws_sdk_sqs::config::Builder {
    aws_sdk_sqs::config::Builder::new().retry_config(RetryConfig::disabled())
}

async fn move_task(
    client: &Client,
    dlq_arn: &str,
    target_arn: &str,
    spec: &RedriveSpec,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TaskRun, RedriveError> {
    // Probe with the read-only call first, and note the tasks that ran before ours.
    let mut retry = 0;
    let earlier = loop {
        let listed = client
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .max_results(10)
            .customize()
            .config_override(no_sdk_retries())
            .send()
            .await;
        match listed {
            Ok(output) => break output.results().to_vec(),
            Err(e) if is_unsupported_operation(&e) => {
                return Ok(TaskRun::Unsupported(unsupported_reason(
                    "ListMessageMoveTasks",
                    &e,
                )));
            }
            Err(e) => {
                let error = classify("ListMessageMoveTasks", e);
                retry += 1;
                if !error.retryable() || retry >= spec.retry.attempts {
                    return Err(error.into());
                }
                tokio::time::sleep(backoff(&spec.retry, retry)).await;
            }
        }
    };
    let newest_earlier = earlier.iter().map(|t| t.started_timestamp).max();
    // Never retried: a retry after a lost answer would find its own task running.
    let handle = match client
        .start_message_move_task()
        .source_arn(dlq_arn)
        .destination_arn(target_arn)
        .customize()
        .config_override(no_sdk_retries())
        .send()
        .await
    {
        Ok(output) => output.task_handle().unwrap_or_default().to_owned(),
        Err(e) if is_unsupported_operation(&e) => {
            return Ok(TaskRun::Unsupported(unsupported_reason(
                "StartMessageMoveTask",
                &e,
            )));
        }
        Err(e) => return Err(RedriveError::MoveTaskRefused(classify("StartMessageMoveTask", e))),
    };
    progress(&format!("started move task {handle}"));
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        tokio::time::sleep(spec.poll_interval).await;
        let output = client
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .max_results(10)
            .send()
            .await
            .map_err(|e| classify("ListMessageMoveTasks", e))?;
        // Only a running task shows its handle; after it, ours is the newest
        // task to this target that started after every task listed before.
        let ours = output
            .results()
            .iter()
            .find(|t| !handle.is_empty() && t.task_handle() == Some(handle.as_str()))
            .or_else(|| {
                output
                    .results()
                    .iter()
                    .filter(|t| newest_earlier.is_none_or(|n| t.started_timestamp > n))
                    .filter(|t| t.destination_arn().is_none_or(|d| d == target_arn))
                    .max_by_key(|t| t.started_timestamp)
            });
        let Some(task) = ours else {
            if started.elapsed() > TASK_LISTING_TIMEOUT {
                return Err(RedriveError::TaskNotListed { handle });
            }
            continue;
        };
        let status = task.status().unwrap_or("UNKNOWN");
        let moved = task.approximate_number_of_messages_moved.max(0) as u64;
        if matches!(status, "RUNNING" | "CANCELLING" | "UNKNOWN") {
            let line = match task.approximate_number_of_messages_to_move {
                Some(total) => format!("move task {status}: {moved} of {total} moved"),
                None => format!("move task {status}: {moved} moved"),
            };
            if line != last_line {
                progress(&line);
                last_line = line;
            }
            continue;
        }
        return Ok(TaskRun::Ended(
            TaskOutcome {
                status: status.to_owned(),
                failure_reason: task.failure_reason().map(str::to_owned),
                approximate_to_move: task.approximate_number_of_messages_to_move,
            },
            moved,
        ));
    }
}

fn unsupported_reason<E>(
    operation: &str,
    error: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.as_service_error().and_then(|e| e.code()).map(str::to_owned);
    match (code, status) {
        (Some(code), Some(status)) => format!("{operation}: {code}, HTTP {status}"),
        (None, Some(status)) => format!("{operation}: HTTP {status} without an AWS error"),
        _ => operation.to_owned(),
    }
}

fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let full = policy
        .base_delay
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(policy.max_delay);
    full / 2 + (full / 2).mul_f64(fastrand::f64())
}

/// The state of a receive-path run.
#[derive(Default)]
struct Progress {
    /// Sent but not deleted: message ID to its latest receipt handle.
    undeleted: HashMap<String, String>,
    /// Not sent: message ID to its latest receipt handle.
    unsent: HashMap<String, String>,
}

async fn receive_send_delete(
    client: &Client,
    dlq_url: &str,
    target_url: &str,
    spec: &RedriveSpec,
    report: &mut RedriveReport,
) {
    let fifo_target = is_fifo(target_url);
    let mut state = Progress::default();
    let mut empty_receives = 0;
    while empty_receives < 2 {
        let wanted = match spec.max {
            Some(max) if report.received >= max => break,
            Some(max) => (max - report.received).min(MAX_BATCH_ENTRIES as u64) as i32,
            None => MAX_BATCH_ENTRIES as i32,
        };
        let messages = match client
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(wanted)
            .wait_time_seconds(spec.wait_seconds)
            .visibility_timeout(spec.visibility_timeout)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
        {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(e) => {
                report.stopped_by = Some(classify("ReceiveMessage", e).to_string());
                break;
            }
        };
        if messages.is_empty() {
            empty_receives += 1;
            continue;
        }
        empty_receives = 0;
        if let Err(stop) = move_received(
            client,
            target_url,
            fifo_target,
            messages,
            spec,
            report,
            &mut state,
        )
        .await
        {
            report.stopped_by = Some(stop.to_string());
            break;
        }
    }
    // What could not be sent is visible in the DLQ again at once, for the next try.
    let unsent: Vec<String> = state.unsent.values().cloned().collect();
    for chunk in unsent.chunks(MAX_BATCH_ENTRIES) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        let reset = client
            .change_message_visibility_batch()
            .queue_url(dlq_url)
            .set_entries(Some(entries))
            .send()
            .await;
        if let Err(e) = reset {
            tracing::warn!(error = %classify("ChangeMessageVisibilityBatch", e), "unsent messages stay hidden until their visibility timeout");
        }
    }
    report.failed_to_send = state.unsent.len() as u64;
    report.failed_to_delete = state.undeleted.len() as u64;
}

/// Sends one receive's messages to the target and deletes the sent ones from
/// the DLQ. `Err` when nothing of it could be sent: the target is unusable,
/// and going on would only cycle the same messages.
async fn move_received(
    client: &Client,
    target_url: &str,
    fifo_target: bool,
    messages: Vec<Message>,
    spec: &RedriveSpec,
    report: &mut RedriveReport,
    state: &mut Progress,
) -> Result<(), PortError> {
    let mut to_send = Vec::with_capacity(messages.len());
    let mut to_delete = Vec::with_capacity(messages.len());
    for message in messages {
        let (Some(id), Some(handle)) = (message.message_id(), message.receipt_handle()) else {
            continue;
        };
        let (id, handle) = (id.to_owned(), handle.to_owned());
        if state.undeleted.contains_key(&id) {
            // Already in the target: only the delete is left to do.
            to_delete.push((id, handle));
        } else {
            if !state.unsent.contains_key(&id) {
                report.received += 1;
            }
            to_send.push((id, handle, message));
        }
    }
    let results = send_all(client, target_url, fifo_target, &to_send, &spec.retry).await;
    let mut first_error = None;
    let mut sent_any = to_send.is_empty();
    for ((id, handle, _), result) in to_send.into_iter().zip(results) {
        match result {
            Ok(()) => {
                sent_any = true;
                state.unsent.remove(&id);
                report.moved += 1;
                to_delete.push((id, handle));
            }
            Err(e) => {
                first_error.get_or_insert(e);
                state.unsent.insert(id, handle);
            }
        }
    }
    let deletes = delete_all(client, &report.dlq_url, &to_delete, &spec.retry).await;
    for ((id, handle), result) in to_delete.into_iter().zip(deletes) {
        match result {
            Ok(()) => {
                state.undeleted.remove(&id);
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "sent to the target but not deleted from the DLQ");
                state.undeleted.insert(id, handle);
            }
        }
    }
    match first_error {
        Some(error) if !sent_any => Err(error),
        _ => Ok(()),
    }
}

/// The send entry for a DLQ message: same body, its attributes but the DLQ
/// diagnostics; on a FIFO target its group (else its own ID) and its DLQ
/// message ID as deduplication ID.
pub fn redrive_entry(
    id: usize,
    message: &Message,
    fifo_target: bool,
) -> Result<SendMessageBatchRequestEntry, PortError> {
    let attributes: HashMap<String, MessageAttributeValue> = message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .filter(|(name, _)| !DROPPED_ATTRIBUTES.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(id.to_string())
        .message_body(message.body().unwrap_or_default())
        .set_message_attributes((!attributes.is_empty()).then_some(attributes));
    if fifo_target {
        let message_id = message.message_id().unwrap_or_default();
        let group = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .map_or(message_id, String::as_str);
        entry = entry.message_group_id(group).message_deduplication_id(message_id);
    }
    entry
        .build()
        .map_err(|e| PortError::new(PortErrorKind::Rejected, "SendMessageBatch", e.to_string()))
}

/// The bytes SQS counts for a message: body and attributes (names, types, values).
fn entry_size(entry: &SendMessageBatchRequestEntry) -> usize {
    entry.message_body().len()
        + entry.message_attributes().map_or(0, |attrs| {
            attrs
                .iter()
                .map(|(name, value)| {
                    name.len()
                        + value.data_type().len()
                        + value.string_value().map_or(0, str::len)
                        + value.binary_value().map_or(0, |b| b.as_ref().len())
                })
                .sum()
        })
}

/// Sends the messages to the target in batch calls within SQS's limits,
/// resending retryable failures alone; one result per message, in order.
async fn send_all(
    client: &Client,
    target_url: &str,
    fifo_target: bool,
    messages: &[(String, String, Message)],
    policy: &RetryPolicy,
) -> Vec<Result<(), PortError>> {
    let mut results: Vec<Result<(), PortError>> = Vec::with_capacity(messages.len());
    let mut entries = Vec::with_capacity(messages.len());
    for (i, (_, _, message)) in messages.iter().enumerate() {
        match redrive_entry(i, message, fifo_target) {
            Ok(entry) => {
                results.push(Ok(()));
                entries.push(entry);
            }
            Err(e) => results.push(Err(e)),
        }
    }
    // Chunks of at most ten entries and MAX_BATCH_BYTES (an oversized message alone).
    let mut chunks: Vec<Vec<SendMessageBatchRequestEntry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry_size(&entry);
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < MAX_BATCH_ENTRIES && bytes + size <= MAX_BATCH_BYTES => {
                bytes += size;
                chunk.push(entry);
            }
            _ => {
                bytes = size;
                chunks.push(vec![entry]);
            }
        }
    }
    for chunk in chunks {
        for (index, result) in send_chunk(client, target_url, chunk, policy).await {
            results[index] = result;
        }
    }
    results
}

/// One chunk, with retries of what failed retryably; results by message index.
async fn send_chunk(
    client: &Client,
    target_url: &str,
    chunk: Vec<SendMessageBatchRequestEntry>,
    policy: &RetryPolicy,
) -> BTreeMap<usize, Result<(), PortError>> {
    const OP: &str = "SendMessageBatch";
    let mut results = BTreeMap::new();
    let mut pending = chunk;
    for attempt in 1..=policy.attempts.max(1) {
        if attempt > 1 {
            tokio::time::sleep(backoff(policy, attempt - 1)).await;
        }
        let outcome = client
            .send_message_batch()
            .queue_url(target_url)
            .set_entries(Some(pending.clone()))
            .send()
            .await;
        let failed: HashMap<String, PortError> = match outcome {
            Ok(output) => output
                .failed()
                .iter()
                .map(|f| {
                    (
                        f.id().to_owned(),
                        batch_entry_error(OP, f.code(), f.sender_fault(), f.message()),
                    )
                })
                .collect(),
            Err(e) => {
                let error = classify(OP, e);
                pending
                    .iter()
                    .map(|entry| (entry.id().to_owned(), error.clone()))
                    .collect()
            }
        };
        let mut again = Vec::new();
        for entry in pending {
            let Ok(index) = entry.id().parse::<usize>() else {
                continue;
            };
            match failed.get(entry.id()) {
                None => {
                    results.insert(index, Ok(()));
                }
                Some(error) => {
                    if error.retryable() {
                        again.push(entry);
                    }
                    results.insert(index, Err(error.clone()));
                }
            }
        }
        if again.is_empty() {
            break;
        }
        pending = again;
    }
    results
}

/// Deletes received messages (by receipt handle) in batch calls, resending
/// retryable failures; one result per message, in order.
async fn delete_all(
    client: &Client,
    dlq_url: &str,
    messages: &[(String, String)],
    policy: &RetryPolicy,
) -> Vec<Result<(), PortError>> {
    const OP: &str = "DeleteMessageBatch";
    let mut results: Vec<Result<(), PortError>> = vec![Ok(()); messages.len()];
    for (start, chunk) in (0..messages.len()).step_by(MAX_BATCH_ENTRIES).map(|start| {
        (
            start,
            &messages[start..(start + MAX_BATCH_ENTRIES).min(messages.len())],
        )
    }) {
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        for attempt in 1..=policy.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(backoff(policy, attempt - 1)).await;
            }
            let mut entries = Vec::with_capacity(pending.len());
            pending.retain(|&i| {
                match DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&chunk[i].1)
                    .build()
                {
                    Ok(entry) => {
                        entries.push(entry);
                        true
                    }
                    Err(e) => {
                        results[start + i] = Err(PortError::new(PortErrorKind::Rejected, OP, e.to_string()));
                        false
                    }
                }
            });
            if entries.is_empty() {
                break;
            }
            let failed: HashMap<String, PortError> = match client
                .delete_message_batch()
                .queue_url(dlq_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => output
                    .failed()
                    .iter()
                    .map(|f| {
                        (
                            f.id().to_owned(),
                            batch_entry_error(OP, f.code(), f.sender_fault(), f.message()),
                        )
                    })
                    .collect(),
                Err(e) => {
                    let error = classify(OP, e);
                    pending.iter().map(|i| (i.to_string(), error.clone())).collect()
                }
            };
            let mut again = Vec::new();
            for &i in &pending {
                match failed.get(&i.to_string()) {
                    None => results[start + i] = Ok(()),
                    Some(error) => {
                        if error.retryable() {
                            again.push(i);
                        }
                        results[start + i] = Err(error.clone());
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            pending = again;
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dlq_message() -> Message {
        let string = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .unwrap()
        };
        Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body(r#"{"orderId":"o-1"}"#)
            .message_attributes("EventType", string("ORDER_CREATED"))
            .message_attributes("ErrorCode", string("ValidationFailed"))
            .message_attributes("ErrorMessage", string("items: required"))
            .message_attributes("FailedAt", string("2026-11-28T00:00:00Z"))
            .message_attributes("SourceQueue", string("orders"))
            .message_attributes("OriginalMessageId", string("m-0"))
            .message_attributes(
                "Retries",
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value("3")
                    .build()
                    .unwrap(),
            )
            .attributes(MessageSystemAttributeName::MessageGroupId, "cust-1")
            .build()
    }

    #[test]
    fn redriven_messages_drop_only_the_dlq_diagnostics() {
        let entry = redrive_entry(4, &dlq_message(), false).unwrap();
        assert_eq!(entry.id(), "4");
        assert_eq!(entry.message_body(), r#"{"orderId":"o-1"}"#);
        let mut names: Vec<&String> = entry.message_attributes().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["EventType", "OriginalMessageId", "Retries"]);
        assert_eq!(
            entry.message_attributes().unwrap()["Retries"].data_type(),
            "Number"
        );
        assert_eq!(entry.message_group_id(), None);
        assert_eq!(entry.message_deduplication_id(), None);
    }

    #[test]
    fn a_fifo_target_keeps_the_group_and_dedups_on_the_dlq_message_id() {
        let entry = redrive_entry(0, &dlq_message(), true).unwrap();
        assert_eq!(entry.message_group_id(), Some("cust-1"));
        assert_eq!(entry.message_deduplication_id(), Some("m-1"));
        // From a standard DLQ each message is its own group.
        let plain = Message::builder().message_id("m-2").body("{}").build();
        let entry = redrive_entry(0, &plain, true).unwrap();
        assert_eq!(entry.message_group_id(), Some("m-2"));
    }

    #[test]
    fn a_report_is_clean_only_when_everything_moved() {
        let mut report = RedriveReport {
            dlq_url: "dlq".into(),
            target_url: "q".into(),
            method: Method::Receive,
            fallback_reason: None,
            received: 3,
            moved: 3,
            failed_to_send: 0,
            failed_to_delete: 0,
            task: None,
            stopped_by: None,
            elapsed_seconds: 0.1,
        };
        assert!(report.is_clean());
        report.failed_to_delete = 1;
        assert!(!report.is_clean());
        report.failed_to_delete = 0;
        report.task = Some(TaskOutcome {
            status: "FAILED".into(),
            failure_reason: Some("AccessDenied".into()),
            approximate_to_move: Some(3),
        });
        assert!(!report.is_clean());
        assert!(report.summary().contains("move task FAILED: AccessDenied"));
    }
}
