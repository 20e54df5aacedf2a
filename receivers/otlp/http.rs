//! OTLP/HTTP: `POST /v1/{traces,metrics,logs}` with protobuf bodies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::status::{RpcCode, RpcStatus};
use super::HttpConfig;
use crate::config::ComponentId;
use crate::pipeline::batch::{Batch, Payload, Signal};
use crate::pipeline::fanout::FanoutError;
use crate::pipeline::{Routes, StartError};
use crate::telemetry::names;

const PROTOBUF: &str = "application/x-protobuf";
/// Seconds a refused client should wait: long enough for a batch to drain, short enough not
/// to build a backlog at the client.
const RETRY_AFTER_SECONDS: &str = "1";

struct HttpState {
    id: Arc<str>,
    routes: Routes,
}

pub async fn start(
    config: &HttpConfig,
    id: &ComponentId,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, StartError> {
    let listener = tokio::net::TcpListener::bind(&config.endpoint)
        .await
        .map_err(|e| StartError::new(id, format!("cannot listen on {}: {e}", config.endpoint)))?;
    let state = Arc::new(HttpState {
        id: id.to_string().into(),
        routes,
    });
    let body_limit = usize::try_from(config.max_request_body_size.as_u64()).unwrap_or(usize::MAX);
    let router = Router::new()
        .route(
            &config.traces_url_path,
            post(|state, headers, body| export(state, Signal::Traces, headers, body)),
        )
        .route(
            &config.metrics_url_path,
            post(|state, headers, body| export(state, Signal::Metrics, headers, body)),
        )
        .route(
            &config.logs_url_path,
            post(|state, headers, body| export(state, Signal::Logs, headers, body)),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    let address = listener
        .local_addr()
        .map_or_else(|_| config.endpoint.clone(), |a| a.to_string());
    tracing::info!(receiver = %id, %address, "OTLP/HTTP receiver listening");
    let id = id.clone();
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(receiver = %id, error = %e, "OTLP/HTTP server failed");
        }
    }))
}

async fn export(
    State(state): State<Arc<HttpState>>,
    signal: Signal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let labels = [
        ("receiver", state.id.to_string()),
        ("signal", signal.as_str().to_string()),
        ("transport", "http".to_string()),
    ];
    let refuse = |status: StatusCode, code: RpcCode, reason: &'static str, message: String| {
        let mut request_labels = labels.to_vec();
        request_labels.push(("reason", reason.to_string()));
        metrics::counter!(names::RECEIVER_REFUSED_REQUESTS, &request_labels).increment(1);
        error_response(status, code, message)
    };

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if media_type(content_type) != PROTOBUF {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RpcCode::InvalidArgument,
            "unsupported_media_type",
            format!("expected Content-Type {PROTOBUF}, found {content_type:?}"),
        );
    }
    let payload = match decode_protobuf(signal, &body) {
        Ok(payload) => payload,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                RpcCode::InvalidArgument,
                "malformed",
                format!(
                    "expected a protobuf {}, but it did not decode: {e}",
                    request_type(signal)
                ),
            )
        }
    };
    let batch = Batch::new(payload, state.id.clone());
    let items = batch.items() as u64;
    metrics::counter!(names::RECEIVER_RECEIVED, &labels).increment(items);
    if items == 0 {
        return success(signal);
    }
    let Some(route) = state.routes.get(signal) else {
        metrics::counter!(names::RECEIVER_REFUSED, &labels).increment(items);
        return refuse(
            StatusCode::NOT_FOUND,
            RpcCode::Unimplemented,
            "no_pipeline",
            format!("no {signal} pipeline takes data from receiver {}", state.id),
        );
    };
    match route.try_send(batch) {
        Ok(()) => {
            metrics::counter!(names::RECEIVER_ACCEPTED, &labels).increment(items);
            success(signal)
        }
        Err(e) => {
            metrics::counter!(names::RECEIVER_REFUSED, &labels).increment(items);
            let (status, code, reason) = match e {
                FanoutError::Full => (
                    StatusCode::TOO_MANY_REQUESTS,
                    RpcCode::ResourceExhausted,
                    "queue_full",
                ),
                FanoutError::Closed => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    RpcCode::Unavailable,
                    "shutting_down",
                ),
            };
            let mut response = refuse(status, code, reason, format!("{e}; retry later"));
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            response
        }
    }
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

fn request_type(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "ExportTraceServiceRequest",
        Signal::Metrics => "ExportMetricsServiceRequest",
        Signal::Logs => "ExportLogsServiceRequest",
    }
}

fn decode_protobuf(signal: Signal, body: &[u8]) -> Result<Payload, prost::DecodeError> {
    Ok(match signal {
        Signal::Traces => Payload::Traces(ExportTraceServiceRequest::decode(body)?),
        Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest::decode(body)?),
        Signal::Logs => Payload::Logs(ExportLogsServiceRequest::decode(body)?),
    })
}

fn success(signal: Signal) -> Response {
    let body = match signal {
        Signal::Traces => ExportTraceServiceResponse::default().encode_to_vec(),
        Signal::Metrics => ExportMetricsServiceResponse::default().encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse::default().encode_to_vec(),
    };
    ([(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}

fn error_response(status: StatusCode, code: RpcCode, message: String) -> Response {
    let body = RpcStatus::new(code, message).encode_to_vec();
    (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}
