//! The command line: `validate`, `components`, and starting with no broker up.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{free_port, Agent};

fn tributary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn validate_accepts_the_default_config_with_a_summary() {
    let output = tributary(&["validate", "--config", "collector.yaml"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "collector.yaml: valid; 3 pipelines: logs (otlp → batch → kafka/logs); metrics (otlp → batch → kafka/metrics); traces (otlp → batch → kafka)"
    );
}

#[test]
fn validate_reports_every_error_with_its_path_and_exits_1() {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("invalid.yaml");
    std::fs::write(
        &path,
        r#"receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:4318 } } }
exporters:
  kafka: { brokers: [127.0.0.1:9092], topic: metrics, lingr: 5 }
  kafka/spare: { brokers: [127.0.0.1:9092], topic: spare }
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [kafka/spare, kafak]
"#,
    )
    .unwrap();
    let output = tributary(&["validate", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "2 errors",
        "line 4, column",
        "exporters.kafka: unknown field `lingr`",
        r#"line 10, column 32: service.pipelines.metrics.exporters[1]: no exporter named "kafak"; did you mean "kafka"?"#,
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
}

#[test]
fn components_lists_the_built_in_types() {
    let output = tributary(&["components"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("receivers: otlp"), "{stdout}");
    assert!(stdout.contains("processors: batch"), "{stdout}");
    assert!(stdout.contains("exporters: kafka"), "{stdout}");
}

#[test]
fn starts_without_a_broker_and_says_it_is_not_ready() {
    let dead_broker = format!("127.0.0.1:{}", free_port());
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  kafka: { brokers: ["BROKER"], topic: nowhere }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 2s
"#
    .replace("BROKER", &dead_broker);
    let mut agent = Agent::start("no-broker", &config);
    let started = std::time::Instant::now();
    let (status, body) = loop {
        let (status, body) = agent.get("/ready");
        if body.contains("unreachable") || started.elapsed() > Duration::from_secs(20) {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Kafka at 127.0.0.1:"), "{body}");
    assert!(body.contains("is unreachable"), "{body}");
    // Every component is listed with its state.
    assert!(body.contains(r#""receivers":{"otlp":"running"}"#), "{body}");
    assert_eq!(agent.get("/health").0, 200);
    let exit = agent.terminate(Duration::from_secs(15));
    assert!(exit.success(), "{exit}");
}

#[test]
fn validate_refuses_two_components_on_one_port_naming_both() {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("clashing.yaml");
    std::fs::write(
        &path,
        r#"receivers:
  otlp/a: { protocols: { http: { endpoint: 127.0.0.1:4318 } } }
  otlp/b:
    protocols:
      http: { endpoint: "0.0.0.0:4318" }
exporters:
  debug:
service:
  pipelines:
    traces: { receivers: [otlp/a, otlp/b], exporters: [debug] }
"#,
    )
    .unwrap();
    let output = tributary(&["validate", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = "line 5, column 25: receivers.otlp/b.protocols.http.endpoint: 0.0.0.0:4318 overlaps 127.0.0.1:4318, claimed by receivers.otlp/a.protocols.http.endpoint (line 2)";
    assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
}

#[test]
fn validate_keeps_an_environment_value_inside_its_scalar() {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("env-literal.yaml");
    std::fs::write(
        &path,
        r#"receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:${env:TRIBUTARY_TEST_PORT:-4318}" } } }
exporters:
  kafka:
    brokers: [127.0.0.1:9092]
    topic: gds.${env:TRIBUTARY_TEST_TOPIC}
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [kafka] }
"#,
    )
    .unwrap();
    let validate = |topic: &str| {
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["validate", "--config", path.to_str().unwrap()])
            .env("TRIBUTARY_TEST_TOPIC", topic)
            .env("TRIBUTARY_TEST_PORT", "4319")
            .output()
            .unwrap()
    };
    let plain = validate("traces");
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    // Substituted into the text, this value would have added `encoding: otlp_json` to the
    // exporter and left a valid topic `gds.x`.
    let output = validate("x\n    encoding: otlp_json");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(": 1 error")
            && stderr.contains(r#"exporters.kafka.topic: expected only letters, digits, '.', '_' and '-' in the topic, found '\n' in "gds.x\n    encoding: otlp_json""#),
        "the whole value is the topic's:\n{stderr}"
    );
}
