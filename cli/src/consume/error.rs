//! Why the consumer could not run, and the exit code each reason gets.

use orderflow_batch::config::ConfigError;
use orderflow_batch::error::PortError;

/// Why the consumer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The function is not an SQS consumer.
    #[error("{0} is not fed by a queue: it has no queue to consume")]
    NotAConsumer(&'static str),
    /// A variable of the function's environment is missing or invalid.
    #[error("{function} cannot start: {source}")]
    Config {
        /// The function.
        function: &'static str,
        /// The variable and what it should hold.
        source: ConfigError,
    },
    /// The queue's visibility timeout could not be read.
    #[error("cannot read the visibility timeout of {queue_url}: {source}")]
    Queue {
        /// The queue.
        queue_url: String,
        /// The call's error.
        source: PortError,
    },
    /// The queue hides received messages for no time at all.
    #[error(
        "{queue_url} has a visibility timeout of 0 s: its messages would be delivered again while they run; give the queue a VisibilityTimeout of at least 1 s"
    )]
    NoVisibilityTimeout {
        /// The queue.
        queue_url: String,
    },
    /// SIGINT and SIGTERM handlers could not be installed.
    #[error("cannot listen for SIGINT and SIGTERM: {0}")]
    Signals(std::io::Error),
    /// The poller ended on its own (it never should).
    #[error("the poller stopped unexpectedly: {0}")]
    Poller(String),
}

impl ConsumeError {
    /// The process exit code: 2 for configuration (fix the setup and start
    /// again), 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConsumeError::Config { .. } | ConsumeError::NoVisibilityTimeout { .. } => 2,
            _ => 1,
        }
    }
}
