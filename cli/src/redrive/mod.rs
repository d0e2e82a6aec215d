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
//! `ErrorCode`, `ErrorMessage`, `FailedAt`, `SourceQueue` and `LastErrorCode`, which describe
//! the failure the fix addressed: a redriven message carrying them would look
//! like a fresh failure in logs, and they use up 5 of SQS's 10 attributes.
//! `OriginalMessageId` stays, to trace the message to its first delivery (a
//! new failure overwrites it). The move task keeps every attribute. On a FIFO
//! target each message keeps its message group, and its deduplication ID is
//! its DLQ message ID, so a redrive rerun within SQS's five-minute window
//! after a crash does not even duplicate.
//!
//! One file per part: `spec` what to do, `report` how it went, `error`
//! why it could not start; `move_task` and `receive` the two ways, the
//! second built on `entry` (what a message becomes), `send` and
//! `delete` (the batched calls), which wait out retries by the policy's own delay (`RetryPolicy::delay`).

mod delete;
mod entry;
mod error;
mod move_task;
mod receive;
mod report;
mod send;
mod spec;

use std::time::Instant;

use orderflow_aws::sqs::SqsQueues;

use move_task::{TaskRun, move_task};
use receive::receive_send_delete;

pub use entry::{DROPPED_ATTRIBUTES, redrive_entry};
pub use error::RedriveError;
pub use report::{Method, RedriveReport, TaskOutcome};
pub use spec::{RedriveMode, RedriveSpec};

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
