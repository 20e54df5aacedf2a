//! Agent crash: under steady load with a disk queue and `ack: on_queue`, `kill -9` the agent and
//! start it again on the same directory. Every item a client heard "done" for reaches Kafka;
//! what is delivered twice carries the same `record.id` both times.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume, items, record_items, recorded_requests, require_kafka, run_client_unchecked,
    unique_topic, Agent,
};
use tributary::pipeline::batch::Signal;

fn config(topic: &str, queue: &str) -> String {
    r#"
receivers:
  otlp:
    protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } }
    ack: on_queue
processors:
  batch: { send_batch_size: 200, timeout: 20ms }
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: TOPIC
    producer: { linger.ms: 20 }
    sending_queue: { storage: disk, directory: QUEUE, segment_size: 256KiB, fsync: interval }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("TOPIC", topic)
    .replace("QUEUE", queue)
}

#[test]
fn a_killed_agent_delivers_every_acknowledged_item_after_restart() {
    require_kafka();
    let topic = unique_topic("crash");
    let queue = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-queue");
    let _ = std::fs::remove_dir_all(&queue);
    let config = config(&topic, queue.to_str().unwrap());
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash.sent");

    let mut agent = Agent::start("crash", &config);
    let endpoint = agent.otlp_http_endpoint();
    let sent = std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            // The client outlives the agent: its later exports fail, and only what got a 200
            // is recorded.
            run_client_unchecked(
                "otlp_send.py",
                &[
                    "--signal",
                    "traces",
                    "--endpoint",
                    &endpoint,
                    "--count",
                    "20000",
                    "--batch-size",
                    "100",
                    "--timeout",
                    "2",
                    "--record",
                    record.to_str().unwrap(),
                ],
            )
        });
        std::thread::sleep(Duration::from_millis(1500));
        agent.kill_hard();
        client.join().unwrap();
        items(recorded_requests(&record, Signal::Traces))
    });
    assert!(
        sent.len() >= 500,
        "the client had {} spans acknowledged before the kill",
        sent.len()
    );

    let restarted = Agent::start("crash-restarted", &config);
    let records = consume(&topic, Duration::from_secs(60), |records| {
        let arrived: std::collections::HashSet<Vec<u8>> =
            record_items(records, Signal::Traces).into_iter().collect();
        sent.iter().all(|item| arrived.contains(item))
    });
    let arrived = record_items(&records, Signal::Traces);
    let mut counts: HashMap<&Vec<u8>, usize> = HashMap::new();
    for item in &arrived {
        *counts.entry(item).or_default() += 1;
    }
    let missing = sent
        .iter()
        .filter(|item| !counts.contains_key(item))
        .count();
    let duplicated = counts.values().filter(|&&n| n > 1).count();
    eprintln!(
        "acknowledged {}, arrived {} ({} distinct, {duplicated} duplicated)",
        sent.len(),
        arrived.len(),
        counts.len()
    );
    assert_eq!(missing, 0, "acknowledged items missing after the restart");

    // A record delivered twice (once before the kill, once replayed) has one id.
    let mut ids_by_value: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
    for record in &records {
        let id = record.header("record.id").expect("every record has an id");
        ids_by_value.entry(&record.value).or_default().push(id);
    }
    for ids in ids_by_value.values().filter(|ids| ids.len() > 1) {
        assert!(
            ids.windows(2).all(|pair| pair[0] == pair[1]),
            "a replayed record carries the id it had: {ids:?}"
        );
    }
    let recovered = restarted
        .metric("tributary_queue_recovered_items_total{exporter=\"kafka\"}")
        .unwrap_or(0.0);
    eprintln!("the restarted agent recovered {recovered} items from the disk queue");
    restarted.assert_accounted(Duration::from_secs(10));
    assert_eq!(
        restarted.metric("tributary_accounting_queued_on_disk_items"),
        Some(0.0),
        "the disk queue is empty once everything is delivered"
    );
}
