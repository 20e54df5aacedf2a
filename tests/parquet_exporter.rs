//! The parquet exporter end to end: metrics, logs and spans over OTLP/HTTP into staging files,
//! one exporter with the memory queue (files completed at SIGTERM) and one behind a disk queue
//! (files rolled by size while running, the rest completed at SIGTERM without waiting for the
//! shutdown deadline). The files are read back with the parquet crate's reader and every row
//! compared with what was sent; no temporary file is left.

#![cfg(feature = "parquet")]

mod common;
#[path = "../exporters/parquet/reading.rs"]
mod reading;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use common::{post_retrying, Agent};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use reading::{map, read, text, time};
use tributary::pipeline::attributes::key_value as kv;

/// 2025-01-15T10:30:00Z
const BASE: u64 = 1_736_937_000_000_000_000;
const ROUNDS: u64 = 20;
const INSTANCES: [(&str, &str); 2] = [("postgresql", "db-1"), ("mysql", "db-2")];

fn resource(database: &str, instance: &str) -> Option<Resource> {
    let mut attributes = vec![
        kv("db.system", database),
        kv("service.instance.id", instance),
        kv("service.name", "checkout"),
    ];
    if instance == "db-1" {
        attributes.push(kv("deployment.environment", "production"));
    }
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn number(
    time: u64,
    value: number_data_point::Value,
    attributes: Vec<KeyValue>,
) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: time,
        value: Some(value),
        attributes,
        ..Default::default()
    }
}

/// A metrics request and the rows it should become: (time in ms, database_type, instance_id,
/// metric_name, value, unit, tags).
fn metrics(round: u64) -> (ExportMetricsServiceRequest, Vec<String>) {
    let time = BASE + round * 1_000_000_000 + 7_000_000;
    let mut expected = Vec::new();
    let mut resource_metrics = Vec::new();
    for (database, instance) in INSTANCES {
        let environment = if instance == "db-1" {
            vec![("environment", "production")]
        } else {
            vec![]
        };
        let metrics = vec![
            Metric {
                name: "cpu_usage_percent".into(),
                unit: "%".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![number(
                        time,
                        number_data_point::Value::AsDouble(round as f64 + 0.5),
                        vec![kv("cluster", "primary")],
                    )],
                })),
                ..Default::default()
            },
            Metric {
                name: "connections".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![
                        number(
                            time,
                            number_data_point::Value::AsInt(round as i64),
                            vec![kv("pool", "a")],
                        ),
                        number(
                            time,
                            number_data_point::Value::AsInt(-1),
                            vec![kv("pool", "b")],
                        ),
                    ],
                    is_monotonic: false,
                    ..Default::default()
                })),
                ..Default::default()
            },
            Metric {
                name: "query_duration".into(),
                unit: "ms".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: time,
                        count: 4,
                        sum: Some(round as f64 * 2.25),
                        ..Default::default()
                    }],
                    ..Default::default()
                })),
                ..Default::default()
            },
        ];
        let ms = time / 1_000_000;
        let row = |name: &str, value: f64, unit: Option<&str>, tags: &[(&str, &str)]| {
            let mut tags: Vec<(&str, &str)> = tags.iter().chain(&environment).copied().collect();
            tags.sort();
            format!("{ms} {database} {instance} {name} {value} {unit:?} {tags:?}")
        };
        expected.push(row(
            "cpu_usage_percent",
            round as f64 + 0.5,
            Some("%"),
            &[("cluster", "primary")],
        ));
        expected.push(row("connections", round as f64, None, &[("pool", "a")]));
        expected.push(row("connections", -1.0, None, &[("pool", "b")]));
        expected.push(row("query_duration", round as f64 * 2.25, Some("ms"), &[]));
        resource_metrics.push(ResourceMetrics {
            resource: resource(database, instance),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    (ExportMetricsServiceRequest { resource_metrics }, expected)
}

/// A logs request and its rows: (time in ms, level, message, service, trace_id, span_id,
/// context).
fn logs(round: u64) -> (ExportLogsServiceRequest, Vec<String>) {
    let time = BASE + round * 1_000_000_000 + 123_000_000;
    let mut expected = Vec::new();
    let mut resource_logs = Vec::new();
    for (database, instance) in INSTANCES {
        let traced = LogRecord {
            time_unix_nano: time,
            severity_number: 17,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!(
                    "connection failed {round}"
                ))),
            }),
            trace_id: vec![round as u8; 16],
            span_id: vec![0xf0; 8],
            attributes: vec![kv("error.type", "ConnectionTimeout")],
            ..Default::default()
        };
        let plain = LogRecord {
            time_unix_nano: time + 1_000_000,
            severity_text: "info".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("checkpoint".into())),
            }),
            ..Default::default()
        };
        let ms = time / 1_000_000;
        let mut context = vec![
            ("db.system", database),
            ("service.instance.id", instance),
            ("service.name", "checkout"),
        ];
        if instance == "db-1" {
            context.push(("deployment.environment", "production"));
        }
        let row = |ms: u64,
                   level: &str,
                   message: &str,
                   ids: Option<(String, String)>,
                   extra: &[(&str, &str)]| {
            let mut context: Vec<(&str, &str)> = context.iter().chain(extra).copied().collect();
            context.sort();
            format!("{ms} {level} {message} Some(\"checkout\") {ids:?} {context:?}")
        };
        let trace = format!("{round:02x}").repeat(16);
        expected.push(row(
            ms,
            "ERROR",
            &format!("connection failed {round}"),
            Some((trace, "f0".repeat(8))),
            &[("error.type", "ConnectionTimeout")],
        ));
        expected.push(row(ms + 1, "INFO", "checkpoint", None, &[]));
        resource_logs.push(ResourceLogs {
            resource: resource(database, instance),
            scope_logs: vec![ScopeLogs {
                log_records: vec![traced, plain],
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    (ExportLogsServiceRequest { resource_logs }, expected)
}

fn traces(round: u64) -> (ExportTraceServiceRequest, Vec<String>) {
    let start = BASE + round * 1_000_000_000;
    let span = Span {
        trace_id: vec![7; 16],
        span_id: (round + 1).to_be_bytes().to_vec(),
        name: format!("GET /orders/{round}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_500_000,
        attributes: vec![kv("http.route", "/orders/{id}")],
        ..Default::default()
    };
    let expected = format!(
        "{} GET /orders/{round} SERVER {} {} [(\"http.route\", \"/orders/{{id}}\")]",
        hex(&span.span_id),
        start / 1000,
        start / 1000 + 1500
    );
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("postgresql", "db-1"),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (request, vec![expected])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn files(directory: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    found.sort();
    found
}

/// Every row of every file of the signal as text, sorted, and the record ids.
fn rows(directory: &Path, signal: &str) -> (Vec<String>, Vec<String>) {
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for path in files(directory, &format!("{signal}-"), ".parquet") {
        for batch in read(&path) {
            for row in 0..batch.num_rows() {
                ids.push(text(&batch, "record_id", row).unwrap());
                let tags = |column| {
                    let mut pairs = map(&batch, column, row);
                    pairs.sort();
                    pairs
                        .iter()
                        .map(|(k, v)| format!("({k:?}, {v:?})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                rows.push(match signal {
                    "metrics" => {
                        let value = batch.column_by_name("value").unwrap();
                        format!(
                            "{} {} {} {} {} {:?} [{}]",
                            time(&batch, "timestamp", row),
                            text(&batch, "database_type", row).unwrap(),
                            text(&batch, "instance_id", row).unwrap(),
                            text(&batch, "metric_name", row).unwrap(),
                            value.as_primitive::<Float64Type>().value(row),
                            text(&batch, "unit", row),
                            tags("tags"),
                        )
                    }
                    "logs" => {
                        let ids = text(&batch, "trace_id", row)
                            .map(|t| (t, text(&batch, "span_id", row).unwrap()));
                        format!(
                            "{} {} {} {:?} {ids:?} [{}]",
                            time(&batch, "timestamp", row),
                            text(&batch, "level", row).unwrap(),
                            text(&batch, "message", row).unwrap(),
                            text(&batch, "service", row),
                            tags("context"),
                        )
                    }
                    _ => {
                        assert_eq!(text(&batch, "trace_id", row), Some("07".repeat(16)));
                        assert_eq!(text(&batch, "status", row).as_deref(), Some("UNSET"));
                        format!(
                            "{} {} {} {} {} [{}]",
                            text(&batch, "span_id", row).unwrap(),
                            text(&batch, "name", row).unwrap(),
                            text(&batch, "kind", row).unwrap(),
                            time(&batch, "start_time", row),
                            time(&batch, "end_time", row),
                            tags("attributes"),
                        )
                    }
                });
            }
        }
    }
    rows.sort();
    (rows, ids)
}

fn wait_for(agent: &Agent, series: &str, expected: f64) {
    let started = Instant::now();
    while agent.metric(series) != Some(expected) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{series} is {:?}, expected {expected}",
            agent.metric(series)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_logs_and_spans_land_in_complete_parquet_files() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parquet-exporter");
    let _ = std::fs::remove_dir_all(&dir);
    let (held, queued) = (dir.join("held"), dir.join("queued"));
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
processors:
  batch: { send_batch_size: 8, timeout: 20ms }
exporters:
  parquet: { directory: "DIR/held", roll_interval: 1h }
  parquet/queued:
    directory: "DIR/queued"
    roll_interval: 1h
    max_file_size: 2KiB
    compression: snappy
    sending_queue: { storage: disk, directory: "DIR/queue" }
service:
  pipelines:
    metrics: { receivers: [otlp], processors: [batch], exporters: [parquet, parquet/queued] }
    logs: { receivers: [otlp], processors: [batch], exporters: [parquet, parquet/queued] }
    traces: { receivers: [otlp], exporters: [parquet] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 30s
"#
    .replace("DIR", dir.to_str().unwrap());
    let mut agent = Agent::start("parquet-exporter", &config);

    let (mut expected_metrics, mut expected_logs, mut expected_spans) = (vec![], vec![], vec![]);
    let send = |path: &str, body: Vec<u8>| {
        let response = post_retrying(agent.otlp_http, path, "application/x-protobuf", &body);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
    };
    for round in 0..ROUNDS {
        let (request, rows) = metrics(round);
        send("/v1/metrics", request.encode_to_vec());
        expected_metrics.extend(rows);
        let (request, rows) = logs(round);
        send("/v1/logs", request.encode_to_vec());
        expected_logs.extend(rows);
        let (request, rows) = traces(round);
        send("/v1/traces", request.encode_to_vec());
        expected_spans.extend(rows);
    }
    expected_metrics.sort();
    expected_logs.sort();
    expected_spans.sort();
    let total = (expected_metrics.len() + expected_logs.len() + expected_spans.len()) as f64;
    let received = r#"tributary_exporter_received_items_total{exporter="parquet"}"#;
    wait_for(&agent, received, total);
    let received = r#"tributary_exporter_received_items_total{exporter="parquet/queued"}"#;
    wait_for(
        &agent,
        received,
        (expected_metrics.len() + expected_logs.len()) as f64,
    );

    // The held exporter's rows are all in open files: none is loadable yet, none delivered.
    assert!(files(&held, "", ".parquet").is_empty());
    assert_eq!(files(&held, ".", ".parquet.tmp").len(), 3);
    let sent = r#"tributary_exporter_sent_items_total{exporter="parquet"}"#;
    assert_eq!(agent.metric(sent), None);
    // The queued one rolled by size while running: those files are complete already. Its
    // received count is the disk queue's intake, which runs ahead of the exporter behind it,
    // so the files may take a moment more.
    let rolled = Instant::now();
    while files(&queued, "metrics-", ".parquet").len() < 2
        && rolled.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(files(&queued, "metrics-", ".parquet").len() >= 2);

    let stopping = Instant::now();
    assert!(agent.terminate(Duration::from_secs(25)).success());
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "the disk queue's files completed without waiting for the shutdown deadline ({:?})",
        stopping.elapsed()
    );

    for directory in [&held, &queued] {
        let left: Vec<PathBuf> = std::fs::read_dir(directory)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        let (metrics, metric_ids) = rows(directory, "metrics");
        assert_eq!(metrics, expected_metrics, "{}", directory.display());
        let (logs, log_ids) = rows(directory, "logs");
        assert_eq!(logs, expected_logs, "{}", directory.display());
        let ids: BTreeSet<&String> = metric_ids.iter().chain(&log_ids).collect();
        assert_eq!(
            ids.len(),
            metric_ids.len() + log_ids.len(),
            "record ids are unique"
        );
        assert!(ids.iter().all(|id| id.len() == 36 && &id[14..15] == "4"));
    }
    assert_eq!(rows(&held, "traces").0, expected_spans);
    let names: Vec<String> = files(&held, "", ".parquet")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "one file per signal: {names:?}");
    for name in &names {
        // `<signal>-<UTC time>-<seq>.parquet`, e.g. `logs-20250115T103000.123Z-000002.parquet`
        let parts: Vec<&str> = name.trim_end_matches(".parquet").split('-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert!(["metrics", "logs", "traces"].contains(&parts[0]));
        assert!(
            parts[1].len() == 20 && parts[1].ends_with('Z') && parts[1].contains('T'),
            "{name}"
        );
        assert!(
            parts[2].len() == 6 && parts[2].chars().all(|c| c.is_ascii_digit()),
            "{name}"
        );
    }
}
