//! The `otlp` receiver type, described once.

use tokio_util::sync::CancellationToken;

use super::OtlpReceiverConfig;
use crate::config::{Claim, Component, ComponentId, ComponentType, ConfigError};
use crate::pipeline::Routes;
use crate::receivers::{ReceiverType, Starting};

impl ComponentType for OtlpReceiverConfig {
    const TYPE: &'static str = "otlp";

    fn read<'de, D: serde::Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        crate::config::or_default(config)
    }
}

impl Component for OtlpReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        OtlpReceiverConfig::validate(self)
    }

    fn claims(&self, _id: &ComponentId) -> Vec<Claim> {
        OtlpReceiverConfig::claims(self)
    }
}

impl ReceiverType for OtlpReceiverConfig {
    fn start<'a>(
        &'a self,
        id: &'a ComponentId,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Starting<'a> {
        Box::pin(super::start(self, id, routes, shutdown))
    }

    fn reads_files(&self) -> bool {
        let http = self.protocols.http.as_ref().map(|h| (&h.tls, &h.auth));
        let grpc = self.protocols.grpc.as_ref().map(|g| (&g.tls, &g.auth));
        http.into_iter().chain(grpc).any(|(tls, auth)| {
            tls.is_some()
                || auth
                    .as_ref()
                    .is_some_and(|a| a.bearer_tokens_file.is_some())
        })
    }
}
