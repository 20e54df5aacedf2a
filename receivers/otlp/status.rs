//! `google.rpc.Status`, the body of an OTLP/HTTP error response.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The gRPC codes that OTLP/HTTP error bodies carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum RpcCode {
    InvalidArgument = 3,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Unavailable = 14,
}

impl RpcStatus {
    pub fn new(code: RpcCode, message: impl Into<String>) -> RpcStatus {
        RpcStatus {
            code: code as i32,
            message: message.into(),
        }
    }
}
