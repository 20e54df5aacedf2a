//! Builds the running graph from a validated config, exporters first so that every sender has
//! a consumer before data can flow, receivers last.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::shutdown::Tier;
use super::supervised;
use super::Config;
use crate::model::ComponentId;
use crate::pipeline::batch::DeadLetterRoute;
use crate::pipeline::fanout::Fanout;
use crate::pipeline::stage_input::SharedInput;
use crate::pipeline::{
    PipelineEntry, Routes, StageContext, StartError, EXPORTER_QUEUE_ITEMS, STAGE_QUEUE_CAPACITY,
};
use crate::processors::{ProcessorConfig, ProcessorStage};
use crate::telemetry::Health;

/// The most the receivers get to answer the requests in flight when stopping.
const RECEIVERS_STOP_BUDGET: Duration = Duration::from_secs(5);

pub struct Service {
    receivers: Tier,
    processors: Tier,
    exporters: Tier,
}

impl Service {
    pub async fn start(config: &Config, health: &Health) -> Result<Service, StartError> {
        let mut service = Service {
            receivers: Tier::new("receivers"),
            processors: Tier::new("processors"),
            exporters: Tier::new("exporters"),
        };
        match service.build(config, health).await {
            Ok(()) => Ok(service),
            Err(e) => {
                service.receivers.cancel();
                service.processors.cancel();
                service.exporters.cancel();
                Err(e)
            }
        }
    }

    async fn build(&mut self, config: &Config, health: &Health) -> Result<(), StartError> {
        let mut exporter_inputs = BTreeMap::new();
        for (id, exporter) in &config.exporters {
            let (input, output) = mpsc::channel(exporter_queue_capacity(config, id));
            let output = SharedInput::new(output);
            let task = exporter
                .spawn(
                    id,
                    output.clone(),
                    self.exporters.token.clone(),
                    health.clone(),
                )
                .await?;
            let task =
                supervised::exporter(id, exporter, output, &self.exporters.token, health, task);
            self.exporters.push(id.to_string(), task);
            exporter_inputs.insert(id.clone(), input);
        }

        let mut routes: BTreeMap<ComponentId, Routes> = BTreeMap::new();
        for pipeline in &config.pipelines {
            let fanout_to = |ids: &[ComponentId]| {
                Fanout::new(ids.iter().map(|id| exporter_inputs[id].clone()).collect())
            };
            let dead_letter = fanout_to(&pipeline.dead_letter);
            let stages: Vec<(ComponentId, ProcessorStage)> = pipeline
                .processors
                .iter()
                .map(|id| (id.clone(), config.processors[id].build(id, &pipeline.name)))
                .collect();
            // Inline processors up to the first queueing one run in the receiving task.
            let split = stages
                .iter()
                .position(|(_, stage)| !matches!(stage, ProcessorStage::Inline(_)))
                .unwrap_or(stages.len());
            let mut next = fanout_to(&pipeline.exporters);
            for (id, stage) in stages[split..].iter().rev() {
                let (input, output) = mpsc::channel(STAGE_QUEUE_CAPACITY);
                let output = SharedInput::new(output);
                let context = StageContext {
                    id: id.clone(),
                    pipeline: pipeline.name.clone(),
                    signal: pipeline.signal,
                    deadline_passed: self.processors.token.clone(),
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
                self.processors.push(name, task);
                next = Fanout::new(vec![input]);
            }
            let inline = stages[..split]
                .iter()
                .filter_map(|(_, stage)| match stage {
                    ProcessorStage::Inline(processor) => Some(processor.clone()),
                    ProcessorStage::Batch(_) => None,
                })
                .collect();
            let dead_letter_route = (!pipeline.dead_letter.is_empty())
                .then(|| DeadLetterRoute::new(&pipeline.name, dead_letter.clone()));
            let entry = Arc::new(PipelineEntry {
                pipeline: pipeline.name.clone(),
                inline,
                next,
                dead_letter,
                dead_letter_route,
            });
            for id in &pipeline.receivers {
                routes
                    .entry(id.clone())
                    .or_default()
                    .add(pipeline.signal, entry.clone());
            }
        }
        // Only stages may hold senders, so that each channel closes once its producers stop.
        drop(exporter_inputs);

        for (id, routes) in routes {
            let receiver = &config.receivers[&id];
            let task = receiver
                .start(&id, routes.clone(), self.receivers.token.clone())
                .await?;
            let task =
                supervised::receiver(&id, receiver, routes, &self.receivers.token, health, task);
            self.receivers.push(id.to_string(), task);
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
        self.receivers.stop(receivers_deadline).await;
        self.processors.join(deadline).await;
        self.exporters.join(deadline).await;
        tracing::info!("stopped");
    }
}

/// Batches an exporter's queue holds: fewer when its pipelines batch, so that what waits for
/// it stays near `EXPORTER_QUEUE_ITEMS` items.
fn exporter_queue_capacity(config: &Config, exporter: &ComponentId) -> usize {
    config
        .pipelines
        .iter()
        .filter(|p| p.exporters.contains(exporter) || p.dead_letter.contains(exporter))
        .flat_map(|p| &p.processors)
        .filter_map(|id| match &config.processors[id] {
            ProcessorConfig::Batch(batch) => Some(batch.send_batch_size.max(1)),
            _ => None,
        })
        .map(|batch_items| (EXPORTER_QUEUE_ITEMS / batch_items).clamp(2, STAGE_QUEUE_CAPACITY))
        .min()
        .unwrap_or(STAGE_QUEUE_CAPACITY)
}
