//! The unit that flows through a pipeline: one signal's OTLP request plus its delivery context.

use std::fmt;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;

pub use super::dead_letter::{DeadLetter, DeadLetters};
use super::encoded::EncodedGroups;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces = 0,
    Metrics = 1,
    Logs = 2,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
        match self {
            Payload::Traces(req) => req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum(),
            Payload::Metrics(req) => req
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| data_point_count(m.data.as_ref()))
                .sum(),
            Payload::Logs(req) => req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum(),
            Payload::DeadLetters(letters) => letters.letters.len(),
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
        let json = match self {
            Payload::Traces(req) => serde_json::to_vec(req),
            Payload::Metrics(req) => serde_json::to_vec(req),
            Payload::Logs(req) => serde_json::to_vec(req),
            Payload::DeadLetters(_) => return None,
        };
        json.ok()
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
    pub items: usize,
    pub source: Arc<str>,
    /// Where a later stage sends what it cannot deliver: the pipeline's dead-letter exporters.
    pub dead_letter: Option<DeadLetterRoute>,
    /// Who waits to hear that these items are queued or delivered (none by default).
    pub receipts: super::receipt::Receipts,
    /// Set by a disk queue: the exporter derives record ids from it, so that a record
    /// delivered again after a restart carries the id it had the first time.
    pub id_seed: Option<u64>,
}

/// A pipeline's dead-letter exporters, carried by its batches so that a shared exporter knows
/// each batch's route.
#[derive(Clone)]
pub struct DeadLetterRoute(pub Arc<(String, super::fanout::Fanout)>);

impl DeadLetterRoute {
    pub fn new(pipeline: &str, fanout: super::fanout::Fanout) -> DeadLetterRoute {
        DeadLetterRoute(Arc::new((pipeline.to_string(), fanout)))
    }

    pub fn pipeline(&self) -> &str {
        &self.0 .0
    }

    pub async fn send(&self, letters: Batch) -> Result<(), super::fanout::FanoutError> {
        self.0 .1.send(letters).await
    }
}

impl PartialEq for DeadLetterRoute {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DeadLetterRoute {}

impl fmt::Debug for DeadLetterRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeadLetterRoute({})", self.pipeline())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub payload: Payload,
    pub context: DeliveryContext,
    /// The payload's groups as they were received, while nothing has changed them: a stage
    /// that changes the payload sets this to `None`.
    pub encoded: Option<EncodedGroups>,
}

impl Batch {
    pub fn new(payload: Payload, source: Arc<str>) -> Batch {
        let items = payload.item_count();
        Batch {
            payload,
            context: DeliveryContext {
                items,
                source,
                dead_letter: None,
                receipts: Default::default(),
                id_seed: None,
            },
            encoded: None,
        }
    }

    pub fn signal(&self) -> Signal {
        self.payload.signal()
    }

    pub fn items(&self) -> usize {
        self.context.items
    }

    /// An empty batch of the same signal and source, to carry what a stage splits off; it
    /// carries no receipts: the stage decides who settles them.
    pub fn clone_context_only(&self) -> Batch {
        let mut empty = Batch::new(Payload::empty(self.signal()), self.context.source.clone());
        empty.context.dead_letter = self.context.dead_letter.clone();
        empty
    }

    /// Replaces the payload and recounts its items.
    pub fn with_payload(mut self, payload: Payload) -> Batch {
        self.context.items = payload.item_count();
        self.payload = payload;
        self.encoded = None;
        self
    }

    /// Moves `other`'s payload (its resource groups) into this one, and its encoded groups
    /// while both have them. Items are the caller's to count.
    pub fn append(&mut self, other: Batch) -> Result<(), SignalMismatch> {
        // No groups yet: every one of them (none) has its bytes.
        let mine = match self.payload.group_count() {
            0 => Some(EncodedGroups::default()),
            _ => self.encoded.take(),
        };
        self.encoded = match (mine, other.encoded) {
            (Some(mut mine), Some(theirs)) => {
                mine.append(theirs);
                Some(mine)
            }
            _ => None,
        };
        self.payload.append(other.payload)
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
