//! The seed inputs of the fuzz targets (`fuzz/corpus/<target>/seed-*`): every committed seed is
//! one the target's code accepts, so that fuzzing starts from inside the valid inputs rather
//! than at the first error. `TRIBUTARY_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds` writes
//! them anew (from `tributary::workload`, requests with every metric type, `collector.yaml`
//! and `examples/`) before checking them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use tributary::exporters::queue::segment::{self, MAX_RECORD_BODY};
use tributary::model::Signal;
use tributary::pipeline::batch::{Batch, Payload};
use tributary::pipeline::codec::{decode, wire_check, Encoding};
use tributary::pipeline::dead_letter::nanos_from_rfc3339;
use tributary::receivers::kafka::decode::{decode as decode_record, Consumed};
use tributary::receivers::kafka::RecordEncoding;
use tributary::runtime::Config;
use tributary::workload::{request_encoded, WireEncoding};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn string(text: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    })
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Every kind of attribute value, nested.
fn attributes() -> Vec<KeyValue> {
    use any_value::Value;
    vec![
        attribute("s", Value::StringValue("ü".into())),
        attribute("b", Value::BoolValue(true)),
        attribute("i", Value::IntValue(i64::MIN)),
        attribute("d", Value::DoubleValue(-0.5)),
        attribute("x", Value::BytesValue(vec![0, 255])),
        attribute(
            "a",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::IntValue(1)),
                    },
                    AnyValue::default(),
                ],
            }),
        ),
        attribute(
            "m",
            Value::KvlistValue(KeyValueList {
                values: vec![attribute("k", Value::StringValue("v".into()))],
            }),
        ),
    ]
}

fn traces() -> Payload {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: 1,
        end_time_unix_nano: u64::MAX,
        attributes: attributes(),
        events: vec![span::Event {
            time_unix_nano: 5,
            name: "e".into(),
            attributes: attributes(),
            dropped_attributes_count: 1,
        }],
        links: vec![span::Link {
            trace_id: vec![4; 16],
            span_id: vec![5; 8],
            trace_state: "a=b".into(),
            flags: 0x101,
            ..Default::default()
        }],
        status: Some(Status {
            message: "bad".into(),
            code: 2,
        }),
        flags: 1,
        ..Default::default()
    };
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span.clone(),
                        Span {
                            parent_span_id: vec![],
                            ..span
                        },
                    ],
                    schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceSpans::default(),
        ],
    })
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: "ms".into(),
        description: "d".into(),
        data: Some(data),
        ..Default::default()
    }
}

fn metrics() -> Payload {
    let exemplar = Exemplar {
        time_unix_nano: 3,
        value: Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsInt(7)),
        span_id: vec![1; 8],
        trace_id: vec![2; 16],
        ..Default::default()
    };
    let number = |value| NumberDataPoint {
        attributes: attributes(),
        time_unix_nano: 2,
        value: Some(value),
        exemplars: vec![exemplar.clone()],
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "sum",
            Data::Sum(Sum {
                data_points: vec![
                    number(number_data_point::Value::AsInt(-1)),
                    number(number_data_point::Value::AsDouble(1e300)),
                ],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    count: 3,
                    sum: Some(4.5),
                    bucket_counts: vec![1, 2, 0],
                    explicit_bounds: vec![1.0, 10.0],
                    min: Some(0.5),
                    max: Some(9.0),
                    exemplars: vec![exemplar],
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    count: 4,
                    scale: -3,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: -2,
                        bucket_counts: vec![1, 2],
                    }),
                    negative: Some(Buckets::default()),
                    zero_threshold: 0.001,
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "summary",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    count: 2,
                    sum: 3.0,
                    quantile_values: vec![ValueAtQuantile {
                        quantile: 0.5,
                        value: 1.5,
                    }],
                    ..Default::default()
                }],
            }),
        ),
    ];
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn logs() -> Payload {
    let body = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: attributes(),
        })),
    };
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(body),
                        attributes: attributes(),
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        event_name: "e".into(),
                        ..Default::default()
                    },
                    LogRecord {
                        body: string("plain"),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "traces",
        Signal::Metrics => "metrics",
        Signal::Logs => "logs",
    }
}

/// Per signal: the benchmark shape from `workload` (1 and 5 items) and the request with every
/// field and type above.
fn requests(encoding: WireEncoding) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for signal in Signal::ALL {
        let name = signal_name(signal);
        for items in [1, 5] {
            out.push((
                format!("{name}-workload-{items}"),
                request_encoded(signal, 7, items, encoding),
            ));
        }
        let rich = match signal {
            Signal::Traces => traces(),
            Signal::Metrics => metrics(),
            Signal::Logs => logs(),
        };
        let bytes = match encoding {
            WireEncoding::Protobuf => rich.encode_protobuf(),
            WireEncoding::Json => rich.to_otlp_json().expect("an OTLP/JSON form"),
        };
        out.push((format!("{name}-every-field"), bytes));
    }
    out
}

fn segment_records() -> Vec<(String, Vec<u8>)> {
    let mut file = Vec::new();
    let mut out = Vec::new();
    for (seq, payload) in [traces(), metrics(), logs()].into_iter().enumerate() {
        let name = signal_name(payload.signal());
        let batch = Batch::new(payload, Arc::from("otlp"));
        let record = segment::encode(seq as u64, &batch, MAX_RECORD_BODY)
            .expect("under the limit")
            .expect("a disk queue holds it");
        file.extend_from_slice(&record);
        // The body alone: the target also reads each input framed as one record.
        out.push((format!("{name}-body"), record[8..].to_vec()));
        out.push((format!("{name}-record"), record));
    }
    out.push(("three-records".into(), file));
    out
}

/// The kafka_record target's input layout: encoding byte, header count, (key, value) choices
/// from its tables, then the value.
fn kafka_inputs() -> Vec<(String, Vec<u8>)> {
    const CONTENT_TYPE: u8 = 0;
    const SIGNAL: u8 = 1;
    const SCHEMA: u8 = 2;
    const PROTOBUF: u8 = 0;
    const JSON: u8 = 1;
    const METRIC_SCHEMA: u8 = 5;
    const LOG_SCHEMA: u8 = 6;
    let signal_value = |signal| match signal {
        Signal::Traces => 2,
        Signal::Metrics => 3,
        Signal::Logs => 4,
    };
    let input = |encoding: u8, headers: &[(u8, u8)], value: &[u8]| {
        let mut bytes = vec![encoding, headers.len() as u8];
        for (key, value) in headers {
            bytes.extend_from_slice(&[*key, *value]);
        }
        bytes.extend_from_slice(value);
        bytes
    };
    let mut out = Vec::new();
    for signal in Signal::ALL {
        let name = signal_name(signal);
        let proto = request_encoded(signal, 3, 2, WireEncoding::Protobuf);
        let json = request_encoded(signal, 3, 2, WireEncoding::Json);
        let s = signal_value(signal);
        out.push((
            format!("auto-proto-{name}"),
            input(0, &[(CONTENT_TYPE, PROTOBUF), (SIGNAL, s)], &proto),
        ));
        out.push((
            format!("otlp-proto-{name}"),
            input(1, &[(SIGNAL, s)], &proto),
        ));
        out.push((format!("otlp-json-{name}"), input(2, &[(SIGNAL, s)], &json)));
    }
    let metric = br#"{"timestamp":"2025-01-15T10:30:00.000Z","database_type":"postgresql","instance_id":"db-1","metric_name":"cpu","value":85.5,"tags":{"core":"0"},"metadata":{"version":"1.0","unit":"%"}}"#;
    let log = br#"{"timestamp":"2025-01-15T10:30:00+01:00","level":"ERROR","message":"down","service":"collector","trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","context":{"a":"b","n":1}}"#;
    out.push(("gds-metric".into(), input(3, &[], metric)));
    out.push((
        "auto-gds-log".into(),
        input(0, &[(CONTENT_TYPE, JSON), (SCHEMA, LOG_SCHEMA)], log),
    ));
    out.push((
        "auto-gds-metric".into(),
        input(0, &[(CONTENT_TYPE, JSON), (SCHEMA, METRIC_SCHEMA)], metric),
    ));
    out
}

fn configs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (name, path) in [
        ("collector", root.join("collector.yaml")),
        ("dual-write", root.join("examples/dual-write.yaml")),
    ] {
        let text = std::fs::read(&path).expect("the config is readable");
        // First line: the environment, here empty (every `${env:...}` takes its default).
        let mut unset = b"\n".to_vec();
        unset.extend_from_slice(&text);
        out.push((name.to_string(), unset));
    }
    out
}

fn timestamps() -> Vec<(String, Vec<u8>)> {
    [
        ("utc", "2025-01-15T10:30:00Z"),
        ("fraction", "2025-01-15T10:30:00.123456789012Z"),
        ("offset", "2025-01-15 10:30:00-05:30"),
        ("leap-day", "2024-02-29t23:59:60z"),
        ("last", "2554-07-21T23:34:33.709551615Z"),
        ("duration", "1h 30m 15s 200ms"),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
    .collect()
}

fn write_seeds(target: &str, seeds: Vec<(String, Vec<u8>)>) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).expect("the corpus directory");
    for entry in std::fs::read_dir(&dir).expect("lists") {
        let path = entry.expect("an entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            std::fs::remove_file(path).expect("an old seed is removed");
        }
    }
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("the seed is written");
    }
}

fn committed(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut seeds: Vec<_> = std::fs::read_dir(corpus(target))
        .expect("the corpus directory exists")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .map(|path| {
            let bytes = std::fs::read(&path).expect("the seed reads");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 2,
        "expected seeds in {target}, found {}",
        seeds.len()
    );
    seeds
}

#[test]
fn every_committed_seed_is_accepted_by_its_target() {
    if std::env::var_os("TRIBUTARY_WRITE_FUZZ_SEEDS").is_some() {
        write_seeds("wire_walk", requests(WireEncoding::Protobuf));
        write_seeds("otlp_json", requests(WireEncoding::Json));
        write_seeds("segment_recovery", segment_records());
        write_seeds("kafka_record", kafka_inputs());
        write_seeds("config_load", configs());
        write_seeds("timestamps", timestamps());
    }
    let accepted_by_some_signal = |bytes: &[u8], encoding| {
        Signal::ALL
            .into_iter()
            .any(|signal| decode(signal, encoding, bytes).is_ok_and(|p| p.item_count() > 0))
    };
    for (path, bytes) in committed("wire_walk") {
        let walked = Signal::ALL
            .into_iter()
            .any(|signal| wire_check::well_formed_items(signal, &bytes).is_some_and(|n| n > 0));
        assert!(walked, "{} walks as a request with items", path.display());
        assert!(accepted_by_some_signal(&bytes, Encoding::Protobuf));
    }
    for (path, bytes) in committed("otlp_json") {
        assert!(
            accepted_by_some_signal(&bytes, Encoding::Json),
            "{} decodes as OTLP/JSON with items",
            path.display()
        );
    }
    for (path, mut bytes) in committed("segment_recovery") {
        if path.to_string_lossy().ends_with("-body") {
            let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
            framed.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
            framed.extend_from_slice(&bytes);
            bytes = framed;
        }
        let file =
            std::env::temp_dir().join(format!("tributary-fuzz-seed-{}.seg", std::process::id()));
        std::fs::write(&file, &bytes).expect("written");
        let scanned = segment::scan(&file).expect("scans");
        std::fs::remove_file(&file).expect("removed");
        assert!(
            !scanned.torn && !scanned.records.is_empty(),
            "{} reads back as whole records",
            path.display()
        );
    }
    for (path, bytes) in committed("kafka_record") {
        assert!(
            kafka_record_decodes(&bytes),
            "{} decodes as a Kafka record",
            path.display()
        );
    }
    for (path, bytes) in committed("config_load") {
        let text = String::from_utf8(bytes).expect("UTF-8");
        let (env, yaml) = text.split_once('\n').expect("an environment line");
        assert!(env.is_empty(), "{}: no environment", path.display());
        if let Err(errors) = Config::parse(yaml, |_| None) {
            panic!("{} is a valid config: {errors:?}", path.display());
        }
    }
    for (path, bytes) in committed("timestamps") {
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert!(
            nanos_from_rfc3339(&text).is_some() || humantime::parse_duration(&text).is_ok(),
            "{} is a time or a duration",
            path.display()
        );
    }
}

/// As the kafka_record target reads its input (with only the table choices the seeds use).
fn kafka_record_decodes(bytes: &[u8]) -> bool {
    const ENCODINGS: [RecordEncoding; 4] = [
        RecordEncoding::Auto,
        RecordEncoding::OtlpProto,
        RecordEncoding::OtlpJson,
        RecordEncoding::GdsJson,
    ];
    const KEYS: [&str; 3] = ["content-type", "signal", "schema.version"];
    const VALUES: [&str; 7] = [
        "application/x-protobuf",
        "application/json",
        "traces",
        "metrics",
        "logs",
        "gds.metric.v1",
        "gds.log.v1",
    ];
    let count = bytes[1] as usize;
    let headers = bytes[2..2 + 2 * count]
        .chunks(2)
        .map(|pair| {
            (
                KEYS[pair[0] as usize].as_bytes().to_vec(),
                VALUES[pair[1] as usize].as_bytes().to_vec(),
            )
        })
        .collect();
    let record = Consumed {
        topic: "seed".into(),
        partition: 0,
        offset: 0,
        key: None,
        value: bytes[2 + 2 * count..].to_vec(),
        headers,
    };
    decode_record(&record, ENCODINGS[bytes[0] as usize]).is_ok_and(|received| received.items() > 0)
}

/// The seeds are tiny next to what the fuzzer finds: the committed corpus stays small.
#[test]
fn the_committed_corpus_is_small() {
    let total: u64 = [
        "wire_walk",
        "otlp_json",
        "segment_recovery",
        "kafka_record",
        "config_load",
        "timestamps",
    ]
    .iter()
    .flat_map(|target| std::fs::read_dir(corpus(target)).into_iter().flatten())
    .map(|entry| entry.expect("an entry").metadata().expect("metadata").len())
    .sum();
    assert!(
        total < 1 << 20,
        "expected under 1 MiB of committed corpus, found {total} bytes"
    );
}
