//! The summary as a table for people: one row a figure, in the order a reader
//! checks them (what went in, where it ended, what it took, the verdict).

use super::summary::RunSummary;

/// A row: its name, and its value.
type Row = (String, String);

impl RunSummary {
    /// The summary as a table for people.
    pub fn table(&self) -> String {
        let mut rows = self.order_rows();
        rows.extend(self.dead_letter_rows());
        rows.extend(self.work_rows());
        rows.extend(self.verdict_rows());
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }

    /// Where the orders went, and how many were notified.
    fn order_rows(&self) -> Vec<Row> {
        vec![
            (
                "queues".into(),
                format!("{}{}", self.queues, if self.fifo { " (FIFO)" } else { "" }),
            ),
            (
                "orders sent".into(),
                format!(
                    "{} ({} poison, {} refused by the API)",
                    self.sent, self.poison_sent, self.refused_at_api
                ),
            ),
            ("notified".into(), self.notified.to_string()),
            ("  rejected for stock".into(), self.rejected_for_stock.to_string()),
            (
                "  notified twice or more".into(),
                self.notified_more_than_once.to_string(),
            ),
            ("valid orders on record".into(), self.status_counts()),
            ("  in no final status".into(), self.not_final.to_string()),
        ]
    }

    /// `NOTIFIED 9000, REJECTED 10, FAILED 3`: the final statuses first.
    fn status_counts(&self) -> String {
        let mut counts: Vec<(&String, &usize)> = self.statuses.iter().collect();
        let rank = |s: &str| match s {
            "NOTIFIED" => 0,
            "REJECTED" => 1,
            "FAILED" => 2,
            _ => 3,
        };
        counts.sort_by_key(|(s, _)| (rank(s), s.as_str()));
        let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
        counts.join(", ")
    }

    /// Each dead-letter queue with its reasons, then the valid orders among them.
    fn dead_letter_rows(&self) -> Vec<Row> {
        let mut rows = Vec::with_capacity(self.dead_letter_queues.len() + 1);
        for dlq in &self.dead_letter_queues {
            let reasons: Vec<String> = dlq.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let reasons = if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            };
            rows.push((format!("in {}", dlq.queue), format!("{}{reasons}", dlq.messages)));
        }
        rows.push((
            "valid orders dead-lettered".into(),
            with_examples(
                self.valid_orders_dead_lettered,
                &self.valid_dead_lettered_examples,
            ),
        ));
        rows
    }

    /// What getting there took: duplicates, retries, invocations, faults, time.
    fn work_rows(&self) -> Vec<Row> {
        let d = &self.duplicates_suppressed;
        vec![
            (
                "duplicates suppressed".into(),
                format!(
                    "{} (idempotency {}, notifier {}, FIFO dedup {})",
                    d.total(),
                    d.idempotency,
                    d.notifier,
                    d.fifo_deduplication
                ),
            ),
            ("retries".into(), self.retries.to_string()),
            (
                "invocations".into(),
                format!("{} ({} crashed)", self.invocations, self.crashed_invocations),
            ),
            (
                "injected transient failures".into(),
                self.injected_failures.to_string(),
            ),
            (
                "time".into(),
                format!(
                    "{:.2} s ({:.0} s on the run's clock)",
                    self.elapsed_seconds, self.simulated_seconds
                ),
            ),
            (
                "throughput".into(),
                format!("{:.0} orders/s", self.orders_per_second),
            ),
            ("steps' metrics".into(), self.step_metrics_text()),
        ]
    }

    /// `OrderValue 1234.5, OrdersRejected 12, ...`, or `none`.
    fn step_metrics_text(&self) -> String {
        if self.step_metrics.is_empty() {
            return "none".into();
        }
        let totals: Vec<String> = self
            .step_metrics
            .iter()
            .map(|(label, total)| format!("{label} {}", (total * 100.0).round() / 100.0))
            .collect();
        totals.join(", ")
    }

    /// What must be zero: customers out of order (FIFO), lost orders; and
    /// whether the run gave up.
    fn verdict_rows(&self) -> Vec<Row> {
        let mut rows = Vec::with_capacity(3);
        if self.fifo {
            rows.push((
                "customers out of order".into(),
                self.out_of_order_customers.to_string(),
            ));
        }
        rows.push(("LOST".into(), with_examples(self.lost, &self.lost_examples)));
        if self.timed_out {
            rows.push((
                "".into(),
                "the run hit --max-seconds before the queues emptied".into(),
            ));
        }
        rows
    }
}

/// `0`, or `3 (e.g. ord-7-00000001, ...)`.
fn with_examples(count: usize, examples: &[String]) -> String {
    if count == 0 {
        "0".to_owned()
    } else {
        format!("{count} (e.g. {})", examples.join(", "))
    }
}
