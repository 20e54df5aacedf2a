//! Batches to Kafka records: an OTLP protobuf request per batch, or a DLQ message per dead
//! letter.

use rdkafka::message::{Header, OwnedHeaders};

use crate::pipeline::batch::{Batch, Payload};

pub struct OutRecord {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: OwnedHeaders,
    /// Items the record carries, for the delivery counters.
    pub items: usize,
}

fn header(headers: OwnedHeaders, key: &str, value: &[u8]) -> OwnedHeaders {
    headers.insert(Header {
        key,
        value: Some(value),
    })
}

/// Dead letters always go as DLQ messages, whatever the exporter's encoding, so that a
/// misrouted one is still delivered readable.
pub fn encode(batch: Batch) -> Vec<OutRecord> {
    let signal = batch.signal().as_str();
    match batch.payload {
        Payload::DeadLetters(dead) => dead
            .letters
            .into_iter()
            .map(|letter| {
                let mut headers = header(OwnedHeaders::new(), "content-type", b"application/json");
                headers = header(headers, "signal", signal.as_bytes());
                headers = header(headers, "error", letter.error.as_bytes());
                headers = header(headers, "error_type", letter.error_type.as_bytes());
                OutRecord {
                    key: letter
                        .original
                        .as_ref()
                        .and_then(|o| o.key.clone())
                        .map(String::into_bytes),
                    value: letter.to_json(),
                    headers,
                    items: 1,
                }
            })
            .collect(),
        data => {
            let headers = header(
                OwnedHeaders::new(),
                "content-type",
                b"application/x-protobuf",
            );
            vec![OutRecord {
                key: None,
                value: data.encode_protobuf(),
                headers: header(headers, "signal", signal.as_bytes()),
                items: batch.context.items,
            }]
        }
    }
}
