//! The source queue as the poller sees it once a stop may come: receives
//! that run in tasks of their own, and hand back what they get after the stop.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::ports::{EntryResults, QueueConsumer};
use tokio::sync::{oneshot, watch};

use super::give_back::GiveBack;

/// What a receive task hands to the poller.
type Received = Result<Vec<SqsMessage>, PortError>;

/// The poller's side of a receive task. Dropped before the answer was taken
/// (the poller stopped waiting), it gives back whatever the task had already
/// handed over; anything later, the task gives back itself.
struct PendingReceive {
    answer: oneshot::Receiver<Received>,
    taken: bool,
    queue_url: String,
    give_back: GiveBack,
}

impl PendingReceive {
    async fn answer(&mut self) -> Received {
        let answer = (&mut self.answer).await;
        self.taken = true;
        answer.unwrap_or_else(|_| {
            Err(PortError::new(
                PortErrorKind::Other,
                "ReceiveMessage",
                "the receive ended without an answer",
            ))
        })
    }
}

impl Drop for PendingReceive {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        // From here on the task's send fails, and it gives back what it gets.
        self.answer.close();
        if let Ok(Ok(records)) = self.answer.try_recv()
            && !records.is_empty()
        {
            let (give_back, url) = (self.give_back.clone(), self.queue_url.clone());
            self.give_back
                .spawn(async move { give_back.now(&url, records).await });
        }
    }
}

/// The source queue as the poller sees it: each receive runs in a task of
/// its own, which outlives a poller that stopped waiting for it. Whatever a
/// receive gets once the stop has begun goes back to the queue at once
/// instead of to a batch: not processed, and not hidden for a visibility
/// timeout (the consumer may be gone by then).
pub(super) struct StoppableReceives {
    give_back: GiveBack,
    stopped: watch::Receiver<bool>,
}

impl StoppableReceives {
    /// Receives that run in tasks of `give_back`, and give back what they
    /// get once `stopped` holds true.
    pub(super) fn new(give_back: GiveBack, stopped: watch::Receiver<bool>) -> Self {
        StoppableReceives { give_back, stopped }
    }
}

#[async_trait]
impl QueueConsumer for StoppableReceives {
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        let (sender, answer) = oneshot::channel();
        let (give_back, stopped, url) = (self.give_back.clone(), self.stopped.clone(), queue_url.to_owned());
        self.give_back.spawn(async move {
            let received = match give_back
                .queues()
                .receive(&url, max, wait, visibility_timeout)
                .await
            {
                Ok(records) if *stopped.borrow() => {
                    give_back.now(&url, records).await;
                    Ok(Vec::new())
                }
                other => other,
            };
            if let Err(Ok(records)) = sender.send(received) {
                give_back.now(&url, records).await;
            }
        });
        PendingReceive {
            answer,
            taken: false,
            queue_url: queue_url.to_owned(),
            give_back: self.give_back.clone(),
        }
        .answer()
        .await
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<EntryResults, PortError> {
        self.give_back
            .queues()
            .delete_batch(queue_url, receipt_handles)
            .await
    }
}
