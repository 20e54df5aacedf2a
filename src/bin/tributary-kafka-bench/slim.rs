//! Just the OTLP fields the counter reads: prost skips the rest of each message without
//! allocating, so counting keeps up with what an agent writes.

use prost::Message;

use tributary::pipeline::batch::Signal;
use tributary::workload::{SENT_ATTRIBUTE, SEQUENCE_ATTRIBUTE};

#[derive(Clone, PartialEq, Message)]
struct Request {
    /// resource_spans, resource_metrics and resource_logs are all field 1.
    #[prost(message, repeated, tag = "1")]
    resources: Vec<ResourceGroup>,
}

#[derive(Clone, PartialEq, Message)]
struct ResourceGroup {
    /// scope_spans, scope_metrics and scope_logs are all field 2.
    #[prost(message, repeated, tag = "2")]
    scopes: Vec<ScopeGroup>,
}

/// spans, metrics and log_records are all field 2 of their scope message.
#[derive(Clone, PartialEq, Message)]
struct ScopeGroup {
    #[prost(message, optional, tag = "1")]
    scope: Option<Scope>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    items: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct Scope {
    #[prost(message, repeated, tag = "3")]
    attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct KeyValue {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct AnyValue {
    #[prost(string, tag = "1")]
    string_value: String,
}

#[derive(Clone, PartialEq, Message)]
struct SpanIds {
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct LogIds {
    #[prost(bytes = "vec", tag = "10")]
    span_id: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct GaugeMetric {
    #[prost(message, optional, tag = "5")]
    gauge: Option<Gauge>,
}

#[derive(Clone, PartialEq, Message)]
struct Gauge {
    #[prost(message, repeated, tag = "1")]
    data_points: Vec<PointTime>,
}

#[derive(Clone, PartialEq, Message)]
struct PointTime {
    #[prost(fixed64, tag = "3")]
    time_unix_nano: u64,
}

/// The items of one scope group of a record, as the load generator stamped them.
pub struct Group {
    pub sequence: Option<u64>,
    pub sent_unix_nano: Option<u64>,
    /// What tells the items of one send apart: the span id (spans, log records) or the time
    /// (metric points).
    pub item_keys: Vec<u64>,
}

/// The scope groups of an `Export*ServiceRequest` (or `*Data`) in protobuf.
pub fn groups(signal: Signal, bytes: &[u8]) -> Result<Vec<Group>, prost::DecodeError> {
    let request = Request::decode(bytes)?;
    let mut groups = Vec::new();
    for group in request.resources.into_iter().flat_map(|r| r.scopes) {
        let stamp = |name: &str| {
            group.scope.as_ref().and_then(|scope| {
                scope
                    .attributes
                    .iter()
                    .find(|kv| kv.key == name)
                    .and_then(|kv| kv.value.as_ref()?.string_value.parse().ok())
            })
        };
        let mut item_keys = Vec::new();
        for item in &group.items {
            match signal {
                Signal::Traces => item_keys.push(id(&SpanIds::decode(item.as_slice())?.span_id)),
                Signal::Logs => item_keys.push(id(&LogIds::decode(item.as_slice())?.span_id)),
                Signal::Metrics => item_keys.extend(
                    GaugeMetric::decode(item.as_slice())?
                        .gauge
                        .into_iter()
                        .flat_map(|gauge| gauge.data_points)
                        .map(|point| point.time_unix_nano),
                ),
            }
        }
        groups.push(Group {
            sequence: stamp(SEQUENCE_ATTRIBUTE),
            sent_unix_nano: stamp(SENT_ATTRIBUTE),
            item_keys,
        });
    }
    Ok(groups)
}

fn id(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |acc, byte| acc.rotate_left(8) ^ u64::from(*byte))
}
