//! The message-move task path: SQS moves the messages itself; this starts
//! the task, follows it in `ListMessageMoveTasks` until it ends, and tells
//! an endpoint that lacks the operations apart from a failure.

use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::ListMessageMoveTasksResultEntry;
use orderflow_aws::error::{classify, is_unsupported_operation};
use orderflow_batch::publish::RetryPolicy;

use super::error::RedriveError;
use super::report::TaskOutcome;
use super::spec::RedriveSpec;

/// How long a started move task may take to appear in `ListMessageMoveTasks`.
const TASK_LISTING_TIMEOUT: Duration = Duration::from_secs(60);

/// How a move task went.
pub(super) enum TaskRun {
    /// The task ended, having moved this many messages.
    Ended(TaskOutcome, u64),
    /// The endpoint does not offer the operation named.
    Unsupported(String),
}

/// A call's answer, or the endpoint's lack of the operation.
enum Offered<T> {
    /// The endpoint answered.
    Answer(T),
    /// The endpoint does not offer the operation: which, and how it said so.
    Unsupported(String),
}

/// One attempt per call, so an operation the endpoint lacks is found at once;
/// retryable failures are retried here instead.
fn no_sdk_retries() -> aws_sdk_sqs::config::Builder {
    aws_sdk_sqs::config::Builder::new().retry_config(RetryConfig::disabled())
}

/// Moves the messages of `dlq_arn` to `target_arn` with a move task and
/// waits for its end, calling `progress` when its counts change.
pub(super) async fn move_task(
    client: &Client,
    dlq_arn: &str,
    target_arn: &str,
    spec: &RedriveSpec,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TaskRun, RedriveError> {
    // Probe with the read-only call first, and note the tasks that ran before ours.
    let newest_earlier = match newest_earlier_task(client, dlq_arn, &spec.retry).await? {
        Offered::Answer(newest) => newest,
        Offered::Unsupported(reason) => return Ok(TaskRun::Unsupported(reason)),
    };
    let handle = match start(client, dlq_arn, target_arn).await? {
        Offered::Answer(handle) => handle,
        Offered::Unsupported(reason) => return Ok(TaskRun::Unsupported(reason)),
    };
    progress(&format!("started move task {handle}"));
    let ours = OurTask {
        handle,
        target_arn,
        newest_earlier,
    };
    wait_for_end(client, dlq_arn, ours, spec.poll_interval, progress).await
}

/// When the newest task listed for `dlq_arn` started (`None`: no task is
/// listed), retrying failures by `policy`.
async fn newest_earlier_task(
    client: &Client,
    dlq_arn: &str,
    policy: &RetryPolicy,
) -> Result<Offered<Option<i64>>, RedriveError> {
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
                return Ok(Offered::Unsupported(unsupported_reason(
                    "ListMessageMoveTasks",
                    &e,
                )));
            }
            Err(e) => {
                let error = classify("ListMessageMoveTasks", e);
                retry += 1;
                if !error.retryable() || retry >= policy.attempts {
                    return Err(error.into());
                }
                tokio::time::sleep(policy.delay(retry)).await;
            }
        }
    };
    Ok(Offered::Answer(earlier.iter().map(|t| t.started_timestamp).max()))
}

/// Starts the task; its handle. Never retried: a retry after a lost answer
/// would find its own task running.
async fn start(client: &Client, dlq_arn: &str, target_arn: &str) -> Result<Offered<String>, RedriveError> {
    match client
        .start_message_move_task()
        .source_arn(dlq_arn)
        .destination_arn(target_arn)
        .customize()
        .config_override(no_sdk_retries())
        .send()
        .await
    {
        Ok(output) => Ok(Offered::Answer(
            output.task_handle().unwrap_or_default().to_owned(),
        )),
        Err(e) if is_unsupported_operation(&e) => Ok(Offered::Unsupported(unsupported_reason(
            "StartMessageMoveTask",
            &e,
        ))),
        Err(e) => Err(RedriveError::MoveTaskRefused(classify("StartMessageMoveTask", e))),
    }
}

/// What tells the task this run started apart in `ListMessageMoveTasks`.
struct OurTask<'a> {
    /// Its handle (empty when the start answered none).
    handle: String,
    /// Where it moves the messages.
    target_arn: &'a str,
    /// When the newest task listed before it started.
    newest_earlier: Option<i64>,
}

impl OurTask<'_> {
    /// Our task among `listed`, if it is there. Only a running task shows its
    /// handle; after it, ours is the newest task to this target that started
    /// after every task listed before.
    fn find_in<'t>(
        &self,
        listed: &'t [ListMessageMoveTasksResultEntry],
    ) -> Option<&'t ListMessageMoveTasksResultEntry> {
        listed
            .iter()
            .find(|t| !self.handle.is_empty() && t.task_handle() == Some(self.handle.as_str()))
            .or_else(|| {
                listed
                    .iter()
                    .filter(|t| self.newest_earlier.is_none_or(|n| t.started_timestamp > n))
                    .filter(|t| t.destination_arn().is_none_or(|d| d == self.target_arn))
                    .max_by_key(|t| t.started_timestamp)
            })
    }
}

/// Reads the task's status every `poll_interval` until it ends, calling
/// `progress` with each new count.
async fn wait_for_end(
    client: &Client,
    dlq_arn: &str,
    ours: OurTask<'_>,
    poll_interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TaskRun, RedriveError> {
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        tokio::time::sleep(poll_interval).await;
        let output = client
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .max_results(10)
            .send()
            .await
            .map_err(|e| classify("ListMessageMoveTasks", e))?;
        let Some(task) = ours.find_in(output.results()) else {
            if started.elapsed() > TASK_LISTING_TIMEOUT {
                return Err(RedriveError::TaskNotListed { handle: ours.handle });
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

/// Why a call looks unsupported: the operation, and the error code or HTTP status that said so.
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
