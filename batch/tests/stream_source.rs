//! The DynamoDB Streams source on the unchanged processor, over in-memory
//! adapters: a shard's records run in order, a failure reports it and every
//! later record by sequence number, retries are skipped by idempotency.

mod harness;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use harness::harness;
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::OutgoingMessage;
use orderflow_batch::processor::{
    BatchConfig, BatchError, FailureReason, FifoFailureMode, InvocationContext, Outgoing, RecordContext,
    RecordOutcome, RecordStep,
};
use orderflow_batch::stream_source::{
    StreamBatch, StreamBatchResponse, StreamEventName, StreamRecord, StreamSource,
};
use orderflow_embedded::InMemoryQueues;

const OUT: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/relayed";
const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/relay-dlq";
const ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000";

/// What the relay makes of a change.
enum Change {
    /// An order's new image: relayed as `<order>:<status>`.
    Relay {
        order: String,
        /// `<order>@<version>`: the change, not only the item.
        key: String,
        status: String,
        fail: Option<String>,
        /// Milliseconds the run takes.
        sleep_ms: Option<u64>,
    },
    /// A removal: nothing to relay.
    Ignored { sequence: String },
}

/// Relays orders' new images to [`OUT`]; a `fail` attribute of the image
/// fails it (`retry`, `permanent`, or `once`: retryably on its first run
/// only), a `sleep_ms` one makes it take that long.
#[derive(Default)]
struct Relay {
    /// The sequence numbers of the records it ran, as each run ended.
    runs: Mutex<Vec<String>>,
    failed_once: Mutex<HashSet<String>>,
}

impl Relay {
    fn runs(&self) -> Vec<String> {
        self.runs.lock().unwrap().clone()
    }
}

/// The string (`S`) or number (`N`) attribute `name` of an image.
fn attribute<'a>(image: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    let value = image.get(name)?;
    value.get("S").or_else(|| value.get("N"))?.as_str()
}

impl RecordStep<dyn StreamRecord> for Relay {
    type Input = Change;

    fn name(&self) -> &'static str {
        "relay"
    }

    fn decode(&self, record: &dyn StreamRecord) -> Result<Change, RecordError> {
        if record.event_name() == StreamEventName::Remove {
            return Ok(Change::Ignored {
                sequence: record.sequence_number().to_owned(),
            });
        }
        let image = record.new_image().ok_or(RecordError::MissingBody)?;
        let image: serde_json::Value =
            serde_json::from_str(image).map_err(|e| RecordError::InvalidJson(e.to_string()))?;
        let field = |name: &str| {
            attribute(&image, name)
                .map(str::to_owned)
                .ok_or_else(|| RecordError::InvalidJson(format!("NewImage has no {name}")))
        };
        let order = field("orderId")?;
        Ok(Change::Relay {
            key: format!("{order}@{}", field("version")?),
            status: field("status")?,
            fail: attribute(&image, "fail").map(str::to_owned),
            sleep_ms: attribute(&image, "sleep_ms").and_then(|ms| ms.parse().ok()),
            order,
        })
    }

    fn key<'a>(&self, change: &'a Change) -> Cow<'a, str> {
        match change {
            Change::Relay { key, .. } => Cow::Borrowed(key),
            Change::Ignored { sequence } => Cow::Owned(format!("removed@{sequence}")),
        }
    }

    fn correlation_id<'a>(&self, change: &'a Change) -> &'a str {
        match change {
            Change::Relay { order, .. } => order,
            Change::Ignored { sequence } => sequence,
        }
    }

    fn fingerprint(&self, change: &Change) -> Fingerprint {
        Fingerprint::of(|f| match change {
            Change::Relay { key, status, .. } => {
                f.str(key).str(status);
            }
            Change::Ignored { sequence } => {
                f.str(sequence);
            }
        })
    }

    async fn run(
        &self,
        change: Change,
        context: &RecordContext<'_, dyn StreamRecord>,
    ) -> Result<Vec<Outgoing>, RecordError> {
        if let Change::Relay {
            sleep_ms: Some(ms), ..
        } = change
        {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.runs.lock().unwrap().push(context.message_id.to_owned());
        let Change::Relay {
            order, status, fail, ..
        } = change
        else {
            return Ok(Vec::new());
        };
        let retry = || Err(PortError::new(PortErrorKind::Throttled, "Test", "slow down").into());
        match fail.as_deref() {
            Some("retry") => retry(),
            Some("once") if self.failed_once.lock().unwrap().insert(order.clone()) => retry(),
            Some("permanent") => Err(RecordError::UnknownEventType("scripted")),
            _ => Ok(vec![Outgoing {
                queue_url: OUT.into(),
                message: OutgoingMessage::new(format!("{order}:{status}")),
            }]),
        }
    }
}

/// A change record with sequence number `sequence`; `image` is the new
/// image's attributes after `orderId` (none for a removal).
fn change(sequence: u32, name: &str, order: &str, image: &str) -> String {
    let new_image = match name {
        "REMOVE" => String::new(),
        _ => format!(r#","NewImage":{{"orderId":{{"S":"{order}"}}{image}}}"#),
    };
    format!(
        r#"{{"eventID":"e-{sequence}","eventName":"{name}","eventSource":"aws:dynamodb",
        "dynamodb":{{"Keys":{{"orderId":{{"S":"{order}"}}}}{new_image},"SequenceNumber":"{sequence}",
        "StreamViewType":"NEW_IMAGE"}},"eventSourceARN":"{ARN}"}}"#
    )
}

/// An order's insert at version 1, with more attributes in `extra`.
fn insert(sequence: u32, order: &str, extra: &str) -> String {
    change(
        sequence,
        "INSERT",
        order,
        &format!(r#","version":{{"N":"1"}},"status":{{"S":"ACCEPTED"}}{extra}"#),
    )
}

fn batch(records: &[String]) -> StreamBatch {
    StreamBatch::from_json(&format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap()
}

fn context() -> InvocationContext {
    InvocationContext::with_timeout("req-1", Duration::from_secs(60))
}

fn failed_ids(response: &StreamBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn relayed(queues: &InMemoryQueues) -> Vec<String> {
    queues.messages(OUT).into_iter().map(|m| m.body).collect()
}

/// Five inserts of orders `o-1`..`o-5`, sequence numbers 1 to 5; the third
/// has `fail` set to `how`.
fn five_with_third_failing(how: &str) -> StreamBatch {
    let fail = format!(r#","fail":{{"S":"{how}"}}"#);
    batch(&[
        insert(1, "o-1", ""),
        insert(2, "o-2", ""),
        insert(3, "o-3", &fail),
        insert(4, "o-4", ""),
        insert(5, "o-5", ""),
    ])
}

#[tokio::test]
async fn a_failure_in_the_middle_reports_it_and_every_later_record_in_order() {
    for mode in [FifoFailureMode::SkipGroup, FifoFailureMode::StopBatch] {
        for (how, reason) in [
            ("retry", FailureReason::Retryable),
            // Even with a DLQ configured: a stream's failures go to its mapping's destination.
            ("permanent", FailureReason::Permanent),
        ] {
            let h = harness(BatchConfig {
                fifo_failure_mode: mode,
                dead_letter_queue_url: Some(DLQ.to_owned()),
                ..BatchConfig::default()
            });
            let step = Relay::default();
            let report = h
                .processor
                .process_stream(&five_with_third_failing(how), &context(), &step)
                .await
                .unwrap();
            let case = format!("{mode:?}, {how}");
            assert_eq!(failed_ids(&report.response), ["3", "4", "5"], "{case}");
            assert_eq!(
                report.outcomes[..2],
                [RecordOutcome::Processed, RecordOutcome::Processed],
                "{case}"
            );
            assert!(
                matches!(report.outcomes[2], RecordOutcome::Failed { reason: r, .. } if r == reason),
                "{case}: {:?}",
                report.outcomes[2]
            );
            for later in &report.outcomes[3..] {
                assert!(
                    matches!(
                        later,
                        RecordOutcome::Failed {
                            reason: FailureReason::Skipped,
                            ..
                        }
                    ),
                    "{case}: {later:?}"
                );
            }
            assert_eq!(
                step.runs(),
                ["1", "2", "3"],
                "{case}: nothing runs after the failure"
            );
            assert_eq!(relayed(&h.queues), ["o-1:ACCEPTED", "o-2:ACCEPTED"], "{case}");
            assert!(h.queues.messages(DLQ).is_empty(), "{case}");
            assert!(h.queues.visibility_changes().is_empty(), "{case}: no backoff");
            assert_eq!(h.store.completed(), 2, "{case}");
            let m = &h.metrics.published()[0];
            assert_eq!((m.processed, m.failed, m.sent_to_dlq), (2, 3, 0), "{case}");
        }
    }
}

#[tokio::test]
async fn a_retried_batch_skips_what_succeeded_and_runs_the_rest() {
    let h = harness(BatchConfig::default());
    let step = Relay::default();
    let event = five_with_third_failing("once");
    let first = h
        .processor
        .handle_stream(&event, &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&first), ["3", "4", "5"]);

    let again = h
        .processor
        .process_stream(&event, &context(), &step)
        .await
        .unwrap();
    assert!(again.response.batch_item_failures.is_empty());
    assert_eq!(
        again.outcomes[..2],
        [RecordOutcome::Duplicate, RecordOutcome::Duplicate]
    );
    assert_eq!(again.outcomes[2..], [const { RecordOutcome::Processed }; 3]);
    assert_eq!(step.runs(), ["1", "2", "3", "3", "4", "5"]);
    let relayed = relayed(&h.queues);
    assert_eq!(
        relayed,
        ["o-1", "o-2", "o-3", "o-4", "o-5"].map(|o| format!("{o}:ACCEPTED"))
    );
    assert_eq!(h.metrics.published()[1].duplicates_skipped, 2);

    let third = h
        .processor
        .process_stream(&event, &context(), &step)
        .await
        .unwrap();
    assert_eq!(third.outcomes, [const { RecordOutcome::Duplicate }; 5]);
    assert_eq!(step.runs().len(), 6, "a batch that succeeded runs nothing again");
    assert_eq!(h.queues.messages(OUT).len(), 5);
}

#[tokio::test(start_paused = true)]
async fn an_all_good_batch_answers_no_failures() {
    let h = harness(BatchConfig::default());
    let step = Relay::default();
    // The first change takes longest: run concurrently, it would end last.
    let slow = r#","sleep_ms":{"N":"50"}"#;
    let event = batch(
        &(1..=4)
            .map(|i| insert(i, &format!("o-{i}"), if i == 1 { slow } else { "" }))
            .collect::<Vec<_>>(),
    );
    let response = h
        .processor
        .handle_stream(&event, &context(), &step)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        r#"{"batchItemFailures":[]}"#
    );
    assert_eq!(step.runs(), ["1", "2", "3", "4"], "in shard order");
    assert_eq!(relayed(&h.queues).len(), 4);
}

#[tokio::test]
async fn removals_and_modifications_are_decoded_and_a_step_may_ignore_them() {
    let h = harness(BatchConfig::default());
    let step = Relay::default();
    let event = StreamBatch::from_json(include_str!("events/dynamodb-stream.json")).unwrap();
    let names: Vec<StreamEventName> = event.records.iter().map(|r| r.event_name()).collect();
    assert_eq!(
        names,
        [
            StreamEventName::Insert,
            StreamEventName::Modify,
            StreamEventName::Remove
        ]
    );
    assert_eq!(event.records[2].keys(), Some(r#"{ "orderId": { "S": "o-0" } }"#));
    assert_eq!(event.records[2].new_image(), None);
    assert_eq!(
        event.records[1].event_id(),
        Some("c81e728d9d4c2f636f067f89cc14862c")
    );
    let report = h
        .processor
        .process_stream(&event, &context(), &step)
        .await
        .unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(report.outcomes, [const { RecordOutcome::Processed }; 3]);
    assert_eq!(step.runs().len(), 3, "the removal ran and relayed nothing");
    assert_eq!(relayed(&h.queues), ["o-1:ACCEPTED", "o-1:RESERVED"]);
}

#[tokio::test]
async fn an_undecodable_change_stops_the_shard_at_it() {
    let h = harness(BatchConfig::default());
    let step = Relay::default();
    let event = batch(&[
        insert(1, "o-1", ""),
        change(2, "MODIFY", "o-2", ""), // no version or status
        insert(3, "o-3", ""),
    ]);
    let report = h
        .processor
        .process_stream(&event, &context(), &step)
        .await
        .unwrap();
    assert_eq!(failed_ids(&report.response), ["2", "3"]);
    assert_eq!(
        report.outcomes[1],
        RecordOutcome::Failed {
            reason: FailureReason::Permanent,
            code: "InvalidJson"
        }
    );
    assert_eq!(step.runs(), ["1"]);
}

#[test]
fn a_malformed_event_is_a_clear_error() {
    for (event, says) in [
        ("{\"Records\": [", "EOF while parsing"),
        (r#"{"Records":{}}"#, "invalid type: map, expected a sequence"),
        (
            r#"{"Records":[{"eventID":"e-1","dynamodb":{"SequenceNumber":"1"}}]}"#,
            "stream record 0 has no eventName",
        ),
    ] {
        let error = StreamBatch::from_json(event).unwrap_err().to_string();
        assert!(error.contains(says), "{event}: {error}");
        assert!(!error.contains("e-1"), "an event's value in its error: {error}");
    }
}

#[tokio::test]
async fn a_decoded_record_without_a_sequence_number_fails_the_invocation_by_its_index() {
    let h = harness(BatchConfig::default());
    let step = Relay::default();
    let event = StreamBatch::from_json(
        r#"{"Records":[{"eventName":"INSERT","dynamodb":{"SequenceNumber":"1"}},{"eventID":"e-2","eventName":"INSERT","dynamodb":{"Keys":{}}}]}"#,
    )
    .unwrap();
    let error = h
        .processor
        .process_stream(&event, &context(), &step)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BatchError::MissingMessageId { index: 1 }),
        "{error:?}"
    );
    assert!(step.runs().is_empty(), "nothing runs");
}

/// A record of another shape than the decoded event's, with an empty sequence number.
#[derive(Debug)]
struct Unnamed;

impl StreamRecord for Unnamed {
    fn sequence_number(&self) -> &str {
        ""
    }
    fn event_id(&self) -> Option<&str> {
        None
    }
    fn event_name(&self) -> StreamEventName {
        StreamEventName::Insert
    }
    fn keys(&self) -> Option<&str> {
        None
    }
    fn new_image(&self) -> Option<&str> {
        None
    }
    fn event_source_arn(&self) -> Option<&str> {
        None
    }
}

#[tokio::test]
async fn a_record_without_a_sequence_number_fails_the_invocation_before_anything_runs() {
    let h = harness(BatchConfig::default());
    let step = Relay::default();
    let error = h
        .processor
        .process_records(&StreamSource::new(), &[Unnamed], &context(), &step)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BatchError::MissingMessageId { index: 0 }),
        "{error}"
    );
    assert!(step.runs().is_empty());
}
