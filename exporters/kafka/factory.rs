//! The `kafka` exporter type, described once.

use super::{Encoding, KafkaExporter, KafkaExporterConfig};
use crate::config::{Claim, Component, ComponentId, ComponentType, ConfigError};
use crate::exporters::queue::SendingQueueConfig;
use crate::exporters::{ExporterType, OpenContext, Opening};
use crate::model::Signal;
use crate::pipeline::StartError;

impl ComponentType for KafkaExporterConfig {
    const TYPE: &'static str = "kafka";
}

impl Component for KafkaExporterConfig {
    fn signals(&self) -> &'static [Signal] {
        match self.encoding {
            // The standard messages exist for metrics and logs only.
            Encoding::GdsJson => &[Signal::Metrics, Signal::Logs],
            _ => &Signal::ALL,
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        KafkaExporterConfig::validate(self)
    }

    fn claims(&self, id: &ComponentId) -> Vec<Claim> {
        Claim::file("dead_letter_file", &self.dead_letter_file_for(id))
            .into_iter()
            .collect()
    }
}

impl ExporterType for KafkaExporterConfig {
    fn sending_queue(&self) -> &SendingQueueConfig {
        &self.sending_queue
    }

    fn takes_data(&self) -> bool {
        !self.writes_dead_letters()
    }

    fn takes_dead_letters(&self) -> bool {
        self.writes_dead_letters()
    }

    fn open<'a>(&'a self, id: &'a ComponentId, context: OpenContext) -> Opening<'a> {
        Box::pin(async move {
            let OpenContext {
                intake,
                outcomes,
                deadline_passed,
                health,
                ..
            } = context;
            let exporter = KafkaExporter::start(self, id, health, deadline_passed, outcomes)
                .map_err(|e| StartError::new(id, e))?;
            let run: crate::exporters::Run =
                Box::pin(async move { exporter.run(intake.await).await });
            Ok(run)
        })
    }
}
