//! Sending received messages to the target: batch calls within SQS's
//! limits, retryable failures resent.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, SendMessageBatchRequestEntry};
use orderflow_aws::error::{classify, failed_entries};
use orderflow_batch::error::PortError;
use orderflow_batch::publish::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, RetryPolicy};

use super::entry::{entry_size, redrive_entry};

/// Sends the messages to the target in batch calls within SQS's limits,
/// resending retryable failures alone; one result per message, in order.
pub(super) async fn send_all(
    client: &Client,
    target_url: &str,
    fifo_target: bool,
    messages: &[(String, String, Message)],
    policy: &RetryPolicy,
) -> Vec<Result<(), PortError>> {
    let mut results: Vec<Result<(), PortError>> = Vec::with_capacity(messages.len());
    let mut entries = Vec::with_capacity(messages.len());
    for (i, (_, _, message)) in messages.iter().enumerate() {
        match redrive_entry(i, message, fifo_target) {
            Ok(entry) => {
                results.push(Ok(()));
                entries.push(entry);
            }
            Err(e) => results.push(Err(e)),
        }
    }
    // Chunks of at most ten entries and MAX_BATCH_BYTES (an oversized message alone).
    let mut chunks: Vec<Vec<SendMessageBatchRequestEntry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry_size(&entry);
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < MAX_BATCH_ENTRIES && bytes + size <= MAX_BATCH_BYTES => {
                bytes += size;
                chunk.push(entry);
            }
            _ => {
                bytes = size;
                chunks.push(vec![entry]);
            }
        }
    }
    for chunk in chunks {
        for (index, result) in send_chunk(client, target_url, chunk, policy).await {
            results[index] = result;
        }
    }
    results
}

/// One chunk, with retries of what failed retryably; results by message index.
async fn send_chunk(
    client: &Client,
    target_url: &str,
    chunk: Vec<SendMessageBatchRequestEntry>,
    policy: &RetryPolicy,
) -> BTreeMap<usize, Result<(), PortError>> {
    const OP: &str = "SendMessageBatch";
    let mut results = BTreeMap::new();
    let mut pending = chunk;
    for attempt in 1..=policy.attempts.max(1) {
        if attempt > 1 {
            tokio::time::sleep(policy.delay(attempt - 1)).await;
        }
        let outcome = client
            .send_message_batch()
            .queue_url(target_url)
            .set_entries(Some(pending.clone()))
            .send()
            .await;
        let failed: HashMap<String, PortError> = match outcome {
            Ok(output) => failed_entries(OP, output.failed()),
            Err(e) => {
                let error = classify(OP, e);
                pending
                    .iter()
                    .map(|entry| (entry.id().to_owned(), error.clone()))
                    .collect()
            }
        };
        let mut again = Vec::new();
        for entry in pending {
            let Ok(index) = entry.id().parse::<usize>() else {
                continue;
            };
            match failed.get(entry.id()) {
                None => {
                    results.insert(index, Ok(()));
                }
                Some(error) => {
                    if error.retryable() {
                        again.push(entry);
                    }
                    results.insert(index, Err(error.clone()));
                }
            }
        }
        if again.is_empty() {
            break;
        }
        pending = again;
    }
    results
}
