//! The send entry a DLQ message becomes: what the receive path keeps of a
//! message, and how much of a batch call it uses.

use std::collections::HashMap;

use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_orders::contracts::attribute;

/// DLQ diagnostics the receive path drops (see [the redrive documentation](super)).
pub const DROPPED_ATTRIBUTES: [&str; 5] = [
    attribute::ERROR_CODE,
    attribute::ERROR_MESSAGE,
    attribute::FAILED_AT,
    attribute::SOURCE_QUEUE,
    attribute::LAST_ERROR_CODE,
];

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
pub(super) fn entry_size(entry: &SendMessageBatchRequestEntry) -> usize {
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
}
