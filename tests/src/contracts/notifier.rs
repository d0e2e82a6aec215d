//! What every [`Notifier`] must do: deliver each customer message once, with
//! its recipient, order, template, subject, text and correlation ID; and, for
//! a notifier that deduplicates (the embedded one, an SNS FIFO topic),
//! deliver a message sent again under the same deduplication ID once.
//!
//! What was delivered is read back through a [`NotificationReader`]: the
//! embedded notifier's record, or an SQS queue subscribed to the SNS topic.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use orderflow_aws::sqs::SqsQueues;
use orderflow_embedded::InMemoryNotifier;
use orderflow_orders::ports::{CustomerNotification, Notifier, Template};

use crate::contracts::queue::read_through;
use crate::{create_queue, unique};

/// A customer message as it was delivered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Delivered {
    /// The order it is about.
    pub order_id: String,
    /// The recipient.
    pub customer_id: String,
    /// The template's name.
    pub template: String,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
    /// The order's correlation ID.
    pub correlation_id: String,
}

impl Delivered {
    /// What `notification` should be delivered as.
    pub fn of(notification: &CustomerNotification) -> Delivered {
        Delivered {
            order_id: notification.order_id.clone(),
            customer_id: notification.customer_id.clone(),
            template: notification.template.name().to_owned(),
            subject: notification.subject.clone(),
            body: notification.body.clone(),
            correlation_id: notification.correlation_id.clone(),
        }
    }
}

/// Reads back what a notifier delivered, by the adapter's own means.
#[async_trait]
pub trait NotificationReader: Send + Sync {
    /// Takes what was delivered since the last read: waits until `expected`
    /// messages are there (or a deadline passes), then a moment more for any
    /// beyond them.
    async fn read(&self, expected: usize) -> Vec<Delivered>;
}

/// The embedded notifier's record of what it delivered.
#[derive(Debug)]
pub struct EmbeddedReader<'a> {
    notifier: &'a InMemoryNotifier,
    read: Mutex<usize>,
}

impl<'a> EmbeddedReader<'a> {
    /// Reads what `notifier` delivered.
    pub fn new(notifier: &'a InMemoryNotifier) -> Self {
        EmbeddedReader {
            notifier,
            read: Mutex::new(0),
        }
    }
}

#[async_trait]
impl NotificationReader for EmbeddedReader<'_> {
    async fn read(&self, _expected: usize) -> Vec<Delivered> {
        let sent = self.notifier.sent();
        let mut read = self.read.lock().unwrap();
        let from = std::mem::replace(&mut *read, sent.len());
        sent[from..].iter().map(Delivered::of).collect()
    }
}

/// An SNS topic and an SQS queue subscribed to it, which reads what the
/// topic delivered from the notifications SNS wraps its messages in.
#[derive(Clone, Debug)]
pub struct SnsReader {
    /// The topic's ARN.
    pub topic_arn: String,
    queues: SqsQueues,
    queue_url: String,
}

impl SnsReader {
    /// Creates a topic (FIFO when `fifo`) and a queue of the same kind subscribed to it.
    pub async fn create(sns: &aws_sdk_sns::Client, queues: SqsQueues, fifo: bool) -> SnsReader {
        let suffix = if fifo { ".fifo" } else { "" };
        let mut topic = sns
            .create_topic()
            .name(format!("{}{suffix}", unique("contract-notifications")));
        let mut queue_attributes = Vec::new();
        if fifo {
            topic = topic.attributes("FifoTopic", "true");
            queue_attributes.push((QueueAttributeName::FifoQueue, "true".to_owned()));
        }
        let topic_arn = topic
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("a topic ARN");
        let queue = create_queue(
            queues.client(),
            &format!("{}{suffix}", unique("contract-subscriber")),
            &queue_attributes,
        )
        .await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .send()
            .await
            .expect("Subscribe");
        SnsReader {
            topic_arn,
            queues,
            queue_url: queue.url,
        }
    }
}

/// A delivered message from the notification SNS wraps it in.
fn unwrap_notification(envelope: &str) -> Delivered {
    let envelope: serde_json::Value =
        serde_json::from_str(envelope).unwrap_or_else(|e| panic!("an SNS notification: {e}: {envelope}"));
    let text = |field: &str| {
        envelope[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {envelope}"))
            .to_owned()
    };
    let attributes: BTreeMap<String, String> = envelope["MessageAttributes"]
        .as_object()
        .map(|attributes| {
            attributes
                .iter()
                .filter_map(|(name, a)| Some((name.clone(), a["Value"].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let attribute = |name: &str| {
        attributes
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("attribute {name} in {envelope}"))
    };
    Delivered {
        order_id: attribute("orderId"),
        customer_id: attribute("customerId"),
        template: attribute("template"),
        subject: text("Subject"),
        body: text("Message"),
        correlation_id: attribute("correlationId"),
    }
}

#[async_trait]
impl NotificationReader for SnsReader {
    async fn read(&self, expected: usize) -> Vec<Delivered> {
        read_through(&self.queues, &self.queue_url, expected)
            .await
            .iter()
            .map(|received| unwrap_notification(&received.body))
            .collect()
    }
}

fn notification(order_id: &str, customer_id: &str, template: Template) -> CustomerNotification {
    let (subject, body) = match template {
        Template::ShipmentConfirmation => (
            format!("Your order {order_id} has shipped"),
            format!(
                "Bonjour Zo\u{eb},\nyour order {order_id} is on its way \u{2014} tracking \"1Z-{order_id}\"."
            ),
        ),
        Template::OrderRejected => (
            format!("We could not fill your order {order_id}"),
            format!("Sorry: SKU-1 is short for {order_id} (asked 3, 1 left)."),
        ),
    };
    CustomerNotification {
        order_id: order_id.to_owned(),
        customer_id: customer_id.to_owned(),
        template,
        subject,
        body,
        correlation_id: format!("corr-{order_id}"),
        deduplication_id: format!("notification#{order_id}#{}", template.name()),
    }
}

fn sorted(mut delivered: Vec<Delivered>) -> Vec<Delivered> {
    delivered.sort();
    delivered
}

async fn notify(notifier: &dyn Notifier, notification: &CustomerNotification) {
    notifier
        .notify(notification)
        .await
        .unwrap_or_else(|e| panic!("notifying about {}: {e}", notification.order_id));
}

/// Runs the rules every notifier keeps against `notifier`, read back through `reader`.
pub async fn check(notifier: &dyn Notifier, reader: &dyn NotificationReader) {
    let order = unique("ord");
    let other = unique("ord");
    let sent = [
        notification(&order, "cust-1", Template::ShipmentConfirmation),
        notification(&other, "cust-2", Template::OrderRejected),
        notification(&order, "cust-1", Template::OrderRejected),
    ];
    for n in &sent {
        notify(notifier, n).await;
    }
    assert_eq!(
        sorted(reader.read(sent.len()).await),
        sorted(sent.iter().map(Delivered::of).collect()),
        "each message once, to its customer, with every field as sent"
    );
}

/// Runs the rules of a notifier that deduplicates against `notifier`.
pub async fn check_deduplication(notifier: &dyn Notifier, reader: &dyn NotificationReader) {
    let order = unique("ord");
    let first = notification(&order, "cust-3", Template::ShipmentConfirmation);
    notify(notifier, &first).await;
    // The step ran again after a crash: the same message, the same ID.
    notify(notifier, &first).await;
    let mut reworded = first.clone();
    reworded.body.push_str(" (again)");
    notify(notifier, &reworded).await;
    let next = notification(&order, "cust-3", Template::OrderRejected);
    notify(notifier, &next).await;
    assert_eq!(
        sorted(reader.read(2).await),
        sorted(vec![Delivered::of(&first), Delivered::of(&next)]),
        "once per deduplication ID, whatever a resend says"
    );
}
