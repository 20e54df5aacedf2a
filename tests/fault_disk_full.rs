//! A disk queue on a full file system: writes fail, the receivers refuse (503 + Retry-After)
//! instead of answering "done", the agent neither crashes nor loses what it acknowledged, and a
//! later agent on the same directory delivers all of it. A queue directory that cannot be
//! created stops the start with a clear error.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    consume, numbered_spans, post_traces, record_items, require_kafka, unique_topic, Agent,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tributary::pipeline::batch::Signal;

/// A 1 MiB tmpfs, unmounted when the test ends however it ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path) -> SmallDisk {
        let _ = Command::new("umount").arg(path).status();
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(path)
            .status()
            .expect("running mount");
        assert!(
            mounted.success(),
            "this test mounts a 1 MiB tmpfs to fill a disk for real, and needs the rights to"
        );
        SmallDisk(path.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn config(topic: &str, brokers: &str, queue: &Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols: {{ http: {{ endpoint: "127.0.0.1:{{otlp_http}}" }} }}
    ack: on_queue
    ack_timeout: 500ms
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: {topic}
    producer: {{ linger.ms: 5 }}
    sending_queue: {{ storage: disk, directory: "{}", segment_size: 64KiB, max_size: 64MiB }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [kafka] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
  shutdown_timeout: 2s
"#,
        queue.display()
    )
}

#[test]
fn a_full_disk_refuses_new_data_and_keeps_what_it_acknowledged() {
    require_kafka();
    let mount = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("small-disk");
    let _disk = SmallDisk::mount(&mount);
    let queue = mount.join("queue");
    let topic = unique_topic("disk-full");

    // Nothing listens on port 1: the exporter cannot drain, so the queue grows until the disk
    // is full.
    let mut agent = Agent::start("disk-full", &config(&topic, "127.0.0.1:1", &queue));
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for index in 0..40 {
        let response = post_traces(&agent, &numbered_spans("r", index, 20, 2000));
        match response.status {
            200 => acknowledged.push(index),
            503 | 429 => {
                assert!(response.header("retry-after").is_some(), "a retry hint");
                refused += 1;
            }
            other => panic!(
                "request {index}: unexpected status {other}: {}",
                response.text()
            ),
        }
    }
    assert!(
        acknowledged.len() >= 5,
        "the disk took some requests: {acknowledged:?}"
    );
    assert!(refused >= 5, "a full disk refuses ({refused} refused)");
    assert!(
        agent
            .metric("tributary_queue_write_errors_total{exporter=\"kafka\"}")
            .is_some_and(|n| n > 0.0),
        "the write errors are counted"
    );
    assert_eq!(agent.get("/health").0, 200, "the agent is still up");
    let status = agent.terminate(Duration::from_secs(20));
    assert!(status.success(), "a clean stop, not a crash: {status}");

    // The same directory with a broker: every acknowledged span is delivered.
    let restarted = Agent::start(
        "disk-full-restarted",
        &config(&topic, &common::kafka_brokers(), &queue),
    );
    let expected: HashSet<String> = acknowledged
        .iter()
        .flat_map(|r| (0..20).map(move |i| format!("r{r}-{i}")))
        .collect();
    let names_in = |records: &[common::Record]| -> HashSet<String> {
        record_items(records, Signal::Traces)
            .iter()
            .map(|item| {
                let request = ExportTraceServiceRequest::decode(item.as_slice()).unwrap();
                request.resource_spans[0].scope_spans[0].spans[0]
                    .name
                    .clone()
            })
            .collect()
    };
    let records = consume(&topic, Duration::from_secs(60), |records| {
        expected.is_subset(&names_in(records))
    });
    let arrived = names_in(&records);
    let missing: Vec<_> = expected.difference(&arrived).collect();
    assert!(
        missing.is_empty(),
        "acknowledged spans missing: {missing:?}"
    );
    restarted.assert_accounted(Duration::from_secs(10));
}

#[test]
fn a_queue_directory_that_cannot_be_created_stops_the_start_with_a_clear_error() {
    let blocker = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("queue-is-a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let config_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("queue-is-a-file.yaml");
    let config = config("t", "127.0.0.1:1", &blocker.join("queue"))
        .replace("{otlp_http}", &common::free_port().to_string())
        .replace("{telemetry}", &common::free_port().to_string());
    std::fs::write(&config_path, config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot use the queue directory") && stderr.contains("queue-is-a-file"),
        "{stderr}"
    );
}
