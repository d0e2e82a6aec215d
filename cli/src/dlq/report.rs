//! A dead-letter queue's report: its messages grouped by reason, with
//! samples, as JSON or as text for people. Only what the pipeline wrote is
//! shown, checked against its rules (an order ID, a correlation ID, codes,
//! the error's message without values): never a body's other contents.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aws_lambda_events::sqs::SqsMessage;
use orderflow_batch::attributes;
use orderflow_orders::validation::rules::{CORRELATION_ID, ID};
use serde::{Deserialize, Serialize};

/// The reason of a message without `ErrorCode`: the queue's redrive moved it.
pub const MOVED_BY_REDRIVE: &str = "maxReceiveCount";

/// Longest error message shown.
const MAX_ERROR_CHARS: usize = 300;

/// What a dead-letter queue holds, by reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqReport {
    /// The queue's name.
    pub queue: String,
    /// Messages read.
    pub messages: usize,
    /// Messages that could not be made visible again (they return when their
    /// visibility timeout ends).
    pub still_hidden: usize,
    /// The groups, largest first.
    pub groups: Vec<ErrorGroup>,
}

/// The messages dead-lettered for one reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroup {
    /// The `ErrorCode`, or [`MOVED_BY_REDRIVE`].
    pub error_code: String,
    /// How many.
    pub messages: usize,
    /// For `RetriesExhausted`: how many by the error of their last receive.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub last_error_codes: BTreeMap<String, usize>,
    /// The first few, as read.
    pub samples: Vec<DeadLetterSample>,
}

/// One dead letter, as far as the pipeline described it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterSample {
    /// The message ID it had in its source queue (else its own).
    pub message_id: Option<String>,
    /// The body's `orderId`, when it keeps the contract's rule.
    pub order_id: Option<String>,
    /// Its `CorrelationId`, when it keeps the contract's rule.
    pub correlation_id: Option<String>,
    /// When it failed (`FailedAt`).
    pub failed_at: Option<String>,
    /// For `RetriesExhausted`: the last receive's error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_code: Option<String>,
    /// The error's message (`ErrorMessage`), cut to a few hundred characters.
    pub error: Option<String>,
}

/// Only the order ID of a body.
#[derive(Deserialize)]
struct OrderIdOnly {
    #[serde(rename = "orderId")]
    order_id: Option<String>,
}

impl DlqReport {
    /// `messages` of the queue `queue`, grouped, with up to `samples` samples a group.
    pub fn of(queue: &str, messages: &[SqsMessage], samples: usize, still_hidden: usize) -> Self {
        let mut groups: BTreeMap<String, ErrorGroup> = BTreeMap::new();
        for message in messages {
            let error_code =
                code(message, attributes::ERROR_CODE).unwrap_or_else(|| MOVED_BY_REDRIVE.to_owned());
            let group = groups.entry(error_code.clone()).or_insert_with(|| ErrorGroup {
                error_code,
                ..ErrorGroup::default()
            });
            group.messages += 1;
            let last = code(message, attributes::LAST_ERROR_CODE);
            if let Some(last) = &last {
                *group.last_error_codes.entry(last.clone()).or_default() += 1;
            }
            if group.samples.len() < samples {
                group.samples.push(sample(message, last));
            }
        }
        let mut groups: Vec<ErrorGroup> = groups.into_values().collect();
        groups.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.error_code.cmp(&b.error_code)));
        DlqReport {
            queue: queue.to_owned(),
            messages: messages.len(),
            still_hidden,
            groups,
        }
    }

    /// The report for people: a line for the queue, then each group and its samples.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}: {} message{}, none consumed",
            self.queue,
            self.messages,
            if self.messages == 1 { "" } else { "s" }
        );
        if self.still_hidden > 0 {
            let _ = write!(
                text,
                " ({} could not be made visible again: they return when their visibility timeout ends)",
                self.still_hidden
            );
        }
        text.push('\n');
        for group in &self.groups {
            let _ = write!(text, "\n{}  {}", group.error_code, group.messages);
            if !group.last_error_codes.is_empty() {
                let last: Vec<String> = group
                    .last_error_codes
                    .iter()
                    .map(|(code, n)| format!("{code} {n}"))
                    .collect();
                let _ = write!(text, "  (last error: {})", last.join(", "));
            }
            if group.error_code == MOVED_BY_REDRIVE {
                text.push_str("  (moved by the queue's redrive: no reason recorded)");
            }
            text.push('\n');
            for s in &group.samples {
                let field = |name: &str, value: &Option<String>| {
                    value
                        .as_deref()
                        .map_or(String::new(), |v| format!("  {name} {v}"))
                };
                let _ = writeln!(
                    text,
                    "  {}{}{}{}{}{}",
                    s.message_id.as_deref().unwrap_or("(no message ID)"),
                    field("order", &s.order_id),
                    field("correlation", &s.correlation_id),
                    field("failed", &s.failed_at),
                    field("last", &s.last_error_code),
                    field("error", &s.error),
                );
            }
        }
        text
    }
}

fn string_attribute<'a>(message: &'a SqsMessage, name: &str) -> Option<&'a str> {
    message
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

/// An error code attribute, when it is one (ASCII letters and digits, short).
fn code(message: &SqsMessage, name: &str) -> Option<String> {
    string_attribute(message, name)
        .filter(|c| !c.is_empty() && c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

fn sample(message: &SqsMessage, last_error_code: Option<String>) -> DeadLetterSample {
    let order_id = message
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<OrderIdOnly>(body).ok())
        .and_then(|only| only.order_id)
        .filter(|id| ID.accepts(id));
    let failed_at = string_attribute(message, attributes::FAILED_AT)
        .filter(|t| orderflow_batch::rfc3339::parse(t).is_some())
        .map(str::to_owned);
    let error = string_attribute(message, attributes::ERROR_MESSAGE).map(|e| {
        e.chars()
            .take(MAX_ERROR_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    });
    DeadLetterSample {
        message_id: string_attribute(message, attributes::ORIGINAL_MESSAGE_ID)
            .filter(|id| ID.accepts(id))
            .map(str::to_owned)
            .or_else(|| message.message_id.clone()),
        order_id,
        correlation_id: string_attribute(message, attributes::CORRELATION_ID)
            .filter(|c| CORRELATION_ID.accepts(c))
            .map(str::to_owned),
        failed_at,
        last_error_code,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessageAttribute;

    fn letter(id: &str, body: &str, attrs: &[(&str, &str)]) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("dlq-{id}"));
        m.body = Some(body.to_owned());
        for (name, value) in attrs {
            let mut a = SqsMessageAttribute::default();
            a.data_type = Some("String".to_owned());
            a.string_value = Some((*value).to_owned());
            m.message_attributes.insert((*name).to_owned(), a);
        }
        m
    }

    fn invalid(n: usize) -> SqsMessage {
        letter(
            &n.to_string(),
            &format!(r#"{{"orderId":"ord-{n}","customerId":"secret-customer","items":"x"}}"#),
            &[
                ("ErrorCode", "ValidationFailed"),
                ("ErrorMessage", "invalid OrderCreated: items: must be a list"),
                ("OriginalMessageId", &format!("m-{n}")),
                ("CorrelationId", &format!("corr-{n}")),
                ("FailedAt", "2026-12-07T05:00:00.000Z"),
            ],
        )
    }

    #[test]
    fn groups_by_reason_largest_first_with_samples_and_nothing_of_the_body() {
        let mut messages: Vec<SqsMessage> = (1..=3).map(invalid).collect();
        messages.push(letter(
            "4",
            r#"{"orderId":"ord-4"}"#,
            &[
                ("ErrorCode", "RetriesExhausted"),
                ("LastErrorCode", "Throttled"),
                ("ErrorMessage", "failed on receive 5\nthe last"),
            ],
        ));
        // Moved by the redrive; its order ID breaks the rule, so it is not shown.
        messages.push(letter("5", r#"{"orderId":"ord 5\u001b[31m"}"#, &[]));
        let report = DlqReport::of("orders-dlq", &messages, 2, 0);
        let summary: Vec<(&str, usize, usize)> = report
            .groups
            .iter()
            .map(|g| (g.error_code.as_str(), g.messages, g.samples.len()))
            .collect();
        assert_eq!(
            summary,
            [
                ("ValidationFailed", 3, 2),
                ("RetriesExhausted", 1, 1),
                (MOVED_BY_REDRIVE, 1, 1)
            ]
        );
        assert_eq!(
            report.groups[0].samples[0],
            DeadLetterSample {
                message_id: Some("m-1".to_owned()),
                order_id: Some("ord-1".to_owned()),
                correlation_id: Some("corr-1".to_owned()),
                failed_at: Some("2026-12-07T05:00:00.000Z".to_owned()),
                last_error_code: None,
                error: Some("invalid OrderCreated: items: must be a list".to_owned()),
            }
        );
        let exhausted = &report.groups[1];
        assert_eq!(
            exhausted.last_error_codes,
            BTreeMap::from([("Throttled".to_owned(), 1)])
        );
        assert_eq!(
            exhausted.samples[0].error.as_deref(),
            Some("failed on receive 5 the last")
        );
        assert_eq!(report.groups[2].samples[0].order_id, None);
        assert_eq!(report.groups[2].samples[0].message_id.as_deref(), Some("dlq-5"));
        let text = report.text();
        assert!(
            text.starts_with("orders-dlq: 5 messages, none consumed\n"),
            "{text}"
        );
        assert!(
            text.contains("\nRetriesExhausted  1  (last error: Throttled 1)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  m-1  order ord-1  correlation corr-1  failed 2026-12-07T05:00:00.000Z  error invalid"
            ),
            "{text}"
        );
        assert!(!text.contains("secret") && !text.contains('\u{1b}'), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["groups"][0]["errorCode"], "ValidationFailed");
        assert_eq!(json["groups"][1]["lastErrorCodes"]["Throttled"], 1);
    }
}
