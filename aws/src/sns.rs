//! [`Notifier`] on SNS: one `Publish` per customer message.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_orders::ports::{CustomerNotification, Notifier};

use crate::error::classify;

/// Publishes customer messages to an SNS topic (email/SMS subscriptions fan out).
#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// A notifier publishing to `topic_arn`.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::new(PortErrorKind::Rejected, "Publish", e.to_string()))
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn notify(&self, notification: &CustomerNotification) -> Result<(), PortError> {
        let fifo = self.topic_arn.ends_with(".fifo");
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            // A FIFO topic delivers a redelivered notification once.
            .set_message_group_id(fifo.then(|| notification.customer_id.clone()))
            .set_message_deduplication_id(fifo.then(|| notification.deduplication_id.clone()))
            .subject(&notification.subject)
            .message(&notification.body)
            .message_attributes("template", attribute(notification.template.name())?)
            .message_attributes("customerId", attribute(&notification.customer_id)?)
            .message_attributes("orderId", attribute(&notification.order_id)?)
            .message_attributes("correlationId", attribute(&notification.correlation_id)?)
            .send()
            .await
            .map_err(|e| classify("Publish", e))?;
        tracing::info!(order_id = %notification.order_id, template = notification.template.name(), "customer notified");
        Ok(())
    }
}
