//! `collector.yaml`: loading, environment substitution, component ids and validation.

pub mod claims;
mod env;
mod load;
mod pipelines;
mod registry;
mod service;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize as _;

pub use crate::model::{did_you_mean, ComponentId, ConfigError, ConfigErrors, IdError, Kind};
pub use claims::Claim;
pub use registry::{Component, ComponentType};
pub use service::{LogFormat, LogsTelemetry, MetricsTelemetry, TelemetryConfig};

use crate::model::Signal;

/// A validated configuration: every reference resolves and every component config is valid.
/// Generic over the component configs, which live above this layer: the runtime names the
/// built-in ones (`runtime::Config`).
#[derive(Debug)]
pub struct Document<R, P, E> {
    pub receivers: BTreeMap<ComponentId, R>,
    pub processors: BTreeMap<ComponentId, P>,
    pub exporters: BTreeMap<ComponentId, E>,
    pub pipelines: Vec<Pipeline>,
    pub telemetry: TelemetryConfig,
    pub shutdown_timeout: Duration,
    pub memory_limit: Option<bytesize::ByteSize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// As written under `service.pipelines`: `traces`, `metrics/gds`.
    pub name: String,
    pub signal: Signal,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
    /// Exporters that receive what the pipeline's stages refuse, as dead letters.
    pub dead_letter: Vec<ComponentId>,
}

impl<R: ComponentConfig, P: ComponentConfig, E: ComponentConfig> Document<R, P, E> {
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            file: file.clone(),
            errors: vec![ConfigError::new("", format!("cannot read the file: {e}"))],
        })?;
        Self::parse(&text, |name| std::env::var(name).ok())
            .map_err(|errors| ConfigErrors { file, errors })
    }

    pub fn parse(
        text: &str,
        env_lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<ConfigError>> {
        load::parse(text, env_lookup)
    }

    /// One line for `tributary validate`: `2 pipelines: traces (otlp → batch → kafka), ...`.
    pub fn summary(&self) -> String {
        let join = |ids: &[ComponentId]| {
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let pipelines: Vec<String> = self
            .pipelines
            .iter()
            .map(|p| {
                let mut stages = vec![join(&p.receivers)];
                stages.extend(p.processors.iter().map(ToString::to_string));
                stages.push(join(&p.exporters));
                format!("{} ({})", p.name, stages.join(" → "))
            })
            .collect();
        let noun = if pipelines.len() == 1 {
            "pipeline"
        } else {
            "pipelines"
        };
        format!("{} {noun}: {}", pipelines.len(), pipelines.join("; "))
    }
}

/// What every component config offers the loader; each folder's `mod.rs` implements it for
/// its enum of configs, dispatching on the type name in one `match`.
pub trait ComponentConfig: Sized {
    const KIND: Kind;
    /// The type names this kind accepts, for errors and `tributary components`.
    const TYPES: &'static [&'static str];

    fn from_type<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        config: D,
    ) -> Result<Self, D::Error>;

    fn signals(&self) -> &'static [Signal];

    /// Every problem, each with its path relative to the component.
    fn validate(&self) -> Vec<ConfigError>;

    /// What it takes for itself alone (ports, directories, files), each with its path
    /// relative to the component; the loader refuses two claims on one resource.
    fn claims(&self, _id: &ComponentId) -> Vec<Claim> {
        Vec::new()
    }

    /// For exporters: whether a pipeline may list it under `exporters`...
    fn takes_data(&self) -> bool {
        true
    }

    /// ...and under `dead_letter`.
    fn takes_dead_letters(&self) -> bool {
        false
    }

    /// For processors: sends refused items to the pipeline's `dead_letter` exporters.
    fn needs_dead_letter(&self) -> bool {
        false
    }

    /// For processors: answers the client itself, so it must run before any queueing stage.
    fn must_run_before_queues(&self) -> bool {
        false
    }

    /// For processors: holds items in a queue of its own (a batch processor).
    fn queues(&self) -> bool {
        false
    }
}

/// A component written with no body (`batch:`) takes its defaults.
pub fn or_default<'de, T, D>(config: D) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de> + Default,
    D: serde::Deserializer<'de>,
{
    Ok(Option::<T>::deserialize(config)?.unwrap_or_default())
}

/// For `deserialize_with` on an optional section: present but empty (`http:`) means enabled
/// with its defaults, as in the OpenTelemetry Collector; absent means disabled.
pub fn enabled_with_defaults<'de, T, D>(section: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de> + Default,
    D: serde::Deserializer<'de>,
{
    or_default(section).map(Some)
}

/// The problem with a `host:port` setting, if any.
pub fn host_port_problem(value: &str) -> Option<String> {
    let valid = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    (!valid).then(|| format!("expected host:port, found {value:?}"))
}

#[cfg(test)]
mod tests;
