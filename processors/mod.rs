//! Processors: the middle of a pipeline. Each type is registered in the one `match` below.

pub mod batch;
pub mod filter;
mod items;
pub mod tag;
#[cfg(test)]
pub(crate) mod test_data;
pub mod validate;

use std::sync::Arc;

use crate::config::{ComponentConfig, ComponentId, ConfigError, Kind};
use crate::pipeline::batch::Signal;
use crate::pipeline::inline::SharedInline;
pub use crate::pipeline::processor_counters::ProcessorCounters;

pub const TYPES: &[&str] = &["batch", "tag", "validate", "filter"];

#[derive(Debug, Clone, PartialEq)]
pub enum ProcessorConfig {
    Batch(batch::BatchConfig),
    Tag(tag::TagConfig),
    Validate(validate::ValidateConfig),
    Filter(filter::FilterConfig),
}

impl ComponentConfig for ProcessorConfig {
    const KIND: Kind = Kind::Processor;
    const TYPES: &'static [&'static str] = TYPES;

    fn from_type<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        config: D,
    ) -> Result<Self, D::Error> {
        use crate::config::or_default;
        match type_name {
            "batch" => or_default(config).map(Self::Batch),
            "tag" => or_default(config).map(Self::Tag),
            "validate" => or_default(config).map(Self::Validate),
            "filter" => or_default(config).map(Self::Filter),
            other => Err(serde::de::Error::custom(format!(
                "unknown processor type {other:?}"
            ))),
        }
    }

    fn signals(&self) -> &'static [Signal] {
        match self {
            ProcessorConfig::Batch(_) | ProcessorConfig::Tag(_) => &Signal::ALL,
            ProcessorConfig::Validate(config) => config.signals(),
            ProcessorConfig::Filter(config) => config.signals(),
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        match self {
            ProcessorConfig::Batch(config) => config.validate(),
            ProcessorConfig::Tag(config) => config.validate(),
            ProcessorConfig::Validate(config) => config.validate(),
            ProcessorConfig::Filter(config) => config.validate(),
        }
    }

    fn needs_dead_letter(&self) -> bool {
        matches!(self, ProcessorConfig::Validate(c) if c.on_invalid == validate::OnInvalid::DeadLetter)
    }

    fn must_run_before_queues(&self) -> bool {
        matches!(self, ProcessorConfig::Validate(c) if c.on_invalid == validate::OnInvalid::RejectRequest)
    }

    fn queues(&self) -> bool {
        matches!(self, ProcessorConfig::Batch(_))
    }
}

/// How a processor runs: inline (in the receiving task, or as a stage after a queue) or as a
/// queueing stage task of its own.
#[derive(Clone)]
pub enum ProcessorStage {
    Inline(SharedInline),
    Batch(batch::BatchConfig),
}

impl ProcessorConfig {
    /// Each pipeline gets its own instance, as in the OpenTelemetry Collector.
    pub fn build(&self, id: &ComponentId, pipeline: &str) -> ProcessorStage {
        let counters = || ProcessorCounters::new(id, pipeline);
        match self {
            ProcessorConfig::Batch(config) => ProcessorStage::Batch(config.clone()),
            ProcessorConfig::Tag(config) => {
                ProcessorStage::Inline(Arc::new(tag::TagProcessor::new(config, counters())))
            }
            ProcessorConfig::Validate(config) => {
                ProcessorStage::Inline(Arc::new(validate::ValidateProcessor::new(
                    config,
                    id.to_string(),
                    pipeline.to_string(),
                    counters(),
                )))
            }
            ProcessorConfig::Filter(config) => {
                ProcessorStage::Inline(Arc::new(filter::FilterProcessor::new(config, counters())))
            }
        }
    }
}
