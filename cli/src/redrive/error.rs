//! Why a redrive could not run at all.

use orderflow_batch::error::PortError;

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
