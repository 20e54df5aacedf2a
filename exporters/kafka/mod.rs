//! The `kafka` exporter: OTLP batches to a Kafka topic through librdkafka.

mod config;
mod exporter;
mod readiness;

pub use config::{Encoding, KafkaExporterConfig};
pub use exporter::KafkaExporter;

#[derive(Debug, thiserror::Error)]
pub enum KafkaExporterError {
    #[error("cannot create the Kafka producer: {0}")]
    Create(#[source] rdkafka::error::KafkaError),
}
