//! The `service` section: pipelines and the agent's own telemetry.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    pub pipelines: BTreeMap<String, Spanned<PipelineSection>>,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Receivers refuse new data while the process's resident memory is near this.
    pub memory_limit: Option<bytesize::ByteSize>,
    /// How long SIGTERM may take to drain receivers, processors and exporters.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    #[serde(default)]
    pub receivers: Vec<Spanned<String>>,
    #[serde(default)]
    pub processors: Vec<Spanned<String>>,
    #[serde(default)]
    pub exporters: Vec<Spanned<String>>,
    #[serde(default)]
    pub dead_letter: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub metrics: MetricsTelemetry,
    pub logs: LogsTelemetry,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsTelemetry {
    /// Serves `/metrics`, `/health` and `/ready`.
    pub address: SocketAddr,
}

impl Default for MetricsTelemetry {
    fn default() -> Self {
        MetricsTelemetry {
            address: SocketAddr::from(([127, 0, 0, 1], 8888)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogsTelemetry {
    /// A `tracing` filter such as `info` or `info,tributary=debug`; `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogsTelemetry {
    fn default() -> Self {
        LogsTelemetry {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}
