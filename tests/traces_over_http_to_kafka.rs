//! The thin slice, end to end: the Python OpenTelemetry SDK sends spans over OTLP/HTTP, they pass
//! the batch processor, and a real Kafka consumer reads exactly those spans back.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume, items, record_items, recorded_requests, require_kafka, run_client, unique_topic, Agent,
};
use tributary::pipeline::batch::Signal;

fn config(topic: &str, batch_timeout: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{{otlp_http}}" }}
processors:
  batch: {{ send_batch_size: 100, timeout: {batch_timeout} }}
exporters:
  kafka:
    brokers: ["{{brokers}}"]
    topic: {topic}
    producer: {{ linger.ms: 5 }}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
  shutdown_timeout: 20s
"#
    )
}

/// Sends `count` spans with the Python SDK; returns every span sent, as single-item requests.
fn send_spans(agent: &Agent, name: &str, count: usize) -> Vec<Vec<u8>> {
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.sent"));
    run_client(
        "otlp_send.py",
        &[
            "--signal",
            "traces",
            "--endpoint",
            &agent.otlp_http_endpoint(),
            "--count",
            &count.to_string(),
            "--record",
            record.to_str().unwrap(),
        ],
    );
    let sent = items(recorded_requests(&record, Signal::Traces));
    assert_eq!(sent.len(), count, "the SDK recorded every span it sent");
    sent
}

#[test]
fn spans_from_the_python_sdk_arrive_in_kafka_exactly_once() {
    require_kafka();
    let topic = unique_topic("traces-http");
    let agent = Agent::start("traces-http", &config(&topic, "200ms"));
    let ready = agent.wait_for_ready(200, Duration::from_secs(30));
    assert_eq!(ready.0, 200, "the exporter reached Kafka: {}", ready.1);

    let count = 1000;
    let sent = send_spans(&agent, "traces-http", count);

    let records = consume(&topic, Duration::from_secs(60), |r| {
        record_items(r, Signal::Traces).len() >= count
    });
    let received = record_items(&records, Signal::Traces);
    assert_eq!(received.len(), count, "no span is missing or duplicated");
    assert!(
        received == sent,
        "exactly the spans sent arrived, field by field"
    );
    for record in &records {
        assert_eq!(
            record.header("content-type"),
            Some(&b"application/x-protobuf"[..])
        );
        assert_eq!(record.header("signal"), Some(&b"traces"[..]));
    }

    let accepted = agent.metric(
        "tributary_receiver_accepted_items_total{receiver=\"otlp\",signal=\"traces\",transport=\"http\"}",
    );
    assert_eq!(accepted, Some(count as f64));
    let sent_by_exporter = agent.metric("tributary_exporter_sent_items_total{exporter=\"kafka\"}");
    assert_eq!(sent_by_exporter, Some(count as f64));
}

#[test]
fn sigterm_flushes_what_the_batch_processor_holds() {
    require_kafka();
    let topic = unique_topic("traces-drain");
    // The batch would wait a minute: only the shutdown drain can deliver it in time.
    let mut agent = Agent::start("traces-drain", &config(&topic, "60s"));
    let count = 30;
    let sent = send_spans(&agent, "traces-drain", count);

    let status = agent.terminate(Duration::from_secs(30));
    assert!(status.success(), "a clean exit after draining: {status}");

    let records = consume(&topic, Duration::from_secs(60), |r| {
        record_items(r, Signal::Traces).len() >= count
    });
    assert!(record_items(&records, Signal::Traces) == sent);
}
