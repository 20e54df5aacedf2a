//! Receivers: where data enters. Each type is registered in the one `match` below.

pub mod kafka;
pub mod otlp;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Claim, ComponentConfig, ComponentId, ConfigError, Kind};
use crate::pipeline::batch::Signal;
use crate::pipeline::{Routes, StartError};

pub const TYPES: &[&str] = &["otlp", "kafka"];

#[derive(Debug, Clone, PartialEq)]
// One config per receiver id, read once: the size difference costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum ReceiverConfig {
    Otlp(otlp::OtlpReceiverConfig),
    Kafka(kafka::KafkaReceiverConfig),
}

impl ComponentConfig for ReceiverConfig {
    const KIND: Kind = Kind::Receiver;
    const TYPES: &'static [&'static str] = TYPES;

    fn from_type<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        config: D,
    ) -> Result<Self, D::Error> {
        match type_name {
            "otlp" => crate::config::or_default(config).map(Self::Otlp),
            "kafka" => {
                use serde::Deserialize;
                kafka::KafkaReceiverConfig::deserialize(config).map(Self::Kafka)
            }
            other => Err(serde::de::Error::custom(format!(
                "unknown receiver type {other:?}"
            ))),
        }
    }

    fn signals(&self) -> &'static [Signal] {
        match self {
            ReceiverConfig::Otlp(_) | ReceiverConfig::Kafka(_) => &Signal::ALL,
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        match self {
            ReceiverConfig::Otlp(config) => config.validate(),
            ReceiverConfig::Kafka(config) => config.validate(),
        }
    }

    fn claims(&self, _id: &ComponentId) -> Vec<Claim> {
        match self {
            ReceiverConfig::Otlp(config) => config.claims(),
            // A consumer: it listens on nothing and keeps its offsets in Kafka.
            ReceiverConfig::Kafka(_) => Vec::new(),
        }
    }
}

impl ReceiverConfig {
    /// Binds its listeners before returning, so that a taken port fails start-up; stops taking
    /// data when `shutdown` is cancelled and ends once in-flight requests are answered.
    pub async fn start(
        &self,
        id: &ComponentId,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        match self {
            ReceiverConfig::Otlp(config) => otlp::start(config, id, routes, shutdown).await,
            ReceiverConfig::Kafka(config) => kafka::start(config, id, routes, shutdown).await,
        }
    }
}
