//! The dead-letter copy of a record that failed for good.

use crate::attributes;
use crate::error::RecordError;
use crate::ports::OutgoingMessage;
use crate::queue_url::{is_fifo, queue_name};
use crate::sqs::SqsRecord;

/// Longest `ErrorMessage` attribute on a dead-lettered message.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1024;
/// SQS allows at most 10 message attributes per message.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// The DLQ copy of a failed record: its body, the error attributes, and as
/// many of its own string attributes as SQS's limit of 10 leaves room for.
pub fn dead_letter_message(
    record: &(impl SqsRecord + ?Sized),
    error: &RecordError,
    failed_at: &str,
) -> OutgoingMessage {
    let body = match record.body() {
        Some(b) if !b.is_empty() => b.to_owned(),
        _ => "(no body)".to_owned(),
    };
    let mut message_text = error.to_string();
    if let Some((cut, _)) = message_text.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        message_text.truncate(cut);
    }
    let source = record
        .event_source_arn()
        .map_or_else(String::new, |arn| queue_name(arn).to_owned());
    let mut message = OutgoingMessage::new(body)
        .with_attribute(attributes::ERROR_CODE, error.code())
        .with_attribute(attributes::ERROR_MESSAGE, message_text)
        .with_attribute(attributes::FAILED_AT, failed_at.to_owned())
        .with_attribute(attributes::SOURCE_QUEUE, source)
        .with_attribute(
            attributes::ORIGINAL_MESSAGE_ID,
            record.message_id().unwrap_or_default().to_owned(),
        );
    if let RecordError::RetriesExhausted { last_code, .. } = error {
        message = message.with_attribute(attributes::LAST_ERROR_CODE, *last_code);
    }
    let mut originals = record.string_attributes();
    // A stale `LastErrorCode` of an earlier dead-lettering (moved back by
    // SQS's own redrive, which keeps attributes) would mislead.
    originals.retain(|(name, _)| message.attribute(name).is_none() && *name != attributes::LAST_ERROR_CODE);
    originals.sort();
    for (name, value) in originals
        .into_iter()
        .take(MAX_MESSAGE_ATTRIBUTES - message.attributes.len())
    {
        message
            .attributes
            .push((name.to_owned().into(), value.to_owned().into()));
    }
    message.trace_header = record.trace_header().map(str::to_owned);
    if record.event_source_arn().is_some_and(is_fifo) {
        message.group_id = record
            .message_group_id()
            .filter(|g| !g.is_empty())
            .map(str::to_owned);
        message.deduplication_id = record.message_id().map(str::to_owned);
    }
    message
}

/// The current time as RFC 3339, UTC, on the batch's clock (which follows
/// tokio's, so a paused local run stamps its dead letters with its own time).
pub fn now_rfc3339() -> String {
    crate::rfc3339::write(crate::clock::now_utc()).map_or_else(String::new, |t| t.as_str().to_owned())
}
