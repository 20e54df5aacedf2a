//! When the client hears "done": `on_delivery` only once Kafka holds the record, `on_queue` once
//! the disk queue wrote it, and neither when the data cannot get that far.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{kafka_brokers, numbered_spans, post_traces, require_kafka, unique_topic, Agent};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn spans(count: usize) -> Vec<u8> {
    numbered_spans("ack-", 0, count, 0)
}

fn config(ack: &str, brokers: &str, topic: &str, queue: Option<&str>) -> String {
    let sending_queue = queue
        .map(|dir| format!("sending_queue: {{ storage: disk, directory: \"{dir}\" }}"))
        .unwrap_or_default();
    format!(
        r#"
receivers:
  otlp:
    protocols: {{ http: {{ endpoint: "127.0.0.1:{{otlp_http}}" }} }}
    ack: {ack}
    ack_timeout: 1s
processors:
  batch: {{ timeout: 10ms }}
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: {topic}
    producer: {{ linger.ms: 5 }}
    {sending_queue}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [kafka] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
  shutdown_timeout: 1s
"#
    )
}

/// Records in `topic` now, from the partitions' high watermarks.
fn records_in(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(5))
                .map_or(0, |(low, high)| high - low)
        })
        .sum()
}

#[test]
fn on_delivery_answers_once_kafka_holds_the_records() {
    require_kafka();
    let topic = unique_topic("ack-delivery");
    let agent = Agent::start(
        "ack-delivery",
        &config("on_delivery", &kafka_brokers(), &topic, None),
    );
    // The first request creates the topic; the agent may need a retry while it appears.
    let mut response = post_traces(&agent, &spans(5));
    for _ in 0..10 {
        if response.status == 200 {
            break;
        }
        response = post_traces(&agent, &spans(5));
    }
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        records_in(&topic) >= 1,
        "the record is in Kafka before the client hears 200"
    );
}

#[test]
fn nothing_is_acknowledged_that_cannot_reach_kafka_or_the_disk() {
    let topic = "ack-nowhere";
    // Nothing listens on port 1.
    let agent = Agent::start(
        "ack-nowhere",
        &config("on_delivery", "127.0.0.1:1", topic, None),
    );
    let response = post_traces(&agent, &spans(5));
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(
        response.text().contains("not delivered"),
        "{}",
        response.text()
    );
    assert_eq!(response.header("retry-after"), Some("1"));
    drop(agent);

    // on_queue without a disk queue waits for delivery as well.
    let agent = Agent::start(
        "ack-queue-memory",
        &config("on_queue", "127.0.0.1:1", topic, None),
    );
    assert_eq!(post_traces(&agent, &spans(5)).status, 503);
    drop(agent);

    // With a disk queue, written is enough.
    let queue = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ack-queue-disk");
    let _ = std::fs::remove_dir_all(&queue);
    let agent = Agent::start(
        "ack-queue-disk",
        &config("on_queue", "127.0.0.1:1", topic, queue.to_str()),
    );
    let response = post_traces(&agent, &spans(5));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        agent.metric("tributary_queue_items{exporter=\"kafka\"}"),
        Some(5.0),
        "the five spans wait on disk"
    );
}
