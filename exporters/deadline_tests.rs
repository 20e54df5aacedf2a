//! Each exporter type, built as the graph builds it, counts what its input still holds at a
//! passed deadline as undrained, through the harness (`pipeline::exporter_input`). The
//! counters are the process's (shared by every unit test); each test reads its own exporter's.

use crate::config::ComponentConfig as _;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::model::names;
use crate::pipeline::batch::Batch;
use crate::processors::test_data::{span, traces};
use crate::telemetry::test_metrics;

const BATCHES: usize = 5;
const ITEMS: u64 = 10 * BATCHES as u64;

fn counter(name: &str, exporter: &ComponentId) -> u64 {
    test_metrics::counter(name, "exporter", &exporter.to_string())
}

fn directory(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("tributary-deadline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn config(type_name: &str, yaml: &str) -> ExporterConfig {
    let deserializer = serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap();
    let config = ExporterConfig::from_type(type_name, deserializer).unwrap();
    assert_eq!(config.validate(), vec![], "{yaml}");
    config
}

/// The input with `BATCHES` batches of ten spans waiting in it.
async fn filled_input() -> (mpsc::Sender<Batch>, SharedInput) {
    let (sender, receiver) = mpsc::channel(BATCHES);
    for _ in 0..BATCHES {
        sender
            .send(traces(None, vec![span("left", 1); 10]))
            .await
            .unwrap();
    }
    (sender, SharedInput::new(receiver))
}

/// Spawns the exporter on a filled input with the deadline already passed.
async fn undrained_at_a_passed_deadline(id: &str, config: ExporterConfig) {
    test_metrics::install();
    let id = ComponentId::parse(id).unwrap();
    let (_sender, input) = filled_input().await;
    let deadline = CancellationToken::new();
    deadline.cancel();
    let task = config
        .spawn(
            &id,
            input.clone(),
            deadline,
            Health::default(),
            crate::pipeline::ledger::Ledger::shared_default(),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops at the deadline")
        .unwrap();
    assert_eq!(counter(names::EXPORTER_UNDRAINED, &id), ITEMS);
    assert_eq!(counter(names::EXPORTER_RECEIVED, &id), ITEMS);
    assert_eq!(counter(names::EXPORTER_SENT, &id), 0);
    assert!(input.is_finished(), "the input is closed and drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file() {
    let directory = directory("file");
    let path = directory.join("out.jsonl");
    let config = config("file", &format!("{{ path: {} }}", path.display()));
    undrained_at_a_passed_deadline("file/deadline", config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug() {
    let config = config("debug", "{ verbosity: none }");
    undrained_at_a_passed_deadline("debug/deadline", config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_queue() {
    let directory = directory("queue");
    let yaml = format!(
        "{{ verbosity: none, sending_queue: {{ storage: disk, directory: {} }} }}",
        directory.display()
    );
    undrained_at_a_passed_deadline("debug/queued", config("debug", &yaml)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka() {
    let config = config("kafka", "{ brokers: [\"127.0.0.1:1\"], topic: nowhere }");
    undrained_at_a_passed_deadline("kafka/deadline", config).await;
}

#[cfg(feature = "parquet")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet() {
    let directory = directory("parquet");
    let config = config(
        "parquet",
        &format!("{{ directory: {} }}", directory.display()),
    );
    undrained_at_a_passed_deadline("parquet/deadline", config).await;
}

/// What Kafka holds when the deadline passes (records in the producer, with no broker to take
/// them) is undrained once, even behind a disk queue, and nothing counts after.
async fn in_flight_at_the_deadline(id: &str, config: ExporterConfig) {
    test_metrics::install();
    let id = ComponentId::parse(id).unwrap();
    let (sender, input) = filled_input().await;
    let deadline = CancellationToken::new();
    let task = config
        .spawn(
            &id,
            input.clone(),
            deadline.clone(),
            Health::default(),
            crate::pipeline::ledger::Ledger::shared_default(),
        )
        .await
        .unwrap();
    for _ in 0..500 {
        if counter(names::EXPORTER_RECEIVED, &id) == ITEMS && input_is_empty(&sender) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        counter(names::EXPORTER_RECEIVED, &id),
        ITEMS,
        "all taken in"
    );
    deadline.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops at the deadline")
        .unwrap();
    assert_eq!(counter(names::EXPORTER_UNDRAINED, &id), ITEMS);
    assert_eq!(counter(names::EXPORTER_SENT, &id), 0);
    assert_eq!(counter(names::EXPORTER_FAILED, &id), 0);
}

fn input_is_empty(sender: &mpsc::Sender<Batch>) -> bool {
    sender.capacity() == sender.max_capacity()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_with_records_in_the_producer() {
    let config = config("kafka", "{ brokers: [\"127.0.0.1:1\"], topic: nowhere }");
    in_flight_at_the_deadline("kafka/in-flight", config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_behind_a_disk_queue_with_records_in_the_producer() {
    let directory = directory("kafka-queue");
    let yaml = format!(
        "{{ brokers: [\"127.0.0.1:1\"], topic: nowhere, sending_queue: {{ storage: disk, directory: {} }} }}",
        directory.display()
    );
    in_flight_at_the_deadline("kafka/queued", config("kafka", &yaml)).await;
}
