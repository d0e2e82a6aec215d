//! Delivering one message: it goes in flight until its visibility timeout,
//! with a fresh receipt handle, and becomes the record Lambda would see.

use orderflow_batch::attributes::AWS_TRACE_HEADER;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use md5::{Digest, Md5};
use orderflow_batch::clock::unix_millis;
use tokio::time::Instant;

use super::queue::{Inner, Queue, State};
use crate::address::EMBEDDED_REGION;

/// Marks one message in flight and builds its Lambda record.
pub(super) fn deliver(
    queue: &Queue,
    inner: &mut Inner,
    sequence: u64,
    now: Instant,
    visibility: Duration,
) -> SqsMessage {
    let receipt = format!("{sequence}:{:016x}", fastrand::u64(..));
    inner.counters.received += 1;
    let Some(m) = inner.messages.get_mut(&sequence) else {
        return SqsMessage::default();
    };
    if m.receive_count > 0 {
        inner.counters.redelivered += 1;
    }
    m.receive_count += 1;
    m.state = State::InFlight;
    m.timer_epoch += 1;
    m.receipt = Some(receipt.clone());
    let first_received = *m.first_received_ms.get_or_insert_with(unix_millis);
    inner
        .timers
        .push(Reverse((now + visibility, sequence, m.timer_epoch)));

    let mut record = SqsMessage::default();
    record.message_id = Some(m.id.clone());
    record.receipt_handle = Some(receipt);
    record.body = Some(m.body.clone());
    record.md5_of_body = Some(
        Md5::digest(m.body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    );
    let mut attributes = HashMap::from([
        ("ApproximateReceiveCount".to_owned(), m.receive_count.to_string()),
        ("SentTimestamp".to_owned(), m.sent_ms.to_string()),
        ("SenderId".to_owned(), "AIDAEMBEDDEDBROKER".to_owned()),
        (
            "ApproximateFirstReceiveTimestamp".to_owned(),
            first_received.to_string(),
        ),
    ]);
    if let Some(trace) = &m.trace_header {
        attributes.insert(AWS_TRACE_HEADER.to_owned(), trace.clone());
    }
    if let Some(group) = &m.group {
        attributes.insert("MessageGroupId".to_owned(), group.clone());
        attributes.insert("SequenceNumber".to_owned(), format!("{:020}", m.sequence));
        if let Some(dedup) = &m.deduplication_id {
            attributes.insert("MessageDeduplicationId".to_owned(), dedup.clone());
        }
    }
    record.attributes = attributes;
    record.message_attributes = m
        .attributes
        .iter()
        .map(|(name, value)| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = Some(value.clone());
            a.data_type = Some("String".to_owned());
            (name.clone(), a)
        })
        .collect();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(queue.arn.clone());
    record.aws_region = Some(EMBEDDED_REGION.to_owned());
    record
}
