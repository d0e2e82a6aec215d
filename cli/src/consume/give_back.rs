//! Giving received messages back to their queue at once, and keeping the
//! background tasks of receives and give-backs for a stop to wait for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lambda_events::sqs::SqsMessage;
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::ports::{EntryResults, VisibilityChange};
use orderflow_batch::publish::change_visibility;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Gives received messages back to their queue at once (visibility 0), and
/// keeps the tasks of receives and give-backs, for a stop to wait for.
#[derive(Clone)]
pub(super) struct GiveBack {
    queues: Arc<SqsQueues>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    /// Messages given back.
    returned: Arc<AtomicU64>,
    /// Give-backs that failed (those messages come back after their visibility timeout).
    failed: Arc<AtomicU64>,
}

impl GiveBack {
    /// Gives back through `queues`; no task yet.
    pub(super) fn new(queues: Arc<SqsQueues>) -> Self {
        GiveBack {
            queues,
            tasks: Arc::default(),
            returned: Arc::default(),
            failed: Arc::default(),
        }
    }

    /// The queue client receives and give-backs use.
    pub(super) fn queues(&self) -> &SqsQueues {
        &self.queues
    }

    /// Messages given back so far.
    pub(super) fn returned(&self) -> u64 {
        self.returned.load(Ordering::Relaxed)
    }

    /// Give-backs that failed so far.
    pub(super) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Makes `records` visible again now.
    pub(super) async fn now(&self, queue_url: &str, records: Vec<SqsMessage>) {
        let changes: Vec<VisibilityChange> = records
            .into_iter()
            .filter_map(|r| r.receipt_handle)
            .map(|receipt_handle| VisibilityChange {
                receipt_handle,
                timeout_seconds: 0,
            })
            .collect();
        if changes.is_empty() {
            return;
        }
        let results: EntryResults = change_visibility(&*self.queues, queue_url, &changes).await;
        let failed = results.iter().filter(|r| r.is_err()).count() as u64;
        let returned = results.len() as u64 - failed;
        self.returned.fetch_add(returned, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
        info!(
            queue = %queue_url,
            messages = returned,
            "received after the stop signal: back in the queue at once, unprocessed"
        );
        if failed > 0 {
            warn!(
                queue = %queue_url,
                messages = failed,
                "received after the stop signal and not given back: they return after their visibility timeout"
            );
        }
    }

    /// Runs `task` in the background, kept for [`GiveBack::finish`]. Outside
    /// a runtime (while it shuts down) there is nothing left to run it.
    pub(super) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .spawn_on(task, &runtime);
        }
    }

    /// Whether tasks are running.
    pub(super) fn busy(&self) -> bool {
        !self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Waits until every task has ended, those they start included.
    pub(super) async fn finish(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }
}
