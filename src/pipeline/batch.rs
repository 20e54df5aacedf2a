//! The unit that flows through a pipeline: one signal's OTLP request plus its delivery context.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;

pub use super::dead_letter::{DeadLetter, DeadLetters};
use super::encoded::EncodedGroups;
use super::fanout::{Fanout, FanoutError};
pub use crate::model::Signal;

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
    /// Items a stage refused, with why, on their way to a pipeline's dead-letter exporters.
    DeadLetters(DeadLetters),
}

impl Payload {
    pub fn empty(signal: Signal) -> Payload {
        match signal {
            Signal::Traces => Payload::Traces(Default::default()),
            Signal::Metrics => Payload::Metrics(Default::default()),
            Signal::Logs => Payload::Logs(Default::default()),
        }
    }

    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
            Payload::DeadLetters(letters) => letters.signal,
        }
    }

    /// Items are spans, metric data points or log records: what users count, not requests.
    pub fn item_count(&self) -> usize {
        self.group_items().into_iter().sum()
    }

    /// The items of each resource group (dead letters: one for each letter).
    pub fn group_items(&self) -> Vec<usize> {
        match self {
            Payload::Traces(req) => req
                .resource_spans
                .iter()
                .map(|r| r.scope_spans.iter().map(|s| s.spans.len()).sum())
                .collect(),
            Payload::Metrics(req) => req
                .resource_metrics
                .iter()
                .map(|r| {
                    r.scope_metrics
                        .iter()
                        .flat_map(|s| &s.metrics)
                        .map(|m| data_point_count(m.data.as_ref()))
                        .sum()
                })
                .collect(),
            Payload::Logs(req) => req
                .resource_logs
                .iter()
                .map(|r| r.scope_logs.iter().map(|s| s.log_records.len()).sum())
                .collect(),
            Payload::DeadLetters(letters) => vec![1; letters.letters.len()],
        }
    }

    /// Resource groups (dead letters: letters).
    pub fn group_count(&self) -> usize {
        match self {
            Payload::Traces(req) => req.resource_spans.len(),
            Payload::Metrics(req) => req.resource_metrics.len(),
            Payload::Logs(req) => req.resource_logs.len(),
            Payload::DeadLetters(letters) => letters.letters.len(),
        }
    }

    /// Moves `other`'s resource groups into `self`. Both must carry the same signal.
    pub fn append(&mut self, other: Payload) -> Result<(), SignalMismatch> {
        match (self, other) {
            (Payload::Traces(a), Payload::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (Payload::Metrics(a), Payload::Metrics(b)) => {
                a.resource_metrics.extend(b.resource_metrics)
            }
            (Payload::Logs(a), Payload::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (Payload::DeadLetters(a), Payload::DeadLetters(b)) if a.signal == b.signal => {
                a.letters.extend(b.letters)
            }
            (a, b) => {
                return Err(SignalMismatch {
                    expected: a.signal(),
                    found: b.signal(),
                })
            }
        }
        Ok(())
    }

    /// One payload per item, each with its resource and scope: spans, log records, and metrics
    /// cut down to a single data point. For comparing payloads item by item, whatever batching
    /// happened between them.
    pub fn into_items(self) -> Vec<Payload> {
        match self {
            Payload::Traces(req) => items::traces(req).map(Payload::Traces).collect(),
            Payload::Metrics(req) => items::metrics(req).map(Payload::Metrics).collect(),
            Payload::Logs(req) => items::logs(req).map(Payload::Logs).collect(),
            Payload::DeadLetters(letters) => {
                let signal = letters.signal;
                letters
                    .letters
                    .into_iter()
                    .map(|letter| {
                        Payload::DeadLetters(DeadLetters {
                            signal,
                            letters: vec![letter],
                        })
                    })
                    .collect()
            }
        }
    }

    /// The OTLP/JSON form of the request (dead letters have no OTLP form and give `None`).
    pub fn to_otlp_json(&self) -> Option<Vec<u8>> {
        super::otlp_json::encode(self)
    }

    /// The protobuf `Export*ServiceRequest` (dead letters encode to nothing).
    pub fn encode_protobuf(&self) -> Vec<u8> {
        match self {
            Payload::Traces(req) => req.encode_to_vec(),
            Payload::Metrics(req) => req.encode_to_vec(),
            Payload::Logs(req) => req.encode_to_vec(),
            Payload::DeadLetters(_) => Vec::new(),
        }
    }

    /// The size `encode_protobuf` would produce, without encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Traces(req) => req.encoded_len(),
            Payload::Metrics(req) => req.encoded_len(),
            Payload::Logs(req) => req.encoded_len(),
            Payload::DeadLetters(letters) => {
                letters.letters.iter().map(|l| l.item.encoded_len()).sum()
            }
        }
    }
}

mod items {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum, Summary,
    };
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    pub fn traces(
        req: ExportTraceServiceRequest,
    ) -> impl Iterator<Item = ExportTraceServiceRequest> {
        req.resource_spans.into_iter().flat_map(|mut resource| {
            let scopes = std::mem::take(&mut resource.scope_spans);
            scopes.into_iter().flat_map(move |mut scope| {
                let resource = resource.clone();
                let spans = std::mem::take(&mut scope.spans);
                spans
                    .into_iter()
                    .map(move |span| ExportTraceServiceRequest {
                        resource_spans: vec![ResourceSpans {
                            scope_spans: vec![ScopeSpans {
                                spans: vec![span],
                                ..scope.clone()
                            }],
                            ..resource.clone()
                        }],
                    })
            })
        })
    }

    pub fn logs(req: ExportLogsServiceRequest) -> impl Iterator<Item = ExportLogsServiceRequest> {
        req.resource_logs.into_iter().flat_map(|mut resource| {
            let scopes = std::mem::take(&mut resource.scope_logs);
            scopes.into_iter().flat_map(move |mut scope| {
                let resource = resource.clone();
                let records = std::mem::take(&mut scope.log_records);
                records
                    .into_iter()
                    .map(move |record| ExportLogsServiceRequest {
                        resource_logs: vec![ResourceLogs {
                            scope_logs: vec![ScopeLogs {
                                log_records: vec![record],
                                ..scope.clone()
                            }],
                            ..resource.clone()
                        }],
                    })
            })
        })
    }

    pub fn metrics(
        req: ExportMetricsServiceRequest,
    ) -> impl Iterator<Item = ExportMetricsServiceRequest> {
        req.resource_metrics.into_iter().flat_map(|mut resource| {
            let scopes = std::mem::take(&mut resource.scope_metrics);
            scopes.into_iter().flat_map(move |mut scope| {
                let resource = resource.clone();
                let metrics = std::mem::take(&mut scope.metrics);
                metrics
                    .into_iter()
                    .flat_map(split_points)
                    .map(move |metric| ExportMetricsServiceRequest {
                        resource_metrics: vec![ResourceMetrics {
                            scope_metrics: vec![ScopeMetrics {
                                metrics: vec![metric],
                                ..scope.clone()
                            }],
                            ..resource.clone()
                        }],
                    })
            })
        })
    }

    fn split_points(mut metric: Metric) -> Vec<Metric> {
        fn each<P>(points: Vec<P>, wrap: impl Fn(Vec<P>) -> Data) -> Vec<Data> {
            points.into_iter().map(|p| wrap(vec![p])).collect()
        }
        let data = match metric.data.take() {
            None => return vec![metric],
            Some(Data::Gauge(g)) => each(g.data_points, |data_points| {
                Data::Gauge(Gauge { data_points })
            }),
            Some(Data::Sum(s)) => {
                let template = Sum {
                    data_points: vec![],
                    ..s
                };
                each(s.data_points, |data_points| {
                    Data::Sum(Sum {
                        data_points,
                        ..template.clone()
                    })
                })
            }
            Some(Data::Histogram(h)) => {
                let template = Histogram {
                    data_points: vec![],
                    ..h
                };
                each(h.data_points, |data_points| {
                    Data::Histogram(Histogram {
                        data_points,
                        ..template.clone()
                    })
                })
            }
            Some(Data::ExponentialHistogram(h)) => {
                let template = ExponentialHistogram {
                    data_points: vec![],
                    ..h
                };
                each(h.data_points, |data_points| {
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points,
                        ..template.clone()
                    })
                })
            }
            Some(Data::Summary(s)) => each(s.data_points, |data_points| {
                Data::Summary(Summary { data_points })
            }),
        };
        data.into_iter()
            .map(|data| Metric {
                data: Some(data),
                ..metric.clone()
            })
            .collect()
    }
}

/// One encoded `Resource{Spans,Metrics,Logs}` as a payload of one group, if it decodes.
pub fn decode_group(signal: Signal, group: &[u8]) -> Option<Payload> {
    use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
    Some(match signal {
        Signal::Traces => Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans::decode(group).ok()?],
        }),
        Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics::decode(group).ok()?],
        }),
        Signal::Logs => Payload::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs::decode(group).ok()?],
        }),
    })
}

/// A protobuf `Export*ServiceRequest` of the signal, if it decodes.
pub fn decode_protobuf(signal: Signal, bytes: &[u8]) -> Option<Payload> {
    Some(match signal {
        Signal::Traces => Payload::Traces(ExportTraceServiceRequest::decode(bytes).ok()?),
        Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest::decode(bytes).ok()?),
        Signal::Logs => Payload::Logs(ExportLogsServiceRequest::decode(bytes).ok()?),
    })
}

/// An OTLP/JSON `Export*ServiceRequest` of the signal, if it parses.
pub fn decode_otlp_json(signal: Signal, bytes: &[u8]) -> Option<Payload> {
    Some(match signal {
        Signal::Traces => Payload::Traces(serde_json::from_slice(bytes).ok()?),
        Signal::Metrics => Payload::Metrics(serde_json::from_slice(bytes).ok()?),
        Signal::Logs => Payload::Logs(serde_json::from_slice(bytes).ok()?),
    })
}

pub fn data_point_count(data: Option<&Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot merge a {found} batch into a {expected} batch")]
pub struct SignalMismatch {
    pub expected: Signal,
    pub found: Signal,
}

/// Where a batch came from and how much it holds, carried with it so that every stage can
/// account for its items without decoding the payload again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryContext {
    pub source: Arc<str>,
    /// Where a later stage sends what it cannot deliver: the pipeline's dead-letter exporters.
    pub dead_letter: Option<DeadLetterRoute>,
    /// Who waits to hear that these items are queued or delivered (none by default).
    pub receipts: super::receipt::Receipts,
    /// Set by a disk queue: the exporter derives record ids from it, so that a record
    /// delivered again after a restart carries the id it had the first time.
    pub id_seed: Option<u64>,
}

/// Each pipeline's dead-letter exporters, by pipeline name: the runtime's, which a reload
/// updates. Batches carry a route into it, not the exporters' inputs, so a batch that lives
/// long (in a disk queue, in flight to Kafka) holds no exporter's input open, and dead letters
/// go where the pipeline's dead letters go now.
#[derive(Clone, Default)]
pub struct DeadLetterTable(Arc<RwLock<HashMap<String, Fanout>>>);

impl DeadLetterTable {
    pub fn set(&self, pipeline: &str, exporters: Fanout) {
        self.write().insert(pipeline.to_string(), exporters);
    }

    /// Forgets every pipeline `keep` does not name.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let dropped: Vec<Fanout> = {
            let mut table = self.write();
            let gone: Vec<String> = table.keys().filter(|p| !keep(p)).cloned().collect();
            gone.iter().filter_map(|p| table.remove(p)).collect()
        };
        // The exporters' inputs close here, outside the lock.
        drop(dropped);
    }

    pub fn route(&self, pipeline: &str) -> DeadLetterRoute {
        DeadLetterRoute {
            pipeline: pipeline.into(),
            table: self.clone(),
        }
    }

    fn get(&self, pipeline: &str) -> Option<Fanout> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(pipeline)
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Fanout>> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where a batch's dead letters go: its pipeline's entry in the runtime's table.
#[derive(Clone)]
pub struct DeadLetterRoute {
    pipeline: Arc<str>,
    table: DeadLetterTable,
}

impl DeadLetterRoute {
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// To the pipeline's dead-letter exporters as the runtime has them now; `Closed` when the
    /// pipeline has none any more (the caller writes them to its fallback file).
    pub async fn send(&self, letters: Batch) -> Result<(), FanoutError> {
        let exporters = self.table.get(&self.pipeline).ok_or(FanoutError::Closed)?;
        exporters.send(letters).await
    }
}

impl PartialEq for DeadLetterRoute {
    fn eq(&self, other: &Self) -> bool {
        self.pipeline == other.pipeline && Arc::ptr_eq(&self.table.0, &other.table.0)
    }
}

impl Eq for DeadLetterRoute {}

impl fmt::Debug for DeadLetterRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeadLetterRoute({})", self.pipeline())
    }
}

/// A batch's items, in each state they can be in. Private to `Batch`, so that no stage can
/// read items that were not decoded, or change items and keep the bytes they were received in.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Decoded, with no bytes that still encode them (they came as JSON, or a stage changed
    /// them).
    Decoded(Payload),
    /// Decoded, with the groups' bytes as received, which still encode them.
    DecodedWithBytes {
        payload: Payload,
        encoded: EncodedGroups,
    },
    /// Walked and found well-formed: only each group's resource and schema URL are decoded,
    /// the items are in the bytes alone.
    Walked {
        resources: Payload,
        encoded: EncodedGroups,
    },
}

impl From<Payload> for Body {
    fn from(payload: Payload) -> Body {
        Body::Decoded(payload)
    }
}

impl Body {
    /// Decoded items, with the bytes they came in when there are bytes.
    pub fn decoded(payload: Payload, encoded: Option<EncodedGroups>) -> Body {
        match encoded {
            Some(encoded) => Body::DecodedWithBytes { payload, encoded },
            None => Body::Decoded(payload),
        }
    }

    /// What a receiver keeps of `payload` sent as protobuf: decoded, or only walked (the items
    /// left in the bytes). For tests and benchmarks that start from decoded data.
    pub fn protobuf(payload: Payload, walked: bool) -> Body {
        let encoded = EncodedGroups::of(&payload).expect("an encoded payload walks");
        match walked {
            true => Body::Walked {
                resources: encoded
                    .resources(payload.signal())
                    .expect("resources decode"),
                encoded,
            },
            false => Body::DecodedWithBytes { payload, encoded },
        }
    }

    /// The whole payload, or (walked) each group's resource and schema URL.
    pub fn resources(&self) -> &Payload {
        match self {
            Body::Decoded(payload) | Body::DecodedWithBytes { payload, .. } => payload,
            Body::Walked { resources, .. } => resources,
        }
    }

    pub fn encoded(&self) -> Option<&EncodedGroups> {
        match self {
            Body::Decoded(_) => None,
            Body::DecodedWithBytes { encoded, .. } | Body::Walked { encoded, .. } => Some(encoded),
        }
    }

    pub fn is_walked(&self) -> bool {
        matches!(self, Body::Walked { .. })
    }

    pub fn signal(&self) -> Signal {
        self.resources().signal()
    }

    /// Counted from what the body holds, so that no stage can forget to recount.
    pub fn items(&self) -> usize {
        match self {
            Body::Decoded(payload) | Body::DecodedWithBytes { payload, .. } => payload.item_count(),
            Body::Walked { encoded, .. } => encoded.item_count(),
        }
    }

    /// Decodes walked items from their bytes; decoded bodies stay as they are.
    fn into_decoded(self) -> Body {
        match self {
            Body::Walked { resources, encoded } => {
                // The receiver's walk accepted these bytes only where decoding them cannot fail.
                let payload = encoded
                    .decode(resources.signal())
                    .expect("bytes a receiver walked as well-formed decode");
                Body::DecodedWithBytes { payload, encoded }
            }
            decoded => decoded,
        }
    }

    fn into_payload(self) -> Payload {
        match self.into_decoded() {
            Body::Decoded(payload) | Body::DecodedWithBytes { payload, .. } => payload,
            Body::Walked { .. } => unreachable!("decoded above"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    body: Body,
    pub context: DeliveryContext,
}

impl Batch {
    pub fn new(payload: Payload, source: Arc<str>) -> Batch {
        Batch::received(Body::Decoded(payload), source)
    }

    /// A batch of what a receiver decoded, or only walked (items counted and checked, not
    /// decoded), keeping the bytes it came in.
    pub fn received(body: Body, source: Arc<str>) -> Batch {
        Batch {
            body,
            context: DeliveryContext {
                source,
                dead_letter: None,
                receipts: Default::default(),
                id_seed: None,
            },
        }
    }

    /// The whole payload, decoding the items from the received bytes if no stage has yet.
    pub fn payload(&mut self) -> &Payload {
        self.decode_items();
        self.body.resources()
    }

    /// The whole payload to change: the received bytes are dropped, as they would no longer
    /// match.
    pub fn payload_mut(&mut self) -> &mut Payload {
        let body = self.take_body();
        self.body = Body::Decoded(body.into_payload());
        match &mut self.body {
            Body::Decoded(payload) => payload,
            _ => unreachable!("set above"),
        }
    }

    pub fn into_payload(self) -> Payload {
        self.body.into_payload()
    }

    /// Each group's resource and schema URL; scopes and items may be missing (undecoded).
    pub fn resources(&self) -> &Payload {
        self.body.resources()
    }

    /// The groups as received, while nothing has changed them.
    pub fn encoded(&self) -> Option<&EncodedGroups> {
        self.body.encoded()
    }

    /// The protobuf size of the payload (the received bytes' while the batch has them).
    pub fn encoded_len(&self) -> usize {
        match self.body.encoded() {
            Some(encoded) => encoded.encoded_len(),
            None => self.body.resources().encoded_len(),
        }
    }

    pub fn is_dead_letters(&self) -> bool {
        matches!(self.body.resources(), Payload::DeadLetters(_))
    }

    /// The protobuf `Export*ServiceRequest`: the received bytes while the batch has them.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        match self.body.encoded() {
            Some(encoded) => encoded.request(),
            None => self.body.resources().encode_protobuf(),
        }
    }

    /// The body, for a stage that sends the received bytes on.
    pub fn into_received(self) -> Body {
        self.body
    }

    fn decode_items(&mut self) {
        if self.body.is_walked() {
            let body = self.take_body();
            self.body = body.into_decoded();
        }
    }

    /// The body, leaving an empty one of the same signal until the caller puts one back.
    fn take_body(&mut self) -> Body {
        let empty = Body::Decoded(Payload::empty(self.signal()));
        std::mem::replace(&mut self.body, empty)
    }

    pub fn signal(&self) -> Signal {
        self.body.signal()
    }

    pub fn items(&self) -> usize {
        self.body.items()
    }

    /// An empty batch of the same signal and source, to carry what a stage splits off; it
    /// carries no receipts: the stage decides who settles them.
    pub fn clone_context_only(&self) -> Batch {
        let mut empty = Batch::new(Payload::empty(self.signal()), self.context.source.clone());
        empty.context.dead_letter = self.context.dead_letter.clone();
        empty
    }

    /// Replaces the payload (and so its item count).
    pub fn with_payload(mut self, payload: Payload) -> Batch {
        self.body = Body::Decoded(payload);
        self
    }

    /// Moves `other`'s payload (its resource groups) into this one, and its encoded groups
    /// while both have them.
    pub fn append(&mut self, other: Batch) -> Result<(), SignalMismatch> {
        let same_kind = std::mem::discriminant(self.body.resources())
            == std::mem::discriminant(other.body.resources());
        if !same_kind || self.signal() != other.signal() {
            return Err(SignalMismatch {
                expected: self.signal(),
                found: other.signal(),
            });
        }
        let mine = self.take_body();
        // No groups yet: the result is what `other` is, bytes and all.
        if mine.resources().group_count() == 0 {
            self.body = other.body;
            return Ok(());
        }
        self.body = match (mine, other.body) {
            (
                Body::Walked {
                    resources: mut a,
                    encoded: mut bytes_a,
                },
                Body::Walked {
                    resources: b,
                    encoded: bytes_b,
                },
            ) => {
                a.append(b)?;
                bytes_a.append(bytes_b);
                Body::Walked {
                    resources: a,
                    encoded: bytes_a,
                }
            }
            (mine, theirs) => {
                // Mixed: the merged batch holds its items decoded, with bytes while both had.
                let (mine, theirs) = (mine.into_decoded(), theirs.into_decoded());
                let bytes = mine.encoded().is_some() && theirs.encoded().is_some();
                let (mut payload, mut encoded) = split(mine);
                let (other_payload, other_encoded) = split(theirs);
                payload.append(other_payload)?;
                match (encoded.as_mut(), other_encoded) {
                    (Some(mine), Some(theirs)) if bytes => mine.append(theirs),
                    _ => encoded = None,
                }
                Body::decoded(payload, encoded)
            }
        };
        Ok(())
    }
}

/// A decoded body's payload and bytes.
fn split(body: Body) -> (Payload, Option<EncodedGroups>) {
    match body {
        Body::Decoded(payload) => (payload, None),
        Body::DecodedWithBytes { payload, encoded } => (payload, Some(encoded)),
        Body::Walked { .. } => unreachable!("decoded first"),
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
