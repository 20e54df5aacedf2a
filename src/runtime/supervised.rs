//! How each kind of component is put under a supervisor where the graph spawns it: what
//! starts it again, and when its task stopping is the end rather than a failure.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::supervise::{self, Backoff, Supervised};
use crate::exporters::ExporterConfig;
use crate::model::{ComponentId, Kind};
use crate::pipeline::stage_input::SharedInput;
use crate::pipeline::Routes;
use crate::receivers::ReceiverConfig;
use crate::telemetry::Health;

/// An exporter ends for good once its input is finished or the deadline passed; it is started
/// again on the same input (a new producer, the disk queue opened again).
pub(super) fn exporter(
    id: &ComponentId,
    config: &ExporterConfig,
    input: SharedInput,
    deadline_passed: &CancellationToken,
    health: &Health,
    first: JoinHandle<()>,
) -> JoinHandle<()> {
    let (id, config, token, restart_health) = (
        id.clone(),
        config.clone(),
        deadline_passed.clone(),
        health.clone(),
    );
    let finished_input = input.clone();
    let finished_deadline = deadline_passed.clone();
    supervise::spawn(
        Supervised {
            kind: Kind::Exporter,
            name: id.to_string(),
            health: health.clone(),
            backoff: Backoff::default(),
            stop: deadline_passed.clone(),
            finished: Box::new(move || {
                finished_input.is_finished() || finished_deadline.is_cancelled()
            }),
            restart: Box::new(move || {
                let (id, config, input, token, health) = (
                    id.clone(),
                    config.clone(),
                    input.clone(),
                    token.clone(),
                    restart_health.clone(),
                );
                Box::pin(async move { config.spawn(&id, input, token, health).await })
            }),
        },
        first,
    )
}

/// A receiver ends for good once its tier stops; it is started again by calling its start,
/// which binds its listeners again.
pub(super) fn receiver(
    id: &ComponentId,
    config: &ReceiverConfig,
    routes: Routes,
    stop: &CancellationToken,
    health: &Health,
    first: JoinHandle<()>,
) -> JoinHandle<()> {
    let (id, config, token) = (id.clone(), config.clone(), stop.clone());
    let stopped = stop.clone();
    supervise::spawn(
        Supervised {
            kind: Kind::Receiver,
            name: id.to_string(),
            health: health.clone(),
            backoff: Backoff::default(),
            stop: stop.clone(),
            finished: Box::new(move || stopped.is_cancelled()),
            restart: Box::new(move || {
                let (id, config, routes, token) =
                    (id.clone(), config.clone(), routes.clone(), token.clone());
                Box::pin(async move { config.start(&id, routes, token).await })
            }),
        },
        first,
    )
}

/// A processor stage (`name` is `pipeline/id`) ends for good once its input is finished or
/// the deadline passed. `start` spawns an incarnation on `input`; it holds the senders of the
/// next stage, which close once the supervisor ends.
pub(super) fn stage(
    name: String,
    input: SharedInput,
    deadline_passed: &CancellationToken,
    health: &Health,
    mut start: impl FnMut() -> JoinHandle<()> + Send + 'static,
) -> JoinHandle<()> {
    let first = start();
    let finished_deadline = deadline_passed.clone();
    supervise::spawn(
        Supervised {
            kind: Kind::Processor,
            name,
            health: health.clone(),
            backoff: Backoff::default(),
            stop: deadline_passed.clone(),
            finished: Box::new(move || input.is_finished() || finished_deadline.is_cancelled()),
            restart: Box::new(move || {
                let next = start();
                Box::pin(async move { Ok(next) })
            }),
        },
        first,
    )
}
