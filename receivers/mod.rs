//! Receivers: where data enters. Each type describes itself once (`ReceiverType`, beside its
//! config) and is listed once in `registry!` below.

pub mod kafka;
pub mod otlp;

use std::future::Future;
use std::pin::Pin;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Claim, Component, ComponentId, ConfigError};
use crate::pipeline::batch::Signal;
use crate::pipeline::{Routes, StartError};

/// What starting a receiver returns: its task, once its listeners are bound.
pub type Starting<'a> =
    Pin<Box<dyn Future<Output = Result<JoinHandle<()>, StartError>> + Send + 'a>>;

/// What a receiver type adds to its description: how it starts.
pub trait ReceiverType: Component {
    /// Binds its listeners before returning, so that a taken port fails start-up; stops taking
    /// data when `shutdown` is cancelled and ends once in-flight requests are answered.
    fn start<'a>(
        &'a self,
        id: &'a ComponentId,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Starting<'a>;

    /// Whether it reads files when it starts (certificates, token files), which a reload must
    /// read again even when the config's text is unchanged.
    fn reads_files(&self) -> bool {
        false
    }
}

crate::registry! {
    /// A receiver's config, by type.
    // One config per receiver id, read once: the size difference costs nothing worth a box.
    #[allow(clippy::large_enum_variant)]
    pub enum ReceiverConfig: Receiver as dyn ReceiverType {
        Otlp(otlp::OtlpReceiverConfig),
        Kafka(kafka::KafkaReceiverConfig),
    }
    extra {
        fn signals(&self) -> &'static [Signal] {
            self.description().signals()
        }

        fn validate(&self) -> Vec<ConfigError> {
            self.description().validate()
        }

        fn claims(&self, id: &ComponentId) -> Vec<Claim> {
            self.description().claims(id)
        }
    }
}

impl ReceiverConfig {
    pub fn reads_files(&self) -> bool {
        self.description().reads_files()
    }

    pub async fn start(
        &self,
        id: &ComponentId,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        self.description().start(id, routes, shutdown).await
    }
}
