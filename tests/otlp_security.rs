//! Bearer tokens, TLS and CORS on the OTLP receivers, with the real Python SDK as the client.

mod common;

use std::path::{Path, PathBuf};

use common::{
    http_request, items, recorded_requests, run_client, run_client_unchecked,
    self_signed_certificate, Agent,
};
use tributary::pipeline::batch::{Payload, Signal};

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The items the file exporter wrote.
fn written_items(path: &Path) -> Vec<Vec<u8>> {
    let payloads = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            Payload::Traces(serde_json::from_str(line).expect("an OTLP/JSON trace request"))
        })
        .collect::<Vec<_>>();
    items(payloads)
}

fn wait_for_items(path: &Path, count: usize) -> Vec<Vec<u8>> {
    let started = std::time::Instant::now();
    loop {
        let written = written_items(path);
        if written.len() >= count || started.elapsed() > std::time::Duration::from_secs(10) {
            return written;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn send(name: &str, endpoint: &str, transport: &str, extra: &[&str]) -> (bool, Vec<Vec<u8>>) {
    let record = tmp(&format!("{name}.sent"));
    let _ = std::fs::remove_file(&record);
    let mut args = vec![
        "--signal",
        "traces",
        "--transport",
        transport,
        "--endpoint",
        endpoint,
        "--count",
        "20",
        "--record",
        record.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = run_client_unchecked("otlp_send.py", &args);
    if !output.status.success() {
        eprintln!("{name}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let sent = if record.exists() {
        items(recorded_requests(&record, Signal::Traces))
    } else {
        Vec::new()
    };
    (output.status.success(), sent)
}

fn agent_with(name: &str, security: &str) -> (Agent, PathBuf) {
    agent_with_settings(name, security, security)
}

fn agent_with_settings(name: &str, http: &str, grpc: &str) -> (Agent, PathBuf) {
    let output = tmp(&format!("{name}.jsonl"));
    let _ = std::fs::remove_file(&output);
    let config = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:{otlp_http}", HTTP_SETTINGS }
      grpc: { endpoint: "127.0.0.1:{otlp_grpc}", GRPC_SETTINGS }
exporters:
  file: { path: "OUTPUT" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [file] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("HTTP_SETTINGS", http)
    .replace("GRPC_SETTINGS", grpc)
    .replace("OUTPUT", output.to_str().unwrap());
    (Agent::start(name, &config), output)
}

#[test]
fn bearer_tokens_let_in_only_clients_that_hold_one() {
    let (agent, output) = agent_with("auth", "auth: { bearer_tokens: [s3cret] }");
    let http = agent.otlp_http_endpoint();
    let grpc = agent.otlp_grpc_endpoint();

    let (ok, _) = send(
        "auth-wrong",
        &http,
        "http",
        &["--header", "authorization=Bearer wrong"],
    );
    assert!(!ok, "a wrong token fails the export");
    let (ok, _) = send("auth-missing-grpc", &grpc, "grpc", &[]);
    assert!(!ok, "a missing token fails the export");
    let missing = http_request(
        agent.otlp_http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        b"",
    )
    .unwrap();
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let grpc_call = run_client(
        "grpc_call.py",
        &[
            "--target",
            &format!("127.0.0.1:{}", agent.otlp_grpc),
            "--method",
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "--header",
            "authorization=Bearer wrong",
        ],
    );
    let answer: serde_json::Value = serde_json::from_slice(&grpc_call.stdout).unwrap();
    assert_eq!(answer["code"], "UNAUTHENTICATED", "{answer}");

    let (ok, mut sent) = send(
        "auth-http",
        &http,
        "http",
        &["--header", "authorization=Bearer s3cret"],
    );
    assert!(ok);
    let (ok, sent_grpc) = send(
        "auth-grpc",
        &grpc,
        "grpc",
        &["--header", "authorization=Bearer s3cret"],
    );
    assert!(ok);
    sent.extend(sent_grpc);
    sent.sort();
    assert!(
        wait_for_items(&output, sent.len()) == sent,
        "only what the token holders sent entered the pipeline"
    );
    assert!(
        agent
            .metric("tributary_receiver_refused_requests_total{receiver=\"otlp\",signal=\"traces\",transport=\"http\",reason=\"unauthenticated\"}")
            .is_some_and(|n| n >= 2.0)
    );
}

#[test]
fn tls_serves_both_transports_to_clients_that_trust_the_certificate() {
    let (cert, key) = self_signed_certificate(&tmp("tls-certs"));
    let tls = format!(
        "tls: {{ cert_file: \"{}\", key_file: \"{}\" }}",
        cert.display(),
        key.display()
    );
    let (agent, output) = agent_with("tls", &tls);
    let https = format!("https://127.0.0.1:{}", agent.otlp_http);
    let grpc = format!("https://127.0.0.1:{}", agent.otlp_grpc);
    let cert_arg = cert.to_str().unwrap();

    let (ok, mut sent) = send("tls-http", &https, "http", &["--certificate", cert_arg]);
    assert!(ok, "OTLP/HTTP over TLS");
    let (ok, sent_grpc) = send("tls-grpc", &grpc, "grpc", &["--certificate", cert_arg]);
    assert!(ok, "OTLP/gRPC over TLS");
    sent.extend(sent_grpc);
    sent.sort();
    assert!(wait_for_items(&output, sent.len()) == sent);

    let plain = http_request(
        agent.otlp_http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        b"",
    );
    assert!(
        plain.map(|r| r.status).unwrap_or(0) != 200,
        "plain HTTP is not served on the TLS port"
    );
}

#[test]
fn cors_answers_preflights_from_allowed_origins_only() {
    let (agent, _) = agent_with_settings(
        "cors",
        "cors: { allowed_origins: [\"https://app.example.com\"], allowed_headers: [x-tenant], max_age: 10m }",
        "max_recv_msg_size: 4MiB",
    );
    let preflight = |origin: &str| {
        http_request(
            agent.otlp_http,
            "OPTIONS",
            "/v1/traces",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type,x-tenant"),
            ],
            b"",
        )
        .unwrap()
    };
    let allowed = preflight("https://app.example.com");
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(allowed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .contains("x-tenant"));
    assert_eq!(allowed.header("access-control-max-age"), Some("600"));
    let other = preflight("https://evil.example.org");
    assert_eq!(other.header("access-control-allow-origin"), None);
}
