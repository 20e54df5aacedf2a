//! One tier of tasks (receivers, processors or exporters) and how it stops within a deadline.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// After the deadline, tasks get this long to count and log what they give up.
const GRACE_AFTER_DEADLINE: Duration = Duration::from_secs(2);

pub(super) struct Tier {
    name: &'static str,
    pub token: CancellationToken,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl Tier {
    pub fn new(name: &'static str) -> Tier {
        Tier {
            name,
            token: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    pub fn push(&mut self, id: String, task: JoinHandle<()>) {
        self.tasks.push((id, task));
    }

    /// Cancels the tier's token at once: for receivers, which stop taking new data.
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
                    tier = self.name,
                    "shutdown deadline passed; abandoning what is not drained"
                );
                self.token.cancel();
            }
            if timeout(GRACE_AFTER_DEADLINE, &mut task).await.is_err() {
                tracing::error!(tier = self.name, component = %id, "did not stop after the deadline; aborting it");
                task.abort();
            }
        }
    }

    pub fn cancel(&self) {
        self.token.cancel();
    }
}
