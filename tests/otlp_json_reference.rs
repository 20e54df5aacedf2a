//! Property: the OTLP/JSON Tributary writes (the Kafka exporter's `otlp_json`, the file
//! exporter's `json`) is the OTLP JSON mapping. Random requests of every signal, every metric
//! type and every attribute value kind, written by our encoder, are
//! - parsed by protobuf's reference JSON parser (Python `json_format`, strict) back into the
//!   same message, compared as protobuf;
//! - read back by the OTLP/JSON decoder the OTLP/HTTP and Kafka receivers use, unchanged.
//!
//! The seed changes every run and is printed on failure; `OTLP_JSON_SEED=<n>` repeats a run.

mod common;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use tributary::pipeline::batch::{decode_protobuf, Payload, Signal};
use tributary::pipeline::codec::{self, Encoding};

const CASES: usize = 300;

/// What a generated request may hold.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// Everything the OTLP data model allows, NaN and the infinities included.
    Everything,
    /// What the receivers' decoder (opentelemetry-proto's serde) reads: finite doubles (it has
    /// no "NaN"), no `stringValueStrindex` (it skips it), well-formed ids and metrics with
    /// data and values (the receivers refuse the rest as malformed).
    Decodable,
}

/// xorshift64*: small, seedable, good enough to vary test data.
struct Random {
    state: u64,
    scope: Scope,
}

impl Random {
    fn new(seed: u64, scope: Scope) -> Random {
        Random {
            state: seed | 1,
            scope,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn count(&mut self, max: u64) -> usize {
        self.below(max + 1) as usize
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len() as u64) as usize]
    }

    fn everything(&self) -> bool {
        self.scope == Scope::Everything
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// An id of the length OTLP gives it, sometimes absent where it may be.
    fn id(&mut self, len: usize, optional: bool) -> Vec<u8> {
        if optional && self.chance(30) {
            return Vec::new();
        }
        let mut id = self.bytes(len);
        id[0] |= 0x80;
        id
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "db",
            "ünïcödé",
            "日本語",
            "a\"quote",
            "back\\slash",
            "emoji 🚀",
            "",
            "tab\t newline\n return\r",
            "nul\u{0} bell\u{7} esc\u{1b} unit\u{1f}",
            "del\u{7f} nel\u{85} ls\u{2028} ps\u{2029} bom\u{feff}",
            "/slash/ <html> &amp;",
            "x",
        ];
        (0..self.count(3)).map(|_| self.pick(PIECES)).collect()
    }

    fn float(&mut self) -> f64 {
        let finite = [
            0.0,
            -0.0,
            1.5,
            -2.25,
            0.1,
            1e21,
            1e-7,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -1.5e-300,
            9_007_199_254_740_993.0,
        ];
        match self.below(10) {
            0..=5 => self.pick(&finite),
            6 if self.everything() => self.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            _ => (self.next() >> 11) as f64 / (1u64 << 40) as f64 - 1000.0,
        }
    }

    fn int(&mut self) -> i64 {
        match self.below(5) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => 0,
            _ => self.next() as i64 >> self.below(63),
        }
    }

    fn uint64(&mut self) -> u64 {
        match self.below(5) {
            0 => 0,
            1 => u64::MAX,
            2 => (1 << 53) + 1,
            _ => self.next() >> self.below(64),
        }
    }

    fn uint32(&mut self) -> u32 {
        match self.below(4) {
            0 => 0,
            1 => u32::MAX,
            _ => self.below(1000) as u32,
        }
    }

    fn time(&mut self) -> u64 {
        match self.below(4) {
            0 => 0,
            1 => u64::MAX,
            _ => 1_700_000_000_000_000_000 + self.below(1 << 50),
        }
    }

    fn value(&mut self, depth: u32) -> AnyValue {
        let kinds = if depth > 2 { 5 } else { 9 };
        let value = match self.below(kinds) {
            0 => Some(any_value::Value::StringValue(self.text())),
            1 => Some(any_value::Value::BoolValue(self.chance(50))),
            2 => Some(any_value::Value::IntValue(self.int())),
            3 => Some(any_value::Value::DoubleValue(self.float())),
            4 => {
                let len = self.count(9);
                Some(any_value::Value::BytesValue(self.bytes(len)))
            }
            5 => Some(any_value::Value::ArrayValue(ArrayValue {
                values: (0..self.count(3)).map(|_| self.value(depth + 1)).collect(),
            })),
            6 => Some(any_value::Value::KvlistValue(KeyValueList {
                values: self.attributes(depth + 1),
            })),
            7 if self.everything() => Some(any_value::Value::StringValueStrindex(
                self.below(1000) as i32 - 10,
            )),
            // An AnyValue with nothing set: OTLP's empty value.
            _ => None,
        };
        AnyValue { value }
    }

    fn attributes(&mut self, depth: u32) -> Vec<KeyValue> {
        (0..self.count(4))
            .map(|_| KeyValue {
                key: self.text(),
                value: match self.below(10) {
                    0 => None,
                    _ => Some(self.value(depth)),
                },
                key_strindex: if self.chance(10) {
                    self.below(100) as i32
                } else {
                    0
                },
            })
            .collect()
    }

    fn resource(&mut self) -> Option<Resource> {
        if self.chance(15) {
            return None;
        }
        Some(Resource {
            attributes: self.attributes(0),
            dropped_attributes_count: self.uint32(),
            entity_refs: (0..self.count(2))
                .map(|_| EntityRef {
                    schema_url: self.text(),
                    r#type: self.text(),
                    id_keys: (0..self.count(2)).map(|_| self.text()).collect(),
                    description_keys: (0..self.count(2)).map(|_| self.text()).collect(),
                })
                .collect(),
        })
    }

    fn scope(&mut self) -> Option<InstrumentationScope> {
        if self.chance(15) {
            return None;
        }
        Some(InstrumentationScope {
            name: self.text(),
            version: self.text(),
            attributes: self.attributes(0),
            dropped_attributes_count: self.uint32(),
        })
    }

    fn traces(&mut self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: (0..self.count(2))
                .map(|_| ResourceSpans {
                    resource: self.resource(),
                    scope_spans: (0..self.count(2))
                        .map(|_| ScopeSpans {
                            scope: self.scope(),
                            spans: (0..self.count(3)).map(|_| self.span()).collect(),
                            schema_url: self.text(),
                        })
                        .collect(),
                    schema_url: self.text(),
                })
                .collect(),
        }
    }

    fn span(&mut self) -> Span {
        Span {
            trace_id: self.id(16, false),
            span_id: self.id(8, false),
            trace_state: self.text(),
            parent_span_id: self.id(8, true),
            flags: self.pick(&[0, 1, 0x100, 0x301, u32::MAX]),
            name: self.text(),
            kind: self.below(6) as i32,
            start_time_unix_nano: self.time(),
            end_time_unix_nano: self.time(),
            attributes: self.attributes(0),
            dropped_attributes_count: self.uint32(),
            events: (0..self.count(2))
                .map(|_| Event {
                    time_unix_nano: self.time(),
                    name: self.text(),
                    attributes: self.attributes(0),
                    dropped_attributes_count: self.uint32(),
                })
                .collect(),
            dropped_events_count: self.uint32(),
            links: (0..self.count(2))
                .map(|_| Link {
                    trace_id: self.id(16, true),
                    span_id: self.id(8, true),
                    trace_state: self.text(),
                    attributes: self.attributes(0),
                    dropped_attributes_count: self.uint32(),
                    flags: self.pick(&[0, 1, 0x301]),
                })
                .collect(),
            dropped_links_count: self.uint32(),
            status: match self.below(3) {
                0 => None,
                _ => Some(Status {
                    message: self.text(),
                    code: self.below(3) as i32,
                }),
            },
        }
    }

    fn logs(&mut self) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: (0..self.count(2))
                .map(|_| ResourceLogs {
                    resource: self.resource(),
                    scope_logs: (0..self.count(2))
                        .map(|_| ScopeLogs {
                            scope: self.scope(),
                            log_records: (0..self.count(3)).map(|_| self.log_record()).collect(),
                            schema_url: self.text(),
                        })
                        .collect(),
                    schema_url: self.text(),
                })
                .collect(),
        }
    }

    fn log_record(&mut self) -> LogRecord {
        LogRecord {
            time_unix_nano: self.time(),
            observed_time_unix_nano: self.time(),
            severity_number: self.below(25) as i32,
            severity_text: self.text(),
            body: match self.below(4) {
                0 => None,
                _ => Some(self.value(0)),
            },
            attributes: self.attributes(0),
            dropped_attributes_count: self.uint32(),
            flags: self.pick(&[0, 1, 0xff]),
            trace_id: self.id(16, true),
            span_id: self.id(8, true),
            event_name: self.text(),
        }
    }

    fn metrics(&mut self) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: (0..self.count(2))
                .map(|_| ResourceMetrics {
                    resource: self.resource(),
                    scope_metrics: (0..self.count(2))
                        .map(|_| ScopeMetrics {
                            scope: self.scope(),
                            metrics: (0..self.count(4)).map(|_| self.metric()).collect(),
                            schema_url: self.text(),
                        })
                        .collect(),
                    schema_url: self.text(),
                })
                .collect(),
        }
    }

    fn metric(&mut self) -> Metric {
        let kinds = if self.everything() { 6 } else { 5 };
        let data = match self.below(kinds) {
            0 => Some(Data::Gauge(Gauge {
                data_points: self.number_points(),
            })),
            1 => Some(Data::Sum(Sum {
                data_points: self.number_points(),
                aggregation_temporality: self.below(3) as i32,
                is_monotonic: self.chance(50),
            })),
            2 => Some(Data::Histogram(Histogram {
                data_points: (0..self.count(3)).map(|_| self.histogram_point()).collect(),
                aggregation_temporality: self.below(3) as i32,
            })),
            3 => Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: (0..self.count(3))
                    .map(|_| self.exponential_point())
                    .collect(),
                aggregation_temporality: self.below(3) as i32,
            })),
            4 => Some(Data::Summary(Summary {
                data_points: (0..self.count(3)).map(|_| self.summary_point()).collect(),
            })),
            _ => None,
        };
        Metric {
            name: self.text(),
            description: self.text(),
            unit: self.text(),
            metadata: self.attributes(0),
            data,
        }
    }

    fn number_points(&mut self) -> Vec<NumberDataPoint> {
        (0..self.count(3))
            .map(|_| NumberDataPoint {
                attributes: self.attributes(0),
                start_time_unix_nano: self.time(),
                time_unix_nano: self.time(),
                exemplars: self.exemplars(),
                flags: self.below(2) as u32,
                value: match self.below(if self.everything() { 3 } else { 2 }) {
                    0 => Some(number_data_point::Value::AsDouble(self.float())),
                    1 => Some(number_data_point::Value::AsInt(self.int())),
                    _ => None,
                },
            })
            .collect()
    }

    fn exemplars(&mut self) -> Vec<Exemplar> {
        (0..self.count(2))
            .map(|_| Exemplar {
                filtered_attributes: self.attributes(0),
                time_unix_nano: self.time(),
                span_id: self.id(8, true),
                trace_id: self.id(16, true),
                value: match self.below(3) {
                    0 => Some(exemplar::Value::AsDouble(self.float())),
                    1 => Some(exemplar::Value::AsInt(self.int())),
                    _ => None,
                },
            })
            .collect()
    }

    fn optional_float(&mut self) -> Option<f64> {
        self.chance(50).then(|| self.float())
    }

    fn histogram_point(&mut self) -> HistogramDataPoint {
        let bounds = self.count(4);
        HistogramDataPoint {
            attributes: self.attributes(0),
            start_time_unix_nano: self.time(),
            time_unix_nano: self.time(),
            count: self.uint64(),
            sum: self.optional_float(),
            bucket_counts: (0..bounds + 1).map(|_| self.uint64()).collect(),
            explicit_bounds: (0..bounds).map(|_| self.float()).collect(),
            exemplars: self.exemplars(),
            flags: self.below(2) as u32,
            min: self.optional_float(),
            max: self.optional_float(),
        }
    }

    fn buckets(&mut self) -> Option<Buckets> {
        match self.below(3) {
            0 => None,
            _ => Some(Buckets {
                offset: self.pick(&[0, -1, 5, i32::MIN, i32::MAX]),
                bucket_counts: (0..self.count(4)).map(|_| self.uint64()).collect(),
            }),
        }
    }

    fn exponential_point(&mut self) -> ExponentialHistogramDataPoint {
        ExponentialHistogramDataPoint {
            attributes: self.attributes(0),
            start_time_unix_nano: self.time(),
            time_unix_nano: self.time(),
            count: self.uint64(),
            sum: self.optional_float(),
            scale: self.pick(&[0, -10, 20]),
            zero_count: self.uint64(),
            positive: self.buckets(),
            negative: self.buckets(),
            flags: self.below(2) as u32,
            exemplars: self.exemplars(),
            min: self.optional_float(),
            max: self.optional_float(),
            zero_threshold: self.float(),
        }
    }

    fn summary_point(&mut self) -> SummaryDataPoint {
        SummaryDataPoint {
            attributes: self.attributes(0),
            start_time_unix_nano: self.time(),
            time_unix_nano: self.time(),
            count: self.uint64(),
            sum: self.float(),
            quantile_values: (0..self.count(3))
                .map(|_| ValueAtQuantile {
                    quantile: self.pick(&[0.0, 0.5, 0.99, 1.0]),
                    value: self.float(),
                })
                .collect(),
            flags: self.below(2) as u32,
        }
    }

    fn payload(&mut self, case: usize) -> Payload {
        match case % 3 {
            0 => Payload::Traces(self.traces()),
            1 => Payload::Metrics(self.metrics()),
            _ => Payload::Logs(self.logs()),
        }
    }
}

fn seed() -> u64 {
    match std::env::var("OTLP_JSON_SEED") {
        Ok(seed) => seed.parse().expect("OTLP_JSON_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as u64,
    }
}

/// The payload's OTLP/JSON, checked to hold no `null` (the reference parser reads a null as
/// an absent field, so it would not notice one; the Collector refuses them).
fn otlp_json(payload: &Payload) -> String {
    let bytes = payload.to_otlp_json().expect("an OTLP payload");
    let json = String::from_utf8(bytes).expect("OTLP/JSON is UTF-8");
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let mut pending = vec![&value];
    while let Some(value) = pending.pop() {
        match value {
            serde_json::Value::Null => panic!("null in {json}"),
            serde_json::Value::Array(items) => pending.extend(items),
            serde_json::Value::Object(fields) => pending.extend(fields.values()),
            _ => {}
        }
    }
    json
}

#[test]
fn protobufs_reference_json_parser_reads_our_otlp_json_as_the_message_written() {
    let seed = seed();
    let mut random = Random::new(seed, Scope::Everything);
    let payloads: Vec<Payload> = (0..CASES).map(|case| random.payload(case)).collect();
    let requests: Vec<(Signal, String)> = payloads
        .iter()
        .map(|payload| (payload.signal(), otlp_json(payload)))
        .collect();
    let verdicts = common::reference_parse(&requests, &format!("otlp_json_reference.{seed}"));
    for (case, ((payload, (_, json)), verdict)) in
        payloads.iter().zip(&requests).zip(verdicts).enumerate()
    {
        let bytes = verdict.unwrap_or_else(|refused| {
            panic!("seed {seed}, case {case}: the reference parser refused it: {refused}\n{json}")
        });
        let parsed = decode_protobuf(payload.signal(), &bytes).expect("protobuf from Python");
        // Compared as prost encodes them: NaN is not equal to itself, its bytes are.
        assert!(
            parsed.encode_protobuf() == payload.encode_protobuf(),
            "seed {seed}, case {case}: the reference parser read another message\nwritten: {payload:?}\nread: {parsed:?}\n{json}"
        );
    }
}

#[test]
fn the_receivers_decoder_reads_our_otlp_json_as_the_message_written() {
    let seed = seed();
    let mut random = Random::new(seed, Scope::Decodable);
    for case in 0..CASES {
        let payload = random.payload(case);
        let json = otlp_json(&payload);
        let decoded = codec::decode(payload.signal(), Encoding::Json, json.as_bytes())
            .unwrap_or_else(|e| panic!("seed {seed}, case {case}: {e}\n{json}"));
        assert!(
            decoded == payload,
            "seed {seed}, case {case}: read back as another message\nwritten: {payload:?}\nread: {decoded:?}\n{json}"
        );
    }
}
