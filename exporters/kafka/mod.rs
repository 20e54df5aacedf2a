//! The `kafka` exporter: OTLP batches to a Kafka topic through librdkafka.

mod config;
mod context;
mod delivery;
mod encode;
mod exporter;
mod factory;
mod fallback;
mod first_send;
pub(crate) mod gds;
mod readiness;

pub use config::{Encoding, KafkaExporterConfig, RetryConfig, PRODUCER_DEFAULTS};
pub use context::QuietContext;
/// For the micro-benchmarks: batches to records, without a producer.
#[doc(hidden)]
pub use encode::{Encoder, OutRecord, Planned};
pub use exporter::KafkaExporter;

/// The producer type every Kafka component uses.
pub type Producer = rdkafka::producer::FutureProducer<QuietContext>;

#[derive(Debug, thiserror::Error)]
pub enum KafkaExporterError {
    #[error("cannot create the Kafka producer: {0}")]
    Create(#[source] rdkafka::error::KafkaError),
}
