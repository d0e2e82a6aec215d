//! SQS records as the batch processor reads them.
//!
//! [`SqsRecord`] is what the processor and the steps need of a record: its ID,
//! body, receipt handle, source queue, FIFO group, receive count and string
//! attributes. It is implemented by `aws_lambda_events`' [`SqsMessage`] (what
//! the local broker, the poller and the tests build) and by [`SqsBatchRecord`],
//! the lean record the deployed functions decode their invocations into: it
//! keeps only those fields, so a parsed batch costs about the size of its JSON
//! instead of two and a half times it (no per-record hash maps, no unused
//! `md5OfBody`, `eventSource`, `awsRegion` or system attributes).

use std::fmt;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::validation::MessageAttributes;

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
}

/// An SQS event: its records, in delivery order.
pub trait SqsBatchEvent: Sync {
    /// The record type.
    type Record: SqsRecord;
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SqsBatch {
    /// The records, in delivery order.
    #[serde(rename = "Records", deserialize_with = "exact_vec")]
    pub records: Vec<SqsBatchRecord>,
}

impl SqsBatchEvent for SqsBatch {
    type Record = SqsBatchRecord;

    fn records(&self) -> &[SqsBatchRecord] {
        &self.records
    }
}

/// One record of an [`SqsBatch`]; the other fields of Lambda's record are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsBatchRecord {
    /// `messageId`.
    #[serde(default)]
    pub message_id: Option<String>,
    /// `receiptHandle`.
    #[serde(default)]
    pub receipt_handle: Option<String>,
    /// `body`.
    #[serde(default)]
    pub body: Option<String>,
    /// The system attributes the processor reads.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: SystemAttributes,
    /// String-valued message attributes, as (name, value); binary ones are skipped.
    #[serde(default, with = "string_attributes")]
    pub message_attributes: Vec<(String, String)>,
    /// `eventSourceARN`.
    #[serde(default, rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
}

/// The system attributes of a record that the processor reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SystemAttributes {
    /// `ApproximateReceiveCount`, as SQS sends it (a decimal string).
    #[serde(
        default,
        rename = "ApproximateReceiveCount",
        skip_serializing_if = "Option::is_none"
    )]
    pub approximate_receive_count: Option<String>,
    /// `MessageGroupId` (FIFO queues).
    #[serde(default, rename = "MessageGroupId", skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

impl MessageAttributes for SqsBatchRecord {
    fn string_attribute(&self, name: &str) -> Option<&str> {
        self.message_attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl SqsRecord for SqsBatchRecord {
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
        self.attributes.message_group_id.as_deref()
    }

    fn receive_count(&self) -> Option<u32> {
        self.attributes.approximate_receive_count.as_deref()?.parse().ok()
    }

    fn string_attributes(&self) -> Vec<(&str, &str)> {
        self.message_attributes
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }
}

/// A list without the spare capacity it grew while being read (up to half of
/// it for a large batch, which stays allocated for the whole invocation).
fn exact_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut items = Vec::<T>::deserialize(deserializer)?;
    items.shrink_to_fit();
    Ok(items)
}

/// `null` reads as the default, as Lambda's own event types do.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `messageAttributes` (a JSON object of `{"stringValue": .., "dataType": ..}`)
/// as a list of its string values.
mod string_attributes {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        deserializer.deserialize_option(OptionalMap)
    }

    pub(super) fn serialize<S: serde::Serializer>(
        attributes: &[(String, String)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(attributes.len()))?;
        for (name, value) in attributes {
            map.serialize_entry(
                name,
                &StringAttribute {
                    string_value: value,
                    data_type: "String",
                },
            )?;
        }
        map.end()
    }

    /// What a record keeps of an attribute (`dataType` and the list fields are skipped).
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AttributeValue {
        #[serde(default)]
        string_value: Option<String>,
    }

    /// A string attribute as Lambda writes it.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct StringAttribute<'a> {
        string_value: &'a str,
        data_type: &'static str,
    }

    struct OptionalMap;

    impl<'de> Visitor<'de> for OptionalMap {
        type Value = Vec<(String, String)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of message attributes")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // Most messages carry one or two attributes (ours: EventType and
            // CorrelationId); a first push would make room for four.
            let mut attributes = Vec::with_capacity(2);
            while let Some(name) = map.next_key::<String>()? {
                if let Some(AttributeValue {
                    string_value: Some(value),
                    ..
                }) = map.next_value::<Option<AttributeValue>>()?
                {
                    attributes.push((name, value));
                }
            }
            Ok(attributes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"Records":[{
        "messageId":"m-1","receiptHandle":"rh","body":"{\"a\":\"b\\\"c\"}",
        "attributes":{"ApproximateReceiveCount":"3","SentTimestamp":"1","MessageGroupId":"g"},
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
            (a.string_attribute("EventType"), b.string_attribute("EventType")),
        ] {
            assert_eq!(x, y);
            assert!(x.is_some());
        }
        assert_eq!(SqsRecord::body(a), Some(r#"{"a":"b\"c"}"#));
        assert_eq!((a.receive_count(), b.receive_count()), (Some(3), Some(3)));
        assert_eq!(a.string_attributes(), vec![("EventType", "ORDER_CREATED")]);
        assert_eq!(a.string_attributes(), b.string_attributes());
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
    fn the_lean_event_round_trips_through_json() {
        let lean: SqsBatch = serde_json::from_str(RECORD).unwrap();
        let again: SqsBatch = serde_json::from_str(&serde_json::to_string(&lean).unwrap()).unwrap();
        assert_eq!(lean, again);
    }
}
