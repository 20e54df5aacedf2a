//! The `file` exporter type, described once.

use super::{FileExporter, FileExporterConfig, FileFormat};
use crate::config::{Claim, Component, ComponentId, ComponentType, ConfigError};
use crate::exporters::queue::SendingQueueConfig;
use crate::exporters::{ExporterType, OpenContext, Opening};
use crate::pipeline::StartError;

impl ComponentType for FileExporterConfig {
    const TYPE: &'static str = "file";
}

impl Component for FileExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        FileExporterConfig::validate(self)
    }

    fn claims(&self, _id: &ComponentId) -> Vec<Claim> {
        Claim::file_template("path", &self.path)
            .into_iter()
            .collect()
    }
}

impl ExporterType for FileExporterConfig {
    fn sending_queue(&self) -> &SendingQueueConfig {
        &self.sending_queue
    }

    /// Dead letters are DLQ messages, one JSON object a line.
    fn takes_dead_letters(&self) -> bool {
        self.format == FileFormat::Json
    }

    fn owns_files(&self) -> bool {
        true
    }

    fn open<'a>(&'a self, id: &'a ComponentId, context: OpenContext) -> Opening<'a> {
        Box::pin(async move {
            let exporter = FileExporter::open(self, id)
                .await
                .map_err(|e| StartError::new(id, e))?;
            let intake = context.intake;
            let run: crate::exporters::Run =
                Box::pin(async move { exporter.run(intake.await).await });
            Ok(run)
        })
    }
}
