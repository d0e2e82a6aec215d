//! The broker behind the functions' ports: [`MessageQueue`] to send and
//! change visibility, [`QueueConsumer`] to receive and delete, in batches as
//! SQS's batch APIs take them.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::{
    EntryResults, MessageQueue, OutgoingMessage, QueueConsumer, Undelivered, VisibilityChange,
};

use super::errors::rejected;
use super::registry::Broker;

#[async_trait]
impl MessageQueue for Broker {
    async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        const OP: &str = "SendMessageBatch";
        if messages.len() > 10 {
            let error = rejected(OP, "TooManyEntriesInBatchRequest: at most 10 entries");
            return Undelivered::all(messages, &error);
        }
        if let Err(error) = self.queue(OP, queue_url) {
            return Undelivered::all(messages, &error);
        }
        messages
            .into_iter()
            .enumerate()
            .filter_map(|(index, message)| match self.send(queue_url, &message) {
                Ok(_) => None,
                Err(error) => Some(Undelivered {
                    index,
                    message,
                    error,
                }),
            })
            .collect()
    }

    async fn change_visibility_batch(
        &self,
        queue_url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        self.queue("ChangeMessageVisibilityBatch", queue_url)?;
        Ok(changes
            .iter()
            .map(|c| {
                self.change_visibility(
                    queue_url,
                    &c.receipt_handle,
                    Duration::from_secs(u64::from(c.timeout_seconds)),
                )
            })
            .collect())
    }
}

#[async_trait]
impl QueueConsumer for Broker {
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        self.receive_messages(queue_url, max, wait, visibility_timeout)
            .await
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<EntryResults, PortError> {
        self.queue("DeleteMessageBatch", queue_url)?;
        Ok(receipt_handles
            .iter()
            .map(|h| self.delete(queue_url, h))
            .collect())
    }
}
