//! FIFO sends: the message group every message must name, and deduplication
//! (by the ID given, or by a hash of the body): a send whose deduplication ID
//! was seen in the last five minutes is dropped.

use std::time::Duration;

use md5::{Digest, Md5};
use orderflow_batch::error::PortError;
use orderflow_batch::ports::OutgoingMessage;
use tokio::time::Instant;

use super::errors::rejected;
use super::queue::Inner;
use super::settings::QueueSettings;

/// How long a FIFO queue remembers deduplication IDs.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);

/// A message's group and deduplication ID: both on a FIFO queue, neither on a
/// standard one.
pub(super) struct FifoKeys {
    pub(super) group: Option<String>,
    pub(super) deduplication_id: Option<String>,
}

/// The keys a message is sent with, or the error SQS answers when a FIFO
/// queue's message lacks one.
pub(super) fn fifo_keys(
    operation: &'static str,
    settings: &QueueSettings,
    message: &OutgoingMessage,
) -> Result<FifoKeys, PortError> {
    if !settings.fifo() {
        return Ok(FifoKeys {
            group: None,
            deduplication_id: None,
        });
    }
    let group = message
        .group_id
        .clone()
        .ok_or_else(|| rejected(operation, "MissingParameter: a FIFO queue needs MessageGroupId"))?;
    let dedup = match (&message.deduplication_id, settings.content_based_deduplication) {
        (Some(id), _) => id.clone(),
        (None, true) => {
            let digest = Md5::digest(message.body.as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        }
        (None, false) => {
            return Err(rejected(
                operation,
                "InvalidParameterValue: no MessageDeduplicationId and no content-based deduplication",
            ));
        }
    };
    Ok(FifoKeys {
        group: Some(group),
        deduplication_id: Some(dedup),
    })
}

/// The message ID of the earlier send a send with this deduplication ID
/// duplicates, if any (counting the duplicate).
pub(super) fn duplicate_of(inner: &mut Inner, deduplication_id: Option<&str>) -> Option<String> {
    let (_, id) = inner.dedup.get(deduplication_id?).cloned()?;
    inner.counters.deduplicated += 1;
    Some(id)
}

/// Remembers a deduplication ID, and the message sent with it, for the window.
pub(super) fn remember_deduplication_id(
    inner: &mut Inner,
    deduplication_id: &str,
    now: Instant,
    message_id: &str,
) {
    inner
        .dedup
        .insert(deduplication_id.to_owned(), (now, message_id.to_owned()));
    inner.dedup_order.push_back((now, deduplication_id.to_owned()));
}

/// Forgets the deduplication IDs remembered for longer than the window.
pub(super) fn forget_expired_deduplication_ids(inner: &mut Inner, now: Instant) {
    while let Some((at, _)) = inner.dedup_order.front() {
        if *at + DEDUPLICATION_WINDOW > now {
            break;
        }
        if let Some((_, dedup)) = inner.dedup_order.pop_front() {
            inner.dedup.remove(&dedup);
        }
    }
}
