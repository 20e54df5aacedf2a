//! The `parquet` type in a build without the `parquet` feature: every config of it is refused,
//! saying how to get it, so no value of it ever exists.

use serde::de::{Deserialize, Deserializer, Error as _};

use crate::config::{Component, ComponentId, ComponentType};
use crate::exporters::queue::SendingQueueConfig;
use crate::exporters::{ExporterType, OpenContext, Opening};
use crate::pipeline::StartError;

#[derive(Debug, Clone, PartialEq)]
pub struct ParquetExporterConfig {
    sending_queue: SendingQueueConfig,
}

impl<'de> Deserialize<'de> for ParquetExporterConfig {
    fn deserialize<D: Deserializer<'de>>(_config: D) -> Result<Self, D::Error> {
        Err(D::Error::custom(
            "this build has no parquet support; build with --features parquet",
        ))
    }
}

impl ComponentType for ParquetExporterConfig {
    const TYPE: &'static str = "parquet";
}

impl Component for ParquetExporterConfig {}

impl ExporterType for ParquetExporterConfig {
    fn sending_queue(&self) -> &SendingQueueConfig {
        &self.sending_queue
    }

    fn open<'a>(&'a self, id: &'a ComponentId, _context: OpenContext) -> Opening<'a> {
        Box::pin(async move {
            Err(StartError::new(
                id,
                "this build has no parquet support; build with --features parquet",
            ))
        })
    }
}
