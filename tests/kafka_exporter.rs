//! The Kafka exporter against the real broker: topics and keys from templates (and partitions
//! where a Java producer would put the key), each encoding read back, headers, oversized
//! batches split, permanent errors dead-lettered, and a failing DLQ falling back to a file.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume, decode_payload, http_request, items, require_kafka, unique_topic, Agent, Record,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tributary::pipeline::attributes::key_value as kv;
use tributary::pipeline::batch::{Payload, Signal};

const NOW: u64 = 1_736_937_000_000_000_000;

fn resource(attributes: &[(&str, &str)]) -> Option<Resource> {
    Some(Resource {
        attributes: attributes.iter().map(|(k, v)| kv(k, v)).collect(),
        ..Default::default()
    })
}

fn instance(db: &str, id: &str) -> Option<Resource> {
    resource(&[
        ("db.system", db),
        ("service.instance.id", id),
        ("deployment.environment", "production"),
        ("service.name", "collector"),
    ])
}

fn spans(
    groups: Vec<(Option<Resource>, usize)>,
    attribute_bytes: usize,
) -> ExportTraceServiceRequest {
    let mut counter = 0u64;
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(resource, n)| ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    spans: (0..n)
                        .map(|_| {
                            counter += 1;
                            Span {
                                trace_id: vec![9; 16],
                                span_id: counter.to_be_bytes().to_vec(),
                                name: format!("span-{counter}"),
                                start_time_unix_nano: NOW,
                                attributes: vec![kv("payload", &"p".repeat(attribute_bytes))],
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn post(agent: &Agent, signal: Signal, body: Vec<u8>) {
    let response = http_request(
        agent.otlp_http,
        "POST",
        &format!("/v1/{signal}"),
        &[("content-type", "application/x-protobuf")],
        &body,
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Kafka's default partitioner: murmur2 of the key, positive, modulo the partition count.
fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

fn partition_count(topic: &str) -> i32 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::kafka_brokers())
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    metadata.topics()[0].partitions().len() as i32
}

fn header(record: &Record, key: &str) -> String {
    String::from_utf8_lossy(record.header(key).unwrap_or_else(|| panic!("header {key}")))
        .into_owned()
}

#[test]
fn templates_route_each_resource_to_its_topic_key_and_partition() {
    require_kafka();
    let prefix = unique_topic("routing");
    let dlq = format!("{prefix}.dlq");
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: "PREFIX.${signal}.${resource:db.system}"
    key: "${resource:db.system}:${resource:service.instance.id}"
    headers: { team: dba }
    producer: { linger.ms: 5 }
  kafka/dlq: { brokers: ["{brokers}"], topic: DLQ, encoding: dlq_json }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [kafka], dead_letter: [kafka/dlq] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("PREFIX", &prefix)
    .replace("DLQ", &dlq);
    let agent = Agent::start("routing", &config);
    // One request mixing instances of two databases, and one resource without db.system.
    let request = spans(
        vec![
            (instance("postgresql", "pg-1"), 3),
            (instance("mongodb", "mongo-1"), 2),
            (instance("postgresql", "pg-2"), 4),
            (resource(&[("service.name", "orphan")]), 1),
        ],
        10,
    );
    post(&agent, Signal::Traces, request.encode_to_vec());

    let postgres = consume(
        &format!("{prefix}.traces.postgresql"),
        Duration::from_secs(60),
        |r| r.len() >= 2,
    );
    let mongo = consume(
        &format!("{prefix}.traces.mongodb"),
        Duration::from_secs(60),
        |r| !r.is_empty(),
    );
    assert_eq!(postgres.len(), 2, "one record per resource group");
    assert_eq!(mongo.len(), 1);
    let mut seen_ids = BTreeSet::new();
    for (records, topic) in [
        (&postgres, format!("{prefix}.traces.postgresql")),
        (&mongo, format!("{prefix}.traces.mongodb")),
    ] {
        let partitions = partition_count(&topic);
        for record in records.iter() {
            let key = record.key.clone().expect("a keyed record");
            let payload = decode_payload(Signal::Traces, &record.value);
            let Payload::Traces(request) = &payload else {
                unreachable!()
            };
            assert_eq!(request.resource_spans.len(), 1);
            let attributes = &request.resource_spans[0]
                .resource
                .as_ref()
                .unwrap()
                .attributes;
            let text = |k: &str| {
                attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .and_then(|kv| kv.value.clone())
                    .and_then(|v| v.value)
            };
            let expected_key = match (text("db.system"), text("service.instance.id")) {
                (
                    Some(any_value::Value::StringValue(db)),
                    Some(any_value::Value::StringValue(id)),
                ) => format!("{db}:{id}"),
                other => panic!("{other:?}"),
            };
            assert_eq!(String::from_utf8_lossy(&key), expected_key);
            assert_eq!(
                record.partition,
                (murmur2(&key) & 0x7fff_ffff) % partitions,
                "{expected_key} lands where a Java producer puts it ({partitions} partitions)"
            );
            assert_eq!(header(record, "content-type"), "application/x-protobuf");
            assert_eq!(header(record, "schema.version"), "otlp/1");
            assert_eq!(header(record, "signal"), "traces");
            assert_eq!(header(record, "team"), "dba");
            assert!(
                seen_ids.insert(header(record, "record.id")),
                "record ids are unique"
            );
        }
    }

    let dead = consume(&dlq, Duration::from_secs(60), |r| !r.is_empty());
    assert_eq!(dead.len(), 1);
    let message: serde_json::Value = serde_json::from_slice(&dead[0].value).unwrap();
    assert_eq!(message["error_type"], "MissingAttribute");
    assert_eq!(message["stage"], "kafka");
    assert!(
        message["error"].as_str().unwrap().contains("db.system"),
        "{message}"
    );
    assert!(message["original_value"]
        .as_str()
        .unwrap()
        .contains("orphan"));
}

fn gauge_request() -> ExportMetricsServiceRequest {
    let point = |value: f64, core: &str| NumberDataPoint {
        time_unix_nano: NOW,
        value: Some(number_data_point::Value::AsDouble(value)),
        attributes: vec![kv("core", core)],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: instance("postgresql", "prod-db-01"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "cpu_usage_percent".into(),
                    unit: "%".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![point(85.5, "0"), point(12.25, "1")],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn log_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: instance("postgresql", "prod-db-01"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: NOW + 123_000_000,
                    severity_number: 17,
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "Database connection failed".into(),
                        )),
                    }),
                    attributes: vec![kv("error.type", "ConnectionTimeout")],
                    trace_id: vec![0x4b; 16],
                    span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn each_encoding_reads_back_and_gds_json_follows_the_reference_tables() {
    require_kafka();
    let (proto, json, gds) = (
        unique_topic("enc-proto"),
        unique_topic("enc-json"),
        unique_topic("enc-gds"),
    );
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka/proto: { brokers: ["{brokers}"], topic: PROTO, producer: { linger.ms: 5 } }
  kafka/json: { brokers: ["{brokers}"], topic: JSON, encoding: otlp_json, producer: { linger.ms: 5 } }
  kafka/gds: { brokers: ["{brokers}"], topic: "GDS.${signal}", encoding: gds_json, key: "${resource:db.system}:${resource:service.instance.id}", producer: { linger.ms: 5 } }
service:
  pipelines:
    metrics: { receivers: [otlp], exporters: [kafka/proto, kafka/json, kafka/gds] }
    logs: { receivers: [otlp], exporters: [kafka/gds] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("PROTO", &proto)
    .replace("JSON", &json)
    .replace("GDS", &gds);
    let agent = Agent::start("encodings", &config);
    post(&agent, Signal::Metrics, gauge_request().encode_to_vec());
    post(&agent, Signal::Logs, log_request().encode_to_vec());
    let sent = items([Payload::Metrics(gauge_request())]);

    let proto_records = consume(&proto, Duration::from_secs(60), |r| !r.is_empty());
    assert!(
        items(
            proto_records
                .iter()
                .map(|r| decode_payload(Signal::Metrics, &r.value))
        ) == sent
    );

    let json_records = consume(&json, Duration::from_secs(60), |r| !r.is_empty());
    assert_eq!(header(&json_records[0], "content-type"), "application/json");
    let decoded = json_records
        .iter()
        .map(|r| Payload::Metrics(serde_json::from_slice(&r.value).expect("OTLP/JSON")));
    assert!(items(decoded) == sent);

    let metric_records = consume(&format!("{gds}.metrics"), Duration::from_secs(60), |r| {
        r.len() >= 2
    });
    assert_eq!(metric_records.len(), 2, "one message per data point");
    let mut values = BTreeMap::new();
    for record in &metric_records {
        assert_eq!(header(record, "schema.version"), "gds.metric.v1");
        assert_eq!(
            String::from_utf8_lossy(record.key.as_ref().unwrap()),
            "postgresql:prod-db-01"
        );
        let message: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        // The reference's "Standard Metric Message" field table.
        assert_eq!(message["timestamp"], "2025-01-15T10:30:00.000Z");
        assert_eq!(message["database_type"], "postgresql");
        assert_eq!(message["instance_id"], "prod-db-01");
        assert_eq!(message["metric_name"], "cpu_usage_percent");
        assert!(message["value"].is_number());
        assert_eq!(message["tags"]["environment"], "production");
        assert_eq!(message["metadata"]["version"], "1.0");
        assert_eq!(
            message["metadata"]["correlation_id"].as_str().unwrap(),
            header(record, "record.id")
        );
        values.insert(
            message["tags"]["core"].as_str().unwrap().to_string(),
            message["value"].as_f64().unwrap(),
        );
    }
    assert_eq!(
        values,
        BTreeMap::from([("0".to_string(), 85.5), ("1".to_string(), 12.25)])
    );

    let log_records = consume(&format!("{gds}.logs"), Duration::from_secs(60), |r| {
        !r.is_empty()
    });
    let message: serde_json::Value = serde_json::from_slice(&log_records[0].value).unwrap();
    // The reference's "Standard Log Message".
    assert_eq!(message["timestamp"], "2025-01-15T10:30:00.123Z");
    assert_eq!(message["level"], "ERROR");
    assert_eq!(message["message"], "Database connection failed");
    assert_eq!(message["service"], "collector");
    assert_eq!(message["trace_id"], "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b");
    assert_eq!(message["span_id"], "00f067aa0ba902b7");
    assert_eq!(message["context"]["db.system"], "postgresql");
    assert_eq!(message["context"]["error.type"], "ConnectionTimeout");
    assert_eq!(message["metadata"]["version"], "1.0");
}

/// Histograms without sum, min or max, one with them, an exponential histogram and a NaN
/// gauge: the points the OTLP/JSON `null`s and unquoted NaN broke.
fn histogram_request() -> ExportMetricsServiceRequest {
    let histogram = |sum_min_max: Option<(f64, f64, f64)>| HistogramDataPoint {
        time_unix_nano: NOW,
        count: 2,
        sum: sum_min_max.map(|s| s.0),
        bucket_counts: vec![1, 1],
        explicit_bounds: vec![10.0],
        min: sum_min_max.map(|s| s.1),
        max: sum_min_max.map(|s| s.2),
        ..Default::default()
    };
    let metric = |name: &str, data: Data| Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: instance("postgresql", "prod-db-01"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "query_latency_ms",
                        Data::Histogram(Histogram {
                            data_points: vec![histogram(None), histogram(Some((12.0, 2.0, 10.0)))],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "row_size_bytes",
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                time_unix_nano: NOW,
                                count: 1,
                                scale: 3,
                                positive: Some(Buckets {
                                    offset: 4,
                                    bucket_counts: vec![1],
                                }),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "replication_lag",
                        Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: NOW,
                                value: Some(number_data_point::Value::AsDouble(f64::NAN)),
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The OpenTelemetry Collector's Kafka receiver refused every `otlp_json` record with a
/// histogram lacking min or max (`"min":null`): the records now are the OTLP JSON mapping, as
/// protobuf's reference JSON parser reads it.
#[test]
fn otlp_json_records_are_the_otlp_json_mapping_histograms_without_min_or_max_included() {
    require_kafka();
    let topic = unique_topic("enc-json-mapping");
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka: { brokers: ["{brokers}"], topic: TOPIC, encoding: otlp_json, producer: { linger.ms: 5 } }
service:
  pipelines:
    metrics: { receivers: [otlp], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("TOPIC", &topic);
    let agent = Agent::start("json-mapping", &config);
    post(&agent, Signal::Metrics, histogram_request().encode_to_vec());
    let records = consume(&topic, Duration::from_secs(60), |r| !r.is_empty());
    let requests: Vec<(Signal, String)> = records
        .iter()
        .map(|record| {
            assert_eq!(header(record, "content-type"), "application/json");
            let json = String::from_utf8(record.value.clone()).expect("UTF-8");
            assert!(!json.contains("null"), "a null in {json}");
            (Signal::Metrics, json)
        })
        .collect();
    let parsed = common::reference_parse(&requests, &topic)
        .into_iter()
        .zip(&requests)
        .map(|(verdict, (_, json))| {
            let bytes = verdict.unwrap_or_else(|e| panic!("refused: {e}\n{json}"));
            decode_payload(Signal::Metrics, &bytes)
        });
    // Compared as protobuf: the NaN point equals itself there.
    assert!(items(parsed) == items([Payload::Metrics(histogram_request())]));
}

#[test]
fn an_oversized_batch_is_split_and_fully_delivered() {
    require_kafka();
    let topic = unique_topic("oversized");
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka: { brokers: ["{brokers}"], topic: TOPIC, max_record_bytes: 64KiB, producer: { linger.ms: 5 } }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("TOPIC", &topic);
    let agent = Agent::start("oversized", &config);
    let request = spans(
        vec![
            (instance("postgresql", "pg-1"), 600),
            (instance("mongodb", "m-1"), 200),
        ],
        1000,
    );
    assert!(request.encoded_len() > 700 * 1024);
    let sent = items([Payload::Traces(request.clone())]);
    post(&agent, Signal::Traces, request.encode_to_vec());
    let records = consume(&topic, Duration::from_secs(60), |r| {
        items(r.iter().map(|r| decode_payload(Signal::Traces, &r.value))).len() >= sent.len()
    });
    assert!(
        records.len() >= 12,
        "split into records under 64 KiB: {}",
        records.len()
    );
    assert!(records.iter().all(|r| r.value.len() <= 64 * 1024));
    assert!(
        items(
            records
                .iter()
                .map(|r| decode_payload(Signal::Traces, &r.value))
        ) == sent,
        "every span arrived once"
    );
}

#[test]
fn a_permanent_error_ends_in_the_dlq_and_a_failing_dlq_in_its_file() {
    require_kafka();
    let missing = unique_topic("never-created");
    let dlq = unique_topic("permanent-dlq");
    let fallback = tmp("dlq-fallback.jsonl");
    let _ = std::fs::remove_file(&fallback);
    // The producer may not create topics, so the missing one stays missing.
    let no_create = "{ allow.auto.create.topics: false, topic.metadata.propagation.max.ms: 1000, message.timeout.ms: 5000, linger.ms: 5 }";
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka: { brokers: ["{brokers}"], topic: MISSING, producer: NO_CREATE }
  kafka/dlq: { brokers: ["{brokers}"], topic: DLQ, encoding: dlq_json, producer: { linger.ms: 5 } }
  kafka/logs: { brokers: ["{brokers}"], topic: MISSING.logs, producer: NO_CREATE }
  kafka/broken-dlq: { brokers: ["{brokers}"], topic: MISSING.dlq, encoding: dlq_json, dead_letter_file: "FALLBACK", producer: NO_CREATE }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [kafka], dead_letter: [kafka/dlq] }
    logs: { receivers: [otlp], exporters: [kafka/logs], dead_letter: [kafka/broken-dlq] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("MISSING", &missing)
    .replace("DLQ", &dlq)
    .replace("NO_CREATE", no_create)
    .replace("FALLBACK", fallback.to_str().unwrap());
    let agent = Agent::start("permanent", &config);
    post(
        &agent,
        Signal::Traces,
        spans(vec![(instance("postgresql", "pg-1"), 3)], 10).encode_to_vec(),
    );
    post(&agent, Signal::Logs, log_request().encode_to_vec());

    let dead = consume(&dlq, Duration::from_secs(60), |r| !r.is_empty());
    assert_eq!(dead.len(), 1, "the record, not each span");
    let message: serde_json::Value = serde_json::from_slice(&dead[0].value).unwrap();
    assert_eq!(message["original_topic"], missing.as_str());
    assert_eq!(message["error_type"], "UnknownTopic");
    assert_eq!(message["stage"], "kafka");
    assert_eq!(message["pipeline"], "traces");
    assert!(message["original_partition"].is_null() && message["original_offset"].is_null());
    let original: ExportTraceServiceRequest =
        serde_json::from_str(message["original_value"].as_str().unwrap()).unwrap();
    assert_eq!(original.resource_spans[0].scope_spans[0].spans.len(), 3);

    let started = std::time::Instant::now();
    let lines = loop {
        let text = std::fs::read_to_string(&fallback).unwrap_or_default();
        if !text.is_empty() || started.elapsed() > Duration::from_secs(60) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let fallen: serde_json::Value =
        serde_json::from_str(lines.lines().next().expect("a line in the fallback file")).unwrap();
    assert_eq!(fallen["error_type"], "DeadLetterDeliveryError");
    let inner: serde_json::Value =
        serde_json::from_str(fallen["original_value"].as_str().unwrap()).unwrap();
    assert_eq!(
        inner["error_type"], "UnknownTopic",
        "the DLQ message that could not be delivered is kept whole"
    );
    assert!(agent
        .metric("tributary_exporter_dead_lettered_items_total{exporter=\"kafka\"}")
        .is_some_and(|n| n >= 3.0));
    agent.assert_accounted(Duration::from_secs(10));
}

#[test]
fn sasl_plain_and_scram_reach_the_broker_and_a_wrong_password_is_not_ready() {
    require_kafka();
    let sasl =
        std::env::var("TRIBUTARY_TEST_KAFKA_SASL").unwrap_or_else(|_| "127.0.0.1:9094".into());
    assert!(
        std::net::TcpStream::connect(&sasl).is_ok(),
        "no SASL listener at {sasl}: `scripts/kafka-local start` serves one (user tributary) beside PLAINTEXT"
    );
    let (plain, scram) = (unique_topic("sasl-plain"), unique_topic("sasl-scram"));
    let credentials = |mechanism: &str, password: &str| {
        format!(
            "{{ security.protocol: SASL_PLAINTEXT, sasl.mechanisms: {mechanism}, sasl.username: tributary, sasl.password: {password}, linger.ms: 5 }}"
        )
    };
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka/plain: { brokers: ["SASL"], topic: PLAIN_TOPIC, producer: PLAIN_CREDENTIALS }
  kafka/scram: { brokers: ["SASL"], topic: SCRAM_TOPIC, producer: SCRAM_CREDENTIALS }
  kafka/wrong: { brokers: ["SASL"], topic: SCRAM_TOPIC, producer: WRONG_CREDENTIALS }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [kafka/plain, kafka/scram] }
    logs: { receivers: [otlp], exporters: [kafka/wrong] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 3s
"#
    .replace("SASL", &sasl)
    .replace("PLAIN_TOPIC", &plain)
    .replace("SCRAM_TOPIC", &scram)
    .replace(
        "PLAIN_CREDENTIALS",
        &credentials("PLAIN", "tributary-secret"),
    )
    .replace(
        "SCRAM_CREDENTIALS",
        &credentials("SCRAM-SHA-512", "tributary-secret"),
    )
    .replace(
        "WRONG_CREDENTIALS",
        &credentials("SCRAM-SHA-512", "not-the-password"),
    );
    let agent = Agent::start("sasl", &config);
    let request = spans(vec![(instance("postgresql", "pg-1"), 5)], 10);
    let sent = items([Payload::Traces(request.clone())]);
    post(&agent, Signal::Traces, request.encode_to_vec());
    for topic in [&plain, &scram] {
        let records = consume(topic, Duration::from_secs(60), |r| !r.is_empty());
        assert!(
            items(
                records
                    .iter()
                    .map(|r| decode_payload(Signal::Traces, &r.value))
            ) == sent,
            "{topic}"
        );
    }
    let started = std::time::Instant::now();
    let body = loop {
        let (_, body) = agent.get("/ready");
        if body.contains("kafka/wrong\":\"not ready: Kafka")
            || started.elapsed() > Duration::from_secs(30)
        {
            break body;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        body.contains("\"kafka/wrong\":\"not ready: Kafka"),
        "{body}"
    );
    assert!(body.contains("\"kafka/scram\":\"ready\""), "{body}");
}
