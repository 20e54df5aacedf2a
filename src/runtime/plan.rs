//! What a reload changes: a pure comparison of the running graph's shape with a new config.
//! A component is kept when its config and its wiring are unchanged; everything else is
//! started anew or retired (drained).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::Config;
use crate::config::Pipeline;
use crate::exporters::ExporterConfig;
use crate::model::ComponentId;
use crate::pipeline::{EXPORTER_QUEUE_ITEMS, STAGE_QUEUE_CAPACITY};
use crate::processors::ProcessorConfig;
use crate::receivers::ReceiverConfig;

/// The running graph, as far as a reload compares it.
pub struct RunningShape<'a> {
    pub receivers: BTreeMap<ComponentId, &'a ReceiverConfig>,
    pub pipelines: BTreeMap<String, &'a PipelineShape>,
    pub exporters: BTreeMap<ComponentId, ExporterShape<'a>>,
}

pub struct ExporterShape<'a> {
    pub config: &'a ExporterConfig,
    pub capacity: usize,
    pub instance: u64,
}

/// What a pipeline's chain was built from: its definition (without its receivers, which do
/// not change the chain), its processors' configs, and the exporter instances it feeds.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineShape {
    definition: Pipeline,
    processors: Vec<ProcessorConfig>,
    exporter_instances: Vec<(ComponentId, u64)>,
}

impl PipelineShape {
    pub fn dead_letter_exporters(&self) -> &[ComponentId] {
        &self.definition.dead_letter
    }

    pub fn of(
        config: &Config,
        pipeline: &Pipeline,
        instance_of: impl Fn(&ComponentId) -> u64,
    ) -> PipelineShape {
        PipelineShape {
            definition: Pipeline {
                receivers: Vec::new(),
                ..pipeline.clone()
            },
            processors: pipeline
                .processors
                .iter()
                .map(|id| config.processors[id].clone())
                .collect(),
            exporter_instances: pipeline
                .exporters
                .iter()
                .chain(&pipeline.dead_letter)
                .map(|id| (id.clone(), instance_of(id)))
                .collect(),
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    exporters_kept: BTreeSet<ComponentId>,
    exporters_started: BTreeSet<ComponentId>,
    exporters_retired: BTreeSet<ComponentId>,
    pipelines_kept: BTreeSet<String>,
    pipelines_retired: BTreeSet<String>,
    receivers_kept: BTreeSet<ComponentId>,
    receivers_retired: BTreeSet<ComponentId>,
    receivers_removed: BTreeSet<ComponentId>,
    /// Why the graph must be stopped whole and started again, if it must: an old and a new
    /// instance of an exporter that owns files cannot run side by side.
    full_restart: Option<String>,
}

impl ReloadPlan {
    pub fn new(current: &RunningShape<'_>, new: &Config) -> ReloadPlan {
        let mut plan = ReloadPlan::default();
        for (id, exporter) in &new.exporters {
            let capacity = exporter_queue_capacity(new, id);
            match current.exporters.get(id) {
                Some(running) if running.config == exporter && running.capacity == capacity => {
                    plan.exporters_kept.insert(id.clone());
                }
                _ => {
                    plan.exporters_started.insert(id.clone());
                }
            }
        }
        plan.exporters_retired = current
            .exporters
            .keys()
            .filter(|id| !plan.exporters_kept.contains(*id))
            .cloned()
            .collect();
        let owns_files = |config: &ExporterConfig| config.owns_files().then_some(());
        let started_owning = plan
            .exporters_started
            .iter()
            .find(|id| owns_files(&new.exporters[*id]).is_some());
        let retired_owning = plan
            .exporters_retired
            .iter()
            .find(|id| owns_files(current.exporters[*id].config).is_some());
        if let (Some(started), Some(retired)) = (started_owning, retired_owning) {
            plan.full_restart = Some(format!(
                "exporter {started} starts and {retired} stops, and one of them writes files or a disk queue"
            ));
        }

        for pipeline in &new.pipelines {
            let unchanged = current
                .pipelines
                .get(&pipeline.name)
                .is_some_and(|running| {
                    let exporters_kept = running
                        .exporter_instances
                        .iter()
                        .all(|(id, _)| plan.exporters_kept.contains(id));
                    exporters_kept
                        && **running
                            == PipelineShape::of(new, pipeline, |id| {
                                current.exporters.get(id).map_or(0, |e| e.instance)
                            })
                });
            if unchanged {
                plan.pipelines_kept.insert(pipeline.name.clone());
            }
        }
        plan.pipelines_retired = current
            .pipelines
            .keys()
            .filter(|name| !plan.pipelines_kept.contains(*name))
            .cloned()
            .collect();

        for (id, receiver) in &current.receivers {
            match new.receivers.get(id) {
                // Certificates and token files may have changed on disk: read them again.
                Some(new_config) if new_config == *receiver && !receiver.reads_files() => {
                    plan.receivers_kept.insert(id.clone());
                }
                Some(_) => {
                    plan.receivers_retired.insert(id.clone());
                }
                None => {
                    plan.receivers_retired.insert(id.clone());
                    plan.receivers_removed.insert(id.clone());
                }
            }
        }
        plan
    }

    pub fn full_restart(&self) -> Option<&str> {
        self.full_restart.as_deref()
    }

    pub fn exporters_to_start(&self) -> impl Iterator<Item = &ComponentId> {
        self.exporters_started.iter()
    }

    pub fn exporters_to_retire(&self) -> impl Iterator<Item = &ComponentId> {
        self.exporters_retired.iter()
    }

    pub fn pipelines_to_retire(&self) -> impl Iterator<Item = &String> {
        self.pipelines_retired.iter()
    }

    pub fn receivers_to_retire(&self) -> impl Iterator<Item = &ComponentId> {
        self.receivers_retired.iter()
    }

    pub fn receivers_removed(&self) -> impl Iterator<Item = &ComponentId> {
        self.receivers_removed.iter()
    }
}

impl fmt::Display for ReloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(items: &BTreeSet<T>) -> String {
            if items.is_empty() {
                return "none".to_string();
            }
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
        write!(
            f,
            "receivers kept: {}, replaced or removed: {}; pipelines kept: {}, rebuilt or removed: {}; exporters kept: {}, started: {}, retired: {}",
            list(&self.receivers_kept),
            list(&self.receivers_retired),
            list(&self.pipelines_kept),
            list(&self.pipelines_retired),
            list(&self.exporters_kept),
            list(&self.exporters_started),
            list(&self.exporters_retired),
        )?;
        if let Some(reason) = &self.full_restart {
            write!(f, "; restarting everything: {reason}")?;
        }
        Ok(())
    }
}

/// Batches an exporter's queue holds: fewer when its pipelines batch, so that what waits for
/// it stays near `EXPORTER_QUEUE_ITEMS` items.
pub fn exporter_queue_capacity(config: &Config, exporter: &ComponentId) -> usize {
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
