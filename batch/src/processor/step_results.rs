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
    /// Records whose key was claimed with the batch's (claimed together)
    /// but which never ran (cut off, or after a failure in their group):
    /// their claims are released.
    pub(super) unrun_claims: Vec<usize>,
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
