//! Which messages a receive takes, in which order: a standard queue's in the
//! order they became visible; a FIFO queue's group by group, each group's in
//! send order, and none from a group that has a message in flight. A message
//! that used up its receives is dead-lettered instead of taken.

use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use tokio::time::Instant;

use super::delivery::deliver;
use super::queue::{Inner, Queue, State};
use super::redrive::{Moved, dead_letter, spent};

/// Takes up to `max` receivable messages, marking them in flight.
pub(super) fn take(
    queue: &Queue,
    inner: &mut Inner,
    now: Instant,
    max: usize,
    visibility: Duration,
    moved: &mut Vec<Moved>,
) -> Vec<SqsMessage> {
    if queue.settings.fifo() {
        take_from_groups(queue, inner, now, max, visibility, moved)
    } else {
        take_in_visible_order(queue, inner, now, max, visibility, moved)
    }
}

/// FIFO queues: takes the heads of groups with nothing in flight, in group order.
fn take_from_groups(
    queue: &Queue,
    inner: &mut Inner,
    now: Instant,
    max: usize,
    visibility: Duration,
    moved: &mut Vec<Moved>,
) -> Vec<SqsMessage> {
    let mut out = Vec::new();
    let mut tried = 0;
    while out.len() < max && tried < inner.ready_groups.len() {
        let Some(group) = inner.ready_groups.pop_front() else {
            break;
        };
        let locked = inner.groups.get(&group).is_none_or(|g| g.in_flight > 0);
        if locked {
            continue; // stale entry: it returns when the group unlocks
        }
        let mut took_any = false;
        while out.len() < max {
            let Some(&head) = inner.groups.get(&group).and_then(|g| {
                g.messages
                    .iter()
                    .find(|s| inner.messages.get(s).is_some_and(|m| m.state != State::InFlight))
            }) else {
                break;
            };
            let Some(m) = inner.messages.get(&head) else { break };
            if m.state != State::Visible {
                break; // delayed head: the group waits
            }
            if spent(queue, m) {
                dead_letter(queue, inner, head, moved);
                continue;
            }
            out.push(deliver(queue, inner, head, now, visibility));
            if let Some(g) = inner.groups.get_mut(&group) {
                g.in_flight += 1;
            }
            took_any = true;
        }
        if !took_any {
            tried += 1;
            if inner
                .groups
                .get(&group)
                .is_some_and(|g| g.in_flight == 0 && !g.messages.is_empty())
            {
                inner.ready_groups.push_back(group);
            }
        }
    }
    out
}

/// Standard queues: takes visible messages in the order they became visible.
fn take_in_visible_order(
    queue: &Queue,
    inner: &mut Inner,
    now: Instant,
    max: usize,
    visibility: Duration,
    moved: &mut Vec<Moved>,
) -> Vec<SqsMessage> {
    let mut out = Vec::new();
    while out.len() < max {
        let Some(sequence) = inner.ready.pop_front() else {
            break;
        };
        let Some(m) = inner.messages.get(&sequence) else {
            continue;
        };
        if m.state != State::Visible {
            continue; // stale entry
        }
        if spent(queue, m) {
            dead_letter(queue, inner, sequence, moved);
            continue;
        }
        out.push(deliver(queue, inner, sequence, now, visibility));
    }
    out
}
