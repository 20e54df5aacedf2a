//! The `parquet` exporter type, described once.

use super::{ParquetExporter, ParquetExporterConfig};
use crate::config::{Claim, Component, ComponentId, ComponentType, ConfigError};
use crate::exporters::queue::SendingQueueConfig;
use crate::exporters::{ExporterType, OpenContext, Opening};
use crate::pipeline::StartError;

impl ComponentType for ParquetExporterConfig {
    const TYPE: &'static str = "parquet";
}

/// Metrics and logs in the standard messages' columns, spans in a table of their own.
impl Component for ParquetExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        ParquetExporterConfig::validate(self)
    }

    fn claims(&self, _id: &ComponentId) -> Vec<Claim> {
        Claim::directory("directory", &self.directory)
            .into_iter()
            .collect()
    }
}

impl ExporterType for ParquetExporterConfig {
    fn sending_queue(&self) -> &SendingQueueConfig {
        &self.sending_queue
    }

    // Its tables hold data, not DLQ messages: `takes_dead_letters` stays false.

    fn owns_files(&self) -> bool {
        true
    }

    fn open<'a>(&'a self, id: &'a ComponentId, context: OpenContext) -> Opening<'a> {
        Box::pin(async move {
            let exporter = ParquetExporter::open(self, id).map_err(|e| StartError::new(id, e))?;
            let OpenContext {
                intake,
                input_closed,
                ..
            } = context;
            let run: crate::exporters::Run =
                Box::pin(async move { exporter.run(intake.await, input_closed).await });
            Ok(run)
        })
    }
}
