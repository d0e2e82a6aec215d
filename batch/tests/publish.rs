//! Batched sends with retries, over the embedded queue and queues that
//! misbehave.

use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::ports::{EntryResults, MessageQueue, OutgoingMessage, Undelivered, VisibilityChange};
use orderflow_batch::publish::{RetryPolicy, chunk_ranges, publish_batch};
use orderflow_embedded::InMemoryQueues;

fn messages(n: usize, size: usize) -> Vec<OutgoingMessage> {
    (0..n)
        .map(|i| OutgoingMessage::new(format!("{i}{}", "x".repeat(size))))
        .collect()
}

#[test]
fn chunks_hold_at_most_ten_entries_and_256_kib() {
    let lens: Vec<usize> = chunk_ranges(&messages(25, 10)).iter().map(|r| r.len()).collect();
    assert_eq!(lens, [10, 10, 5]);
    let lens: Vec<usize> = chunk_ranges(&messages(5, 100 * 1024))
        .iter()
        .map(|r| r.len())
        .collect();
    assert_eq!(lens, [2, 2, 1]);
    assert!(chunk_ranges(&[]).is_empty());
    // An oversized message still gets its own call (and SQS's own error).
    assert_eq!(chunk_ranges(&messages(2, 300 * 1024)).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn failed_entries_are_resent_alone_until_they_succeed() {
    let queues = InMemoryQueues::new();
    queues.fail_sends(2, PortErrorKind::Throttled); // the first two entries sent fail once each
    let results = publish_batch(&queues, "q", messages(12, 4), &RetryPolicy::default()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(queues.messages("q").len(), 12);
    // 2 chunks, then one call resending the 2 failed entries.
    assert_eq!(queues.send_calls(), 3);
}

/// Takes the first message, and gives the rest back under an index it was never sent.
struct MisnumberingQueue;

#[async_trait::async_trait]
impl MessageQueue for MisnumberingQueue {
    async fn send_batch(&self, _: &str, messages: Vec<OutgoingMessage>) -> Vec<Undelivered> {
        let error = PortError::new(PortErrorKind::Throttled, "SendMessageBatch", "slow down");
        let n = messages.len();
        messages
            .into_iter()
            .skip(1)
            .map(|message| Undelivered {
                index: n,
                message,
                error: error.clone(),
            })
            .collect()
    }

    async fn change_visibility_batch(
        &self,
        _: &str,
        changes: &[VisibilityChange],
    ) -> Result<EntryResults, PortError> {
        Ok(vec![Ok(()); changes.len()])
    }
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_misnumbers_what_it_gives_back_fails_the_whole_call() {
    let results = publish_batch(&MisnumberingQueue, "q", messages(3, 4), &RetryPolicy::default()).await;
    assert_eq!(results.len(), 3);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(e) if e.kind == PortErrorKind::Other)),
        "{results:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn given_back_messages_are_the_ones_resent() {
    let queues = InMemoryQueues::new();
    queues.fail_sends(1, PortErrorKind::Throttled); // the first entry fails once
    let sent = messages(3, 4);
    let results = publish_batch(&queues, "q", sent.clone(), &RetryPolicy::default()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The retried first message arrives last, once, unchanged.
    assert_eq!(
        queues.messages("q"),
        vec![sent[1].clone(), sent[2].clone(), sent[0].clone()]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_are_bounded_and_permanent_errors_not_retried() {
    let queues = InMemoryQueues::new();
    queues.fail_sends(100, PortErrorKind::Throttled);
    let policy = RetryPolicy::default();
    let results = publish_batch(&queues, "q", messages(1, 4), &policy).await;
    assert!(matches!(&results[0], Err(e) if e.kind == PortErrorKind::Throttled));
    assert_eq!(queues.send_calls(), policy.attempts as usize);

    let queues = InMemoryQueues::new();
    queues.fail_sends(100, PortErrorKind::NotFound);
    let results = publish_batch(&queues, "q", messages(3, 4), &policy).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(e) if e.kind == PortErrorKind::NotFound))
    );
    assert_eq!(queues.send_calls(), 1);
}
