//! How a redrive went: the counts people and scripts read at the end.

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;

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
