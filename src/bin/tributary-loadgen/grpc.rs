//! OTLP/gRPC with tonic, one HTTP/2 connection a sender, through a codec that passes the
//! pre-encoded request bytes as they are and ignores the response body.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

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
        match client.unary::<_, (), _>(request, path, RawCodec).await {
            Ok(_) => Outcome::Accepted,
            Err(status) if matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) => {
                Outcome::Refused
            }
            Err(_) => Outcome::Failed,
        }
    }
}

struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
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
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
