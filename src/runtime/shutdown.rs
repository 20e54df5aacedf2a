//! How a group of tasks stops within a deadline.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// After the deadline, tasks get this long to count and log what they give up.
const GRACE_AFTER_DEADLINE: Duration = Duration::from_secs(2);

/// Tasks of one tier (receivers, a pipeline's processors, an exporter) that share a token:
/// for receivers it means "stop taking data", for the others "the deadline has passed".
pub(super) struct Tasks {
    tier: &'static str,
    pub token: CancellationToken,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl Tasks {
    pub fn new(tier: &'static str) -> Tasks {
        Tasks {
            tier,
            token: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    pub fn push(&mut self, id: String, task: JoinHandle<()>) {
        self.tasks.push((id, task));
    }

    pub fn names(&self) -> Vec<String> {
        self.tasks.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Cancels the token at once (receivers stop taking new data), then joins.
    pub async fn stop(self, deadline: Instant) {
        self.token.cancel();
        self.join(deadline).await;
    }

    /// Lets the tasks finish on their own (their inputs close as upstream stops); cancels the
    /// token only if the deadline passes first.
    pub async fn join(self, deadline: Instant) {
        for (id, mut task) in self.tasks {
            if timeout_at(deadline, &mut task).await.is_ok() {
                continue;
            }
            if !self.token.is_cancelled() {
                tracing::warn!(
                    tier = self.tier,
                    component = %id,
                    "shutdown deadline passed; abandoning what is not drained"
                );
                self.token.cancel();
            }
            if timeout(GRACE_AFTER_DEADLINE, &mut task).await.is_err() {
                tracing::error!(tier = self.tier, component = %id, "did not stop after the deadline; aborting it");
                task.abort();
            }
        }
    }

    pub fn cancel(&self) {
        self.token.cancel();
    }
}
