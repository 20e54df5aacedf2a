//! Traces, metrics and logs from the real OpenTelemetry Python SDK, over OTLP/HTTP (protobuf,
//! with and without gzip), OTLP/HTTP JSON and OTLP/gRPC, read back from Kafka and compared item
//! by item, field by field, with the requests the SDK recorded as sent.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume, items, record_items, recorded_requests, require_kafka, run_client, unique_topic, Agent,
};
use tributary::pipeline::batch::Signal;

fn config(topic: &str) -> String {
    r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:{otlp_http}" }
      grpc: { endpoint: "127.0.0.1:{otlp_grpc}" }
processors:
  batch: { send_batch_size: 200, timeout: 100ms }
exporters:
  kafka: { brokers: ["{brokers}"], topic: TOPIC, producer: { linger.ms: 5 } }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
    metrics: { receivers: [otlp], processors: [batch], exporters: [kafka] }
    logs: { receivers: [otlp], processors: [batch], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("TOPIC", topic)
}

fn round_trip(signal: Signal, transport: &str, compression: &str) {
    require_kafka();
    let name = format!("{signal}-{transport}-{compression}");
    let topic = unique_topic(&name);
    let agent = Agent::start(&name, &config(&topic));
    let endpoint = match transport {
        "grpc" => agent.otlp_grpc_endpoint(),
        _ => agent.otlp_http_endpoint(),
    };
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.sent"));
    run_client(
        "otlp_send.py",
        &[
            "--signal",
            signal.as_str(),
            "--transport",
            transport,
            "--compression",
            compression,
            "--endpoint",
            &endpoint,
            "--count",
            "60",
            "--batch-size",
            "25",
            "--record",
            record.to_str().unwrap(),
        ],
    );
    let sent = items(recorded_requests(&record, signal));
    assert!(sent.len() >= 60, "the SDK sent every item: {}", sent.len());

    let records = consume(&topic, Duration::from_secs(60), |r| {
        record_items(r, signal).len() >= sent.len()
    });
    let received = record_items(&records, signal);
    assert_eq!(
        received.len(),
        sent.len(),
        "as many items arrived as were sent"
    );
    assert!(
        received == sent,
        "every item arrived unchanged, field by field"
    );
    assert!(records
        .iter()
        .all(|r| r.header("signal") == Some(signal.as_str().as_bytes())));

    let transport_label = if transport == "grpc" { "grpc" } else { "http" };
    let accepted = agent.metric(&format!(
        "tributary_receiver_accepted_items_total{{receiver=\"otlp\",signal=\"{signal}\",transport=\"{transport_label}\"}}"
    ));
    assert_eq!(accepted, Some(sent.len() as f64));
}

#[test]
fn traces_over_http_protobuf() {
    round_trip(Signal::Traces, "http", "none");
}

#[test]
fn traces_over_http_protobuf_gzip() {
    round_trip(Signal::Traces, "http", "gzip");
}

#[test]
fn traces_over_http_json() {
    round_trip(Signal::Traces, "json", "none");
}

#[test]
fn traces_over_grpc() {
    round_trip(Signal::Traces, "grpc", "none");
}

#[test]
fn metrics_over_http_protobuf() {
    round_trip(Signal::Metrics, "http", "none");
}

#[test]
fn metrics_over_http_protobuf_gzip() {
    round_trip(Signal::Metrics, "http", "gzip");
}

#[test]
fn metrics_over_http_json() {
    round_trip(Signal::Metrics, "json", "gzip");
}

#[test]
fn metrics_over_grpc_gzip() {
    round_trip(Signal::Metrics, "grpc", "gzip");
}

#[test]
fn logs_over_http_protobuf() {
    round_trip(Signal::Logs, "http", "none");
}

#[test]
fn logs_over_http_protobuf_gzip() {
    round_trip(Signal::Logs, "http", "gzip");
}

#[test]
fn logs_over_http_json() {
    round_trip(Signal::Logs, "json", "none");
}

#[test]
fn logs_over_grpc() {
    round_trip(Signal::Logs, "grpc", "none");
}
