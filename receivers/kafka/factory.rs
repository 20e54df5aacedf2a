//! The `kafka` receiver type, described once.

use tokio_util::sync::CancellationToken;

use super::KafkaReceiverConfig;
use crate::config::{Component, ComponentId, ComponentType, ConfigError};
use crate::pipeline::Routes;
use crate::receivers::{ReceiverType, Starting};

impl ComponentType for KafkaReceiverConfig {
    const TYPE: &'static str = "kafka";
}

/// A consumer: it listens on nothing and keeps its offsets in Kafka, so it claims nothing.
impl Component for KafkaReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        KafkaReceiverConfig::validate(self)
    }
}

impl ReceiverType for KafkaReceiverConfig {
    fn start<'a>(
        &'a self,
        id: &'a ComponentId,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Starting<'a> {
        Box::pin(super::start(self, id, routes, shutdown))
    }
}
