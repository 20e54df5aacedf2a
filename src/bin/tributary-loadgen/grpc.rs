//! OTLP/gRPC with tonic, one HTTP/2 connection a sender, through the receiver's pass-through
//! codec, so that the pre-encoded request bytes go out as they are.

use bytes::Bytes;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tributary::receivers::otlp::RawCodec;

use crate::Outcome;

pub struct GrpcSender {
    endpoint: Endpoint,
    path: &'static str,
    client: Option<tonic::client::Grpc<Channel>>,
}

impl GrpcSender {
    pub fn new(endpoint: &str, path: &'static str) -> GrpcSender {
        GrpcSender {
            endpoint: Endpoint::from_shared(format!("http://{endpoint}"))
                .expect("a host:port endpoint"),
            path,
            client: None,
        }
    }

    pub async fn send(&mut self, body: &[u8]) -> Outcome {
        let client = match self.client.as_mut() {
            Some(client) => client,
            None => match self.endpoint.connect().await {
                Ok(channel) => self.client.insert(tonic::client::Grpc::new(channel)),
                Err(_) => return Outcome::Unreachable,
            },
        };
        if client.ready().await.is_err() {
            self.client = None;
            return Outcome::Failed;
        }
        let request = tonic::Request::new(Bytes::copy_from_slice(body));
        let path = http::uri::PathAndQuery::from_static(self.path);
        match client.unary::<_, Bytes, _>(request, path, RawCodec).await {
            Ok(_) => Outcome::Accepted,
            Err(status) if matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) => {
                Outcome::Refused
            }
            Err(_) => Outcome::Failed,
        }
    }
}
