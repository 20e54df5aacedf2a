//! `protocols.grpc`: the OTLP/gRPC listener and the limits that keep one client (or many) from
//! holding the agent's memory with streams, connections or headers it never finishes.

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::{AuthConfig, TlsConfig};
use crate::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    pub endpoint: String,
    /// The largest message accepted, after decompression; gRPC's own default is 4 MiB.
    pub max_recv_msg_size: ByteSize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: streams a client may open at once on one
    /// connection; the server refuses those beyond it (`REFUSED_STREAM`).
    pub max_concurrent_streams: u32,
    /// Requests handled at once per connection; beyond it, `RESOURCE_EXHAUSTED` at once.
    /// Unset, `max_concurrent_streams` is the only bound.
    pub max_concurrent_requests_per_connection: Option<u32>,
    /// Open connections; a connection beyond it is closed as soon as it is accepted.
    pub max_connections: usize,
    /// The longest a request may take, reading included (a client's `grpc-timeout` may shorten
    /// it); past it the call ends with `CANCELLED`, so a stream that stops sending is let go.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`: the decoded headers of one request.
    pub max_header_list_size: ByteSize,
    /// Streams a client opened and reset before the server took them (the HTTP/2 "rapid
    /// reset" attack); beyond it the connection is closed.
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server had to reset for a client's protocol errors; beyond it the
    /// connection is closed.
    pub max_local_error_reset_streams: usize,
    pub keepalive: KeepaliveConfig,
    pub tls: Option<TlsConfig>,
    pub auth: Option<AuthConfig>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: "127.0.0.1:4317".into(),
            max_recv_msg_size: ByteSize::mib(20),
            max_concurrent_streams: 100,
            max_concurrent_requests_per_connection: None,
            max_connections: 1000,
            request_timeout: Duration::from_secs(30),
            max_header_list_size: ByteSize::kib(64),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            keepalive: KeepaliveConfig::default(),
            tls: None,
            auth: None,
        }
    }
}

/// The OpenTelemetry Collector's `keepalive`, without `enforcement_policy`: HTTP/2 here answers
/// every client ping and has no policy to refuse frequent ones.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveConfig {
    pub server_parameters: ServerParameters,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerParameters {
    /// After this long without frames from the client, the server pings it.
    #[serde(with = "humantime_serde")]
    pub time: Duration,
    /// A ping unanswered this long closes the connection.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A connection older than this is asked to go away (GOAWAY) once its calls end.
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Option<Duration>,
    /// How long calls still running after `max_connection_age` may take before the
    /// connection is closed under them.
    #[serde(with = "humantime_serde")]
    pub max_connection_age_grace: Option<Duration>,
}

impl Default for ServerParameters {
    fn default() -> Self {
        // gRPC's own defaults, which the Collector keeps.
        ServerParameters {
            time: Duration::from_secs(2 * 60 * 60),
            timeout: Duration::from_secs(20),
            max_connection_age: None,
            max_connection_age_grace: None,
        }
    }
}

/// Below this, ordinary requests (a bearer token, the SDK's user agent) would not fit.
const MIN_HEADER_LIST_SIZE: ByteSize = ByteSize::kib(1);

impl GrpcConfig {
    /// The problems of the limits, with paths under `path` (`protocols.grpc`).
    /// `ack_wait` is how long the receiver may wait for an acknowledgement before answering.
    pub fn limit_errors(&self, path: &str, ack_wait: Option<Duration>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut push = |field: &str, message: String| {
            errors.push(ConfigError::new(format!("{path}.{field}"), message));
        };
        if self.max_recv_msg_size.as_u64() == 0 {
            push(
                "max_recv_msg_size",
                "expected a size above zero, found 0".into(),
            );
        } else if self.max_recv_msg_size.as_u64() > u64::from(u32::MAX) {
            // The gRPC frame header holds the length in 32 bits.
            push(
                "max_recv_msg_size",
                format!(
                    "expected at most 4GiB (a gRPC message length is 32 bits), found {}",
                    self.max_recv_msg_size
                ),
            );
        }
        if self.max_concurrent_streams == 0 {
            push(
                "max_concurrent_streams",
                "expected at least 1, found 0".into(),
            );
        }
        if self.max_concurrent_requests_per_connection == Some(0) {
            push(
                "max_concurrent_requests_per_connection",
                "expected at least 1 (or no value for no limit beyond max_concurrent_streams), found 0"
                    .into(),
            );
        }
        if self.max_connections == 0 {
            push("max_connections", "expected at least 1, found 0".into());
        }
        if self.request_timeout.is_zero() {
            push(
                "request_timeout",
                "expected a duration above zero, found 0s".into(),
            );
        } else if let Some(ack_wait) = ack_wait.filter(|wait| self.request_timeout <= *wait) {
            push(
                "request_timeout",
                format!(
                    "expected a duration above ack_timeout ({}), so that a late acknowledgement is \
                     answered UNAVAILABLE (retry) rather than cut off; found {}",
                    humantime::format_duration(ack_wait),
                    humantime::format_duration(self.request_timeout)
                ),
            );
        }
        if self.max_header_list_size < MIN_HEADER_LIST_SIZE
            || self.max_header_list_size.as_u64() > u64::from(u32::MAX)
        {
            push(
                "max_header_list_size",
                format!(
                    "expected a size from {MIN_HEADER_LIST_SIZE} to 4GiB, found {}",
                    self.max_header_list_size
                ),
            );
        }
        for (field, value) in [
            (
                "max_pending_accept_reset_streams",
                self.max_pending_accept_reset_streams,
            ),
            (
                "max_local_error_reset_streams",
                self.max_local_error_reset_streams,
            ),
        ] {
            if value == 0 {
                push(field, "expected at least 1, found 0".into());
            }
        }
        let server = &self.keepalive.server_parameters;
        let server_path = "keepalive.server_parameters";
        for (field, value) in [
            ("time", Some(server.time)),
            ("timeout", Some(server.timeout)),
            ("max_connection_age", server.max_connection_age),
        ] {
            if value.is_some_and(|v| v.is_zero()) {
                push(
                    &format!("{server_path}.{field}"),
                    "expected a duration above zero, found 0s".into(),
                );
            }
        }
        if server.max_connection_age_grace.is_some() && server.max_connection_age.is_none() {
            push(
                &format!("{server_path}.max_connection_age_grace"),
                "expected max_connection_age to be set too (the grace follows it), found none"
                    .into(),
            );
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(config: &GrpcConfig, ack_wait: Option<Duration>) -> Vec<String> {
        config
            .limit_errors("protocols.grpc", ack_wait)
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(paths(&GrpcConfig::default(), Some(Duration::from_secs(5))).is_empty());
    }

    #[test]
    fn every_bad_limit_is_named_by_its_path() {
        let config = GrpcConfig {
            max_recv_msg_size: ByteSize::b(0),
            max_concurrent_streams: 0,
            max_concurrent_requests_per_connection: Some(0),
            max_connections: 0,
            request_timeout: Duration::ZERO,
            max_header_list_size: ByteSize::b(100),
            max_pending_accept_reset_streams: 0,
            max_local_error_reset_streams: 0,
            keepalive: KeepaliveConfig {
                server_parameters: ServerParameters {
                    time: Duration::ZERO,
                    timeout: Duration::ZERO,
                    max_connection_age: None,
                    max_connection_age_grace: Some(Duration::from_secs(1)),
                },
            },
            ..GrpcConfig::default()
        };
        let prefixed = |field: &str| format!("protocols.grpc.{field}");
        assert_eq!(
            paths(&config, None),
            [
                "max_recv_msg_size",
                "max_concurrent_streams",
                "max_concurrent_requests_per_connection",
                "max_connections",
                "request_timeout",
                "max_header_list_size",
                "max_pending_accept_reset_streams",
                "max_local_error_reset_streams",
                "keepalive.server_parameters.time",
                "keepalive.server_parameters.timeout",
                "keepalive.server_parameters.max_connection_age_grace",
            ]
            .map(prefixed)
        );
    }

    #[test]
    fn the_request_timeout_must_outlast_the_acknowledgement_wait() {
        let config = GrpcConfig {
            request_timeout: Duration::from_secs(5),
            ..GrpcConfig::default()
        };
        let errors = config.limit_errors("protocols.grpc", Some(Duration::from_secs(5)));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "protocols.grpc.request_timeout");
        assert!(
            errors[0].message.contains("ack_timeout (5s)"),
            "{}",
            errors[0].message
        );
        assert!(paths(&config, None).is_empty());
    }

    #[test]
    fn the_collector_shape_of_keepalive_parses() {
        let config: GrpcConfig = serde_saphyr::from_str(
            "keepalive: { server_parameters: { time: 30s, timeout: 5s, max_connection_age: 10m } }\nmax_concurrent_streams: 50",
        )
        .unwrap();
        assert_eq!(
            config.keepalive.server_parameters.time,
            Duration::from_secs(30)
        );
        assert_eq!(
            config.keepalive.server_parameters.max_connection_age,
            Some(Duration::from_secs(600))
        );
        assert_eq!(config.max_concurrent_streams, 50);
        let refused = serde_saphyr::from_str::<GrpcConfig>(
            "keepalive: { enforcement_policy: { min_time: 5s } }",
        );
        assert!(refused.is_err(), "enforcement_policy is not supported");
    }
}
