//! Exporters: the end of a pipeline. Each type is registered in the one `match` below.

pub mod debug;
pub mod file;
pub mod kafka;
pub mod queue;
pub mod template;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ComponentConfig, ComponentId, ConfigError, Kind};
use crate::pipeline::batch::{Batch, Signal};
use crate::pipeline::StartError;
use crate::telemetry::Health;

pub const TYPES: &[&str] = &["kafka", "file", "debug"];

#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    Kafka(kafka::KafkaExporterConfig),
    File(file::FileExporterConfig),
    Debug(debug::DebugExporterConfig),
}

impl ComponentConfig for ExporterConfig {
    const KIND: Kind = Kind::Exporter;

    fn from_type<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        config: D,
    ) -> Result<Self, D::Error> {
        use serde::Deserialize;
        match type_name {
            "kafka" => kafka::KafkaExporterConfig::deserialize(config).map(Self::Kafka),
            "file" => file::FileExporterConfig::deserialize(config).map(Self::File),
            "debug" => crate::config::or_default(config).map(Self::Debug),
            other => Err(serde::de::Error::custom(format!(
                "unknown exporter type {other:?}"
            ))),
        }
    }

    fn signals(&self) -> &'static [Signal] {
        match self {
            ExporterConfig::Kafka(config) if config.encoding == kafka::Encoding::GdsJson => {
                &[Signal::Metrics, Signal::Logs]
            }
            ExporterConfig::Kafka(_) | ExporterConfig::File(_) | ExporterConfig::Debug(_) => {
                &Signal::ALL
            }
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = match self {
            ExporterConfig::Kafka(config) => config.validate(),
            ExporterConfig::File(config) => config.validate(),
            ExporterConfig::Debug(_) => Vec::new(),
        };
        let queue = self.sending_queue();
        errors.extend(queue.validate());
        if queue.is_disk() && self.takes_dead_letters() && !self.takes_data() {
            errors.push(ConfigError::new(
                "sending_queue.storage",
                "expected storage: memory for a dead-letter exporter (a disk queue holds OTLP data only), found disk",
            ));
        }
        errors
    }

    fn takes_data(&self) -> bool {
        match self {
            ExporterConfig::Kafka(config) => !config.writes_dead_letters(),
            ExporterConfig::File(_) | ExporterConfig::Debug(_) => true,
        }
    }

    fn takes_dead_letters(&self) -> bool {
        match self {
            ExporterConfig::Kafka(config) => config.writes_dead_letters(),
            ExporterConfig::File(config) => config.format == file::FileFormat::Json,
            ExporterConfig::Debug(_) => true,
        }
    }
}

impl ExporterConfig {
    pub fn sending_queue(&self) -> &queue::SendingQueueConfig {
        match self {
            ExporterConfig::Kafka(config) => &config.sending_queue,
            ExporterConfig::File(config) => &config.sending_queue,
            ExporterConfig::Debug(config) => &config.sending_queue,
        }
    }

    /// One instance per id, shared by every pipeline that lists it. The task ends once its
    /// input closes and everything it took is delivered, or when `deadline_passed` fires.
    /// With a disk queue, the queue task stands between `input` and the exporter.
    pub async fn spawn(
        &self,
        id: &ComponentId,
        input: mpsc::Receiver<Batch>,
        deadline_passed: CancellationToken,
        health: Health,
    ) -> Result<JoinHandle<()>, StartError> {
        let queue = self.sending_queue();
        if !queue.is_disk() {
            return self
                .spawn_exporter(id, input, deadline_passed, health)
                .await;
        }
        let (disk, acked) =
            queue::DiskQueue::open(queue, id).map_err(|e| StartError::new(id, e))?;
        let (to_exporter, exporter_input) = mpsc::channel(crate::pipeline::STAGE_QUEUE_CAPACITY);
        let exporter = self
            .spawn_exporter(id, exporter_input, deadline_passed.clone(), health)
            .await?;
        Ok(tokio::spawn(async move {
            disk.run(acked, input, to_exporter, deadline_passed).await;
            let _ = exporter.await;
        }))
    }

    async fn spawn_exporter(
        &self,
        id: &ComponentId,
        input: mpsc::Receiver<Batch>,
        deadline_passed: CancellationToken,
        health: Health,
    ) -> Result<JoinHandle<()>, StartError> {
        match self {
            ExporterConfig::Kafka(config) => {
                kafka::KafkaExporter::start(config, id, health, deadline_passed.clone())
                    .map(|exporter| tokio::spawn(exporter.run(input, deadline_passed)))
                    .map_err(|e| StartError::new(id, e))
            }
            ExporterConfig::File(config) => {
                let exporter = file::FileExporter::open(config, id)
                    .await
                    .map_err(|e| StartError::new(id, e))?;
                Ok(tokio::spawn(exporter.run(input, deadline_passed)))
            }
            ExporterConfig::Debug(config) => Ok(tokio::spawn(debug::run(
                config.clone(),
                id.to_string(),
                input,
                deadline_passed,
            ))),
        }
    }
}
