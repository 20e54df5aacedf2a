//! OTLP/HTTP: `POST /v1/{traces,metrics,logs}` with protobuf or JSON bodies, compressed or not.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::auth::BearerAuth;
use super::body::{self, BodyError};
use super::decode::{decode_received, encode_response, Encoding};
use super::http_server;
use super::status::{RpcCode, RpcStatus, RETRY_AFTER};
use super::{CorsConfig, HttpConfig};
use crate::config::ComponentId;
use crate::pipeline::admission::{Admission, Refusal};
use crate::pipeline::batch::Signal;
use crate::pipeline::StartError;

struct HttpState {
    admission: Admission,
    auth: Option<BearerAuth>,
    body_limit: usize,
    read_timeout: Duration,
}

pub async fn start(
    config: &HttpConfig,
    id: &ComponentId,
    admission: Admission,
    auth: Option<BearerAuth>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, StartError> {
    let (listener, address) = super::bind(&config.endpoint, id, "OTLP/HTTP").await?;
    let state = Arc::new(HttpState {
        admission,
        auth,
        body_limit: usize::try_from(config.max_request_body_size.as_u64()).unwrap_or(usize::MAX),
        read_timeout: config.read_timeout,
    });
    let mut router = Router::new()
        .route(
            &config.traces_url_path,
            post(|state, request| export(state, Signal::Traces, request)),
        )
        .route(
            &config.metrics_url_path,
            post(|state, request| export(state, Signal::Metrics, request)),
        )
        .route(
            &config.logs_url_path,
            post(|state, request| export(state, Signal::Logs, request)),
        )
        .with_state(state);
    if let Some(cors) = &config.cors {
        router = router.layer(cors_layer(cors).map_err(|e| StartError::new(id, e))?);
    }
    let tls = match &config.tls {
        None => None,
        #[cfg(feature = "tls")]
        Some(tls) => Some(super::tls::acceptor(tls).map_err(|e| StartError::new(id, e))?),
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err(StartError::new(id, "this build has no TLS support")),
    };
    tracing::info!(
        receiver = %id,
        %address,
        tls = config.tls.is_some(),
        max_connections = http_server::max_connections(config),
        "OTLP/HTTP receiver listening"
    );
    let server = http_server::Server {
        id: id.clone(),
        listener,
        router,
        tls,
        shutdown,
    };
    let config = config.clone();
    Ok(tokio::spawn(async move { server.run(&config).await }))
}

fn cors_layer(config: &CorsConfig) -> Result<CorsLayer, String> {
    let origins = if config.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = config
            .allowed_origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| format!("invalid CORS origin {o:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    let mut headers = vec![
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::AUTHORIZATION,
    ];
    for name in &config.allowed_headers {
        headers.push(
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid CORS header {name:?}"))?,
        );
    }
    let mut layer = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(headers);
    if let Some(max_age) = config.max_age {
        layer = layer.max_age(max_age);
    }
    Ok(layer)
}

async fn export(State(state): State<Arc<HttpState>>, signal: Signal, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let admission = &state.admission;
    let refuse = |reason: &'static str, response: Response| {
        admission.refused_request(signal, reason);
        response
    };

    if let Some(auth) = &state.auth {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if let Err(e) = auth.check(header) {
            let mut response = plain(StatusCode::UNAUTHORIZED, e.to_string());
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return refuse("unauthenticated", response);
        }
    }
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE);
    let Some(encoding) = Encoding::from_content_type(content_type.unwrap_or("")) else {
        let message = format!(
            "expected Content-Type {} or {}, found {}",
            Encoding::PROTOBUF,
            Encoding::JSON,
            content_type.map_or("none".to_string(), |c| format!("{c:?}"))
        );
        return refuse(
            "unsupported_media_type",
            plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, message),
        );
    };
    // Before the body is read and decoded: that is where a request costs memory and most of
    // its CPU, wasted on a request that is refused anyway.
    if let Some(refusal) = admission.refuses_now(signal) {
        return refuse(refusal.reason(), refused(refusal, encoding));
    }
    let content_encoding = header_str(&parts.headers, header::CONTENT_ENCODING);
    let reading = body::read(body, content_encoding, state.body_limit);
    let Ok(read) = tokio::time::timeout(state.read_timeout, reading).await else {
        let message = format!(
            "the request body did not arrive within read_timeout ({})",
            humantime::format_duration(state.read_timeout)
        );
        let body = RpcStatus::new(RpcCode::DeadlineExceeded, message);
        let mut response = status_response(StatusCode::REQUEST_TIMEOUT, encoding, &body);
        if parts.version <= axum::http::Version::HTTP_11 {
            // The rest of the body may still come: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return refuse("timeout", response);
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(e) => {
            let (status, reason) = match e {
                BodyError::TooLarge { .. } | BodyError::InflatesTooLarge { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                }
                BodyError::UnsupportedEncoding(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
                }
                BodyError::Corrupt { .. } | BodyError::Read(_) => {
                    (StatusCode::BAD_REQUEST, "malformed")
                }
            };
            let body = RpcStatus::new(RpcCode::InvalidArgument, e.to_string());
            return refuse(reason, status_response(status, encoding, &body));
        }
    };
    let received = match decode_received(signal, encoding, &bytes) {
        Ok(received) => received,
        Err(e) => {
            let body = RpcStatus::new(RpcCode::InvalidArgument, e.to_string());
            return refuse(
                "malformed",
                status_response(StatusCode::BAD_REQUEST, encoding, &body),
            );
        }
    };
    match admission.admit_acknowledged(received).await {
        Ok(admitted) => (
            [(header::CONTENT_TYPE, encoding.content_type())],
            encode_response(signal, encoding, &admitted),
        )
            .into_response(),
        Err(refusal) => refused(refusal, encoding),
    }
}

fn refused(refusal: Refusal, encoding: Encoding) -> Response {
    let (status, code) = match refusal {
        Refusal::Invalid(_) => (StatusCode::BAD_REQUEST, RpcCode::InvalidArgument),
        Refusal::NoPipeline(_) => (StatusCode::NOT_FOUND, RpcCode::Unimplemented),
        Refusal::Full => (StatusCode::TOO_MANY_REQUESTS, RpcCode::ResourceExhausted),
        Refusal::Closed | Refusal::MemoryLimit | Refusal::NotAcknowledged(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, RpcCode::Unavailable)
        }
    };
    let retryable = !matches!(refusal, Refusal::Invalid(_) | Refusal::NoPipeline(_));
    let mut body = RpcStatus::new(code, refusal.to_string());
    if retryable {
        body = body.with_retry_after(RETRY_AFTER);
    }
    let mut response = status_response(status, encoding, &body);
    if retryable {
        let seconds = HeaderValue::from(RETRY_AFTER.as_secs());
        response.headers_mut().insert(header::RETRY_AFTER, seconds);
    }
    response
}

fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn status_response(status: StatusCode, encoding: Encoding, body: &RpcStatus) -> Response {
    let bytes = match encoding {
        Encoding::Protobuf => prost::Message::encode_to_vec(body),
        Encoding::Json => body.to_json(),
    };
    (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        Body::from(bytes),
    )
        .into_response()
}

/// For errors found before the request's encoding is known.
fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}
