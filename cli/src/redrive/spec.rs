//! What a redrive is asked to do: which way, how many messages, how patiently.

use std::time::Duration;

use orderflow_batch::publish::RetryPolicy;

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
