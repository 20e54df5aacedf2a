//! Exporters: the end of a pipeline. Each type is registered in the one `match` below.

pub mod debug;
pub mod file;
pub mod kafka;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod queue;
pub mod template;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Claim, ComponentConfig, ComponentId, ConfigError, Kind};
use crate::pipeline::batch::Signal;
use crate::pipeline::exporter_input::{run_incarnation, Intake, Outcomes};
use crate::pipeline::stage_input::SharedInput;
use crate::pipeline::StartError;
use crate::telemetry::Health;

/// An exporter opened and ready to run on its input.
type Run = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// `parquet` is listed in every build; one without the `parquet` feature says so when asked for it.
pub const TYPES: &[&str] = &["kafka", "file", "debug", "parquet"];

#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    Kafka(kafka::KafkaExporterConfig),
    File(file::FileExporterConfig),
    Debug(debug::DebugExporterConfig),
    #[cfg(feature = "parquet")]
    Parquet(parquet::ParquetExporterConfig),
}

impl ComponentConfig for ExporterConfig {
    const KIND: Kind = Kind::Exporter;
    const TYPES: &'static [&'static str] = TYPES;

    fn from_type<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        config: D,
    ) -> Result<Self, D::Error> {
        use serde::Deserialize;
        match type_name {
            "kafka" => kafka::KafkaExporterConfig::deserialize(config).map(Self::Kafka),
            "file" => file::FileExporterConfig::deserialize(config).map(Self::File),
            "debug" => crate::config::or_default(config).map(Self::Debug),
            #[cfg(feature = "parquet")]
            "parquet" => parquet::ParquetExporterConfig::deserialize(config).map(Self::Parquet),
            #[cfg(not(feature = "parquet"))]
            "parquet" => Err(serde::de::Error::custom(
                "this build has no parquet support; build with --features parquet",
            )),
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
            // Metrics and logs in the standard messages' columns, spans in a table of their own.
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(_) => &Signal::ALL,
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = match self {
            ExporterConfig::Kafka(config) => config.validate(),
            ExporterConfig::File(config) => config.validate(),
            ExporterConfig::Debug(_) => Vec::new(),
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(config) => config.validate(),
        };
        let queue = self.sending_queue();
        errors.extend(queue.validate());
        if queue.is_disk() && !self.takes_data() {
            errors.push(ConfigError::new(
                "sending_queue.storage",
                "expected storage: memory for a dead-letter exporter (a disk queue holds OTLP data only), found disk",
            ));
        }
        errors
    }

    fn claims(&self, id: &ComponentId) -> Vec<Claim> {
        let mut claims: Vec<Claim> = match self {
            ExporterConfig::Kafka(config) => {
                Claim::file("dead_letter_file", &config.dead_letter_file_for(id))
                    .into_iter()
                    .collect()
            }
            ExporterConfig::File(config) => Claim::file_template("path", &config.path)
                .into_iter()
                .collect(),
            ExporterConfig::Debug(_) => Vec::new(),
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(config) => Claim::directory("directory", &config.directory)
                .into_iter()
                .collect(),
        };
        let queue = self.sending_queue();
        if queue.is_disk() {
            claims.extend(Claim::directory(
                "sending_queue.directory",
                &queue.directory_for(id),
            ));
        }
        claims
    }

    fn takes_data(&self) -> bool {
        match self {
            ExporterConfig::Kafka(config) => !config.writes_dead_letters(),
            ExporterConfig::File(_) | ExporterConfig::Debug(_) => true,
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(_) => true,
        }
    }

    fn takes_dead_letters(&self) -> bool {
        match self {
            ExporterConfig::Kafka(config) => config.writes_dead_letters(),
            ExporterConfig::File(config) => config.format == file::FileFormat::Json,
            ExporterConfig::Debug(_) => true,
            // Its tables hold data, not DLQ messages.
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(_) => false,
        }
    }
}

impl ExporterConfig {
    pub fn sending_queue(&self) -> &queue::SendingQueueConfig {
        match self {
            ExporterConfig::Kafka(config) => &config.sending_queue,
            ExporterConfig::File(config) => &config.sending_queue,
            ExporterConfig::Debug(config) => &config.sending_queue,
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(config) => &config.sending_queue,
        }
    }

    /// One incarnation of the exporter, shared by every pipeline that lists it. The task ends
    /// once its input closes and everything it took is delivered, or when `deadline_passed`
    /// fires. With a disk queue, the queue task stands between `input` and the exporter. The
    /// input outlives the task: a supervisor may start another incarnation on it.
    pub async fn spawn(
        &self,
        id: &ComponentId,
        input: SharedInput,
        deadline_passed: CancellationToken,
        health: Health,
    ) -> Result<JoinHandle<()>, StartError> {
        let outcomes = Outcomes::new(&id.to_string());
        let queue = self.sending_queue();
        if !queue.is_disk() {
            // The exporter's input closes as upstream stops: it needs no other word.
            let input_closed = CancellationToken::new();
            let run = self
                .start_exporter(
                    id,
                    input,
                    true,
                    outcomes.clone(),
                    deadline_passed.clone(),
                    input_closed,
                    health,
                )
                .await?;
            return Ok(tokio::spawn(run_incarnation(
                outcomes,
                deadline_passed,
                run,
            )));
        }
        let (disk, acked) = queue::DiskQueue::open_when_free(queue, id, outcomes.clone())
            .await
            .map_err(|e| StartError::new(id, e))?;
        let (to_exporter, exporter_input) = mpsc::channel(crate::pipeline::STAGE_QUEUE_CAPACITY);
        let exporter = self
            .start_exporter(
                id,
                SharedInput::new(exporter_input),
                false,
                outcomes.clone(),
                deadline_passed.clone(),
                disk.input_closed(),
                health,
            )
            .await?;
        let exporter = tokio::spawn(exporter);
        let (queue_outcomes, queue_deadline) = (outcomes.clone(), deadline_passed.clone());
        let run = async move {
            let intake = Intake::take(&input, queue_outcomes, queue_deadline, true).await;
            disk.run(acked, intake, to_exporter).await;
            if let Err(e) = exporter.await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        };
        Ok(tokio::spawn(run_incarnation(
            outcomes,
            deadline_passed,
            run,
        )))
    }

    /// Opens the exporter; the future it returns runs it on `input` (counting batches in
    /// unless a disk queue in front did).
    #[allow(clippy::too_many_arguments)]
    async fn start_exporter(
        &self,
        id: &ComponentId,
        input: SharedInput,
        counts_in: bool,
        outcomes: Outcomes,
        deadline_passed: CancellationToken,
        // Cancelled once no more batches come into the exporter's queue (see `DiskQueue`).
        #[cfg_attr(not(feature = "parquet"), allow(unused_variables))]
        input_closed: CancellationToken,
        health: Health,
    ) -> Result<Run, StartError> {
        let intake = {
            let outcomes = outcomes.clone();
            let deadline_passed = deadline_passed.clone();
            async move { Intake::take(&input, outcomes, deadline_passed, counts_in).await }
        };
        match self {
            ExporterConfig::Kafka(config) => {
                let exporter =
                    kafka::KafkaExporter::start(config, id, health, deadline_passed, outcomes)
                        .map_err(|e| StartError::new(id, e))?;
                Ok(Box::pin(async move { exporter.run(intake.await).await }))
            }
            ExporterConfig::File(config) => {
                let exporter = file::FileExporter::open(config, id)
                    .await
                    .map_err(|e| StartError::new(id, e))?;
                Ok(Box::pin(async move { exporter.run(intake.await).await }))
            }
            ExporterConfig::Debug(config) => {
                let (config, id) = (config.clone(), id.to_string());
                Ok(Box::pin(async move {
                    debug::run(config, id, intake.await).await
                }))
            }
            #[cfg(feature = "parquet")]
            ExporterConfig::Parquet(config) => {
                let exporter = parquet::ParquetExporter::open(config, id)
                    .map_err(|e| StartError::new(id, e))?;
                Ok(Box::pin(async move {
                    exporter.run(intake.await, input_closed).await
                }))
            }
        }
    }
}

#[cfg(all(test, not(feature = "parquet")))]
mod tests {
    #[test]
    fn a_build_without_parquet_says_how_to_get_it() {
        let text = r#"
receivers:
  otlp: { protocols: { http: } }
exporters:
  parquet: { directory: ./staging }
service:
  pipelines:
    metrics: { receivers: [otlp], exporters: [parquet] }
"#;
        let errors: Vec<String> = crate::runtime::Config::parse(text, |_| None)
            .expect_err("no parquet in this build")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            ["line 5, column 12: exporters.parquet: this build has no parquet support; build with --features parquet"]
        );
    }
}

#[cfg(test)]
mod deadline_tests;
