//! Redrive: a message received `maxReceiveCount` times moves to its queue's
//! dead-letter queue instead of being delivered again. It leaves its queue
//! under the lock and is sent to the dead-letter queue after it is released.

use orderflow_batch::ports::OutgoingMessage;

use super::queue::{Inner, Queue, Stored, remove};
use super::registry::Broker;

/// A message moved out of a queue by redrive, on its way to the dead-letter queue.
pub(super) struct Moved {
    to: String,
    message: OutgoingMessage,
}

/// Whether a visible message has used up its receives and must move to the DLQ.
pub(super) fn spent(queue: &Queue, m: &Stored) -> bool {
    queue
        .settings
        .redrive
        .as_ref()
        .is_some_and(|r| m.receive_count >= r.max_receive_count)
}

/// Moves a spent message to its queue's DLQ (sent after the lock is released).
pub(super) fn dead_letter(queue: &Queue, inner: &mut Inner, sequence: u64, moved: &mut Vec<Moved>) {
    let Some(redrive) = queue.settings.redrive.clone() else {
        return;
    };
    let Some(stored) = remove(inner, sequence) else {
        return;
    };
    inner.counters.dead_lettered += 1;
    let mut message = OutgoingMessage::new(stored.body);
    message.attributes = stored
        .attributes
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    message.group_id = stored.group;
    message.deduplication_id = stored.deduplication_id.map(|d| format!("{d}-{}", stored.id));
    moved.push(Moved {
        to: redrive.dead_letter_queue_url,
        message,
    });
}

impl Broker {
    /// Sends messages moved by redrive to their dead-letter queues.
    pub(super) fn deliver_moved(&self, moved: Vec<Moved>) {
        for Moved { to, message } in moved {
            if let Err(e) = self.send(&to, &message) {
                // A redrive policy naming a missing queue: SQS would keep the message; so do we, in the logs.
                tracing::error!(dead_letter_queue = %to, error = %e, "could not move a message to its dead-letter queue");
            }
        }
    }
}
