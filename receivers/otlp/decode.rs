//! Payloads to responses, in both OTLP encodings; shared by the HTTP and gRPC transports.
//! Decoding requests is the codec's (`pipeline::codec`), which every outside input shares.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::pipeline::admission::Admitted;
use crate::pipeline::batch::Signal;
pub use crate::pipeline::codec::{decode, decode_received, Encoding};

/// The `Export*ServiceResponse`, with `partial_success` when the pipelines refused items.
pub fn encode_response(signal: Signal, encoding: Encoding, admitted: &Admitted) -> Vec<u8> {
    let count = i64::try_from(admitted.rejected).unwrap_or(i64::MAX);
    let message = admitted.reasons.join("; ");
    let partial = count > 0 || !message.is_empty();
    match signal {
        Signal::Traces => encode(
            encoding,
            &ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: count,
                    error_message: message,
                }),
            },
        ),
        Signal::Metrics => encode(
            encoding,
            &ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: count,
                    error_message: message,
                }),
            },
        ),
        Signal::Logs => encode(
            encoding,
            &ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: count,
                    error_message: message,
                }),
            },
        ),
    }
}

fn encode<T: Message + serde::Serialize>(encoding: Encoding, response: &T) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}
