use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Histogram, HistogramDataPoint};
use opentelemetry_proto::tonic::trace::v1::{status, Status};

use super::reading::{map, read, text, time};
use super::*;
use crate::exporters::kafka::gds;
use crate::pipeline::receipt::{AckLevel, Receipt};
use crate::pipeline::stage_input::SharedInput;
use crate::processors::test_data::{
    database, gauge, kv, log, logs, metrics, point, resource, span, traces, NOW,
};

fn directory(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("tributary-parquet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn config(directory: &Path, extra: &str) -> ParquetExporterConfig {
    let yaml = format!("{{ directory: {}, {extra} }}", directory.display());
    let config: ParquetExporterConfig = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(config.validate(), vec![], "{yaml}");
    config
}

fn exporter(config: &ParquetExporterConfig) -> ParquetExporter {
    ParquetExporter::open(config, &ComponentId::parse("parquet/test").unwrap()).unwrap()
}

/// The names of the files in the directory, sorted.
fn listing(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The batch with a receipt, and what becomes of the receipt: 0 pending, 1 settled, 2 failed.
fn watched(mut batch: Batch) -> (Batch, Arc<AtomicUsize>) {
    let state = Arc::new(AtomicUsize::new(0));
    let seen = state.clone();
    let receipt = Receipt::new(AckLevel::Delivered, move |ok| {
        seen.store(if ok { 1 } else { 2 }, Ordering::SeqCst)
    });
    batch.context.receipts = Receipts::one(receipt);
    (batch, state)
}

/// Waits up to 10 s for `done`, so that a loaded machine does not fail the test.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The number of open (temporary) files in the directory.
fn temporary_files(directory: &Path) -> usize {
    listing(directory)
        .iter()
        .filter(|n| n.ends_with(".parquet.tmp"))
        .count()
}

/// The exporter running on a channel, as behind a disk queue whose input closes with
/// `input_closed`.
fn start(
    config: &ParquetExporterConfig,
    input_closed: &CancellationToken,
) -> (
    tokio::sync::mpsc::Sender<Batch>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, input) = tokio::sync::mpsc::channel(4);
    let exporter = exporter(config);
    let input_closed = input_closed.clone();
    let task = tokio::spawn(async move {
        let intake = Intake::take(
            &SharedInput::new(input),
            Outcomes::new("parquet/test"),
            CancellationToken::new(),
            true,
        )
        .await;
        exporter.run(intake, input_closed).await
    });
    (sender, task)
}

#[test]
fn config_defaults_and_every_problem_with_its_path() {
    let config: ParquetExporterConfig = serde_saphyr::from_str("{ directory: ./staging }").unwrap();
    assert_eq!(config.roll_interval, Duration::from_secs(300));
    assert_eq!(config.max_file_size, ByteSize::mib(128));
    assert_eq!(config.compression, ParquetCompression::Zstd);
    assert!(!config.sending_queue.is_disk());
    assert!(config.validate().is_empty());

    let config: ParquetExporterConfig = serde_saphyr::from_str(
        r#"{ directory: "", roll_interval: 0s, max_file_size: 0B, compression: snappy }"#,
    )
    .unwrap();
    let paths: Vec<String> = config.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["directory", "roll_interval", "max_file_size",]);

    let unknown = serde_saphyr::from_str::<ParquetExporterConfig>("{ directory: d, rol: 1s }");
    assert!(unknown.unwrap_err().to_string().contains("rol"));
    let codec =
        serde_saphyr::from_str::<ParquetExporterConfig>("{ directory: d, compression: lz4 }");
    assert!(codec.is_err());
}

#[test]
fn in_a_whole_config_the_errors_carry_the_exporters_path() {
    let text = r#"
receivers:
  otlp: { protocols: { http: } }
exporters:
  parquet: { directory: ./staging, roll_interval: 0s, sending_queue: { storage: disk, segment_size: 1KiB } }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [parquet] }
"#;
    let errors: Vec<String> = crate::runtime::Config::parse(text, |_| None)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    for expected in [
        "exporters.parquet.roll_interval: expected a duration above zero",
        "exporters.parquet.sending_queue.segment_size: expected at least 4KiB",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected:?} in {errors:#?}"
        );
    }
    let valid = text
        .replace("roll_interval: 0s", "roll_interval: 1m")
        .replace("segment_size: 1KiB", "segment_size: 4KiB");
    crate::runtime::Config::parse(&valid, |_| None).unwrap();
}

#[test]
fn metric_rows_are_the_standard_messages_in_columns() {
    let mut histogram = gauge("db.query.duration", vec![]);
    histogram.unit = "ms".into();
    histogram.data = Some(Data::Histogram(Histogram {
        data_points: vec![HistogramDataPoint {
            time_unix_nano: NOW + 1_500_000,
            sum: Some(42.5),
            count: 3,
            attributes: vec![kv("op", "select")],
            ..Default::default()
        }],
        ..Default::default()
    }));
    let mut ints = gauge("connections", vec![point(0.0, &[("pool", "main")])]);
    if let Some(Data::Gauge(g)) = &mut ints.data {
        g.data_points[0].value =
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(17));
    }
    let mut db = database();
    db.as_mut()
        .unwrap()
        .attributes
        .push(kv("deployment.environment", "production"));
    let batch = metrics(vec![
        (db, vec![ints, histogram]),
        (
            resource(&[]),
            vec![gauge("nan", vec![point(f64::NAN, &[])])],
        ),
    ]);
    let payload = batch.into_payload();
    let rows = Table::of(Signal::Metrics)
        .rows(payload.clone(), &NAMES)
        .unwrap();
    assert_eq!(rows.num_rows(), 3);

    // Each row holds what the kafka exporter's gds_json message for the same point holds.
    for (row, item) in payload.into_items().iter().enumerate() {
        let (message, _) = gds::message(item, &NAMES, "id").unwrap();
        let millis = time(&rows, "timestamp", row);
        assert_eq!(
            crate::pipeline::dead_letter::rfc3339_from_nanos(millis as u64 * 1_000_000),
            message["timestamp"].as_str().unwrap()
        );
        for column in ["database_type", "instance_id", "metric_name"] {
            assert_eq!(
                text(&rows, column, row).as_deref(),
                message[column].as_str(),
                "{column}"
            );
        }
        assert_eq!(
            text(&rows, "unit", row).as_deref(),
            message["metadata"]["unit"].as_str()
        );
        let values = rows
            .column_by_name("value")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(
            values.is_valid(row).then(|| values.value(row)),
            message["value"].as_f64()
        );
        let tags: Vec<(String, String)> = message["tags"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(map(&rows, "tags", row), tags);
    }
    assert_eq!(
        text(&rows, "database_type", 0).as_deref(),
        Some("postgresql")
    );
    assert_eq!(text(&rows, "instance_id", 0).as_deref(), Some("prod-db-01"));
    assert_eq!(
        map(&rows, "tags", 0),
        pairs(&[("environment", "production"), ("pool", "main")])
    );
    let values = rows
        .column_by_name("value")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(values.value(0), 17.0);
    assert_eq!(values.value(1), 42.5, "a histogram by its sum");
    assert!(values.is_null(2), "NaN is null, as in gds_json");
    assert_eq!(text(&rows, "unit", 1).as_deref(), Some("ms"));
    assert_eq!(text(&rows, "unit", 0), None);
    assert_eq!(text(&rows, "database_type", 2), None);
    let ids: std::collections::BTreeSet<String> = (0..3)
        .map(|row| text(&rows, "record_id", row).unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn log_rows_are_the_standard_messages_in_columns() {
    let mut record = log("connection refused", 17);
    record.trace_id = vec![0xab; 16];
    record.span_id = vec![0x01; 8];
    record.attributes = vec![kv("error.type", "ConnectionTimeout")];
    let mut quiet = log("warming up", 0);
    quiet.severity_text = "notice".into();
    quiet.time_unix_nano = 0;
    quiet.observed_time_unix_nano = NOW + 2_000_000;
    let batch = logs(database(), vec![record, quiet]);
    let rows = Table::of(Signal::Logs)
        .rows(batch.into_payload(), &NAMES)
        .unwrap();
    assert_eq!(rows.num_rows(), 2);
    assert_eq!(text(&rows, "level", 0).as_deref(), Some("ERROR"));
    assert_eq!(text(&rows, "level", 1).as_deref(), Some("NOTICE"));
    assert_eq!(
        text(&rows, "message", 0).as_deref(),
        Some("connection refused")
    );
    assert_eq!(text(&rows, "service", 0).as_deref(), Some("collector"));
    assert_eq!(text(&rows, "trace_id", 0), Some("ab".repeat(16)));
    assert_eq!(text(&rows, "span_id", 0), Some("01".repeat(8)));
    assert_eq!(text(&rows, "trace_id", 1), None);
    assert_eq!(
        map(&rows, "context", 0),
        pairs(&[
            ("db.system", "postgresql"),
            ("error.type", "ConnectionTimeout"),
            ("service.instance.id", "prod-db-01"),
            ("service.name", "collector"),
        ])
    );
    assert_eq!(time(&rows, "timestamp", 0), (NOW / 1_000_000) as i64);
    assert_eq!(
        time(&rows, "timestamp", 1),
        (NOW / 1_000_000) as i64 + 2,
        "the observed time"
    );
}

#[test]
fn spans_have_a_table_of_their_own() {
    let mut failed = span("SELECT orders", 3);
    failed.parent_span_id = vec![9; 8];
    failed.end_time_unix_nano = NOW + 1_234_567;
    failed.attributes = vec![kv("db.statement", "SELECT 1")];
    failed.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "timeout".into(),
    });
    let batch = traces(
        resource(&[("service.name", "api")]),
        vec![failed, span("root", 2)],
    );
    let rows = Table::of(Signal::Traces)
        .rows(batch.into_payload(), &NAMES)
        .unwrap();
    assert_eq!(rows.num_rows(), 2);
    assert_eq!(text(&rows, "trace_id", 0), Some("01".repeat(16)));
    assert_eq!(text(&rows, "span_id", 0), Some("02".repeat(8)));
    assert_eq!(text(&rows, "parent_span_id", 0), Some("09".repeat(8)));
    assert_eq!(text(&rows, "parent_span_id", 1), None);
    assert_eq!(text(&rows, "name", 0).as_deref(), Some("SELECT orders"));
    assert_eq!(text(&rows, "kind", 0).as_deref(), Some("CLIENT"));
    assert_eq!(text(&rows, "kind", 1).as_deref(), Some("SERVER"));
    assert_eq!(text(&rows, "status", 0).as_deref(), Some("ERROR"));
    assert_eq!(text(&rows, "status_message", 0).as_deref(), Some("timeout"));
    assert_eq!(text(&rows, "status", 1).as_deref(), Some("UNSET"));
    assert_eq!(
        time(&rows, "end_time", 0),
        ((NOW + 1_234_567) / 1000) as i64
    );
    assert_eq!(
        map(&rows, "attributes", 0),
        pairs(&[("db.statement", "SELECT 1")])
    );
    assert_eq!(
        map(&rows, "resource_attributes", 1),
        pairs(&[("service.name", "api")])
    );
}

#[test]
fn a_batch_handed_over_again_gets_the_same_record_ids() {
    let rows = |seed| {
        let batch = logs(database(), vec![log("a", 9), log("b", 9)]);
        let rows = with_ids_from(seed, || {
            Table::of(Signal::Logs)
                .rows(batch.into_payload(), &NAMES)
                .unwrap()
        });
        [text(&rows, "record_id", 0), text(&rows, "record_id", 1)]
    };
    assert_eq!(rows(Some(7)), rows(Some(7)));
    assert_ne!(rows(Some(7)), rows(Some(8)));
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_are_delivered_once_the_file_is_complete_and_renamed() {
    let dir = directory("complete");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".metrics-old.parquet.tmp"), b"torn").unwrap();
    std::fs::write(dir.join("keep.txt"), b"not ours").unwrap();
    let config = config(&dir, "roll_interval: 1h");
    let (sender, task) = start(&config, &CancellationToken::new());
    assert_eq!(
        listing(&dir),
        ["keep.txt"],
        "stale temporary files are removed"
    );

    let (batch, state) = watched(metrics(vec![(
        database(),
        vec![gauge("cpu", vec![point(85.5, &[])])],
    )]));
    sender.send(batch).await.unwrap();
    sender
        .send(logs(database(), vec![log("x", 9), log("y", 13)]))
        .await
        .unwrap();
    eventually("a file per signal", || temporary_files(&dir) == 2).await;
    let open = listing(&dir);
    assert_eq!(open.len(), 3, "only the open files and keep.txt: {open:?}");
    assert_eq!(
        state.load(Ordering::SeqCst),
        0,
        "held until the file is complete"
    );

    drop(sender);
    task.await.unwrap();
    assert_eq!(state.load(Ordering::SeqCst), 1, "settled once complete");
    let done = listing(&dir);
    assert_eq!(done.len(), 3, "{done:?}");
    assert!(done.iter().all(|n| !n.ends_with(".tmp")), "{done:?}");
    let file = |signal: &str| {
        let name = done.iter().find(|n| n.starts_with(signal)).unwrap();
        assert!(name.ends_with("-000001.parquet") || name.ends_with("-000002.parquet"));
        read(&dir.join(name))
    };
    let metric_rows = file("metrics-");
    assert_eq!(
        metric_rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
        1
    );
    assert_eq!(
        text(&metric_rows[0], "metric_name", 0).as_deref(),
        Some("cpu")
    );
    let log_rows = file("logs-");
    assert_eq!(log_rows[0].num_rows(), 2);
    assert_eq!(text(&log_rows[0], "level", 1).as_deref(), Some("WARN"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn files_roll_by_size_and_by_age() {
    let dir = directory("roll");
    let config = config(&dir, "max_file_size: 1B, compression: none");
    let (sender, task) = start(&config, &CancellationToken::new());
    let mut states = Vec::new();
    for i in 0..3 {
        let (batch, state) = watched(logs(database(), vec![log(&format!("record {i}"), 9)]));
        states.push(state);
        sender.send(batch).await.unwrap();
    }
    eventually("every batch settled", || {
        states.iter().all(|s| s.load(Ordering::SeqCst) == 1)
    })
    .await;
    assert_eq!(listing(&dir).len(), 3, "one file per batch past the size");
    drop(sender);
    task.await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();

    let dir = directory("age");
    let config = self::config(&dir, "roll_interval: 200ms");
    let (sender, task) = start(&config, &CancellationToken::new());
    let (batch, state) = watched(traces(None, vec![span("a", 1)]));
    sender.send(batch).await.unwrap();
    eventually("completed by age, input still open", || {
        state.load(Ordering::SeqCst) == 1
    })
    .await;
    let names = listing(&dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("traces-") && names[0].ends_with(".parquet"));
    drop(sender);
    task.await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_closed_disk_queue_files_complete_whenever_nothing_waits() {
    let dir = directory("drain");
    let config = config(&dir, "roll_interval: 1h");
    let input_closed = CancellationToken::new();
    let (sender, task) = start(&config, &input_closed);
    let (batch, state) = watched(logs(database(), vec![log("a", 9)]));
    sender.send(batch).await.unwrap();
    eventually("the batch in an open file", || temporary_files(&dir) == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        state.load(Ordering::SeqCst),
        0,
        "held while the queue may send more"
    );
    // The queue stops only once this is settled; the exporter's input stays open till then.
    input_closed.cancel();
    eventually("settled once nothing waits", || {
        state.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(listing(&dir)[0].ends_with(".parquet"));
    drop(sender);
    task.await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unusable_directory_fails_the_start() {
    let dir = directory("unusable");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, b"").unwrap();
    let config = config(&file.join("below"), "");
    let error = ParquetExporter::open(&config, &ComponentId::parse("parquet").unwrap());
    assert!(matches!(error, Err(ParquetExporterError::Directory { .. })));
    std::fs::remove_dir_all(dir).unwrap();
}
