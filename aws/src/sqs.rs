//! [`MessageQueue`] on Amazon SQS: `SendMessageBatch` and `ChangeMessageVisibilityBatch`,
//! plus the single `SendMessage` and the queue ARN lookup producers need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry,
};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::ports::{
    EntryResults, MessageQueue, OutgoingMessage, QueueConsumer, Undelivered, VisibilityChange,
};
use orderflow_batch::queue_url::is_fifo;

use crate::error::{batch_entry_error, classify};

/// SQS queues through one SDK client.
#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: Client,
    /// Queue ARNs by URL, looked up once (received records carry them).
    arns: Arc<Mutex<HashMap<String, String>>>,
}

impl SqsQueues {
    /// Queues reached through `client`.
    pub fn new(client: Client) -> Self {
        SqsQueues {
            client,
            arns: Arc::default(),
        }
    }

    /// The queue's ARN, from the cache or `GetQueueAttributes`.
    async fn cached_arn(&self, queue_url: &str) -> Result<String, PortError> {
        if let Some(arn) = self.arns.lock().ok().and_then(|a| a.get(queue_url).cloned()) {
            return Ok(arn);
        }
        let arn = self.queue_arn(queue_url).await?;
        if let Ok(mut arns) = self.arns.lock() {
            arns.insert(queue_url.to_owned(), arn.clone());
        }
        Ok(arn)
    }

    /// The SDK client, for receiving and deleting.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends one message with `SendMessage` (FIFO group and deduplication IDs
    /// on a `.fifo` queue). Retries are the SDK's: throttling and outages.
    pub async fn send_one(&self, queue_url: &str, message: &OutgoingMessage) -> Result<(), PortError> {
        const OP: &str = "SendMessage";
        let mut request = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(&message.body)
            .set_message_attributes(string_attributes(OP, message)?)
            .set_message_system_attributes(trace_attribute(OP, message)?)
            .set_delay_seconds(delay(message));
        if is_fifo(queue_url) {
            request = request
                .set_message_group_id(message.group_id.clone())
                .set_message_deduplication_id(message.deduplication_id.clone());
        }
        request.send().await.map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The queue's ARN (`GetQueueAttributes`), which the message-move task wants.
    pub async fn queue_arn(&self, queue_url: &str) -> Result<String, PortError> {
        const OP: &str = "GetQueueAttributes";
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| PortError::new(PortErrorKind::Other, OP, format!("no QueueArn for {queue_url}")))
    }

    /// The queue's default visibility timeout (`GetQueueAttributes`), which a
    /// long-running consumer's heartbeat extends in-flight messages to.
    pub async fn visibility_timeout(&self, queue_url: &str) -> Result<Duration, PortError> {
        const OP: &str = "GetQueueAttributes";
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let value = output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
            .ok_or_else(|| {
                PortError::new(
                    PortErrorKind::Other,
                    OP,
                    format!("no VisibilityTimeout for {queue_url}"),
                )
            })?;
        value.trim().parse().map(Duration::from_secs).map_err(|_| {
            PortError::new(
                PortErrorKind::Other,
                OP,
                format!("VisibilityTimeout {value:?} of {queue_url} is not a number of seconds"),
            )
        })
    }
}

fn invalid(operation: &'static str, e: impl std::fmt::Display) -> PortError {
    PortError::new(PortErrorKind::Rejected, operation, e.to_string())
}

/// The message's string attributes in the SDK's shape; `None` when it has none.
fn string_attributes(
    operation: &'static str,
    message: &OutgoingMessage,
) -> Result<Option<HashMap<String, MessageAttributeValue>>, PortError> {
    let mut attributes = HashMap::with_capacity(message.attributes.len());
    for (name, value) in &message.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value.as_ref())
            .build()
            .map_err(|e| invalid(operation, e))?;
        attributes.insert(name.to_string(), value);
    }
    Ok((!attributes.is_empty()).then_some(attributes))
}

/// The message's trace header as the `AWSTraceHeader` system attribute.
fn trace_attribute(
    operation: &'static str,
    message: &OutgoingMessage,
) -> Result<Option<HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>>, PortError> {
    let Some(trace) = &message.trace_header else {
        return Ok(None);
    };
    let value = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(trace)
        .build()
        .map_err(|e| invalid(operation, e))?;
    Ok(Some(HashMap::from([(
        MessageSystemAttributeNameForSends::AwsTraceHeader,
        value,
    )])))
}

fn delay(message: &OutgoingMessage) -> Option<i32> {
    message
        .delay_seconds
        .map(|d| i32::try_from(d).unwrap_or(i32::MAX))
}

/// One SQS batch entry per message; IDs are the entry's index.
fn send_entry(
    index: usize,
    message: &OutgoingMessage,
    fifo: bool,
) -> Result<SendMessageBatchRequestEntry, PortError> {
    const OP: &str = "SendMessageBatch";
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(&message.body)
        .set_message_attributes(string_attributes(OP, message)?)
        .set_message_system_attributes(trace_attribute(OP, message)?)
        .set_delay_seconds(delay(message));
    if fifo {
        entry = entry
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.deduplication_id.clone());
    }
    entry.build().map_err(|e| invalid(OP, e))
}

/// Per-entry results from a batch call's `Successful` and `Failed` lists.
fn entry_results(operation: &'static str, n: usize, failed: &[BatchResultErrorEntry]) -> EntryResults {
    let mut results: EntryResults = vec![Ok(()); n];
    for f in failed {
        if let Some(i) = f.id().parse::<usize>().ok().filter(|&i| i < n) {
            results[i] = Err(batch_entry_error(
                operation,
                f.code(),
                f.sender_fault(),
                f.message(),
            ));
        }
    }
    results
}

#[async_trait]
impl MessageQueue for SqsQueues {
    async fn send_batch(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        const OP: &str = "SendMessageBatch";
        let fifo = is_fifo(queue_url);
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| send_entry(i, m, fifo))
            .collect::<Result<Vec<_>, _>>();
        let entries = match entries {
            Ok(entries) => entries,
            Err(e) => return Undelivered::all(messages, &e),
        };
        let output = self
            .client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match output {
            Ok(output) => {
                let results = entry_results(OP, messages.len(), output.failed());
                messages
                    .into_iter()
                    .zip(results)
                    .enumerate()
                    .filter_map(|(index, (message, result))| {
                        result.err().map(|error| Undelivered {
                            index,
                            message,
                            error,
                        })
                    })
                    .collect()
            }
            Err(e) => Undelivered::all(messages, &classify(OP, e)),
        }
    }

    async fn change_visibility_batch(
        &self,
        queue_url: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        const OP: &str = "ChangeMessageVisibilityBatch";
        let entries = changes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&c.receipt_handle)
                    .visibility_timeout(i32::try_from(c.timeout_seconds).unwrap_or(i32::MAX))
                    .build()
                    .map_err(|e| invalid(OP, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(entry_results(OP, changes.len(), output.failed()))
    }
}

#[async_trait]
impl QueueConsumer for SqsQueues {
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        const OP: &str = "ReceiveMessage";
        let arn = self.cached_arn(queue_url).await?;
        let output = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .set_visibility_timeout(
                visibility_timeout.map(|v| i32::try_from(v.as_secs()).unwrap_or(i32::MAX)),
            )
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let region = self
            .client
            .config()
            .region()
            .map_or("us-east-1", |r| r.as_ref())
            .to_owned();
        Ok(output
            .messages()
            .iter()
            .map(|m| lambda_record(m, &arn, &region))
            .collect())
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<EntryResults, PortError> {
        const OP: &str = "DeleteMessageBatch";
        let mut results = Vec::with_capacity(receipt_handles.len());
        for chunk in receipt_handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .build()
                        .map_err(|e| invalid(OP, e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match output {
                Ok(out) => results.extend(entry_results(OP, chunk.len(), out.failed())),
                Err(e) => results.extend(std::iter::repeat_n(Err(classify(OP, e)), chunk.len())),
            }
        }
        Ok(results)
    }
}

fn base64_data(bytes: &[u8]) -> Base64Data {
    let mut data = Base64Data::default();
    data.extend_from_slice(bytes);
    data
}

/// The Lambda SQS record an event source mapping builds from a received
/// message (system attributes, message attributes, the queue's ARN).
pub fn lambda_record(message: &aws_sdk_sqs::types::Message, queue_arn: &str, region: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = message.body().map(str::to_owned);
    record.md5_of_body = message.md5_of_body().map(str::to_owned);
    record.md5_of_message_attributes = message.md5_of_message_attributes().map(str::to_owned);
    record.attributes = message
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    record.message_attributes = message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(name, value)| {
                    let mut a = SqsMessageAttribute::default();
                    a.string_value = value.string_value().map(str::to_owned);
                    a.binary_value = value.binary_value().map(|b| base64_data(b.as_ref()));
                    a.string_list_values = value.string_list_values().to_vec();
                    a.binary_list_values = value
                        .binary_list_values()
                        .iter()
                        .map(|b| base64_data(b.as_ref()))
                        .collect();
                    a.data_type = Some(value.data_type().to_owned());
                    (name.clone(), a)
                })
                .collect()
        })
        .unwrap_or_default();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(queue_arn.to_owned());
    record.aws_region = Some(region.to_owned());
    record
}
