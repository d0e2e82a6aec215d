//! The account: every order sent is notified, dead-lettered, refused by
//! order-api (a poison one) or lost; every
//! valid order ends on record in a final status (`NOTIFIED`, `REJECTED`,
//! `FAILED`) or in a dead-letter queue, else it is lost too; and no valid
//! order belongs in a dead-letter queue.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_lambda_events::sqs::SqsMessage;
use orderflow_orders::contracts::attribute;
use orderflow_orders::order_record::OrderStatus;
use orderflow_orders::ports::{CustomerNotification, Template};

use super::sent_orders::SentOrders;
use super::summary::{DeadLetters, RunSummary};

/// Accounts for every sent order: notified, dead-lettered (the DLQs' messages,
/// by queue name), or lost, and each valid order by its status on record
/// (`statuses`, by order ID). Fills the summary's order counts; the rest is
/// left at its default.
pub(super) fn account(
    sent: &SentOrders,
    delivered: &[CustomerNotification],
    dead_letters: &[(String, Vec<SqsMessage>)],
    statuses: &HashMap<String, OrderStatus>,
    fifo: bool,
) -> RunSummary {
    let mut times_notified: HashMap<&str, usize> = HashMap::new();
    let mut rejected = HashSet::new();
    for n in delivered {
        *times_notified.entry(n.order_id.as_str()).or_default() += 1;
        if n.template == Template::OrderRejected {
            rejected.insert(n.order_id.as_str());
        }
    }
    let (dead_letter_queues, dead_lettered) = dead_letter_contents(sent, dead_letters);
    let mut accounted: HashSet<&str> = times_notified.keys().copied().collect();
    accounted.extend(&dead_lettered);
    // A valid order refused is on no record: `not_final` counts it lost.
    accounted.extend(sent.refused.iter().map(String::as_str));
    let valid = || {
        sent.orders
            .iter()
            .map(|(o, _)| o.as_str())
            .filter(|o| !sent.poison.contains(*o))
    };
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for order in valid() {
        let status = statuses.get(order).map_or("none", |s| s.as_str());
        *by_status.entry(status.to_owned()).or_default() += 1;
    }
    let not_final: HashSet<&str> = valid()
        .filter(|o| !dead_lettered.contains(*o))
        .filter(|o| !statuses.get(*o).is_some_and(|s| s.is_final()))
        .collect();
    let lost: Vec<&str> = sent
        .orders
        .iter()
        .map(|(o, _)| o.as_str())
        .filter(|o| !accounted.contains(*o) || not_final.contains(*o))
        .collect();
    let valid_dead_lettered: Vec<&str> = sent
        .orders
        .iter()
        .map(|(o, _)| o.as_str())
        .filter(|o| dead_lettered.contains(*o) && !sent.poison.contains(*o))
        .collect();
    let (out_of_order_customers, customers_with_several_shipments) = if fifo {
        out_of_order(&sent.orders, delivered)
    } else {
        (0, 0)
    };
    RunSummary {
        sent: sent.orders.len(),
        poison_sent: sent.poison.len(),
        refused_at_api: sent.refused.len(),
        notified: times_notified.len(),
        rejected_for_stock: rejected.len(),
        notified_more_than_once: times_notified.values().filter(|n| **n > 1).count(),
        statuses: by_status,
        not_final: not_final.len(),
        dead_letter_queues,
        lost: lost.len(),
        lost_examples: examples(&lost),
        valid_orders_dead_lettered: valid_dead_lettered.len(),
        valid_dead_lettered_examples: examples(&valid_dead_lettered),
        out_of_order_customers,
        customers_with_several_shipments,
        ..RunSummary::default()
    }
}

/// Each DLQ's content, by reason, and the sent orders found in them (by the
/// correlation ID that every message about an order carries).
fn dead_letter_contents<'a>(
    sent: &'a SentOrders,
    dead_letters: &[(String, Vec<SqsMessage>)],
) -> (Vec<DeadLetters>, HashSet<&'a str>) {
    let mut dead_lettered: HashSet<&str> = HashSet::new();
    let mut queues = Vec::with_capacity(dead_letters.len());
    for (queue, messages) in dead_letters {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for m in messages {
            let reason = m
                .message_attributes
                .get(attribute::ERROR_CODE)
                .and_then(|a| a.string_value.clone())
                .unwrap_or_else(|| "maxReceiveCount".to_owned());
            *reasons.entry(reason).or_default() += 1;
            let order = m
                .message_attributes
                .get(attribute::CORRELATION_ID)
                .and_then(|a| a.string_value.as_deref())
                .and_then(|c| sent.correlation_to_order.get(c));
            if let Some(order) = order {
                dead_lettered.insert(order.as_str());
            }
        }
        queues.push(DeadLetters {
            queue: queue.clone(),
            messages: messages.len(),
            reasons,
        });
    }
    (queues, dead_lettered)
}

/// The first few of `orders`, for a summary.
fn examples(orders: &[&str]) -> Vec<String> {
    orders.iter().take(10).map(|o| (*o).to_owned()).collect()
}

/// Customers whose shipment confirmations arrived out of the order their
/// orders were sent, and customers with two or more confirmations.
fn out_of_order(sent: &[(String, String)], delivered: &[CustomerNotification]) -> (usize, usize) {
    let position: HashMap<&str, usize> = sent
        .iter()
        .enumerate()
        .map(|(i, (o, _))| (o.as_str(), i))
        .collect();
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut several: HashSet<&str> = HashSet::new();
    let mut bad: HashSet<&str> = HashSet::new();
    for n in delivered
        .iter()
        .filter(|n| n.template == Template::ShipmentConfirmation)
    {
        let Some(&pos) = position.get(n.order_id.as_str()) else {
            continue;
        };
        let customer = n.customer_id.as_str();
        if let Some(&prev) = last.get(customer) {
            several.insert(customer);
            if prev > pos {
                bad.insert(customer);
            }
        }
        last.insert(customer, pos);
    }
    (bad.len(), several.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_letter(correlation_id: &str, error_code: Option<&str>) -> SqsMessage {
        let attribute = |value: &str| {
            let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
            attribute.string_value = Some(value.to_owned());
            attribute.data_type = Some("String".to_owned());
            attribute
        };
        let mut message = SqsMessage::default();
        message
            .message_attributes
            .insert(attribute::CORRELATION_ID.to_owned(), attribute(correlation_id));
        if let Some(code) = error_code {
            message
                .message_attributes
                .insert(attribute::ERROR_CODE.to_owned(), attribute(code));
        }
        message
    }

    fn shipped(order_id: &str) -> CustomerNotification {
        CustomerNotification {
            order_id: order_id.to_owned(),
            customer_id: format!("cust-{order_id}"),
            template: Template::ShipmentConfirmation,
            subject: String::new(),
            body: String::new(),
            correlation_id: format!("corr-{order_id}"),
            deduplication_id: format!("dedup-{order_id}"),
        }
    }

    /// Three orders sent, the third with a broken body.
    fn three_orders() -> SentOrders {
        let ids = ["ord-1", "ord-2", "ord-3"];
        SentOrders {
            orders: ids
                .iter()
                .map(|o| ((*o).to_owned(), format!("cust-{o}")))
                .collect(),
            poison: HashSet::from(["ord-3".to_owned()]),
            correlation_to_order: ids
                .iter()
                .map(|o| (format!("corr-{o}"), (*o).to_owned()))
                .collect(),
            refused: HashSet::new(),
        }
    }

    #[test]
    fn a_poison_order_refused_by_the_api_is_accounted_for_and_a_valid_one_is_lost() {
        let no_dead_letters = vec![("orders-dlq".to_owned(), Vec::new())];
        let mut sent = three_orders();
        sent.refused.insert("ord-3".to_owned());
        let summary = account(
            &sent,
            &[shipped("ord-1"), shipped("ord-2")],
            &no_dead_letters,
            &notified(&["ord-1", "ord-2"]),
            false,
        );
        assert!(summary.succeeded(), "{summary:?}");
        assert_eq!((summary.refused_at_api, summary.lost), (1, 0));
        assert_eq!(
            table_row(&summary.table(), "orders sent"),
            Some("3 (1 poison, 1 refused by the API)")
        );
        // A valid order refused is on no record: lost.
        sent.refused.insert("ord-2".to_owned());
        let summary = account(
            &sent,
            &[shipped("ord-1")],
            &no_dead_letters,
            &notified(&["ord-1"]),
            false,
        );
        assert_eq!(
            (summary.lost, summary.lost_examples.clone()),
            (1, vec!["ord-2".to_owned()])
        );
        assert!(!summary.succeeded());
    }

    fn table_row<'a>(table: &'a str, name: &str) -> Option<&'a str> {
        table
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    }

    #[test]
    fn a_valid_order_in_a_dead_letter_queue_fails_the_run_even_when_notified() {
        let dead_letters = vec![
            (
                "orders-dlq".to_owned(),
                vec![dead_letter("corr-ord-3", Some("ValidationFailed"))],
            ),
            // Delivered again while still being processed, until its receives ran out.
            ("inventory-dlq".to_owned(), vec![dead_letter("corr-ord-1", None)]),
            (
                "notifications-dlq".to_owned(),
                vec![dead_letter("corr-ord-1", None)],
            ),
        ];
        let summary = account(
            &three_orders(),
            &[shipped("ord-1"), shipped("ord-2")],
            &dead_letters,
            &notified(&["ord-1", "ord-2"]),
            false,
        );
        assert_eq!(summary.lost, 0, "every order is accounted for");
        assert!(
            !summary.succeeded(),
            "a valid order was dead-lettered: {summary:?}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["validOrdersDeadLettered"], 1, "{json}");
        assert_eq!(
            table_row(&summary.table(), "valid orders dead-lettered"),
            Some("1 (e.g. ord-1)"),
            "{}",
            summary.table()
        );
    }

    #[test]
    fn poison_orders_in_the_orders_dlq_are_the_run_working() {
        let dead_letters = vec![
            (
                "orders-dlq".to_owned(),
                vec![dead_letter("corr-ord-3", Some("InvalidJson"))],
            ),
            ("inventory-dlq".to_owned(), Vec::new()),
            ("notifications-dlq".to_owned(), Vec::new()),
        ];
        let summary = account(
            &three_orders(),
            &[shipped("ord-1"), shipped("ord-2")],
            &dead_letters,
            &notified(&["ord-1", "ord-2"]),
            false,
        );
        assert!(summary.succeeded(), "{summary:?}");
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["validOrdersDeadLettered"],
            0
        );
        assert_eq!(
            table_row(&summary.table(), "valid orders dead-lettered"),
            Some("0")
        );
        // A lost order fails the run as before.
        let summary = account(
            &three_orders(),
            &[shipped("ord-1")],
            &dead_letters,
            &notified(&["ord-1"]),
            false,
        );
        assert_eq!((summary.lost, summary.succeeded()), (1, false));
    }

    fn notified(orders: &[&str]) -> HashMap<String, OrderStatus> {
        orders
            .iter()
            .map(|o| ((*o).to_owned(), OrderStatus::Notified))
            .collect()
    }

    #[test]
    fn a_notified_order_whose_record_is_not_final_is_lost() {
        let dead_letters = vec![(
            "orders-dlq".to_owned(),
            vec![dead_letter("corr-ord-3", Some("InvalidJson"))],
        )];
        let mut statuses = notified(&["ord-1"]);
        statuses.insert("ord-2".to_owned(), OrderStatus::Shipped);
        let summary = account(
            &three_orders(),
            &[shipped("ord-1"), shipped("ord-2")],
            &dead_letters,
            &statuses,
            false,
        );
        assert_eq!((summary.lost, summary.not_final), (1, 1), "{summary:?}");
        assert_eq!(summary.lost_examples, ["ord-2"]);
        assert!(!summary.succeeded());
        assert_eq!(
            table_row(&summary.table(), "valid orders on record"),
            Some("NOTIFIED 1, SHIPPED 1"),
            "{}",
            summary.table()
        );
        // Dead-lettered and FAILED on record: accounted for (and a valid
        // order dead-lettered, which fails the run on its own).
        statuses.insert("ord-2".to_owned(), OrderStatus::Failed);
        let mut dead_letters = dead_letters;
        dead_letters.push((
            "inventory-dlq".to_owned(),
            vec![dead_letter("corr-ord-2", Some("Boom"))],
        ));
        let summary = account(
            &three_orders(),
            &[shipped("ord-1")],
            &dead_letters,
            &statuses,
            false,
        );
        assert_eq!((summary.lost, summary.not_final), (0, 0), "{summary:?}");
        assert_eq!(summary.valid_orders_dead_lettered, 1);
    }
}
