//! Property: any valid OTLP request, sent as protobuf or as OTLP/JSON, comes out of the file
//! exporter unchanged. The requests are random (a fixed seed per run, printed on failure), with
//! every attribute value type, unicode, extreme integers and every metric type.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{post_retrying, Agent};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use tributary::pipeline::batch::Payload;

/// xorshift64*: small, seedable, good enough to vary test data.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
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

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn id(&mut self, len: usize) -> Vec<u8> {
        let mut id = self.bytes(len);
        id[0] |= 1;
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
            "tab\t",
            "x",
        ];
        (0..self.count(3))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn float(&mut self) -> f64 {
        match self.below(5) {
            0 => 0.0,
            1 => f64::MAX,
            2 => -1.5e-300,
            _ => (self.next() >> 11) as f64 / (1u64 << 40) as f64 - 1000.0,
        }
    }

    fn int(&mut self) -> i64 {
        match self.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => self.next() as i64 >> self.below(60),
        }
    }

    fn value(&mut self, depth: u32) -> AnyValue {
        let kind = if depth > 1 {
            self.below(5)
        } else {
            self.below(7)
        };
        let value = match kind {
            0 => any_value::Value::StringValue(self.text()),
            1 => any_value::Value::BoolValue(self.chance(50)),
            2 => any_value::Value::IntValue(self.int()),
            3 => any_value::Value::DoubleValue(self.float()),
            4 => {
                let len = self.count(8);
                any_value::Value::BytesValue(self.bytes(len))
            }
            5 => any_value::Value::ArrayValue(ArrayValue {
                values: (0..self.count(3)).map(|_| self.value(depth + 1)).collect(),
            }),
            _ => any_value::Value::KvlistValue(KeyValueList {
                values: self.attributes(depth + 1),
            }),
        };
        AnyValue { value: Some(value) }
    }

    fn attributes(&mut self, depth: u32) -> Vec<KeyValue> {
        (0..self.count(4))
            .map(|i| KeyValue {
                key: format!("{}.{i}", self.text()),
                value: Some(self.value(depth)),
                ..Default::default()
            })
            .collect()
    }

    fn resource(&mut self) -> Option<Resource> {
        self.chance(90).then(|| Resource {
            attributes: self.attributes(0),
            dropped_attributes_count: self.below(3) as u32,
            entity_refs: vec![],
        })
    }

    fn scope(&mut self) -> Option<InstrumentationScope> {
        self.chance(80).then(|| InstrumentationScope {
            name: self.text(),
            version: self.text(),
            attributes: self.attributes(1),
            dropped_attributes_count: 0,
        })
    }

    fn time(&mut self) -> u64 {
        if self.chance(10) {
            u64::MAX
        } else {
            1_600_000_000_000_000_000 + self.below(1 << 50)
        }
    }

    fn traces(&mut self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: (0..1 + self.count(2))
                .map(|_| ResourceSpans {
                    resource: self.resource(),
                    scope_spans: (0..1 + self.count(2))
                        .map(|_| ScopeSpans {
                            scope: self.scope(),
                            spans: (0..1 + self.count(3)).map(|_| self.span()).collect(),
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
            trace_id: self.id(16),
            span_id: self.id(8),
            trace_state: self.text(),
            parent_span_id: if self.chance(50) { self.id(8) } else { vec![] },
            flags: self.below(512) as u32,
            name: self.text(),
            kind: self.below(6) as i32,
            start_time_unix_nano: self.time(),
            end_time_unix_nano: self.time(),
            attributes: self.attributes(0),
            dropped_attributes_count: self.below(2) as u32,
            events: (0..self.count(2))
                .map(|_| span::Event {
                    time_unix_nano: self.time(),
                    name: self.text(),
                    attributes: self.attributes(1),
                    dropped_attributes_count: 0,
                })
                .collect(),
            dropped_events_count: 0,
            links: (0..self.count(2))
                .map(|_| span::Link {
                    trace_id: self.id(16),
                    span_id: self.id(8),
                    trace_state: self.text(),
                    attributes: self.attributes(1),
                    dropped_attributes_count: 0,
                    flags: 0,
                })
                .collect(),
            dropped_links_count: 0,
            status: self.chance(50).then(|| Status {
                message: self.text(),
                code: self.below(3) as i32,
            }),
        }
    }

    fn number_point(&mut self) -> NumberDataPoint {
        NumberDataPoint {
            attributes: self.attributes(1),
            start_time_unix_nano: self.time(),
            time_unix_nano: self.time(),
            value: Some(if self.chance(50) {
                number_data_point::Value::AsInt(self.int())
            } else {
                number_data_point::Value::AsDouble(self.float())
            }),
            exemplars: vec![],
            flags: self.below(2) as u32,
        }
    }

    fn metric(&mut self) -> Metric {
        let points = 1 + self.count(3);
        let data = match self.below(5) {
            0 => Data::Gauge(Gauge {
                data_points: (0..points).map(|_| self.number_point()).collect(),
            }),
            1 => Data::Sum(Sum {
                data_points: (0..points).map(|_| self.number_point()).collect(),
                aggregation_temporality: self.below(3) as i32,
                is_monotonic: self.chance(50),
            }),
            2 => Data::Histogram(Histogram {
                data_points: (0..points)
                    .map(|_| HistogramDataPoint {
                        attributes: self.attributes(1),
                        start_time_unix_nano: self.time(),
                        time_unix_nano: self.time(),
                        count: self.next() >> 8,
                        sum: self.chance(70).then(|| self.float()),
                        bucket_counts: (0..3).map(|_| self.next() >> 20).collect(),
                        explicit_bounds: vec![0.5, 10.0],
                        exemplars: vec![],
                        flags: 0,
                        min: self.chance(50).then(|| self.float()),
                        max: self.chance(50).then(|| self.float()),
                    })
                    .collect(),
                aggregation_temporality: self.below(3) as i32,
            }),
            3 => Data::ExponentialHistogram(ExponentialHistogram {
                data_points: (0..points)
                    .map(|_| ExponentialHistogramDataPoint {
                        attributes: self.attributes(1),
                        start_time_unix_nano: self.time(),
                        time_unix_nano: self.time(),
                        count: self.next() >> 8,
                        sum: self.chance(70).then(|| self.float()),
                        scale: self.below(20) as i32 - 10,
                        zero_count: self.below(100),
                        positive: Some(Buckets {
                            offset: self.below(10) as i32 - 5,
                            bucket_counts: (0..self.count(4)).map(|_| self.below(1000)).collect(),
                        }),
                        negative: self.chance(50).then(|| Buckets {
                            offset: 0,
                            bucket_counts: vec![1, 2],
                        }),
                        flags: 0,
                        exemplars: vec![],
                        min: self.chance(50).then(|| self.float()),
                        max: self.chance(50).then(|| self.float()),
                        zero_threshold: 0.0,
                    })
                    .collect(),
                aggregation_temporality: self.below(3) as i32,
            }),
            _ => Data::Summary(Summary {
                data_points: (0..points)
                    .map(|_| SummaryDataPoint {
                        attributes: self.attributes(1),
                        start_time_unix_nano: self.time(),
                        time_unix_nano: self.time(),
                        count: self.below(1 << 40),
                        sum: self.float(),
                        quantile_values: vec![ValueAtQuantile {
                            quantile: 0.99,
                            value: self.float(),
                        }],
                        flags: 0,
                    })
                    .collect(),
            }),
        };
        Metric {
            name: self.text(),
            description: self.text(),
            unit: self.text(),
            metadata: self.attributes(1),
            data: Some(data),
        }
    }

    fn metrics(&mut self) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: (0..1 + self.count(2))
                .map(|_| ResourceMetrics {
                    resource: self.resource(),
                    scope_metrics: (0..1 + self.count(2))
                        .map(|_| ScopeMetrics {
                            scope: self.scope(),
                            metrics: (0..1 + self.count(3)).map(|_| self.metric()).collect(),
                            schema_url: self.text(),
                        })
                        .collect(),
                    schema_url: self.text(),
                })
                .collect(),
        }
    }

    fn log(&mut self) -> LogRecord {
        let traced = self.chance(50);
        LogRecord {
            time_unix_nano: self.time(),
            observed_time_unix_nano: self.time(),
            severity_number: self.below(25) as i32,
            severity_text: self.text(),
            body: self.chance(90).then(|| self.value(0)),
            attributes: self.attributes(0),
            dropped_attributes_count: 0,
            flags: self.below(2) as u32,
            trace_id: if traced { self.id(16) } else { vec![] },
            span_id: if traced { self.id(8) } else { vec![] },
            event_name: self.text(),
        }
    }

    fn logs(&mut self) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: (0..1 + self.count(2))
                .map(|_| ResourceLogs {
                    resource: self.resource(),
                    scope_logs: (0..1 + self.count(2))
                        .map(|_| ScopeLogs {
                            scope: self.scope(),
                            log_records: (0..1 + self.count(3)).map(|_| self.log()).collect(),
                            schema_url: self.text(),
                        })
                        .collect(),
                    schema_url: self.text(),
                })
                .collect(),
        }
    }
}

fn written(path: &PathBuf, expected: usize) -> Vec<Payload> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= expected || started.elapsed() > Duration::from_secs(20) {
            return text.lines().map(parse_line).collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The file exporter writes each request as its OTLP/JSON; the top-level key tells the signal.
fn parse_line(line: &str) -> Payload {
    if line.starts_with("{\"resourceSpans\"") {
        Payload::Traces(serde_json::from_str(line).unwrap())
    } else if line.starts_with("{\"resourceMetrics\"") {
        Payload::Metrics(serde_json::from_str(line).unwrap())
    } else {
        Payload::Logs(serde_json::from_str(line).unwrap())
    }
}

#[test]
fn random_valid_requests_come_out_of_the_file_exporter_unchanged() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let output = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("property.jsonl");
    let _ = std::fs::remove_file(&output);
    let config = format!(
        r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{{otlp_http}}" }} }} }}
exporters:
  file: {{ path: "{}" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    logs: {{ receivers: [otlp], exporters: [file] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
"#,
        output.display()
    );
    let agent = Agent::start("property", &config);
    let mut random = Random(seed);
    let mut sent = Vec::new();
    for case in 0..150 {
        let payload = match case % 3 {
            0 => Payload::Traces(random.traces()),
            1 => Payload::Metrics(random.metrics()),
            _ => Payload::Logs(random.logs()),
        };
        let json = case % 2 == 1;
        let (content_type, body) = if json {
            let body = payload.to_otlp_json();
            ("application/json", body.expect("OTLP/JSON"))
        } else {
            ("application/x-protobuf", payload.encode_protobuf())
        };
        let path = format!("/v1/{}", payload.signal());
        let response = post_retrying(agent.otlp_http, &path, content_type, &body);
        assert_eq!(
            response.status,
            200,
            "seed {seed}, case {case} ({content_type}): {}",
            response.text()
        );
        sent.push(payload);
    }
    let received = written(&output, sent.len());
    assert_eq!(
        received.len(),
        sent.len(),
        "seed {seed}: one line per request"
    );
    for (case, (sent, received)) in sent.iter().zip(&received).enumerate() {
        if sent != received {
            let sent_items = sent.clone().into_items();
            let received_items = received.clone().into_items();
            let differing = sent_items.iter().zip(&received_items).find(|(a, b)| a != b);
            panic!(
                "seed {seed}, case {case}: the {} request changed on its way; first differing item:\nsent:     {:?}\nreceived: {:?}",
                sent.signal(),
                differing.map(|d| d.0),
                differing.map(|d| d.1),
            );
        }
    }
}
