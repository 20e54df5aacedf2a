//! The `otlp` receiver: OTLP over HTTP (protobuf).

mod http;
mod status;

use bytesize::ByteSize;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{enabled_with_defaults, ComponentId, ConfigError};
use crate::pipeline::{Routes, StartError};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    #[serde(default)]
    pub protocols: Protocols,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "enabled_with_defaults")]
    pub http: Option<HttpConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port`; the default listens on loopback only, as the OpenTelemetry Collector does.
    pub endpoint: String,
    /// Requests larger than this are refused with 413.
    pub max_request_body_size: ByteSize,
    pub traces_url_path: String,
    pub metrics_url_path: String,
    pub logs_url_path: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: ByteSize::mib(20),
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
        }
    }
}

impl OtlpReceiverConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let Some(http) = &self.protocols.http else {
            errors.push(ConfigError::new(
                "protocols",
                "expected at least one protocol (http), found none",
            ));
            return errors;
        };
        let has_port = http
            .endpoint
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !has_port {
            errors.push(ConfigError::new(
                "protocols.http.endpoint",
                format!("expected host:port, found {:?}", http.endpoint),
            ));
        }
        if http.max_request_body_size.as_u64() == 0 {
            errors.push(ConfigError::new(
                "protocols.http.max_request_body_size",
                "expected a size above zero, found 0",
            ));
        }
        for (field, path) in [
            ("traces_url_path", &http.traces_url_path),
            ("metrics_url_path", &http.metrics_url_path),
            ("logs_url_path", &http.logs_url_path),
        ] {
            if !path.starts_with('/') {
                errors.push(ConfigError::new(
                    format!("protocols.http.{field}"),
                    format!("expected a path starting with '/', found {path:?}"),
                ));
            }
        }
        errors
    }
}

pub async fn start(
    config: &OtlpReceiverConfig,
    id: &ComponentId,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, StartError> {
    let http = config
        .protocols
        .http
        .as_ref()
        .ok_or_else(|| StartError::new(id, "no protocol is enabled"))?;
    http::start(http, id, routes, shutdown).await
}
