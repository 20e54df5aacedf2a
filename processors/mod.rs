//! Processors: the middle of a pipeline. Each type is registered in the one `match` below.

pub mod batch;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{ComponentConfig, ConfigError, Kind};
use crate::pipeline::batch::{Batch, Signal};
use crate::pipeline::fanout::Fanout;
use crate::pipeline::StageContext;

pub const TYPES: &[&str] = &["batch"];

#[derive(Debug, Clone, PartialEq)]
pub enum ProcessorConfig {
    Batch(batch::BatchConfig),
}

impl ComponentConfig for ProcessorConfig {
    const KIND: Kind = Kind::Processor;

    fn from_type<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        config: D,
    ) -> Result<Self, D::Error> {
        match type_name {
            "batch" => crate::config::or_default(config).map(Self::Batch),
            other => Err(serde::de::Error::custom(format!(
                "unknown processor type {other:?}"
            ))),
        }
    }

    fn signals(&self) -> &'static [Signal] {
        match self {
            ProcessorConfig::Batch(_) => &Signal::ALL,
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        match self {
            ProcessorConfig::Batch(config) => config.validate(),
        }
    }
}

impl ProcessorConfig {
    /// Each pipeline gets its own instance, as in the OpenTelemetry Collector.
    pub fn spawn(
        &self,
        context: StageContext,
        input: mpsc::Receiver<Batch>,
        output: Fanout,
    ) -> JoinHandle<()> {
        match self {
            ProcessorConfig::Batch(config) => {
                let processor = batch::BatchProcessor::new(config.clone(), context);
                tokio::spawn(processor.run(input, output))
            }
        }
    }
}
