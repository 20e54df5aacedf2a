//! How each kind of component is put under a supervisor where the graph spawns it: what
//! starts it again, and when its task stopping is the end rather than a failure.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::supervise::{self, Backoff, Supervised};
use crate::exporters::ExporterConfig;
use crate::model::{ComponentId, Kind};
use crate::pipeline::exporter_input::{Intake, Outcomes};
use crate::pipeline::fanout::Fanout;
use crate::pipeline::ledger::Ledger;
use crate::pipeline::stage_input::SharedInput;
use crate::pipeline::{inline, Routes, StageContext};
use crate::processors::batch::BatchProcessor;
use crate::processors::{ProcessorCounters, ProcessorStage};
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
    ledger: &Arc<Ledger>,
    first: JoinHandle<()>,
) -> JoinHandle<()> {
    let (id, config, token, restart_health, ledger) = (
        id.clone(),
        config.clone(),
        deadline_passed.clone(),
        health.clone(),
        ledger.clone(),
    );
    let finished_input = input.clone();
    let finished_deadline = deadline_passed.clone();
    let (give_up_input, give_up_deadline, give_up_outcomes) = (
        input.clone(),
        deadline_passed.clone(),
        Outcomes::with_ledger(&id.to_string(), ledger.clone()),
    );
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
                let (id, config, input, token, health, ledger) = (
                    id.clone(),
                    config.clone(),
                    input.clone(),
                    token.clone(),
                    restart_health.clone(),
                    ledger.clone(),
                );
                Box::pin(async move { config.spawn(&id, input, token, health, ledger).await })
            }),
            // Past the deadline, an intake dropped counts what is left in it as undrained.
            give_up: Some(Box::new(move || {
                Box::pin(async move {
                    drop(
                        Intake::take(&give_up_input, give_up_outcomes, give_up_deadline, true)
                            .await,
                    );
                })
            })),
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
            give_up: None,
        },
        first,
    )
}

/// A processor stage (`name` is `pipeline/id`) ends for good once its input is finished or
/// the deadline passed. Each incarnation is a new task on `input`; the supervisor holds the
/// senders to the next stage, which close once it ends.
pub(super) fn stage(
    name: String,
    stage: &ProcessorStage,
    context: StageContext,
    input: SharedInput,
    next: Fanout,
    dead_letter: Fanout,
    health: &Health,
) -> JoinHandle<()> {
    let deadline_passed = context.deadline_passed.clone();
    let (stage, input_of) = (stage.clone(), input.clone());
    let give_up_input = input.clone();
    let give_up_counters = ProcessorCounters::new(&context.id, &context.pipeline, &context.ledger);
    let start = move || {
        let (stage, context, input, next, dead_letter) = (
            stage.clone(),
            context.clone(),
            input_of.clone(),
            next.clone(),
            dead_letter.clone(),
        );
        tokio::spawn(async move {
            let input = input.take().await;
            match stage {
                ProcessorStage::Batch(batch) => {
                    BatchProcessor::new(batch, context).run(input, next).await
                }
                ProcessorStage::Inline(processor) => {
                    inline::run_stage(processor, context, input, next, dead_letter).await
                }
            }
        })
    };
    let first = start();
    let finished_deadline = deadline_passed.clone();
    supervise::spawn(
        Supervised {
            kind: Kind::Processor,
            name,
            health: health.clone(),
            backoff: Backoff::default(),
            stop: deadline_passed,
            finished: Box::new(move || input.is_finished() || finished_deadline.is_cancelled()),
            restart: Box::new(move || {
                let next = start();
                Box::pin(async move { Ok(next) })
            }),
            give_up: Some(Box::new(move || {
                Box::pin(async move {
                    let mut input = give_up_input.take().await;
                    input.close();
                    let mut items = 0;
                    while let Ok(batch) = input.try_recv() {
                        items += batch.items();
                    }
                    give_up_counters.undrained.increment(items as u64);
                })
            })),
        },
        first,
    )
}
