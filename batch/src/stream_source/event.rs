//! DynamoDB Streams records as the batch processor reads them.
//!
//! [`StreamRecord`] is what the processor and the steps need of a change
//! record: its sequence number (its ID), event ID, kind of change, the item's
//! keys and new image, and the stream's ARN. [`StreamBatch`] is the lean event
//! the functions decode their invocations into: the other fields of Lambda's
//! record (`OldImage`, `SizeBytes`, `userIdentity`, ...) are skipped, and the
//! keys and image stay raw JSON text in DynamoDB's attribute-value shape
//! (`{"id": {"S": "o-1"}, "total": {"N": "12.5"}}`), for the step to decode.
//!
//! An event that is not JSON, has no `Records`, or has a record without a
//! `dynamodb.SequenceNumber` or `eventName` is refused with an error naming
//! the record: a change that cannot be named cannot be reported, and
//! skipping it would break the shard's order.

use std::fmt;

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What happened to the item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StreamEventName {
    /// A new item was put.
    Insert,
    /// An existing item was changed.
    Modify,
    /// The item was deleted (it has keys and no new image).
    Remove,
}

impl StreamEventName {
    /// The name as the stream writes it (`INSERT`, `MODIFY`, `REMOVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEventName::Insert => "INSERT",
            StreamEventName::Modify => "MODIFY",
            StreamEventName::Remove => "REMOVE",
        }
    }
}

impl fmt::Display for StreamEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read access to one change record of a DynamoDB Streams event.
pub trait StreamRecord: fmt::Debug + Send + Sync {
    /// The change's sequence number in its shard (`dynamodb.SequenceNumber`):
    /// the ID a failure is reported by.
    fn sequence_number(&self) -> &str;
    /// The stream's ID of the event (`eventID`).
    fn event_id(&self) -> Option<&str>;
    /// What happened to the item (`eventName`).
    fn event_name(&self) -> StreamEventName;
    /// The item's key attributes as attribute-value JSON (`dynamodb.Keys`).
    fn keys(&self) -> Option<&str>;
    /// The item after the change as attribute-value JSON (`dynamodb.NewImage`);
    /// `None` for a removal or a stream that does not carry new images.
    fn new_image(&self) -> Option<&str>;
    /// The stream's ARN (`eventSourceARN`).
    fn event_source_arn(&self) -> Option<&str>;
}

/// A DynamoDB Streams event as Lambda delivers it, keeping only what the
/// processor and the steps read. Its records come from one shard, in order.
#[derive(Clone, Debug, Default)]
pub struct StreamBatch {
    /// The records, in shard order.
    pub records: Vec<StreamBatchRecord>,
}

/// One change record of a [`StreamBatch`].
#[derive(Clone, Debug)]
pub struct StreamBatchRecord {
    sequence_number: String,
    event_id: Option<String>,
    event_name: StreamEventName,
    keys: Option<Box<RawValue>>,
    new_image: Option<Box<RawValue>>,
    event_source_arn: Option<String>,
}

impl StreamRecord for StreamBatchRecord {
    fn sequence_number(&self) -> &str {
        &self.sequence_number
    }

    fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    fn event_name(&self) -> StreamEventName {
        self.event_name
    }

    fn keys(&self) -> Option<&str> {
        self.keys.as_deref().map(RawValue::get)
    }

    fn new_image(&self) -> Option<&str> {
        self.new_image.as_deref().map(RawValue::get)
    }

    fn event_source_arn(&self) -> Option<&str> {
        self.event_source_arn.as_deref()
    }
}

impl StreamBatchRecord {
    /// A record from its parts, as a local stream or a poller's `GetRecords`
    /// has them: `keys` and `new_image` are attribute-value JSON, refused if
    /// they are not JSON.
    pub fn new(
        sequence_number: impl Into<String>,
        event_name: StreamEventName,
        keys: Option<String>,
        new_image: Option<String>,
    ) -> Result<StreamBatchRecord, serde_json::Error> {
        Ok(StreamBatchRecord {
            sequence_number: sequence_number.into(),
            event_id: None,
            event_name,
            keys: keys.map(RawValue::from_string).transpose()?,
            new_image: new_image.map(RawValue::from_string).transpose()?,
            event_source_arn: None,
        })
    }
}

impl StreamBatch {
    /// Decodes an event from its JSON text; the error says what is wrong
    /// and, for a record, which one.
    pub fn from_json(text: &str) -> Result<StreamBatch, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Why an event's records cannot be processed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamEventError {
    /// A record does not say what happened to its item. Named by its index
    /// only: an event's values stay out of errors and logs.
    #[error("stream record {index} has no eventName")]
    MissingEventName {
        /// The record's index in the batch.
        index: usize,
    },
}

impl<'de> Deserialize<'de> for StreamBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireEvent::deserialize(deserializer)?;
        let records = wire
            .records
            .into_iter()
            .enumerate()
            .map(|(index, record)| record.checked(index))
            .collect::<Result<Vec<_>, _>>()
            .map_err(D::Error::custom)?;
        Ok(StreamBatch { records })
    }
}

/// The event as it comes, before each record is checked.
#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "Records")]
    records: Vec<WireRecord>,
}

#[derive(Deserialize)]
struct WireRecord {
    #[serde(rename = "eventID", default)]
    event_id: Option<String>,
    #[serde(rename = "eventName", default)]
    event_name: Option<StreamEventName>,
    #[serde(rename = "eventSourceARN", default)]
    event_source_arn: Option<String>,
    #[serde(default)]
    dynamodb: Option<WireChange>,
}

#[derive(Default, Deserialize)]
struct WireChange {
    #[serde(rename = "SequenceNumber", default)]
    sequence_number: Option<String>,
    #[serde(rename = "Keys", default)]
    keys: Option<Box<RawValue>>,
    #[serde(rename = "NewImage", default)]
    new_image: Option<Box<RawValue>>,
}

impl WireRecord {
    /// The record, if it names its change and says what it was.
    fn checked(self, index: usize) -> Result<StreamBatchRecord, StreamEventError> {
        let WireRecord {
            event_id,
            event_name,
            event_source_arn,
            dynamodb,
        } = self;
        // A record without a sequence number decodes with an empty one: the
        // processor refuses the batch for it (`BatchError::MissingMessageId`),
        // logging and counting it, as it does an SQS record without an ID.
        let WireChange {
            sequence_number,
            keys,
            new_image,
        } = dynamodb.unwrap_or_default();
        let sequence_number = sequence_number.unwrap_or_default();
        let Some(event_name) = event_name else {
            return Err(StreamEventError::MissingEventName { index });
        };
        Ok(StreamBatchRecord {
            sequence_number,
            event_id,
            event_name,
            keys,
            new_image,
            event_source_arn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"Records":[
        {"eventID":"e-1","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb",
         "awsRegion":"us-east-1",
         "dynamodb":{"ApproximateCreationDateTime":1700000000,
            "Keys":{"orderId":{"S":"o-1"}},
            "NewImage":{"orderId":{"S":"o-1"},"total":{"N":"12.5"},"items":{"L":[{"M":{"sku":{"S":"A"}}}]}},
            "SequenceNumber":"111","SizeBytes":26,"StreamViewType":"NEW_AND_OLD_IMAGES"},
         "eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/orders/stream/2024"},
        {"eventID":"e-2","eventName":"REMOVE",
         "dynamodb":{"Keys":{"orderId":{"S":"o-1"}},"OldImage":{"orderId":{"S":"o-1"}},"SequenceNumber":"222"}}
    ]}"#;

    #[test]
    fn a_record_keeps_its_id_kind_keys_and_image() {
        let batch = StreamBatch::from_json(EVENT).unwrap();
        let (insert, remove) = (&batch.records[0], &batch.records[1]);
        assert_eq!(insert.sequence_number(), "111");
        assert_eq!(insert.event_id(), Some("e-1"));
        assert_eq!(insert.event_name(), StreamEventName::Insert);
        assert_eq!(insert.keys(), Some(r#"{"orderId":{"S":"o-1"}}"#));
        let image: serde_json::Value = serde_json::from_str(insert.new_image().unwrap()).unwrap();
        assert_eq!(image["total"]["N"], "12.5");
        assert_eq!(image["items"]["L"][0]["M"]["sku"]["S"], "A");
        assert_eq!(
            insert.event_source_arn(),
            Some("arn:aws:dynamodb:us-east-1:1:table/orders/stream/2024")
        );
        assert_eq!(remove.event_name(), StreamEventName::Remove);
        assert_eq!(remove.event_name().to_string(), "REMOVE");
        assert_eq!(remove.new_image(), None);
        assert_eq!(remove.event_source_arn(), None);
    }

    #[test]
    fn a_record_without_a_sequence_number_decodes_with_an_empty_one_for_the_processor_to_refuse() {
        for dynamodb in [
            r#""dynamodb":{"Keys":{}}"#,
            r#""dynamodb":{"SequenceNumber":""}"#,
            r#""x":1"#,
        ] {
            let event = format!(
                r#"{{"Records":[{{"eventName":"INSERT","dynamodb":{{"SequenceNumber":"1"}}}},{{"eventID":"e-2","eventName":"MODIFY",{dynamodb}}}]}}"#
            );
            let batch = StreamBatch::from_json(&event).unwrap();
            assert_eq!(batch.records[0].sequence_number(), "1", "{event}");
            assert_eq!(batch.records[1].sequence_number(), "", "{event}");
        }
    }

    #[test]
    fn bad_events_are_refused_with_what_is_wrong() {
        for (event, says) in [
            ("oops, not json", "expected value at line 1 column 1"),
            (r#"{"records":[]}"#, "missing field `Records`"),
            (
                r#"{"Records":[{"eventID":"e-1","dynamodb":{"SequenceNumber":"1"}}]}"#,
                "stream record 0 has no eventName",
            ),
            (
                r#"{"Records":[{"eventName":"UPSERT","dynamodb":{"SequenceNumber":"1"}}]}"#,
                "unknown variant `UPSERT`",
            ),
            (
                r#"{"Records":[{"eventName":"INSERT","dynamodb":{"SequenceNumber":7}}]}"#,
                "invalid type: integer",
            ),
        ] {
            let error = StreamBatch::from_json(event).unwrap_err().to_string();
            assert!(error.contains(says), "{event}: {error}");
            assert!(!error.contains("e-1"), "an event's value in its error: {error}");
        }
    }

    #[test]
    fn null_keys_and_images_read_as_absent() {
        let batch = StreamBatch::from_json(
            r#"{"Records":[{"eventID":null,"eventName":"MODIFY","dynamodb":{"SequenceNumber":"1","Keys":null,"NewImage":null}}]}"#,
        )
        .unwrap();
        let record = &batch.records[0];
        assert_eq!(
            (record.keys(), record.new_image(), record.event_id()),
            (None, None, None)
        );
    }
}
