//! Resolves `service.pipelines`: every reference names a component that exists and handles the
//! pipeline's signal, every pipeline has a receiver and an exporter, every component is used.

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

use super::load::Parsed;
use super::service::ServiceSection;
use super::{did_you_mean, ComponentConfig, ComponentId, ConfigError, Pipeline};
use crate::model::Signal;

pub(super) fn resolve<R, P, E>(
    service: &ServiceSection,
    receivers: &Parsed<R>,
    processors: &Parsed<P>,
    exporters: &Parsed<E>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Pipeline>
where
    R: ComponentConfig,
    P: ComponentConfig,
    E: ComponentConfig,
{
    if service.pipelines.is_empty() {
        errors.push(ConfigError::new(
            "service.pipelines",
            "expected at least one pipeline (traces, metrics or logs), found none",
        ));
    }
    let mut used = BTreeSet::new();
    let mut pipelines = Vec::new();
    for (name, section) in &service.pipelines {
        let path = format!("service.pipelines.{name}");
        let signal_name = name.split('/').next().unwrap_or_default();
        let Some(signal) = Signal::parse(signal_name) else {
            let hint = did_you_mean(signal_name, Signal::ALL.map(Signal::as_str))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            errors.push(
                ConfigError::new(
                    path,
                    format!(
                        "expected a pipeline id of the form signal or signal/name with signal one of traces, metrics, logs; found {signal_name:?}{hint}"
                    ),
                )
                .at(section.referenced),
            );
            continue;
        };
        let pipeline = &section.value;
        let mut resolver = Resolver {
            path: &path,
            signal,
            errors: &mut *errors,
            used: &mut used,
        };
        let resolved = Pipeline {
            name: name.clone(),
            signal,
            receivers: resolver.list("receivers", &pipeline.receivers, receivers, true),
            processors: resolver.list("processors", &pipeline.processors, processors, false),
            exporters: resolver.list("exporters", &pipeline.exporters, exporters, true),
            dead_letter: resolver.list("dead_letter", &pipeline.dead_letter, exporters, false),
        };
        check_processor_order(&path, &resolved, processors, errors);
        pipelines.push(resolved);
    }
    report_unused(receivers, &used, errors);
    report_unused(processors, &used, errors);
    report_unused(exporters, &used, errors);
    pipelines
}

struct Resolver<'a> {
    path: &'a str,
    signal: Signal,
    errors: &'a mut Vec<ConfigError>,
    used: &'a mut BTreeSet<(&'static str, String)>,
}

impl Resolver<'_> {
    fn list<T: ComponentConfig>(
        &mut self,
        field: &str,
        entries: &[Spanned<String>],
        section: &Parsed<T>,
        required: bool,
    ) -> Vec<ComponentId> {
        let noun = T::KIND.noun();
        if required && entries.is_empty() {
            self.errors.push(ConfigError::new(
                format!("{}.{field}", self.path),
                format!("a pipeline needs at least one {noun}, found none"),
            ));
        }
        let mut ids = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let path = format!("{}.{field}[{index}]", self.path);
            let name = entry.value.as_str();
            self.used.insert((T::KIND.section(), name.to_string()));
            let error =
                |message: String| ConfigError::new(path.clone(), message).at(entry.referenced);
            if section.broken.iter().any(|b| b == name) {
                continue;
            }
            let Some((id, config)) = section.by_name.get(name) else {
                let defined = section.by_name.keys().chain(&section.broken);
                let hint = did_you_mean(name, defined.map(String::as_str))
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                self.errors.push(error(format!(
                    "no {noun} named {name:?}{hint} (define it under {})",
                    T::KIND.section()
                )));
                continue;
            };
            if !config.signals().contains(&self.signal) {
                let handled: Vec<&str> = config.signals().iter().map(|s| s.as_str()).collect();
                self.errors.push(error(format!(
                    "{noun} {name:?} cannot handle {}; it handles {}",
                    self.signal,
                    handled.join(", ")
                )));
                continue;
            }
            if ids.contains(id) {
                self.errors.push(error(format!("{name:?} is listed twice")));
                continue;
            }
            if field == "exporters" && !config.takes_data() {
                self.errors.push(error(format!(
                    "exporter {name:?} writes dead letters only; list it under dead_letter"
                )));
                continue;
            }
            if field == "dead_letter" && !config.takes_dead_letters() {
                self.errors.push(error(format!(
                    "exporter {name:?} cannot write dead letters; use a kafka exporter with encoding: dlq_json, or a file exporter with format: json"
                )));
                continue;
            }
            ids.push(id.clone());
        }
        ids
    }
}

/// Processor placement rules that need the whole pipeline.
fn check_processor_order<P: ComponentConfig>(
    path: &str,
    pipeline: &Pipeline,
    processors: &Parsed<P>,
    errors: &mut Vec<ConfigError>,
) {
    let mut queued_before: Option<&ComponentId> = None;
    for id in &pipeline.processors {
        let Some((_, config)) = processors.by_name.get(&id.to_string()) else {
            continue;
        };
        if config.needs_dead_letter() && pipeline.dead_letter.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.dead_letter"),
                format!("processor {:?} sends what it refuses to the dead letter, but the pipeline lists no dead_letter exporter", id.to_string()),
            ));
        }
        if let (true, Some(queue)) = (config.must_run_before_queues(), queued_before) {
            errors.push(ConfigError::new(
                format!("{path}.processors"),
                format!(
                    "processor {:?} refuses whole requests, so it must come before {:?}, which answers the client first",
                    id.to_string(),
                    queue.to_string()
                ),
            ));
        }
        if config.queues() && queued_before.is_none() {
            queued_before = Some(id);
        }
    }
}

fn report_unused<T: ComponentConfig>(
    section: &Parsed<T>,
    used: &BTreeSet<(&'static str, String)>,
    errors: &mut Vec<ConfigError>,
) {
    let kind = T::KIND;
    for name in section.by_name.keys() {
        if !used.contains(&(kind.section(), name.clone())) {
            let error = ConfigError::new(
                format!("{}.{name}", kind.section()),
                format!(
                    "{} {name:?} is used by no pipeline; add it to one under service.pipelines or remove it",
                    kind.noun()
                ),
            );
            errors.push(match section.locations.get(name) {
                Some(location) => error.at(*location),
                None => error,
            });
        }
    }
}
