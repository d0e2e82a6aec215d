//! What every [`MessageQueue`] must do when it sends: every message of a
//! batch arrives once with its body and attributes, and what a queue does not
//! take is given back, each message with its index and why.
//!
//! - [`check`]: every queue, the recording one included.
//! - [`check_as_sqs`]: queues that stand for SQS (the embedded broker, SQS
//!   itself): they refuse what SQS refuses (alone, for one bad entry), honour
//!   delays, keep FIFO order and deduplication, and change visibility.
//!
//! What arrived is read back through a [`QueueHarness`]: for a queue with a
//! consumer, that consumer's receive and delete ([`read_through`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::SqsMessage;
use aws_sdk_sqs::types::QueueAttributeName;
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::PortErrorKind;
use orderflow_batch::ports::{MessageQueue, OutgoingMessage, QueueConsumer, Undelivered, VisibilityChange};
use orderflow_embedded::InMemoryQueues;
use orderflow_embedded::broker::{Broker, QueueSettings};
use tokio::time::Instant;

use crate::unique;

/// A message as it arrived: its body and string attributes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Received {
    /// The body.
    pub body: String,
    /// The string message attributes, by name.
    pub attributes: BTreeMap<String, String>,
}

impl Received {
    /// What `message` should arrive as.
    pub fn of(message: &OutgoingMessage) -> Received {
        Received {
            body: message.body.clone(),
            attributes: message
                .attributes
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A record as a consumer (or Lambda) sees it.
    pub fn of_record(record: &SqsMessage) -> Received {
        Received {
            body: record.body.clone().unwrap_or_default(),
            attributes: record
                .message_attributes
                .iter()
                .filter_map(|(n, a)| a.string_value.clone().map(|v| (n.clone(), v)))
                .collect(),
        }
    }
}

/// What the suite needs beside the port: queues to send to, and what arrived on them.
#[async_trait]
pub trait QueueHarness: Send + Sync {
    /// Creates an empty queue (FIFO, without content-based deduplication,
    /// when `name` ends in `.fifo`) and returns its URL.
    async fn create_queue(&self, name: &str) -> String;
    /// Takes what arrived on `url` since the last read: waits until
    /// `expected` messages are there (or a deadline passes), then a moment
    /// more for any beyond them, and returns all of them in the order read.
    async fn read(&self, url: &str, expected: usize) -> Vec<Received>;
}

/// How long a read waits for the messages it expects.
const READ_DEADLINE: Duration = Duration::from_secs(20);

/// Reads `url` through `consumer` as a consumer would: receives, deletes what
/// it received (asserting every delete succeeded), until `expected` arrived,
/// then one more receive of a second for any beyond them.
pub async fn read_through(consumer: &dyn QueueConsumer, url: &str, expected: usize) -> Vec<Received> {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut read = Vec::new();
    loop {
        let enough = read.len() >= expected;
        if !enough && Instant::now() >= deadline {
            break;
        }
        let records = consumer
            .receive(url, 10, Duration::from_secs(1), None)
            .await
            .unwrap_or_else(|e| panic!("receiving from {url}: {e}"));
        if !records.is_empty() {
            let handles: Vec<&str> = records
                .iter()
                .filter_map(|r| r.receipt_handle.as_deref())
                .collect();
            assert_eq!(handles.len(), records.len(), "every record has a receipt handle");
            let deleted = consumer.delete_batch(url, &handles).await.expect("deleting");
            assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
            read.extend(records.iter().map(Received::of_record));
        }
        if enough {
            break;
        }
    }
    read
}

/// The embedded broker, read through its own consumer side.
#[derive(Clone, Debug, Default)]
pub struct BrokerHarness(pub Broker);

#[async_trait]
impl QueueHarness for BrokerHarness {
    async fn create_queue(&self, name: &str) -> String {
        self.0.create_queue(QueueSettings::new(name))
    }

    async fn read(&self, url: &str, expected: usize) -> Vec<Received> {
        read_through(&self.0, url, expected).await
    }
}

/// SQS through the SQS adapter's consumer side.
#[derive(Clone, Debug)]
pub struct SqsHarness(pub SqsQueues);

#[async_trait]
impl QueueHarness for SqsHarness {
    async fn create_queue(&self, name: &str) -> String {
        let attributes: &[(QueueAttributeName, String)] = if name.ends_with(".fifo") {
            &[(QueueAttributeName::FifoQueue, "true".to_owned())]
        } else {
            &[]
        };
        crate::create_queue(self.0.client(), name, attributes).await.url
    }

    async fn read(&self, url: &str, expected: usize) -> Vec<Received> {
        read_through(&self.0, url, expected).await
    }
}

/// The recording queues: what each queue kept, past what was read before.
#[derive(Debug)]
pub struct RecordingHarness<'a> {
    queues: &'a InMemoryQueues,
    read: Mutex<HashMap<String, usize>>,
}

impl<'a> RecordingHarness<'a> {
    /// Reads what `queues` kept.
    pub fn new(queues: &'a InMemoryQueues) -> Self {
        RecordingHarness {
            queues,
            read: Mutex::default(),
        }
    }
}

#[async_trait]
impl QueueHarness for RecordingHarness<'_> {
    async fn create_queue(&self, name: &str) -> String {
        format!("https://sqs.us-east-1.amazonaws.com/000000000000/{name}")
    }

    async fn read(&self, url: &str, _expected: usize) -> Vec<Received> {
        let kept = self.queues.messages(url);
        let mut read = self.read.lock().unwrap();
        let from = read.insert(url.to_owned(), kept.len()).unwrap_or(0);
        kept[from..].iter().map(Received::of).collect()
    }
}

fn sorted(mut received: Vec<Received>) -> Vec<Received> {
    received.sort();
    received
}

/// Sends, asserting every message was delivered.
async fn send_all(queue: &dyn MessageQueue, url: &str, messages: &[OutgoingMessage]) {
    let undelivered = queue.send_batch(url, messages.to_vec()).await;
    assert!(undelivered.is_empty(), "to {url}: {undelivered:?}");
}

/// A batch of the most SQS takes in one call, with what bodies and
/// attributes may hold: JSON, quotes, new lines, non-ASCII text, owned and
/// constant attributes, and a message without any.
fn full_batch(tag: &str) -> Vec<OutgoingMessage> {
    (0..10)
        .map(|i| {
            let body =
                format!("{{\"n\":{i},\"tag\":\"{tag}\",\"note\":\"caf\u{e9} \u{2713}\\n\\\"quoted\\\"\"}}\n");
            let message = OutgoingMessage::new(body);
            if i == 9 {
                return message;
            }
            message
                .with_attribute("EventType", "INVENTORY_RESERVED")
                .with_attribute("CorrelationId", format!("corr-{tag}-{i}"))
                .with_attribute("Note", format!("n\u{f8}te {i}"))
        })
        .collect()
}

/// Runs the rules every queue keeps against `queue`, read back through `harness`.
pub async fn check(queue: &dyn MessageQueue, harness: &dyn QueueHarness) {
    a_full_batch_arrives_once_with_bodies_and_attributes(queue, harness).await;
    each_queue_gets_only_what_was_sent_to_it(queue, harness).await;
}

async fn a_full_batch_arrives_once_with_bodies_and_attributes(
    queue: &dyn MessageQueue,
    harness: &dyn QueueHarness,
) {
    let url = harness.create_queue(&unique("contract-batch")).await;
    let batch = full_batch("full");
    send_all(queue, &url, &batch).await;
    let expected = sorted(batch.iter().map(Received::of).collect());
    assert_eq!(
        sorted(harness.read(&url, batch.len()).await),
        expected,
        "each message once, body and attributes as sent (none for the one sent without)"
    );
}

async fn each_queue_gets_only_what_was_sent_to_it(queue: &dyn MessageQueue, harness: &dyn QueueHarness) {
    let (left, right) = (
        harness.create_queue(&unique("contract-left")).await,
        harness.create_queue(&unique("contract-right")).await,
    );
    let (to_left, to_right) = (full_batch("left"), full_batch("right"));
    send_all(queue, &left, &to_left[..3]).await;
    send_all(queue, &right, &to_right[..2]).await;
    send_all(queue, &left, &to_left[3..4]).await;
    assert_eq!(
        sorted(harness.read(&left, 4).await),
        sorted(to_left[..4].iter().map(Received::of).collect())
    );
    assert_eq!(
        sorted(harness.read(&right, 2).await),
        sorted(to_right[..2].iter().map(Received::of).collect())
    );
}

/// Runs the rules of a queue that stands for SQS against `queue`: refusals
/// (`missing_queue_url` names a queue that does not exist), delays, FIFO
/// queues, and visibility changes of messages received through `consumer`.
pub async fn check_as_sqs(
    queue: &dyn MessageQueue,
    consumer: &dyn QueueConsumer,
    harness: &dyn QueueHarness,
    missing_queue_url: &str,
) {
    one_refused_entry_is_given_back_alone(queue, harness).await;
    a_batch_to_a_missing_queue_is_given_back_whole(queue, missing_queue_url).await;
    more_than_ten_entries_are_refused_whole(queue, harness).await;
    a_delayed_message_arrives_after_its_delay(queue, harness).await;
    a_fifo_queue_keeps_order_and_drops_a_resent_message(queue, harness).await;
    a_visibility_change_shows_a_received_message_again(queue, consumer, harness).await;
}

fn assert_given_back(
    undelivered: &[Undelivered],
    sent: &[OutgoingMessage],
    indices: &[usize],
    kind: PortErrorKind,
) {
    let given_back: Vec<usize> = undelivered.iter().map(|u| u.index).collect();
    assert_eq!(given_back, indices, "{undelivered:?}");
    for u in undelivered {
        assert_eq!(u.message, sent[u.index], "given back as it was sent");
        assert_eq!(u.error.kind, kind, "{}", u.error);
        assert!(!u.error.retryable(), "sending it again cannot help: {}", u.error);
    }
}

async fn one_refused_entry_is_given_back_alone(queue: &dyn MessageQueue, harness: &dyn QueueHarness) {
    let url = harness.create_queue(&unique("contract-refused")).await;
    let mut batch = full_batch("refused");
    batch.truncate(3);
    // Over SQS's 15-minute limit: that entry alone is refused.
    batch[1].delay_seconds = Some(901);
    let undelivered = queue.send_batch(&url, batch.clone()).await;
    assert_given_back(&undelivered, &batch, &[1], PortErrorKind::Rejected);
    assert_eq!(
        sorted(harness.read(&url, 2).await),
        sorted(vec![Received::of(&batch[0]), Received::of(&batch[2])]),
        "the others arrive, the refused one never"
    );
}

async fn a_batch_to_a_missing_queue_is_given_back_whole(queue: &dyn MessageQueue, missing_queue_url: &str) {
    let mut batch = full_batch("missing");
    batch.truncate(2);
    let undelivered = queue.send_batch(missing_queue_url, batch.clone()).await;
    assert_given_back(&undelivered, &batch, &[0, 1], PortErrorKind::NotFound);
}

async fn more_than_ten_entries_are_refused_whole(queue: &dyn MessageQueue, harness: &dyn QueueHarness) {
    let url = harness.create_queue(&unique("contract-eleven")).await;
    let mut batch = full_batch("eleven");
    batch.push(OutgoingMessage::new("the eleventh"));
    let undelivered = queue.send_batch(&url, batch.clone()).await;
    assert_given_back(
        &undelivered,
        &batch,
        &(0..11).collect::<Vec<_>>(),
        PortErrorKind::Rejected,
    );
    assert_eq!(harness.read(&url, 0).await, [], "none of them arrives");
}

async fn a_delayed_message_arrives_after_its_delay(queue: &dyn MessageQueue, harness: &dyn QueueHarness) {
    let url = harness.create_queue(&unique("contract-delay")).await;
    let mut delayed = OutgoingMessage::new("later").with_attribute("EventType", "DELAYED");
    delayed.delay_seconds = Some(3);
    let now = OutgoingMessage::new("now");
    let sent = Instant::now();
    send_all(queue, &url, &[delayed.clone(), now.clone()]).await;
    assert_eq!(
        harness.read(&url, 1).await,
        [Received::of(&now)],
        "only the undelayed one at first"
    );
    assert!(sent.elapsed() < Duration::from_secs(3), "read too slowly to tell");
    assert_eq!(harness.read(&url, 1).await, [Received::of(&delayed)]);
    assert!(
        sent.elapsed() >= Duration::from_secs(3),
        "visible after {:?}, before its delay",
        sent.elapsed()
    );
}

fn fifo(body: &str, group: &str, deduplication_id: &str) -> OutgoingMessage {
    let mut message = OutgoingMessage::new(body).with_attribute("EventType", "ORDER_CREATED");
    message.group_id = Some(group.to_owned());
    message.deduplication_id = Some(deduplication_id.to_owned());
    message
}

async fn a_fifo_queue_keeps_order_and_drops_a_resent_message(
    queue: &dyn MessageQueue,
    harness: &dyn QueueHarness,
) {
    let url = harness
        .create_queue(&format!("{}.fifo", unique("contract-fifo")))
        .await;
    let first: Vec<OutgoingMessage> = (0..5)
        .map(|i| fifo(&format!("order step {i}"), "ord-1", &format!("ord-1-{i}")))
        .collect();
    send_all(queue, &url, &first).await;
    // A producer's retry (same deduplication ID, even with another body) is
    // accepted and dropped; a new ID is a new message.
    let again = [
        fifo("order step 2, sent again", "ord-1", "ord-1-2"),
        fifo("order step 5", "ord-1", "ord-1-5"),
    ];
    send_all(queue, &url, &again).await;
    let mut expected: Vec<Received> = first.iter().map(Received::of).collect();
    expected.push(Received::of(&again[1]));
    assert_eq!(
        harness.read(&url, expected.len()).await,
        expected,
        "the group's messages in the order sent, the resent one once"
    );

    // A message without a group is refused (SQS may refuse the whole call
    // for it): whatever is given back never arrives, the rest does.
    let mut no_group = OutgoingMessage::new("no group");
    no_group.deduplication_id = Some("no-group".into());
    let batch = vec![fifo("grouped", "ord-2", "ord-2-0"), no_group];
    let undelivered = queue.send_batch(&url, batch.clone()).await;
    assert!(undelivered.iter().any(|u| u.index == 1), "{undelivered:?}");
    let given_back: Vec<usize> = undelivered.iter().map(|u| u.index).collect();
    assert_given_back(&undelivered, &batch, &given_back, PortErrorKind::Rejected);
    let delivered: Vec<Received> = (0..batch.len())
        .filter(|i| !given_back.contains(i))
        .map(|i| Received::of(&batch[i]))
        .collect();
    assert_eq!(harness.read(&url, delivered.len()).await, delivered);
}

async fn a_visibility_change_shows_a_received_message_again(
    queue: &dyn MessageQueue,
    consumer: &dyn QueueConsumer,
    harness: &dyn QueueHarness,
) {
    let url = harness.create_queue(&unique("contract-visibility")).await;
    send_all(queue, &url, &[OutgoingMessage::new("seen twice")]).await;
    let receive = |wait| consumer.receive(&url, 10, Duration::from_secs(wait), Some(Duration::from_secs(60)));
    let first = receive(5).await.unwrap();
    assert_eq!(first.len(), 1);
    let count = |r: &SqsMessage| r.attributes.get("ApproximateReceiveCount").cloned();
    assert_eq!(count(&first[0]).as_deref(), Some("1"));
    assert!(receive(0).await.unwrap().is_empty(), "hidden once received");

    let change = |receipt_handle: &str| VisibilityChange {
        receipt_handle: receipt_handle.to_owned(),
        timeout_seconds: 0,
    };
    let handle = first[0].receipt_handle.clone().unwrap();
    let results = queue
        .change_visibility_batch(&url, &[change(&handle)])
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].is_ok(), "{results:?}");
    let again = receive(5).await.unwrap();
    assert_eq!(again.len(), 1, "visible again at once");
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(count(&again[0]).as_deref(), Some("2"));

    let refused = match queue
        .change_visibility_batch(&url, &[change("not-a-receipt-handle")])
        .await
    {
        Ok(mut entries) => {
            assert_eq!(entries.len(), 1);
            entries.remove(0).unwrap_err()
        }
        Err(call) => call,
    };
    assert_eq!(refused.kind, PortErrorKind::Rejected, "{refused}");
    assert!(!refused.retryable());
    let handle = again[0].receipt_handle.as_deref().unwrap();
    let deleted = consumer.delete_batch(&url, &[handle]).await.unwrap();
    assert!(deleted[0].is_ok(), "{deleted:?}");
    assert_eq!(harness.read(&url, 0).await, [], "deleted for good");
}
