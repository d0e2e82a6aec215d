//! Acting on a received message by its receipt handle, which is current only
//! while the message is in flight from that receive: deleting it, and
//! changing its visibility timeout.

use std::cmp::Reverse;
use std::time::Duration;

use orderflow_batch::error::PortError;
use tokio::time::Instant;

use super::errors::rejected;
use super::queue::{Inner, State, make_visible, remove};
use super::registry::Broker;

impl Broker {
    /// Deletes a received message by its receipt handle.
    pub fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), PortError> {
        const OP: &str = "DeleteMessage";
        let queue = self.queue(OP, url)?;
        {
            let mut inner = queue.lock();
            let sequence = find_in_flight(&inner, receipt_handle).ok_or_else(|| {
                rejected(
                    OP,
                    format!("ReceiptHandleIsInvalid: {receipt_handle} is not a current receipt handle"),
                )
            })?;
            remove(&mut inner, sequence);
            inner.counters.deleted += 1;
        }
        queue.changed.notify_waiters();
        Ok(())
    }

    /// Hides a received message for `timeout` from now (0 makes it visible at once).
    pub fn change_visibility(
        &self,
        url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), PortError> {
        const OP: &str = "ChangeMessageVisibility";
        if timeout > Duration::from_secs(43_200) {
            return Err(rejected(
                OP,
                "InvalidParameterValue: VisibilityTimeout must be at most 43200",
            ));
        }
        let queue = self.queue(OP, url)?;
        {
            let mut inner = queue.lock();
            let sequence = find_in_flight(&inner, receipt_handle).ok_or_else(|| {
                rejected(
                    OP,
                    format!(
                        "ReceiptHandleIsInvalid: {receipt_handle} is not the handle of an in-flight message"
                    ),
                )
            })?;
            if timeout.is_zero() {
                make_visible(&mut inner, sequence);
            } else if let Some(m) = inner.messages.get_mut(&sequence) {
                m.timer_epoch += 1;
                let epoch = m.timer_epoch;
                inner
                    .timers
                    .push(Reverse((Instant::now() + timeout, sequence, epoch)));
            }
        }
        queue.changed.notify_waiters();
        Ok(())
    }
}

/// The in-flight message a receipt handle is current for.
fn find_in_flight(inner: &Inner, receipt_handle: &str) -> Option<u64> {
    let sequence: u64 = receipt_handle.split(':').next()?.parse().ok()?;
    let m = inner.messages.get(&sequence)?;
    (m.state == State::InFlight && m.receipt.as_deref() == Some(receipt_handle)).then_some(sequence)
}
