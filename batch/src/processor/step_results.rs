//! What running the steps leaves for settlement: the record's status and
//! whether its key is held. Its own module, so the settlement depends on the
//! results and not on how the steps were run.

use crate::error::RecordError;

use super::step::Outgoing;

/// What the steps left for settlement: each record's status, and whether its
/// key is held for its fingerprint (which decides its rivals).
pub(super) struct StepResults {
    pub(super) statuses: Vec<StepStatus>,
    pub(super) held: Vec<bool>,
}

/// Where a record stands after the steps ran.
pub(super) enum StepStatus {
    NotRun,
    Skipped,
    /// Claimed and running; if it stays so, the deadline cut it off.
    Claimed,
    Succeeded(Vec<Outgoing>),
    Duplicate,
    Failed(RecordError),
}
