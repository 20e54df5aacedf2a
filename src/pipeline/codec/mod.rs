//! OTLP request bodies to payloads, in both encodings, with one strictness rule for every
//! outside input: the OTLP receivers, the Kafka receiver and a disk queue reading back. A
//! protobuf body is walked first (`wire_check`) and decoded only as far as the stages need;
//! anything the walk is not sure of is decoded in full and checked (`wellformed`).

pub mod wellformed;
pub mod wire_check;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::de::DeserializeOwned;

use super::admission::Received;
use super::batch::{Payload, Signal};
use super::encoded::EncodedGroups;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub const PROTOBUF: &'static str = "application/x-protobuf";
    pub const JSON: &'static str = "application/json";

    /// From a `Content-Type` value, parameters (`; charset=utf-8`) ignored.
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case(Self::PROTOBUF) {
            Some(Encoding::Protobuf)
        } else if media_type.eq_ignore_ascii_case(Self::JSON) {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => Self::PROTOBUF,
            Encoding::Json => Self::JSON,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("expected a protobuf {request_type}, but it did not decode: {source}")]
    Protobuf {
        request_type: &'static str,
        source: prost::DecodeError,
    },
    #[error("expected an OTLP/JSON {request_type}, but it did not parse: {source}")]
    Json {
        request_type: &'static str,
        source: serde_json::Error,
    },
    #[error("the {request_type} is malformed at {source}")]
    Malformed {
        request_type: &'static str,
        source: wellformed::Malformed,
    },
}

pub fn request_type(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "ExportTraceServiceRequest",
        Signal::Metrics => "ExportMetricsServiceRequest",
        Signal::Logs => "ExportLogsServiceRequest",
    }
}

pub fn decode(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Payload, DecodeError> {
    let payload = match (signal, encoding) {
        (Signal::Traces, Encoding::Protobuf) => Payload::Traces(protobuf(signal, body)?),
        (Signal::Metrics, Encoding::Protobuf) => Payload::Metrics(protobuf(signal, body)?),
        (Signal::Logs, Encoding::Protobuf) => Payload::Logs(protobuf(signal, body)?),
        (Signal::Traces, Encoding::Json) => {
            Payload::Traces(json::<ExportTraceServiceRequest>(signal, body)?)
        }
        (Signal::Metrics, Encoding::Json) => {
            Payload::Metrics(json::<ExportMetricsServiceRequest>(signal, body)?)
        }
        (Signal::Logs, Encoding::Json) => {
            Payload::Logs(json::<ExportLogsServiceRequest>(signal, body)?)
        }
    };
    wellformed::check(&payload).map_err(|source| DecodeError::Malformed {
        request_type: request_type(signal),
        source,
    })?;
    Ok(payload)
}

/// As `decode`, keeping a protobuf body's resource groups as they came, for exporters to send
/// on unless a processor changes them. A protobuf body that walks as well-formed is not
/// decoded beyond its resources: the first stage that reads items decodes them, and in a
/// pipeline that only forwards them none does.
pub fn decode_received(
    signal: Signal,
    encoding: Encoding,
    body: &bytes::Bytes,
) -> Result<Received, DecodeError> {
    if encoding == Encoding::Protobuf {
        let walked = wire_check::well_formed_group_items(signal, body)
            .and_then(|items| EncodedGroups::split(body, items));
        if let Some(encoded) = walked {
            if let Some(resources) = encoded.resources(signal) {
                return Ok(Received::Walked { resources, encoded });
            }
        }
    }
    // Not walked as well-formed: decoding says what is wrong, if anything is.
    let payload = decode(signal, encoding, body)?;
    let encoded = match encoding {
        Encoding::Protobuf => EncodedGroups::split(body, payload.group_items()),
        Encoding::Json => None,
    };
    Ok(Received::decoded(payload, encoded))
}

fn protobuf<T: Message + Default>(signal: Signal, body: &[u8]) -> Result<T, DecodeError> {
    T::decode(body).map_err(|source| DecodeError::Protobuf {
        request_type: request_type(signal),
        source,
    })
}

fn json<T: DeserializeOwned + Default>(signal: Signal, body: &[u8]) -> Result<T, DecodeError> {
    // An empty body is an empty request, as it is in protobuf.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|source| DecodeError::Json {
        request_type: request_type(signal),
        source,
    })
}
