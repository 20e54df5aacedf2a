//! The running graph: built from a validated config (exporters first, so that every sender has
//! a consumer before data can flow, receivers last), changed in place by a reload, and stopped
//! tier by tier within a deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::plan::{self, ReloadPlan};
use super::shutdown::Tasks;
use super::supervised;
use super::Config;
use crate::config::Pipeline;
use crate::exporters::ExporterConfig;
use crate::model::{ComponentId, Kind};
use crate::pipeline::batch::{Batch, DeadLetterTable};
use crate::pipeline::fanout::Fanout;
use crate::pipeline::ledger::Ledger;
use crate::pipeline::stage_input::SharedInput;
use crate::pipeline::{PipelineEntry, RouteMap, Routes, StageContext, StartError};
use crate::processors::ProcessorStage;
use crate::receivers::ReceiverConfig;
use crate::telemetry::Health;

/// The most the receivers get to answer the requests in flight when stopping.
const RECEIVERS_STOP_BUDGET: Duration = Duration::from_secs(5);

pub struct Service {
    receivers: BTreeMap<ComponentId, RunningReceiver>,
    pipelines: BTreeMap<String, RunningPipeline>,
    exporters: BTreeMap<ComponentId, RunningExporter>,
    /// Numbers exporter instances, so that a pipeline knows whether the exporters it feeds are
    /// the ones it was built with.
    next_instance: u64,
    /// Every item in and out, across reloads: the graph's own, not the process's.
    ledger: Arc<Ledger>,
    /// Each pipeline's dead-letter exporters, which batches reach by the pipeline's name.
    dead_letters: DeadLetterTable,
}

struct RunningReceiver {
    config: ReceiverConfig,
    routes: Routes,
    tasks: Tasks,
}

struct RunningPipeline {
    /// What it was built from, to tell whether a new config changes it.
    built_from: plan::PipelineShape,
    entry: Arc<PipelineEntry>,
    tasks: Tasks,
}

struct RunningExporter {
    config: ExporterConfig,
    capacity: usize,
    instance: u64,
    /// The runtime's own sender, cloned into the pipelines; dropped when the exporter is to
    /// drain, so that its input closes once the pipelines feeding it have stopped.
    input: Option<mpsc::Sender<Batch>>,
    tasks: Tasks,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Nothing was changed: the running graph stays as it was.
    #[error("{0}; the running config stays")]
    NotStarted(StartError),
    /// Some receivers had already been replaced: the caller must rebuild the graph whole.
    #[error("{0}")]
    PartlyApplied(StartError),
}

impl Service {
    fn empty(ledger: Arc<Ledger>) -> Service {
        Service {
            receivers: BTreeMap::new(),
            pipelines: BTreeMap::new(),
            exporters: BTreeMap::new(),
            next_instance: 0,
            ledger,
            dead_letters: DeadLetterTable::default(),
        }
    }

    /// Starts the graph, counting every item in `ledger` (which outlives reloads).
    pub async fn start(
        config: &Config,
        health: &Health,
        ledger: Arc<Ledger>,
    ) -> Result<Service, StartError> {
        let mut service = Service::empty(ledger);
        let built = async {
            for (id, exporter) in &config.exporters {
                let running = service.start_exporter(config, id, exporter, health).await?;
                service.exporters.insert(id.clone(), running);
            }
            for pipeline in &config.pipelines {
                let running = service.start_pipeline(config, pipeline, health);
                service.pipelines.insert(pipeline.name.clone(), running);
            }
            for (id, receiver) in &config.receivers {
                let running = service.start_receiver(config, id, receiver, health).await?;
                service.receivers.insert(id.clone(), running);
            }
            Ok(())
        }
        .await;
        match built {
            Ok(()) => Ok(service),
            Err(e) => {
                service.abandon();
                Err(e)
            }
        }
    }

    /// Moves the running graph to `new`: components whose config and wiring did not change
    /// keep running (a receiver keeps its listener and its connections and only its routes
    /// change), changed ones are replaced, removed ones drain within `timeout`.
    pub async fn reload(
        &mut self,
        new: &Config,
        health: &Health,
        timeout: Duration,
    ) -> Result<(), ReloadError> {
        let deadline = Instant::now() + timeout;
        let plan = ReloadPlan::new(&self.shape(), new);
        tracing::info!(%plan, "reloading");
        if plan.full_restart().is_some() {
            let old = std::mem::replace(self, Service::empty(self.ledger.clone()));
            let ledger = old.ledger.clone();
            old.shutdown(timeout).await;
            health.clear();
            *self = Service::start(new, health, ledger)
                .await
                .map_err(ReloadError::PartlyApplied)?;
            return Ok(());
        }

        // New exporter instances start before anything changes, so that a failure leaves the
        // running graph as it was.
        let mut started = BTreeMap::new();
        for id in plan.exporters_to_start() {
            match self
                .start_exporter(new, id, &new.exporters[id], health)
                .await
            {
                Ok(running) => {
                    started.insert(id.clone(), running);
                }
                Err(e) => {
                    for (_, running) in started {
                        running.tasks.cancel();
                    }
                    return Err(ReloadError::NotStarted(e));
                }
            }
        }
        let mut retired_exporters = Vec::new();
        for id in plan.exporters_to_retire() {
            if let Some(old) = self.exporters.remove(id) {
                retired_exporters.push((id.clone(), old));
            }
        }
        self.exporters.extend(started);

        let mut retired_pipelines = Vec::new();
        for name in plan.pipelines_to_retire() {
            if let Some(old) = self.pipelines.remove(name) {
                retired_pipelines.push(old);
            }
        }
        for pipeline in &new.pipelines {
            if !self.pipelines.contains_key(&pipeline.name) {
                let running = self.start_pipeline(new, pipeline, health);
                self.pipelines.insert(pipeline.name.clone(), running);
            }
        }

        let receivers_deadline = deadline.min(Instant::now() + RECEIVERS_STOP_BUDGET);
        for id in plan.receivers_to_retire() {
            if let Some(old) = self.receivers.remove(id) {
                old.tasks.stop(receivers_deadline).await;
                old.routes.replace(RouteMap::default());
            }
        }
        let mut failed_receiver = None;
        for (id, receiver) in &new.receivers {
            match self.receivers.get(id) {
                Some(kept) => kept.routes.replace(self.routes_for(new, id)),
                None => match self.start_receiver(new, id, receiver, health).await {
                    Ok(running) => {
                        self.receivers.insert(id.clone(), running);
                    }
                    // The retired components still drain below, before the caller rebuilds.
                    Err(e) => {
                        failed_receiver = Some(e);
                        break;
                    }
                },
            }
        }

        // What the old pipelines accepted drains through them into the exporters they fed.
        for old in retired_pipelines {
            drop(old.entry);
            let names = old.tasks.names();
            old.tasks.join(deadline).await;
            // A rebuilt pipeline's stages that kept their names report again; the rest go.
            let running = self.stage_names();
            for name in names.into_iter().filter(|name| !running.contains(name)) {
                health.remove(Kind::Processor, &name);
            }
        }
        // Pipelines that are gone, or have no dead letters now, hold no exporter's input.
        self.dead_letters.retain(|name| {
            new.pipelines
                .iter()
                .any(|p| p.name == name && !p.dead_letter.is_empty())
        });
        // Every retired input closes before any is waited for: one exporter may be another's
        // dead letter, and it ends only once the other has.
        let retired_exporters: Vec<_> = retired_exporters
            .into_iter()
            .map(|(id, mut old)| {
                old.input.take();
                (id, old)
            })
            .collect();
        for (id, old) in retired_exporters {
            old.tasks.join(deadline).await;
            if !new.exporters.contains_key(&id) {
                health.remove(Kind::Exporter, &id.to_string());
            }
        }
        if let Some(e) = failed_receiver {
            return Err(ReloadError::PartlyApplied(e));
        }
        for id in plan.receivers_removed() {
            health.remove(Kind::Receiver, &id.to_string());
        }
        Ok(())
    }

    /// Receivers stop first; processors then drain as their inputs close, exporters last.
    pub async fn shutdown(self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        tracing::info!(
            ?timeout,
            "stopping: receivers first, then processors, then exporters"
        );
        // A client that trickles its request must not eat the time the queues need to drain.
        let receivers_deadline = deadline.min(Instant::now() + RECEIVERS_STOP_BUDGET);
        for receiver in self.receivers.into_values() {
            receiver.tasks.stop(receivers_deadline).await;
            receiver.routes.replace(RouteMap::default());
        }
        let dead_letter_exporters: std::collections::BTreeSet<ComponentId> = self
            .pipelines
            .values()
            .flat_map(|p| p.built_from.dead_letter_exporters().iter().cloned())
            .collect();
        for pipeline in self.pipelines.into_values() {
            drop(pipeline.entry);
            pipeline.tasks.join(deadline).await;
        }
        // Every input closes before any is waited for. Exporters of data drain first: what
        // they cannot deliver still reaches the dead-letter exporters, which stop last, once
        // the table no longer holds their inputs.
        let (letters, data): (Vec<_>, Vec<_>) = self
            .exporters
            .into_iter()
            .map(|(id, mut exporter)| {
                exporter.input.take();
                (id, exporter)
            })
            .partition(|(id, _)| dead_letter_exporters.contains(id));
        for (_, exporter) in data {
            exporter.tasks.join(deadline).await;
        }
        self.dead_letters.retain(|_| false);
        for (_, exporter) in letters {
            exporter.tasks.join(deadline).await;
        }
        tracing::info!("stopped");
    }

    /// After a failed start: everything stops at once.
    fn abandon(&mut self) {
        for receiver in self.receivers.values() {
            receiver.tasks.cancel();
        }
        for pipeline in self.pipelines.values() {
            pipeline.tasks.cancel();
        }
        for exporter in self.exporters.values_mut() {
            exporter.input.take();
            exporter.tasks.cancel();
        }
    }

    fn shape(&self) -> plan::RunningShape<'_> {
        plan::RunningShape {
            receivers: self
                .receivers
                .iter()
                .map(|(id, r)| (id.clone(), &r.config))
                .collect(),
            pipelines: self
                .pipelines
                .iter()
                .map(|(name, p)| (name.clone(), &p.built_from))
                .collect(),
            exporters: self
                .exporters
                .iter()
                .map(|(id, e)| {
                    (
                        id.clone(),
                        plan::ExporterShape {
                            config: &e.config,
                            capacity: e.capacity,
                            instance: e.instance,
                        },
                    )
                })
                .collect(),
        }
    }

    async fn start_exporter(
        &mut self,
        config: &Config,
        id: &ComponentId,
        exporter: &ExporterConfig,
        health: &Health,
    ) -> Result<RunningExporter, StartError> {
        let capacity = plan::exporter_queue_capacity(config, id);
        let (input, output) = mpsc::channel(capacity);
        let output = SharedInput::new(output);
        let mut tasks = Tasks::new("exporters");
        let task = exporter
            .spawn(
                id,
                output.clone(),
                tasks.token.clone(),
                health.clone(),
                self.ledger.clone(),
            )
            .await?;
        let task = supervised::exporter(
            id,
            exporter,
            output,
            &tasks.token,
            health,
            &self.ledger,
            task,
        );
        tasks.push(id.to_string(), task);
        self.next_instance += 1;
        Ok(RunningExporter {
            config: exporter.clone(),
            capacity,
            instance: self.next_instance,
            input: Some(input),
            tasks,
        })
    }

    fn start_pipeline(
        &self,
        config: &Config,
        pipeline: &Pipeline,
        health: &Health,
    ) -> RunningPipeline {
        let sender = |id: &ComponentId| {
            self.exporters[id]
                .input
                .clone()
                .expect("a running exporter keeps its input")
        };
        let fanout_to = |ids: &[ComponentId]| {
            Fanout::with_ledger(ids.iter().map(sender).collect(), self.ledger.clone())
        };
        let mut tasks = Tasks::new("processors");
        let dead_letter = fanout_to(&pipeline.dead_letter);
        let stages: Vec<(ComponentId, ProcessorStage)> = pipeline
            .processors
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    config.processors[id].build(id, &pipeline.name, &self.ledger),
                )
            })
            .collect();
        // Inline processors up to the first queueing one run in the receiving task.
        let split = stages
            .iter()
            .position(|(_, stage)| !matches!(stage, ProcessorStage::Inline(_)))
            .unwrap_or(stages.len());
        let mut next = fanout_to(&pipeline.exporters);
        for (id, stage) in stages[split..].iter().rev() {
            let (input, output) = mpsc::channel(crate::pipeline::STAGE_QUEUE_CAPACITY);
            let output = SharedInput::new(output);
            let context = StageContext {
                id: id.clone(),
                pipeline: pipeline.name.clone(),
                signal: pipeline.signal,
                deadline_passed: tasks.token.clone(),
                ledger: self.ledger.clone(),
            };
            let name = format!("{}/{id}", pipeline.name);
            let task = supervised::stage(
                name.clone(),
                stage,
                context,
                output,
                next,
                dead_letter.clone(),
                health,
            );
            tasks.push(name, task);
            next = Fanout::with_ledger(vec![input], self.ledger.clone());
        }
        let inline = stages[..split]
            .iter()
            .filter_map(|(_, stage)| match stage {
                ProcessorStage::Inline(processor) => Some(processor.clone()),
                ProcessorStage::Batch(_) => None,
            })
            .collect();
        // Batches carry a route by name; the table holds the exporters (see `DeadLetterTable`).
        let dead_letter_route = if pipeline.dead_letter.is_empty() {
            self.dead_letters.retain(|name| name != pipeline.name);
            None
        } else {
            self.dead_letters.set(&pipeline.name, dead_letter.clone());
            Some(self.dead_letters.route(&pipeline.name))
        };
        let entry = Arc::new(PipelineEntry {
            pipeline: pipeline.name.clone(),
            inline,
            next,
            dead_letter,
            dead_letter_route,
        });
        let built_from =
            plan::PipelineShape::of(config, pipeline, |id| self.exporters[id].instance);
        RunningPipeline {
            built_from,
            entry,
            tasks,
        }
    }

    /// The names of every running processor stage, as `/ready` lists them.
    fn stage_names(&self) -> Vec<String> {
        self.pipelines
            .values()
            .flat_map(|p| p.tasks.names())
            .collect()
    }

    /// A receiver's routes, for tests that admit data as the receiver would.
    #[cfg(test)]
    fn routes_of(&self, receiver: &str) -> Routes {
        self.receivers[&ComponentId::parse(receiver).unwrap()]
            .routes
            .clone()
    }

    /// The entries of the running pipelines that take data from `receiver`.
    fn routes_for(&self, config: &Config, receiver: &ComponentId) -> RouteMap {
        let mut routes = RouteMap::default();
        for pipeline in &config.pipelines {
            if pipeline.receivers.contains(receiver) {
                routes.add(
                    pipeline.signal,
                    self.pipelines[&pipeline.name].entry.clone(),
                );
            }
        }
        routes
    }

    async fn start_receiver(
        &self,
        config: &Config,
        id: &ComponentId,
        receiver: &ReceiverConfig,
        health: &Health,
    ) -> Result<RunningReceiver, StartError> {
        let routes = Routes::new(self.routes_for(config, id), self.ledger.clone());
        let mut tasks = Tasks::new("receivers");
        let task = receiver
            .start(id, routes.clone(), tasks.token.clone())
            .await?;
        let task = supervised::receiver(id, receiver, routes.clone(), &tasks.token, health, task);
        tasks.push(id.to_string(), task);
        Ok(RunningReceiver {
            config: receiver.clone(),
            routes,
            tasks,
        })
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
