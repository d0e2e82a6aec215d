//! SQS records as the batch processor reads them.
//!
//! [`SqsRecord`] is what the processor and the steps need of a record: its ID,
//! body, receipt handle, source queue, FIFO group, receive count and string
//! attributes. It is implemented by `aws_lambda_events`' [`SqsMessage`] (what
//! the local broker, the poller and the tests build) and by [`SqsBatchRecord`],
//! the lean record the deployed functions decode their invocations into: it
//! keeps only those fields, each record's strings end to end in one buffer,
//! so a parsed batch costs less than the size of its JSON and one allocation
//! a record (Lambda's own type takes two and a half times the JSON, in a
//! dozen allocations a record: hash maps, `md5OfBody`, `eventSource`,
//! `awsRegion`, system attributes).

use std::fmt;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::attributes::{AWS_TRACE_HEADER, MessageAttributes};
use crate::error::RecordError;
use crate::json::Key;

/// Read access to one SQS record of a Lambda event.
pub trait SqsRecord: MessageAttributes + fmt::Debug + Send + Sync {
    /// The SQS message ID (`messageId`).
    fn message_id(&self) -> Option<&str>;
    /// The body, if the record has one.
    fn body(&self) -> Option<&str>;
    /// The receipt handle, for visibility changes.
    fn receipt_handle(&self) -> Option<&str>;
    /// The source queue's ARN (`eventSourceARN`).
    fn event_source_arn(&self) -> Option<&str>;
    /// The FIFO message group (the `MessageGroupId` system attribute).
    fn message_group_id(&self) -> Option<&str>;
    /// How many times SQS delivered the message (`ApproximateReceiveCount`).
    fn receive_count(&self) -> Option<u32>;
    /// Every message attribute that has a string value, as (name, value).
    fn string_attributes(&self) -> Vec<(&str, &str)>;
    /// The X-Ray trace header (the `AWSTraceHeader` system attribute).
    fn trace_header(&self) -> Option<&str> {
        None
    }
}

/// An SQS event: its records, in delivery order.
pub trait SqsBatchEvent: Sync {
    /// The record type.
    type Record: SqsRecord + 'static;
    /// The records.
    fn records(&self) -> &[Self::Record];
}

impl MessageAttributes for SqsMessage {
    fn string_attribute(&self, name: &str) -> Option<&str> {
        // SQS allows at most 10 attributes: a scan beats hashing the name.
        self.message_attributes
            .iter()
            .find(|(key, _)| key.as_str() == name)
            .and_then(|(_, a)| a.string_value.as_deref())
    }
}

impl SqsRecord for SqsMessage {
    fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    fn receipt_handle(&self) -> Option<&str> {
        self.receipt_handle.as_deref()
    }

    fn event_source_arn(&self) -> Option<&str> {
        self.event_source_arn.as_deref()
    }

    fn message_group_id(&self) -> Option<&str> {
        self.attributes.get("MessageGroupId").map(String::as_str)
    }

    fn receive_count(&self) -> Option<u32> {
        self.attributes.get("ApproximateReceiveCount")?.parse().ok()
    }

    fn trace_header(&self) -> Option<&str> {
        self.attributes.get(AWS_TRACE_HEADER).map(String::as_str)
    }

    fn string_attributes(&self) -> Vec<(&str, &str)> {
        self.message_attributes
            .iter()
            .filter_map(|(name, a)| a.string_value.as_deref().map(|v| (name.as_str(), v)))
            .collect()
    }
}

impl SqsBatchEvent for SqsEvent {
    type Record = SqsMessage;

    fn records(&self) -> &[SqsMessage] {
        &self.records
    }
}

/// An SQS event as Lambda delivers it, keeping only what the processor reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqsBatch {
    /// The records, in delivery order.
    pub records: Vec<SqsBatchRecord>,
}

impl SqsBatchEvent for SqsBatch {
    type Record = SqsBatchRecord;

    fn records(&self) -> &[SqsBatchRecord] {
        &self.records
    }
}

/// Where one string sits in a record's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

/// One record of an [`SqsBatch`]: its ID, receipt handle, body, source queue,
/// FIFO group, receive count and string attributes; the other fields of
/// Lambda's record are skipped, and so are binary attributes.
///
/// Its strings sit end to end in one buffer, so a record costs one
/// allocation (and one more for attributes) instead of one per string.
#[derive(Clone, Default)]
pub struct SqsBatchRecord {
    text: String,
    message_id: Option<Span>,
    receipt_handle: Option<Span>,
    body: Option<Span>,
    event_source_arn: Option<Span>,
    message_group_id: Option<Span>,
    trace_header: Option<Span>,
    receive_count: Option<u32>,
    /// (name, value) of each string attribute.
    attributes: Vec<(Span, Span)>,
}

impl SqsBatchRecord {
    fn text(&self, span: Option<Span>) -> Option<&str> {
        let span = span?;
        self.text.get(span.start as usize..span.end as usize)
    }
}

impl fmt::Debug for SqsBatchRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqsBatchRecord")
            .field("message_id", &self.message_id())
            .field("receipt_handle", &self.receipt_handle())
            .field("body", &SqsRecord::body(self))
            .field("event_source_arn", &self.event_source_arn())
            .field("message_group_id", &self.message_group_id())
            .field("trace_header", &self.trace_header())
            .field("receive_count", &self.receive_count)
            .field("attributes", &self.string_attributes())
            .finish()
    }
}

/// Records are equal when they read the same, however their text is laid out.
impl PartialEq for SqsBatchRecord {
    fn eq(&self, other: &Self) -> bool {
        self.message_id() == other.message_id()
            && self.receipt_handle() == other.receipt_handle()
            && SqsRecord::body(self) == SqsRecord::body(other)
            && self.event_source_arn() == other.event_source_arn()
            && self.message_group_id() == other.message_group_id()
            && self.trace_header() == other.trace_header()
            && self.receive_count == other.receive_count
            && self.string_attributes() == other.string_attributes()
    }
}

impl Eq for SqsBatchRecord {}

impl MessageAttributes for SqsBatchRecord {
    fn string_attribute(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .attributes
            .iter()
            .find(|(key, _)| self.text(Some(*key)) == Some(name))?;
        self.text(Some(*value))
    }
}

impl SqsRecord for SqsBatchRecord {
    fn message_id(&self) -> Option<&str> {
        self.text(self.message_id)
    }

    fn body(&self) -> Option<&str> {
        self.text(self.body)
    }

    fn receipt_handle(&self) -> Option<&str> {
        self.text(self.receipt_handle)
    }

    fn event_source_arn(&self) -> Option<&str> {
        self.text(self.event_source_arn)
    }

    fn message_group_id(&self) -> Option<&str> {
        self.text(self.message_group_id)
    }

    fn receive_count(&self) -> Option<u32> {
        self.receive_count
    }

    fn trace_header(&self) -> Option<&str> {
        self.text(self.trace_header)
    }

    fn string_attributes(&self) -> Vec<(&str, &str)> {
        self.attributes
            .iter()
            .filter_map(|(name, value)| Some((self.text(Some(*name))?, self.text(Some(*value))?)))
            .collect()
    }
}

/// Lambda's shape of the event (what the round trip and tools write).
impl Serialize for SqsBatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("Records", &self.records)?;
        map.end()
    }
}

impl Serialize for SqsBatchRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        /// `attributes`: the system attributes the record keeps.
        struct System<'a>(&'a SqsBatchRecord);
        impl Serialize for System<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                if let Some(count) = self.0.receive_count {
                    map.serialize_entry("ApproximateReceiveCount", &count.to_string())?;
                }
                if let Some(group) = self.0.message_group_id() {
                    map.serialize_entry("MessageGroupId", group)?;
                }
                if let Some(trace) = self.0.trace_header() {
                    map.serialize_entry(AWS_TRACE_HEADER, trace)?;
                }
                map.end()
            }
        }
        /// `messageAttributes`: each string attribute as Lambda writes it.
        struct Attributes<'a>(&'a SqsBatchRecord);
        impl Serialize for Attributes<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                #[serde(rename_all = "camelCase")]
                struct StringAttribute<'a> {
                    string_value: &'a str,
                    data_type: &'static str,
                }
                let attributes = self.0.string_attributes();
                let mut map = serializer.serialize_map(Some(attributes.len()))?;
                for (name, string_value) in attributes {
                    map.serialize_entry(
                        name,
                        &StringAttribute {
                            string_value,
                            data_type: "String",
                        },
                    )?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in [
            ("messageId", self.message_id()),
            ("receiptHandle", self.receipt_handle()),
            ("body", SqsRecord::body(self)),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("attributes", &System(self))?;
        map.serialize_entry("messageAttributes", &Attributes(self))?;
        if let Some(arn) = self.event_source_arn() {
            map.serialize_entry("eventSourceARN", arn)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SqsBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Object(EventReader).deserialize(deserializer)
    }
}

/// Reads one JSON object with `self`: the one place the object readers
/// below become serde seeds and visitors.
trait ObjectReader<'de> {
    type Value;
    /// What the input should have been, for serde's error message.
    const EXPECTING: &'static str;
    /// Reads the object's entries.
    fn read<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error>;
}

/// An [`ObjectReader`] as a seed.
struct Object<R>(R);

impl<'de, R: ObjectReader<'de>> DeserializeSeed<'de> for Object<R> {
    type Value = R::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<R::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, R: ObjectReader<'de>> Visitor<'de> for Object<R> {
    type Value = R::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(R::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R::Value, A::Error> {
        self.0.read(map)
    }
}

/// The event: its `Records`.
struct EventReader;

impl<'de> ObjectReader<'de> for EventReader {
    type Value = SqsBatch;
    const EXPECTING: &'static str = "an SQS event";

    fn read<A: MapAccess<'de>>(self, mut map: A) -> Result<SqsBatch, A::Error> {
        let mut records: Option<Vec<SqsBatchRecord>> = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "Records" {
                if records.is_some() {
                    return Err(de::Error::duplicate_field("Records"));
                }
                records = Some(map.next_value_seed(RecordList)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let records = records.ok_or_else(|| de::Error::missing_field("Records"))?;
        Ok(SqsBatch { records })
    }
}

/// `Records`: the list, without the spare capacity it grew while being read
/// (up to half of it for a large batch, kept for the whole invocation).
struct RecordList;

impl<'de> DeserializeSeed<'de> for RecordList {
    type Value = Vec<SqsBatchRecord>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordList {
    type Value = Vec<SqsBatchRecord>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of SQS records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(10_000));
        while let Some(record) = seq.next_element_seed(Object(RecordReader))? {
            records.push(record);
        }
        records.shrink_to_fit();
        Ok(records)
    }
}

/// Reads one record into an [`SqsBatchRecord`].
struct RecordReader;

impl<'de> ObjectReader<'de> for RecordReader {
    type Value = SqsBatchRecord;
    const EXPECTING: &'static str = "an SQS record";

    fn read<A: MapAccess<'de>>(self, mut map: A) -> Result<SqsBatchRecord, A::Error> {
        // Room for an ID, a receipt handle, a body of a few hundred bytes and
        // two attributes: most records never grow it.
        let mut record = SqsBatchRecord {
            text: String::with_capacity(512),
            ..SqsBatchRecord::default()
        };
        let (mut system_read, mut attributes_read) = (false, false);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let slot = match key.0.as_ref() {
                "messageId" => &mut record.message_id,
                "receiptHandle" => &mut record.receipt_handle,
                "body" => &mut record.body,
                "eventSourceARN" => &mut record.event_source_arn,
                "attributes" => {
                    if std::mem::replace(&mut system_read, true) {
                        return Err(de::Error::duplicate_field("attributes"));
                    }
                    map.next_value_seed(OrNull(Object(SystemAttributes(&mut record))))?;
                    continue;
                }
                "messageAttributes" => {
                    if std::mem::replace(&mut attributes_read, true) {
                        return Err(de::Error::duplicate_field("messageAttributes"));
                    }
                    map.next_value_seed(OrNull(Object(StringAttributes(&mut record))))?;
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{}`", key.0)));
            }
            *slot = map.next_value_seed(OrNull(Text(&mut record.text)))?;
        }
        Ok(record)
    }
}

/// `null` reads as `None` (as in Lambda's own types); anything else is read by the inner seed.
struct OrNull<T>(T);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for OrNull<T> {
    type Value = Option<T::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: DeserializeSeed<'de>> Visitor<'de> for OrNull<T> {
    type Value = Option<T::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// A string appended to a record's text, read as where it went.
struct Text<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Text<'_> {
    type Value = Span;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Span, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text<'_> {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Span, E> {
        let offset = |n: usize| u32::try_from(n).map_err(|_| E::custom("an SQS record over 4 GiB"));
        let start = offset(self.0.len())?;
        self.0.push_str(value);
        Ok(Span {
            start,
            end: offset(self.0.len())?,
        })
    }
}

/// `attributes`: `ApproximateReceiveCount`, `MessageGroupId` and `AWSTraceHeader`.
struct SystemAttributes<'a>(&'a mut SqsBatchRecord);

impl<'de> ObjectReader<'de> for SystemAttributes<'_> {
    type Value = ();
    const EXPECTING: &'static str = "a map of system attributes";

    fn read<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let record = self.0;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.0.as_ref() {
                // A decimal string; anything else reads as unknown, as a parse would.
                "ApproximateReceiveCount" => {
                    record.receive_count = map
                        .next_value::<Option<Key<'de>>>()?
                        .and_then(|count| count.0.parse().ok());
                }
                "MessageGroupId" => {
                    record.message_group_id = map.next_value_seed(OrNull(Text(&mut record.text)))?;
                }
                AWS_TRACE_HEADER => {
                    record.trace_header = map.next_value_seed(OrNull(Text(&mut record.text)))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `messageAttributes` (`{"Name": {"stringValue": .., "dataType": ..}}`):
/// the string values; binary ones and `dataType` are skipped.
struct StringAttributes<'a>(&'a mut SqsBatchRecord);

impl<'de> ObjectReader<'de> for StringAttributes<'_> {
    type Value = ();
    const EXPECTING: &'static str = "a map of message attributes";

    fn read<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let record = self.0;
        // Most messages carry one or two attributes (ours: EventType and
        // CorrelationId); a first push would make room for four.
        record.attributes.reserve_exact(2);
        while let Some(name) = map.next_key_seed(Text(&mut record.text))? {
            match map.next_value_seed(OrNull(Object(StringValue(&mut record.text))))? {
                Some(Some(value)) => record.attributes.push((name, value)),
                // No string value: drop the name again.
                _ => record.text.truncate(name.start as usize),
            }
        }
        Ok(())
    }
}

/// One attribute's `stringValue`, appended to the text; `None` for binary
/// attributes and a `null` value.
struct StringValue<'a>(&'a mut String);

impl<'de> ObjectReader<'de> for StringValue<'_> {
    type Value = Option<Span>;
    const EXPECTING: &'static str = "a message attribute";

    fn read<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Span>, A::Error> {
        let mut value = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "stringValue" && value.is_none() {
                value = map.next_value_seed(OrNull(Text(&mut *self.0)))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(value)
    }
}

/// The body of a record, or [`RecordError::MissingBody`].
pub fn body<R: SqsRecord + ?Sized>(message: &R) -> Result<&str, RecordError> {
    message.body().ok_or(RecordError::MissingBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"Records":[{
        "messageId":"m-1","receiptHandle":"rh","body":"{\"a\":\"b\\\"c\"}",
        "attributes":{"ApproximateReceiveCount":"3","SentTimestamp":"1","MessageGroupId":"g",
            "AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"},
        "messageAttributes":{
            "EventType":{"stringValue":"ORDER_CREATED","stringListValues":[],"binaryListValues":[],"dataType":"String"},
            "Blob":{"binaryValue":"AAEC","dataType":"Binary"}},
        "md5OfBody":"x","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:1:orders.fifo","awsRegion":"us-east-1"}]}"#;

    #[test]
    fn the_lean_record_reads_what_lambdas_own_type_reads() {
        let lean: SqsBatch = serde_json::from_str(RECORD).unwrap();
        let full: SqsEvent = serde_json::from_str(RECORD).unwrap();
        let (a, b) = (&lean.records()[0], &full.records()[0]);
        for (x, y) in [
            (a.message_id(), b.message_id()),
            (SqsRecord::body(a), SqsRecord::body(b)),
            (a.receipt_handle(), b.receipt_handle()),
            (a.event_source_arn(), b.event_source_arn()),
            (a.message_group_id(), b.message_group_id()),
            (a.trace_header(), b.trace_header()),
            (a.string_attribute("EventType"), b.string_attribute("EventType")),
        ] {
            assert_eq!(x, y);
            assert!(x.is_some());
        }
        assert_eq!(SqsRecord::body(a), Some(r#"{"a":"b\"c"}"#));
        assert_eq!((a.receive_count(), b.receive_count()), (Some(3), Some(3)));
        assert_eq!(a.string_attributes(), vec![("EventType", "ORDER_CREATED")]);
        assert_eq!(a.string_attributes(), b.string_attributes());
        // What the lean record writes, it reads back the same.
        let again: SqsBatch = serde_json::from_str(&serde_json::to_string(&lean).unwrap()).unwrap();
        assert_eq!(again, lean);
        assert_eq!(
            again.records()[0].trace_header(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
        );
    }

    #[test]
    fn missing_and_null_fields_read_as_absent() {
        let lean: SqsBatch = serde_json::from_str(
            r#"{"Records":[{"messageId":null,"attributes":null,"messageAttributes":null},{}]}"#,
        )
        .unwrap();
        for record in lean.records() {
            assert_eq!(record.message_id(), None);
            assert_eq!(SqsRecord::body(record), None);
            assert_eq!(record.receive_count(), None);
            assert!(record.string_attributes().is_empty());
        }
    }

    #[test]
    fn an_event_without_records_is_not_an_sqs_event() {
        let error = serde_json::from_str::<SqsBatch>(r#"{"records":[]}"#).unwrap_err();
        assert!(error.to_string().contains("missing field `Records`"), "{error}");
    }

    #[test]
    fn a_record_keeps_only_string_attributes_and_decodes_escapes() {
        let lean: SqsBatch = serde_json::from_str(
            r#"{"Records":[{"messageId":"m\u002d1","body":"line\nbreak \"q\" \u00e9",
            "messageAttributes":{
                "Bin":{"binaryValue":"AAEC","dataType":"Binary"},
                "Null":{"stringValue":null,"dataType":"String"},
                "Region":{"dataType":"String","stringValue":"EU"},
                "Gone":null}}]}"#,
        )
        .unwrap();
        let record = &lean.records[0];
        assert_eq!(record.message_id(), Some("m-1"));
        assert_eq!(SqsRecord::body(record), Some("line\nbreak \"q\" é"));
        assert_eq!(record.string_attributes(), vec![("Region", "EU")]);
        assert_eq!(record.string_attribute("Bin"), None);
        // The names of skipped attributes leave nothing behind in the record's text.
        assert_eq!(record.text, "m-1line\nbreak \"q\" éRegionEU");
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        for event in [
            r#"{"Records":[{"messageId":"a","messageId":"b"}]}"#,
            r#"{"Records":[{"attributes":{},"attributes":{}}]}"#,
            r#"{"Records":[],"Records":[]}"#,
        ] {
            let error = serde_json::from_str::<SqsBatch>(event).unwrap_err();
            assert!(error.to_string().contains("duplicate field"), "{event}: {error}");
        }
    }

    #[test]
    fn the_lean_event_round_trips_through_json() {
        let lean: SqsBatch = serde_json::from_str(RECORD).unwrap();
        let again: SqsBatch = serde_json::from_str(&serde_json::to_string(&lean).unwrap()).unwrap();
        assert_eq!(lean, again);
    }
}
