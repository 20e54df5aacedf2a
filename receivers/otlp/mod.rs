//! The `otlp` receiver: OTLP over HTTP (protobuf and JSON) and gRPC, for traces, metrics, logs.

mod auth;
mod body;
mod connection;
mod decode;
mod factory;
mod grpc;
mod grpc_config;
mod grpc_connections;
mod grpc_message;
mod http;
mod http_server;
mod origin;
mod status;
#[cfg(feature = "tls")]
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[doc(hidden)]
pub use crate::pipeline::codec::wellformed::check as check_wellformed;
#[doc(hidden)]
pub use crate::pipeline::codec::wire_check;
pub use auth::AuthConfig;
pub use decode::{decode, encode_response, Encoding};
/// For the micro-benchmarks: the check `decode` runs after decoding, alone.
#[doc(hidden)]
pub use grpc::RawCodec;
pub use grpc_config::{GrpcConfig, KeepaliveConfig, ServerParameters};

use crate::config::{enabled_with_defaults, host_port_problem, Claim, ComponentId, ConfigError};
use crate::pipeline::admission::{AckMode, Admission};
use crate::pipeline::{Routes, StartError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    #[serde(default)]
    pub protocols: Protocols,
    /// When the client hears "done": `on_accept` (in memory, the default), `on_queue` (in the
    /// exporters' disk queues) or `on_delivery` (Kafka acknowledged it).
    #[serde(default)]
    pub ack: AckMode,
    /// How long `on_queue`/`on_delivery` wait before answering 503 (gRPC UNAVAILABLE), so that
    /// the client retries; keep it below the client's own export timeout (10 s in the SDKs).
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Default for OtlpReceiverConfig {
    fn default() -> Self {
        OtlpReceiverConfig {
            protocols: Protocols::default(),
            ack: AckMode::default(),
            ack_timeout: default_ack_timeout(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "enabled_with_defaults")]
    pub http: Option<HttpConfig>,
    #[serde(default, deserialize_with = "enabled_with_defaults")]
    pub grpc: Option<GrpcConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port`; the default listens on loopback only, as the OpenTelemetry Collector does.
    pub endpoint: String,
    /// Applies to the body as sent and again to what it decompresses to; beyond it, 413.
    pub max_request_body_size: ByteSize,
    pub traces_url_path: String,
    pub metrics_url_path: String,
    pub logs_url_path: String,
    pub cors: Option<CorsConfig>,
    pub tls: Option<TlsConfig>,
    pub auth: Option<AuthConfig>,
    /// From a connection's first byte (or its TLS handshake) to the end of a request's headers;
    /// past it the connection is closed. Bounds slow-header ("slowloris") clients.
    #[serde(with = "humantime_serde")]
    pub read_header_timeout: Duration,
    /// For the whole body of a request to arrive once its headers did; past it, 408.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections open at once (TLS handshakes included); one more is closed as soon as it is
    /// accepted. Unset: 1024, or half the process's open-file limit if that is lower.
    pub max_connections: Option<usize>,
    /// HTTP/2 requests in flight on one connection.
    pub max_concurrent_streams: u32,
    /// The largest request head (HTTP/1.1: request line and headers; HTTP/2: the header list).
    pub max_header_list_size: ByteSize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: ByteSize::mib(20),
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
            cors: None,
            tls: None,
            auth: None,
            read_header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            max_concurrent_streams: 100,
            max_header_list_size: ByteSize::kib(64),
        }
    }
}

/// hyper's smallest HTTP/1.1 read buffer, which holds the request head.
const MIN_HEADER_LIST_SIZE: ByteSize = ByteSize::kib(8);

/// For browser SDKs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to send, such as `https://app.example.com`; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed beyond Content-Type, Content-Encoding and Authorization.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl OtlpReceiverConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let protocols = &self.protocols;
        if protocols.http.is_none() && protocols.grpc.is_none() {
            errors.push(ConfigError::new(
                "protocols",
                "expected at least one protocol (http, grpc), found none",
            ));
        }
        if self.ack != AckMode::OnAccept && self.ack_timeout.is_zero() {
            errors.push(ConfigError::new(
                "ack_timeout",
                "expected a duration above zero for ack: on_queue or on_delivery, found 0s",
            ));
        }
        if let Some(http) = &protocols.http {
            let path = "protocols.http";
            endpoint_errors(&http.endpoint, path, &mut errors);
            if http.max_request_body_size.as_u64() == 0 {
                errors.push(ConfigError::new(
                    format!("{path}.max_request_body_size"),
                    "expected a size above zero, found 0",
                ));
            }
            for (field, url_path) in [
                ("traces_url_path", &http.traces_url_path),
                ("metrics_url_path", &http.metrics_url_path),
                ("logs_url_path", &http.logs_url_path),
            ] {
                let special = url_path
                    .split('/')
                    .any(|segment| segment.starts_with([':', '*']))
                    || url_path.contains(['{', '}']);
                if !url_path.starts_with('/') || special {
                    errors.push(ConfigError::new(
                        format!("{path}.{field}"),
                        format!("expected a plain path starting with '/' (no ':', '*', '{{' or '}}'), found {url_path:?}"),
                    ));
                }
            }
            let paths = [
                &http.traces_url_path,
                &http.metrics_url_path,
                &http.logs_url_path,
            ];
            if paths[0] == paths[1] || paths[1] == paths[2] || paths[0] == paths[2] {
                errors.push(ConfigError::new(
                    format!("{path}.traces_url_path"),
                    "expected three different paths for traces, metrics and logs",
                ));
            }
            if let Some(cors) = &http.cors {
                if cors.allowed_origins.is_empty() {
                    errors.push(ConfigError::new(
                        format!("{path}.cors.allowed_origins"),
                        "expected at least one origin (or \"*\"), found none",
                    ));
                }
                for (index, origin) in cors.allowed_origins.iter().enumerate() {
                    if let Some(problem) = origin::problem(origin) {
                        errors.push(ConfigError::new(
                            format!("{path}.cors.allowed_origins[{index}]"),
                            problem,
                        ));
                    }
                }
            }
            limit_errors(http, path, &mut errors);
            security_errors(http.tls.as_ref(), http.auth.as_ref(), path, &mut errors);
        }
        if let Some(grpc) = &protocols.grpc {
            let path = "protocols.grpc";
            endpoint_errors(&grpc.endpoint, path, &mut errors);
            let ack_wait = (self.ack != AckMode::OnAccept).then_some(self.ack_timeout);
            errors.extend(grpc.limit_errors(path, ack_wait));
            security_errors(grpc.tls.as_ref(), grpc.auth.as_ref(), path, &mut errors);
        }
        errors
    }

    /// Its listen addresses; http and grpc on one port clash like two receivers would.
    pub fn claims(&self) -> Vec<Claim> {
        let http = self
            .protocols
            .http
            .as_ref()
            .and_then(|http| Claim::listen("protocols.http.endpoint", &http.endpoint));
        let grpc = self
            .protocols
            .grpc
            .as_ref()
            .and_then(|grpc| Claim::listen("protocols.grpc.endpoint", &grpc.endpoint));
        http.into_iter().chain(grpc).collect()
    }
}

fn endpoint_errors(endpoint: &str, path: &str, errors: &mut Vec<ConfigError>) {
    if let Some(problem) = host_port_problem(endpoint) {
        errors.push(ConfigError::new(format!("{path}.endpoint"), problem));
    }
}

fn limit_errors(http: &HttpConfig, path: &str, errors: &mut Vec<ConfigError>) {
    for (field, timeout) in [
        ("read_header_timeout", http.read_header_timeout),
        ("read_timeout", http.read_timeout),
        ("idle_timeout", http.idle_timeout),
    ] {
        if timeout.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}.{field}"),
                "expected a duration above zero, found 0s",
            ));
        }
    }
    if http.max_connections == Some(0) {
        errors.push(ConfigError::new(
            format!("{path}.max_connections"),
            "expected at least 1 connection, found 0",
        ));
    }
    if http.max_concurrent_streams == 0 {
        errors.push(ConfigError::new(
            format!("{path}.max_concurrent_streams"),
            "expected at least 1 stream, found 0",
        ));
    }
    let size = http.max_header_list_size;
    if size < MIN_HEADER_LIST_SIZE || size.as_u64() > u64::from(u32::MAX) {
        errors.push(ConfigError::new(
            format!("{path}.max_header_list_size"),
            format!("expected a size from 8KiB to 4GiB, found {size}"),
        ));
    }
}

fn security_errors(
    tls: Option<&TlsConfig>,
    auth: Option<&AuthConfig>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    if let Some(tls) = tls {
        if cfg!(not(feature = "tls")) {
            errors.push(ConfigError::new(
                format!("{path}.tls"),
                "this build has no TLS support (build with the `tls` feature)",
            ));
        }
        let mut files_exist = true;
        for (field, file) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            if !file.is_file() {
                files_exist = false;
                errors.push(ConfigError::new(
                    format!("{path}.tls.{field}"),
                    format!(
                        "expected a readable PEM file, found nothing at {}",
                        file.display()
                    ),
                ));
            }
        }
        #[cfg(feature = "tls")]
        if files_exist {
            for (field, problem) in tls::problems(tls) {
                let field = [path, "tls", field]
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(".");
                errors.push(ConfigError::new(field, problem));
            }
        }
        #[cfg(not(feature = "tls"))]
        let _ = files_exist;
    }
    if let Some(auth) = auth {
        for mut error in auth.validate() {
            error.path = [format!("{path}.auth"), error.path]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(".");
            errors.push(error);
        }
    }
}

/// Binds now, so that a taken port fails start-up; returns the listener and the address it got.
async fn bind(
    endpoint: &str,
    id: &ComponentId,
    transport: &str,
) -> Result<(tokio::net::TcpListener, String), StartError> {
    let listener = tokio::net::TcpListener::bind(endpoint).await.map_err(|e| {
        StartError::new(
            id,
            format!("cannot listen on {endpoint} for {transport}: {e}"),
        )
    })?;
    let address = listener
        .local_addr()
        .map_or_else(|_| endpoint.to_string(), |a| a.to_string());
    Ok((listener, address))
}

pub async fn start(
    config: &OtlpReceiverConfig,
    id: &ComponentId,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, StartError> {
    let receiver: Arc<str> = id.to_string().into();
    let load_auth = |auth: Option<&AuthConfig>| {
        auth.map(auth::BearerAuth::load)
            .transpose()
            .map_err(|e| StartError::new(id, e))
    };
    let mut tasks = Vec::new();
    if let Some(http) = &config.protocols.http {
        let admission = Admission::new(receiver.clone(), "http", routes.clone())
            .with_ack(config.ack, config.ack_timeout);
        let auth = load_auth(http.auth.as_ref())?;
        tasks.push(http::start(http, id, admission, auth, shutdown.clone()).await?);
    }
    if let Some(grpc) = &config.protocols.grpc {
        let admission = Admission::new(receiver.clone(), "grpc", routes.clone())
            .with_ack(config.ack, config.ack_timeout);
        let auth = load_auth(grpc.auth.as_ref())?;
        tasks.push(grpc::start(grpc, id, admission, auth, shutdown.clone()).await?);
    }
    // If the shutdown deadline aborts this task, the servers (and the pipeline senders their
    // connections hold) go with it instead of living on detached.
    let mut tasks: Vec<AbortOnDrop> = tasks.into_iter().map(AbortOnDrop).collect();
    Ok(tokio::spawn(async move {
        for task in &mut tasks {
            let _ = (&mut task.0).await;
        }
    }))
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
