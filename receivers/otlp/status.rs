//! `google.rpc.Status` and `google.rpc.RetryInfo`: the error bodies of OTLP/HTTP and the
//! details of a gRPC status that tells the client when to retry.

use std::time::Duration;

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The gRPC codes that OTLP error responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum RpcCode {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Unavailable = 14,
}

/// How long a refused client should wait: long enough for a batch to drain, short enough not
/// to build a backlog at the client.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

impl RpcStatus {
    pub fn new(code: RpcCode, message: impl Into<String>) -> RpcStatus {
        RpcStatus {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_retry_after(mut self, delay: Duration) -> RpcStatus {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        self.details.push(ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        });
        self
    }

    /// The OTLP/JSON form: `{"code": 3, "message": "..."}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "code": self.code, "message": self.message }))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_as_a_status_detail() {
        let status = RpcStatus::new(RpcCode::Unavailable, "full").with_retry_after(RETRY_AFTER);
        let decoded = RpcStatus::decode(status.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            decoded.details[0].type_url,
            "type.googleapis.com/google.rpc.RetryInfo"
        );
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 1);
    }
}
