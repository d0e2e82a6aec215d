//! The order of record: one entry per order ID, written when the order is
//! accepted and moved forward by each step, never backwards. The port that
//! keeps it is [`OrderStore`](crate::ports::OrderStore).

use orderflow_batch::fingerprint::Fingerprint;
use time::OffsetDateTime;

use crate::contracts::OrderCreated;

/// Where an order is in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Accepted by the API, not yet looked at by the inventory.
    Accepted,
    /// Stock was reserved.
    Reserved,
    /// The order cannot be filled. Final.
    Rejected,
    /// A shipment was created.
    Shipped,
    /// The customer was told. Final.
    Notified,
    /// A step gave up on the order. Final.
    Failed,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Accepted,
        OrderStatus::Reserved,
        OrderStatus::Rejected,
        OrderStatus::Shipped,
        OrderStatus::Notified,
        OrderStatus::Failed,
    ];

    /// The stored value, e.g. `ACCEPTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Accepted => "ACCEPTED",
            OrderStatus::Reserved => "RESERVED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::Notified => "NOTIFIED",
            OrderStatus::Failed => "FAILED",
        }
    }

    /// Reads [`OrderStatus::as_str`]'s value; `None` for anything else.
    pub fn parse(value: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether nothing may follow this status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Rejected | OrderStatus::Notified | OrderStatus::Failed
        )
    }

    /// The rule that keeps an order from going backwards, in one place: an
    /// order at `self` may move to `next` only if `next` is later. Accepted
    /// comes before Reserved or Rejected, which come before Shipped, which
    /// comes before Notified (a step may skip ahead: events can arrive out of
    /// order); Failed may follow any status that is not final; nothing
    /// follows Rejected, Notified or Failed.
    pub fn may_become(self, next: OrderStatus) -> bool {
        if self.is_final() {
            return false;
        }
        match (self.stage(), next.stage()) {
            (_, None) => true,
            (Some(now), Some(later)) => later > now,
            (None, Some(_)) => false,
        }
    }

    /// The place in the pipeline's order; `None` for Failed, which has none.
    fn stage(self) -> Option<u8> {
        match self {
            OrderStatus::Accepted => Some(0),
            OrderStatus::Reserved | OrderStatus::Rejected => Some(1),
            OrderStatus::Shipped => Some(2),
            OrderStatus::Notified => Some(3),
            OrderStatus::Failed => None,
        }
    }
}

/// The names of a transition's details, one place for every step and reader.
pub mod detail {
    /// `REJECTED`: the SKUs that were short, comma-separated.
    pub const SHORT_SKUS: &str = "shortSkus";
    /// `SHIPPED`: the shipment's ID.
    pub const SHIPMENT_ID: &str = "shipmentId";
    /// `SHIPPED`: the carrier.
    pub const CARRIER: &str = "carrier";
    /// `SHIPPED`: the estimated delivery date.
    pub const ESTIMATED_DELIVERY: &str = "estimatedDelivery";
    /// `FAILED`: the error code the record was dead-lettered with.
    pub const ERROR_CODE: &str = "errorCode";
    /// `ACCEPTED`: the X-Ray trace header of the request that placed the
    /// order, which the relay gives the order's message, so the trace goes on.
    pub const TRACE_HEADER: &str = "traceHeader";
}

/// One move of an order to a status, with what the step knew then.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// The status moved to.
    pub status: OrderStatus,
    /// When.
    pub at: OffsetDateTime,
    /// Short facts, by name: `shipmentId`, `carrier`, `errorCode`, short SKUs.
    /// Never customer data. Stores keep one value per name and give them back
    /// in name order ([`Transition::normalized`]).
    pub details: Vec<(String, String)>,
}

impl Transition {
    /// An acceptance at `at`, without details.
    pub fn accepted(at: OffsetDateTime) -> Self {
        Transition::new(OrderStatus::Accepted, at)
    }

    /// A move to `status` at `at`, without details.
    pub fn new(status: OrderStatus, at: OffsetDateTime) -> Self {
        Transition {
            status,
            at,
            details: Vec::new(),
        }
    }

    /// With one more detail.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.push((name.into(), value.into()));
        self
    }

    /// As every store keeps it: details in name order, the last value of a
    /// name repeated kept (a store's map has one value per name).
    pub fn normalized(&self) -> Transition {
        let mut details: Vec<(String, String)> = Vec::with_capacity(self.details.len());
        // A stable sort keeps repeats in their order, so the last one wins below.
        let mut sorted = self.details.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in sorted {
            match details.last_mut() {
                Some(last) if last.0 == name => last.1 = value,
                _ => details.push((name, value)),
            }
        }
        Transition {
            status: self.status,
            at: self.at,
            details,
        }
    }
}

/// An order as recorded: the accepted order, its fingerprint, where it is
/// and how it got there. Its correlation ID is the accepted order's.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRecord {
    /// The order as accepted (a retry never replaces it).
    pub order: OrderCreated,
    /// The order's [`OrderCreated::fingerprint`] when accepted.
    pub fingerprint: Fingerprint,
    /// The latest status.
    pub status: OrderStatus,
    /// Every applied transition, the acceptance first.
    pub history: Vec<Transition>,
    /// When the latest transition happened.
    pub updated_at: OffsetDateTime,
}

impl OrderRecord {
    /// A newly accepted order: status Accepted, `acceptance` (its time and
    /// details, as an `ACCEPTED` transition) the one entry of its history.
    pub fn accepted(order: OrderCreated, fingerprint: Fingerprint, acceptance: &Transition) -> Self {
        let acceptance = Transition {
            status: OrderStatus::Accepted,
            ..acceptance.normalized()
        };
        OrderRecord {
            order,
            fingerprint,
            status: OrderStatus::Accepted,
            updated_at: acceptance.at,
            history: vec![acceptance],
        }
    }

    /// An order first seen at a step, not accepted by the API (it was sent to
    /// the queue directly): `transition` is its status and its whole history.
    pub fn entered(order: OrderCreated, fingerprint: Fingerprint, transition: &Transition) -> Self {
        OrderRecord {
            order,
            fingerprint,
            status: transition.status,
            history: vec![transition.normalized()],
            updated_at: transition.at,
        }
    }

    /// Applies `transition` if the order may move to its status
    /// ([`OrderStatus::may_become`]): the status, the history and the time
    /// change together. Whether it was applied.
    pub fn apply(&mut self, transition: &Transition) -> bool {
        if !self.status.may_become(transition.status) {
            return false;
        }
        self.status = transition.status;
        self.history.push(transition.normalized());
        self.updated_at = transition.at;
        true
    }
}

/// What accepting an order did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// The order is recorded now.
    Accepted,
    /// The same order (same ID and fingerprint) was accepted before: a
    /// retried request. Nothing changed; the original correlation ID.
    AlreadyAccepted {
        /// The correlation ID the order was first accepted with.
        correlation_id: String,
    },
    /// Another order holds this ID. Nothing changed, and nothing about the
    /// other order is told (it may be another customer's).
    Conflict,
}

/// What recording a transition did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The order moved to the transition's status.
    Applied,
    /// The order is at that status or past it (a retry, or a late event):
    /// nothing changed.
    Unchanged,
    /// No order has this ID.
    UnknownOrder,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn statuses_round_trip_through_their_stored_values() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("accepted"), None);
        assert_eq!(OrderStatus::parse(""), None);
    }

    #[test]
    fn an_order_only_moves_forward() {
        // Every pair, written out: (from, [the statuses it may become]).
        let allowed: [(OrderStatus, &[OrderStatus]); 6] = [
            (Accepted, &[Reserved, Rejected, Shipped, Notified, Failed]),
            (Reserved, &[Shipped, Notified, Failed]),
            (Rejected, &[]),
            (Shipped, &[Notified, Failed]),
            (Notified, &[]),
            (Failed, &[]),
        ];
        for (from, nexts) in allowed {
            for next in OrderStatus::ALL {
                assert_eq!(
                    from.may_become(next),
                    nexts.contains(&next),
                    "{} -> {}",
                    from.as_str(),
                    next.as_str()
                );
            }
        }
    }

    #[test]
    fn details_are_kept_in_name_order_one_value_a_name() {
        let t = Transition::new(Shipped, OffsetDateTime::UNIX_EPOCH)
            .with("shipmentId", "s-1")
            .with("carrier", "UPS")
            .with("shipmentId", "s-2");
        assert_eq!(
            t.normalized().details,
            vec![
                ("carrier".to_owned(), "UPS".to_owned()),
                ("shipmentId".to_owned(), "s-2".to_owned())
            ]
        );
    }
}
