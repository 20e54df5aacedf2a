//! Supervision: every component task (receiver, processor stage, exporter) runs under a
//! supervisor. A panic, or an exit nobody asked for, is logged with the component and the
//! panic's message, counted (`tributary_component_failures_total`), shown on `/ready` (503
//! until the component runs again), and the component is started again after a backoff that
//! doubles with each failure in a row. The component's input outlives its task (see
//! `pipeline::stage_input`), so what waited for the dead task waits for the next one.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::model::{names, Kind};
use crate::pipeline::StartError;
use crate::telemetry::Health;

/// Starts another incarnation of the component.
pub type Restart = Box<
    dyn FnMut() -> Pin<Box<dyn Future<Output = Result<JoinHandle<()>, StartError>> + Send>> + Send,
>;

/// Counts what waits in the component's input as undrained, when the supervisor stops with no
/// incarnation running to do it (the deadline passed during a backoff).
pub type GiveUp = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// How long to wait before each restart: `initial`, doubling up to `max`; back to `initial`
/// once an incarnation ran `healthy_after` without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub healthy_after: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay after the one given.
    pub fn after(&self, delay: Duration) -> Duration {
        (delay * 2).min(self.max)
    }
}

/// What the supervisor watches.
pub struct Supervised {
    pub kind: Kind,
    /// As `/ready` and the logs name it: `otlp`, `traces/batch`, `kafka/audit`.
    pub name: String,
    pub health: Health,
    pub backoff: Backoff,
    /// Cancelled when the component must not be started again: its tier is stopping (a
    /// receiver) or the shutdown deadline passed (a stage).
    pub stop: CancellationToken,
    /// True when an incarnation that returned was meant to: its input is finished, or it was
    /// told to stop.
    pub finished: Box<dyn Fn() -> bool + Send + Sync>,
    pub restart: Restart,
    /// For components with an input (stages, exporters); receivers have none.
    pub give_up: Option<GiveUp>,
}

/// Supervises the component whose first incarnation is `first`, until it ends for good.
pub fn spawn(component: Supervised, first: JoinHandle<()>) -> JoinHandle<()> {
    component
        .health
        .set_running(component.kind, &component.name);
    tokio::spawn(component.watch(first))
}

/// Aborts the incarnation if the supervisor itself is aborted (a tier past its grace time).
struct Incarnation(JoinHandle<()>);

impl Drop for Incarnation {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Supervised {
    async fn watch(mut self, first: JoinHandle<()>) {
        let mut incarnation = Incarnation(first);
        let mut delay = self.backoff.initial;
        loop {
            let started = Instant::now();
            let ended = (&mut incarnation.0).await;
            let mut failure = match ended {
                Ok(()) if (self.finished)() => return,
                Ok(()) => "an unexpected exit".to_string(),
                Err(e) if e.is_cancelled() => return,
                Err(e) => format!("panic: {}", panic_message(e)),
            };
            if started.elapsed() >= self.backoff.healthy_after {
                delay = self.backoff.initial;
            }
            loop {
                metrics::counter!(names::COMPONENT_FAILURES, "kind" => self.kind.noun(), "component" => self.name.clone())
                    .increment(1);
                if (self.finished)() {
                    // Nothing is left for another incarnation to do: its input is finished.
                    tracing::error!(kind = self.kind.noun(), component = %self.name, failure, "a component failed with its work finished; not restarting it");
                    return;
                }
                tracing::error!(kind = self.kind.noun(), component = %self.name, failure, restart_in = ?delay, "a component failed; restarting it");
                self.health.set_failed(
                    self.kind,
                    &self.name,
                    format!("restarting after {failure}"),
                );
                tokio::select! {
                    biased;
                    _ = self.stop.cancelled() => {
                        if let Some(give_up) = self.give_up.take() {
                            give_up().await;
                        }
                        return;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = self.backoff.after(delay);
                match (self.restart)().await {
                    Ok(next) => {
                        incarnation = Incarnation(next);
                        self.health.set_running(self.kind, &self.name);
                        tracing::info!(kind = self.kind.noun(), component = %self.name, "the component runs again");
                        break;
                    }
                    Err(e) => failure = format!("error: {e}"),
                }
            }
        }
    }
}

fn panic_message(error: JoinError) -> String {
    let payload: Box<dyn Any + Send> = error.into_panic();
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

#[cfg(test)]
#[path = "supervise_tests.rs"]
mod tests;
