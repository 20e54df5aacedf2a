//! OTLP/gRPC: the three collector services. The message bytes are decoded here rather than by
//! tonic's codec, so that a malformed message gets INVALID_ARGUMENT, as the OTLP specification
//! asks, instead of tonic's INTERNAL.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use bytes::{Buf, BufMut};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use super::auth::BearerAuth;
use super::decode::{decode_received, encode_response, Encoding};
use super::grpc_connections::CappedIncoming;
use super::grpc_message::{read_first_message, MessageError};
use super::status::{RpcCode, RpcStatus, RETRY_AFTER};
use super::GrpcConfig;
use crate::config::ComponentId;
use crate::pipeline::admission::{Admission, Refusal};
use crate::pipeline::batch::Signal;
use crate::pipeline::memory;
use crate::pipeline::StartError;

struct Shared {
    admission: Admission,
    auth: Option<BearerAuth>,
    max_message_size: usize,
}

pub async fn start(
    config: &GrpcConfig,
    id: &ComponentId,
    admission: Admission,
    auth: Option<BearerAuth>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, StartError> {
    let (listener, address) = super::bind(&config.endpoint, id, "OTLP/gRPC").await?;
    let shared = Arc::new(Shared {
        admission,
        auth,
        max_message_size: usize::try_from(config.max_recv_msg_size.as_u64()).unwrap_or(usize::MAX),
    });
    let server = &config.keepalive.server_parameters;
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(config.max_concurrent_streams)
        // A request beyond the per-connection limit is answered at once, not queued.
        .load_shed(true)
        .timeout(config.request_timeout)
        .http2_max_header_list_size(
            u32::try_from(config.max_header_list_size.as_u64()).unwrap_or(u32::MAX),
        )
        .http2_max_pending_accept_reset_streams(Some(config.max_pending_accept_reset_streams))
        .http2_max_local_error_reset_streams(Some(config.max_local_error_reset_streams))
        .http2_keepalive_interval(Some(server.time))
        .http2_keepalive_timeout(Some(server.timeout));
    if let Some(limit) = config.max_concurrent_requests_per_connection {
        builder = builder.concurrency_limit_per_connection(limit as usize);
    }
    if let Some(age) = server.max_connection_age {
        builder = builder.max_connection_age(age);
    }
    if let Some(grace) = server.max_connection_age_grace {
        builder = builder.max_connection_age_grace(grace);
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = &config.tls {
        let identity = super::tls::identity(tls).map_err(|e| StartError::new(id, e))?;
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| StartError::new(id, format!("invalid TLS settings: {e}")))?;
    }
    let router = builder
        .add_service(OtlpService::<Traces>::new(shared.clone()))
        .add_service(OtlpService::<Metrics>::new(shared.clone()))
        .add_service(OtlpService::<Logs>::new(shared));
    tracing::info!(receiver = %id, %address, tls = config.tls.is_some(), "OTLP/gRPC receiver listening");
    let id = id.clone();
    let max_connections = config.max_connections;
    Ok(tokio::spawn(async move {
        let incoming = CappedIncoming::new(
            tonic::transport::server::TcpIncoming::from(listener),
            max_connections,
        );
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
        {
            tracing::error!(receiver = %id, error = %e, "OTLP/gRPC server failed");
        }
    }))
}

pub trait OtlpSignal: Send + Sync + 'static {
    const SERVICE: &'static str;
    const SIGNAL: Signal;
}

pub struct Traces;
pub struct Metrics;
pub struct Logs;

impl OtlpSignal for Traces {
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: Signal = Signal::Traces;
}

impl OtlpSignal for Metrics {
    const SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: Signal = Signal::Metrics;
}

impl OtlpSignal for Logs {
    const SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: Signal = Signal::Logs;
}

struct OtlpService<S> {
    shared: Arc<Shared>,
    signal: PhantomData<fn() -> S>,
}

impl<S> OtlpService<S> {
    fn new(shared: Arc<Shared>) -> Self {
        OtlpService {
            shared,
            signal: PhantomData,
        }
    }
}

impl<S> Clone for OtlpService<S> {
    fn clone(&self) -> Self {
        OtlpService::new(self.shared.clone())
    }
}

impl<S: OtlpSignal> NamedService for OtlpService<S> {
    const NAME: &'static str = S::SERVICE;
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for OtlpService<S>
where
    S: OtlpSignal,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Display + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let method = request.uri().path().rsplit('/').next().unwrap_or_default();
            if method != "Export" {
                let status =
                    Status::unimplemented(format!("{} has no method {method:?}", S::SERVICE));
                return Ok(status.into_http());
            }
            // The token is checked before the message is read, as HTTP does.
            if let Some(auth) = &shared.auth {
                let header = request.headers().get("authorization").map(|v| v.as_bytes());
                if let Err(e) = auth.check(header) {
                    shared
                        .admission
                        .refused_request(S::SIGNAL, "unauthenticated");
                    return Ok(Status::unauthenticated(e.to_string()).into_http());
                }
            }
            // Before the message is read: that is where a request costs memory, wasted on a
            // request that is refused anyway.
            let admission = &shared.admission;
            if let Some(refusal) = admission.refuses_now(S::SIGNAL) {
                admission.refused_request(S::SIGNAL, refusal.reason());
                return Ok(refused(refusal).into_http());
            }
            let max = shared.max_message_size;
            let (parts, body) = request.into_parts();
            let body = match read_first_message(body, max, memory::over_limit).await {
                Ok(body) => body,
                Err(e) => {
                    let (reason, status) = match e {
                        MessageError::TooLarge { .. } => {
                            ("too_large", Status::resource_exhausted(e.to_string()))
                        }
                        MessageError::MemoryLimit => {
                            ("memory_limit", refused(Refusal::MemoryLimit))
                        }
                        MessageError::Read(_) => ("malformed", Status::cancelled(e.to_string())),
                    };
                    admission.refused_request(S::SIGNAL, reason);
                    return Ok(status.into_http());
                }
            };
            let request = http::Request::from_parts(parts, body);
            let mut grpc = Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .accept_compressed(CompressionEncoding::Deflate)
                .max_decoding_message_size(max);
            Ok(grpc.unary(Export::<S>::new(shared), request).await)
        })
    }
}

struct Export<S> {
    shared: Arc<Shared>,
    signal: PhantomData<fn() -> S>,
}

impl<S> Export<S> {
    fn new(shared: Arc<Shared>) -> Self {
        Export {
            shared,
            signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> UnaryService<Bytes> for Export<S> {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { export(&shared, S::SIGNAL, request).await })
    }
}

async fn export(
    shared: &Shared,
    signal: Signal,
    request: tonic::Request<Bytes>,
) -> Result<tonic::Response<Bytes>, Status> {
    let admission = &shared.admission;
    let received = decode_received(signal, Encoding::Protobuf, request.get_ref()).map_err(|e| {
        admission.refused_request(signal, "malformed");
        Status::invalid_argument(e.to_string())
    })?;
    match admission.admit_acknowledged(received).await {
        Ok(admitted) => Ok(tonic::Response::new(Bytes::from(encode_response(
            signal,
            Encoding::Protobuf,
            &admitted,
        )))),
        Err(refusal) => Err(refused(refusal)),
    }
}

fn refused(refusal: Refusal) -> Status {
    let (code, rpc_code) = match refusal {
        Refusal::NoPipeline(_) => return Status::unimplemented(refusal.to_string()),
        Refusal::Invalid(_) => return Status::invalid_argument(refusal.to_string()),
        Refusal::Full => (Code::ResourceExhausted, RpcCode::ResourceExhausted),
        Refusal::Closed | Refusal::MemoryLimit | Refusal::NotAcknowledged(_) => {
            (Code::Unavailable, RpcCode::Unavailable)
        }
    };
    let message = refusal.to_string();
    let details = RpcStatus::new(rpc_code, message.clone()).with_retry_after(RETRY_AFTER);
    Status::with_details(
        code,
        message,
        prost::Message::encode_to_vec(&details).into(),
    )
}

/// Passes message bytes through untouched (also the load generator's client codec).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
