//! Exporters: the end of a pipeline. Each type describes itself once (`ExporterType`, beside
//! its config) and is listed once in `registry!` below.

pub mod debug;
pub mod file;
pub mod kafka;
#[cfg(feature = "parquet")]
pub mod parquet;
/// A build without the `parquet` feature still knows the type, to say how to get it.
#[cfg(not(feature = "parquet"))]
#[path = "parquet_unavailable.rs"]
pub mod parquet;
pub mod queue;
pub mod template;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Claim, Component, ComponentId, ConfigError};
use crate::pipeline::batch::Signal;
use crate::pipeline::exporter_input::{run_incarnation, Intake, Outcomes};
use crate::pipeline::ledger::Ledger;
use crate::pipeline::stage_input::SharedInput;
use crate::pipeline::StartError;
use crate::telemetry::Health;

/// An exporter opened and ready to run on its input.
pub type Run = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
/// What opening an exporter returns.
pub type Opening<'a> = Pin<Box<dyn Future<Output = Result<Run, StartError>> + Send + 'a>>;

/// What an exporter type adds to its description: its queue, which routes may list it, and
/// how it is opened.
pub trait ExporterType: Component {
    fn sending_queue(&self) -> &queue::SendingQueueConfig;

    /// Whether a pipeline may list it under `exporters`...
    fn takes_data(&self) -> bool {
        true
    }

    /// ...and under `dead_letter`.
    fn takes_dead_letters(&self) -> bool {
        false
    }

    /// Whether it writes files or directories that a second instance beside it would share
    /// (a reload then never runs an old and a new one at once). A disk queue always does.
    fn owns_files(&self) -> bool {
        false
    }

    /// Opens the exporter (files, producers); the future it returns runs it on the intake.
    fn open<'a>(&'a self, id: &'a ComponentId, context: OpenContext) -> Opening<'a>;
}

/// What an exporter is opened with.
pub struct OpenContext {
    /// Its input, counted in (unless a disk queue in front did) once awaited.
    pub intake: Pin<Box<dyn Future<Output = Intake> + Send>>,
    pub outcomes: Outcomes,
    pub deadline_passed: CancellationToken,
    /// Cancelled once no more batches come into the exporter's queue (see `DiskQueue`).
    pub input_closed: CancellationToken,
    pub health: Health,
}

crate::registry! {
    /// An exporter's config, by type.
    pub enum ExporterConfig: Exporter as dyn ExporterType {
        Kafka(kafka::KafkaExporterConfig),
        File(file::FileExporterConfig),
        Debug(debug::DebugExporterConfig),
        Parquet(parquet::ParquetExporterConfig),
    }
    extra {
        fn signals(&self) -> &'static [Signal] {
            self.description().signals()
        }

        fn validate(&self) -> Vec<ConfigError> {
            let mut errors = self.description().validate();
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
            let mut claims = self.description().claims(id);
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
            self.description().takes_data()
        }

        fn takes_dead_letters(&self) -> bool {
            self.description().takes_dead_letters()
        }
    }
}

impl ExporterConfig {
    pub fn sending_queue(&self) -> &queue::SendingQueueConfig {
        self.description().sending_queue()
    }

    pub fn owns_files(&self) -> bool {
        self.sending_queue().is_disk() || self.description().owns_files()
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
        ledger: Arc<Ledger>,
    ) -> Result<JoinHandle<()>, StartError> {
        let outcomes = Outcomes::with_ledger(&id.to_string(), ledger);
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
        input_closed: CancellationToken,
        health: Health,
    ) -> Result<Run, StartError> {
        let intake = {
            let outcomes = outcomes.clone();
            let deadline_passed = deadline_passed.clone();
            Box::pin(
                async move { Intake::take(&input, outcomes, deadline_passed, counts_in).await },
            )
        };
        let context = OpenContext {
            intake,
            outcomes,
            deadline_passed,
            input_closed,
            health,
        };
        self.description().open(id, context).await
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
