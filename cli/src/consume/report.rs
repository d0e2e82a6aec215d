//! How a consumer's run went, from start to stop: for scripts (JSON) and
//! for people (a summary).

use orderflow_embedded::poller::PollerStats;
use serde::Serialize;

use super::settings::DRAIN_TIMEOUT;

/// Invocations and their messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InFlight {
    /// Batches.
    pub invocations: u64,
    /// Their messages.
    pub messages: u64,
}

/// How a run went, from start to stop.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeReport {
    /// The function.
    pub function: &'static str,
    /// The queue.
    pub queue_url: String,
    /// The queue's visibility timeout, which the heartbeat extends to.
    pub visibility_timeout_seconds: u64,
    /// Most batches at once.
    pub concurrency: usize,
    /// The signal that stopped it.
    pub signal: &'static str,
    /// A second signal cut the drain short.
    pub forced: bool,
    /// From the start of polling to the end, in seconds.
    pub ran_seconds: f64,
    /// From the signal to the end, in seconds.
    pub stop_seconds: f64,
    /// What was running when the signal came.
    pub in_flight_at_signal: InFlight,
    /// Batches handled (started).
    pub invocations: u64,
    /// Messages received.
    pub received: u64,
    /// Messages deleted after their handler succeeded.
    pub deleted: u64,
    /// Batches whose handler returned an error (nothing deleted).
    pub failed_invocations: u64,
    /// Batches whose handler panicked (nothing deleted).
    pub crashed_invocations: u64,
    /// Batches still running at the end of the drain (or at a second signal),
    /// and their messages: back in the queue within a visibility timeout.
    pub abandoned: InFlight,
    /// Messages a receive got once the stop had begun, made visible again
    /// at once without running.
    pub returned_after_signal: u64,
    /// Receive, delete or visibility calls that failed.
    pub call_errors: u64,
}

impl ConsumeReport {
    /// One paragraph for people (stderr).
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{}: stopped by {} after {:.1} s: {} invocations, {} messages received, {} deleted, {} failed invocations, {} crashed",
            self.function,
            self.signal,
            self.ran_seconds,
            self.invocations,
            self.received,
            self.deleted,
            self.failed_invocations,
            self.crashed_invocations,
        );
        if self.call_errors > 0 {
            text.push_str(&format!(", {} failed SQS calls", self.call_errors));
        }
        let at_signal = self.in_flight_at_signal;
        text.push_str(&format!(
            "; at the signal {} invocations ({} messages) were in flight",
            at_signal.invocations, at_signal.messages
        ));
        if self.returned_after_signal > 0 {
            text.push_str(&format!(
                "; {} received after the signal, back in the queue at once",
                self.returned_after_signal
            ));
        }
        if self.abandoned.invocations == 0 {
            text.push_str(&format!("; all finished within {:.1} s", self.stop_seconds));
        } else {
            let why = if self.forced {
                "a second signal".to_owned()
            } else {
                format!("the {} s drain timeout", DRAIN_TIMEOUT.as_secs())
            };
            text.push_str(&format!(
                "; {} abandoned at {why} ({} messages, back in the queue within {} s)",
                self.abandoned.invocations, self.abandoned.messages, self.visibility_timeout_seconds
            ));
        }
        text
    }
}

/// What is running now.
pub(super) fn in_flight(stats: &PollerStats) -> InFlight {
    InFlight {
        invocations: PollerStats::get(&stats.in_flight_invocations),
        messages: PollerStats::get(&stats.in_flight_records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_accounts_for_in_flight_work() {
        let mut report = ConsumeReport {
            function: "shipping",
            queue_url: "q".to_owned(),
            visibility_timeout_seconds: 30,
            concurrency: 2,
            signal: "SIGTERM",
            forced: false,
            ran_seconds: 12.34,
            stop_seconds: 2.9,
            in_flight_at_signal: InFlight {
                invocations: 2,
                messages: 20,
            },
            invocations: 5,
            received: 50,
            deleted: 50,
            failed_invocations: 0,
            crashed_invocations: 0,
            abandoned: InFlight::default(),
            returned_after_signal: 0,
            call_errors: 0,
        };
        assert_eq!(
            report.summary(),
            "shipping: stopped by SIGTERM after 12.3 s: 5 invocations, 50 messages received, 50 deleted, \
             0 failed invocations, 0 crashed; at the signal 2 invocations (20 messages) were in flight; \
             all finished within 2.9 s"
        );
        report.returned_after_signal = 3;
        assert!(
            report.summary().contains(
                "were in flight; 3 received after the signal, back in the queue at once; all finished"
            ),
            "{}",
            report.summary()
        );
        report.abandoned = InFlight {
            invocations: 1,
            messages: 10,
        };
        assert!(
            report.summary().ends_with(
                "; 1 abandoned at the 30 s drain timeout (10 messages, back in the queue within 30 s)"
            ),
            "{}",
            report.summary()
        );
    }
}
