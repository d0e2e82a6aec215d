//! Receiving: a long poll that takes what is receivable now, or else sleeps
//! until a send, a deletion, a visibility change or the next timer may have
//! made something receivable, or until the wait is over.

use std::cmp::Reverse;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::error::PortError;
use tokio::time::Instant;

use super::expiry::advance;
use super::registry::Broker;
use super::selection::take;

impl Broker {
    /// Receives up to `max` messages, waiting up to `wait` for the first.
    pub async fn receive_messages(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, PortError> {
        const OP: &str = "ReceiveMessage";
        let queue = self.queue(OP, url)?;
        let deadline = Instant::now() + wait;
        let visibility = visibility_timeout.unwrap_or(queue.settings.visibility_timeout);
        loop {
            let changed = queue.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let mut moved = Vec::new();
            let (taken, next_timer) = {
                let mut inner = queue.lock();
                advance(&queue, &mut inner, now);
                let taken = take(&queue, &mut inner, now, max.max(1), visibility, &mut moved);
                (taken, inner.timers.peek().map(|Reverse((at, _, _))| *at))
            };
            self.deliver_moved(moved);
            if !taken.is_empty() || now >= deadline {
                return Ok(taken);
            }
            let wake = next_timer.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}
