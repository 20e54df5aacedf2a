//! The thin slice, end to end: the Python OpenTelemetry SDK sends spans over OTLP/HTTP, they pass
//! the batch processor, and a real Kafka consumer reads exactly those spans back.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{consume, require_kafka, run_client, unique_topic, Agent};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

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

fn span_ids(records: &[common::Record]) -> Vec<String> {
    records
        .iter()
        .flat_map(|r| {
            ExportTraceServiceRequest::decode(r.value.as_slice())
                .expect("each record is an OTLP protobuf request")
                .resource_spans
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|s| s.span_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect()
}

fn sent_ids(stdout: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn spans_from_the_python_sdk_arrive_in_kafka_exactly_once() {
    require_kafka();
    let topic = unique_topic("traces-http");
    let agent = Agent::start("traces-http", &config(&topic, "200ms"));
    let ready = agent.wait_for_ready(200, Duration::from_secs(30));
    assert_eq!(ready.0, 200, "the exporter reached Kafka: {}", ready.1);

    let count = 1000;
    let output = run_client(
        "send_spans.py",
        &[
            "--endpoint",
            &agent.otlp_http_endpoint(),
            "--count",
            &count.to_string(),
        ],
    );
    let sent = sent_ids(&output.stdout);
    assert_eq!(sent.len(), count, "the client printed one id per span");

    let records = consume(&topic, Duration::from_secs(60), |r| {
        span_ids(r).len() >= count
    });
    let received = span_ids(&records);
    assert_eq!(received.len(), count, "no span is missing or duplicated");
    assert_eq!(received.into_iter().collect::<BTreeSet<_>>(), sent);
    for record in &records {
        assert_eq!(
            record.header("content-type"),
            Some(&b"application/x-protobuf"[..])
        );
        assert_eq!(record.header("signal"), Some(&b"traces"[..]));
    }

    let (_, metrics) = agent.get("/metrics");
    let accepted = format!(
        "tributary_receiver_accepted_items_total{{receiver=\"otlp\",signal=\"traces\",transport=\"http\"}} {count}"
    );
    assert!(metrics.contains(&accepted), "{accepted} in:\n{metrics}");
    assert!(
        metrics.contains(&format!(
            "tributary_exporter_sent_items_total{{exporter=\"kafka\"}} {count}"
        )),
        "{metrics}"
    );
}

#[test]
fn sigterm_flushes_what_the_batch_processor_holds() {
    require_kafka();
    let topic = unique_topic("traces-drain");
    // The batch would wait a minute: only the shutdown drain can deliver it in time.
    let mut agent = Agent::start("traces-drain", &config(&topic, "60s"));
    let count = 30;
    let output = run_client(
        "send_spans.py",
        &[
            "--endpoint",
            &agent.otlp_http_endpoint(),
            "--count",
            &count.to_string(),
        ],
    );
    let sent = sent_ids(&output.stdout);
    assert_eq!(sent.len(), count, "the client printed one id per span");

    let status = agent.terminate(Duration::from_secs(30));
    assert!(status.success(), "a clean exit after draining: {status}");

    let records = consume(&topic, Duration::from_secs(60), |r| {
        span_ids(r).len() >= count
    });
    assert_eq!(
        span_ids(&records).into_iter().collect::<BTreeSet<_>>(),
        sent
    );
}
