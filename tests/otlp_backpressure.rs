//! A stalled exporter fills the pipeline's bounded queues; then receivers refuse with 429 and
//! Retry-After (HTTP) or RESOURCE_EXHAUSTED with RetryInfo (gRPC), and every item that was
//! accepted is still delivered once the exporter moves again.

mod common;

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{http_request, run_client, Agent, HttpResponse};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// Linux's O_NONBLOCK: the test holds the FIFO open for reading without reading from it.
const O_NONBLOCK: i32 = 0o4000;

fn one_span(index: usize) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: (index as u64 + 1).to_be_bytes().to_vec(),
                    name: format!("span-{index}"),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// A FIFO nobody reads yet: the file exporter writing to it stalls once the pipe is full.
fn stalled_exporter(name: &str) -> (PathBuf, File) {
    let fifo = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.fifo"));
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // Open for reading first, so the exporter's open for writing does not wait for a reader.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    (fifo, reader)
}

fn config(fifo: &std::path::Path, service_extra: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{{otlp_http}}" }}
      grpc: {{ endpoint: "127.0.0.1:{{otlp_grpc}}" }}
exporters:
  file: {{ path: "{}", flush_interval: 10ms }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
  shutdown_timeout: 2s
  {service_extra}
"#,
        fifo.display()
    )
}

#[test]
fn a_full_pipeline_refuses_with_retry_hints_and_loses_nothing_it_accepted() {
    let (fifo, mut reader) = stalled_exporter("stalled-exporter");
    let agent = Agent::start("backpressure", &config(&fifo, ""));

    let (accepted, refusal) = send_until_refused(&agent, 5000, one_span);
    let refusal = refusal.expect("the bounded queues filled up within 5000 requests");
    assert_eq!(refusal.status, 429, "{}", refusal.text());
    assert_eq!(refusal.header("retry-after"), Some("1"));
    assert!(accepted > 0);

    let grpc = run_client(
        "grpc_call.py",
        &[
            "--target",
            &format!("127.0.0.1:{}", agent.otlp_grpc),
            "--method",
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "--body-file",
            &write_body(&one_span(99_999)),
            "--repeat",
            "50",
        ],
    );
    let answer: serde_json::Value = serde_json::from_slice(&grpc.stdout).unwrap();
    assert_eq!(answer["code"], "RESOURCE_EXHAUSTED", "{answer}");
    assert_eq!(answer["retry_delay_seconds"], 1, "{answer}");
    let accepted_over_grpc = answer["calls"].as_u64().unwrap() - 1;

    // Unblock the exporter: everything accepted must come out, and nothing refused.
    let expected = accepted + accepted_over_grpc as usize;
    let lines = drain(&mut reader, expected, Duration::from_secs(30));
    assert_eq!(lines, expected, "every accepted span was delivered");
    // Refused before its body was read (the queue had no room), so counted as a request.
    let refused = agent
        .metric("tributary_receiver_refused_requests_total{receiver=\"otlp\",signal=\"traces\",transport=\"http\",reason=\"queue_full\"}")
        .unwrap_or(0.0);
    assert_eq!(refused, 1.0, "the one refused HTTP request counted");
    agent.assert_accounted(Duration::from_secs(10));
}

#[test]
fn the_memory_limit_refuses_before_the_process_grows_past_it() {
    let (fifo, mut reader) = stalled_exporter("memory-limit");
    let limit = 96 * 1024 * 1024;
    let agent = Agent::start("memory-limit", &config(&fifo, "memory_limit: 96MiB"));
    let big = |index: usize| {
        let mut request = ExportTraceServiceRequest::decode(one_span(index).as_slice()).unwrap();
        let span = request.resource_spans[0].scope_spans[0].spans[0].clone();
        request.resource_spans[0].scope_spans[0].spans = (0..3000)
            .map(|i| Span {
                name: format!("{}-{i:0>1000}", span.name),
                span_id: ((index * 3000 + i) as u64 + 1).to_be_bytes().to_vec(),
                ..span.clone()
            })
            .collect();
        request.encode_to_vec()
    };
    let (accepted, refusal) = send_until_refused(&agent, 400, big);
    let refusal = refusal.expect("the limit was reached within 400 requests of 3 MB");
    assert_eq!(
        refusal.status,
        503,
        "after {accepted} accepted, peak {}: {}",
        agent.peak_resident_bytes(),
        refusal.text()
    );
    assert!(
        refusal.text().contains("memory limit"),
        "{}",
        refusal.text()
    );
    assert_eq!(refusal.header("retry-after"), Some("1"));
    let peak = agent.peak_resident_bytes();
    assert!(
        peak < limit,
        "peak resident memory {peak} stayed under the {limit}-byte limit"
    );

    let lines = drain(&mut reader, accepted, Duration::from_secs(60));
    assert_eq!(lines, accepted, "every accepted request was delivered");
}

/// Posts `body(index)` until the agent answers other than 200; returns how many it accepted
/// and the first refusal, if any came within `attempts`.
fn send_until_refused(
    agent: &Agent,
    attempts: usize,
    body: impl Fn(usize) -> Vec<u8>,
) -> (usize, Option<HttpResponse>) {
    for index in 0..attempts {
        let response = http_request(
            agent.otlp_http,
            "POST",
            "/v1/traces",
            &[("content-type", "application/x-protobuf")],
            &body(index),
        )
        .unwrap();
        if response.status != 200 {
            return (index, Some(response));
        }
    }
    (attempts, None)
}

fn write_body(body: &[u8]) -> String {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("backpressure-grpc-body");
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

/// Reads JSON lines from the FIFO until `expected` arrived or the time is up; returns the count.
fn drain(reader: &mut File, expected: usize, timeout: Duration) -> usize {
    let started = Instant::now();
    let mut buffer = [0u8; 64 * 1024];
    let mut lines = 0;
    while lines < expected && started.elapsed() < timeout {
        match reader.read(&mut buffer) {
            Ok(read) => lines += buffer[..read].iter().filter(|b| **b == b'\n').count(),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("reading the FIFO: {e}"),
        }
    }
    lines
}
