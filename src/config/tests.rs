use super::*;
use crate::exporters::ExporterConfig;
use crate::receivers::ReceiverConfig;
use crate::runtime::Config;

const VALID: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:${env:OTLP_PORT:-4318}" }
processors:
  batch: { send_batch_size: 100, timeout: 50ms }
exporters:
  kafka:
    brokers: [127.0.0.1:9092]
    topic: gds.traces.all.${env:ENVIRONMENT}
    producer: { linger.ms: 5, enable.idempotence: true }
  kafka/audit: { brokers: [127.0.0.1:9092], topic: audit }
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka, kafka/audit]
    logs/audit:
      receivers: [otlp]
      exporters: [kafka/audit]
  telemetry: { metrics: { address: 127.0.0.1:9999 }, logs: { level: debug } }
"#;

fn env(name: &str) -> Option<String> {
    (name == "ENVIRONMENT").then(|| "production".to_string())
}

fn errors_of(text: &str) -> Vec<String> {
    Config::parse(text, env)
        .expect_err("the config is invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn assert_has(errors: &[String], expected: &str) {
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected an error containing {expected:?}, got {errors:#?}"
    );
}

#[test]
fn a_valid_config_resolves_pipelines_ids_and_env() {
    let config = Config::parse(VALID, env).unwrap();
    assert_eq!(config.pipelines.len(), 2);
    let traces = config
        .pipelines
        .iter()
        .find(|p| p.name == "traces")
        .unwrap();
    assert_eq!(traces.signal, Signal::Traces);
    assert_eq!(traces.exporters[1].to_string(), "kafka/audit");
    let logs = config
        .pipelines
        .iter()
        .find(|p| p.name == "logs/audit")
        .unwrap();
    assert_eq!(logs.signal, Signal::Logs);
    let kafka = &config.exporters[&ComponentId::parse("kafka").unwrap()];
    let ExporterConfig::Kafka(kafka) = kafka else {
        panic!("a kafka exporter")
    };
    assert_eq!(kafka.topic, "gds.traces.all.production");
    let ReceiverConfig::Otlp(otlp) = &config.receivers[&ComponentId::parse("otlp").unwrap()] else {
        panic!("an otlp receiver")
    };
    assert_eq!(
        otlp.protocols.http.as_ref().unwrap().endpoint,
        "127.0.0.1:4318"
    );
    assert_eq!(config.telemetry.logs.level, "debug");
    assert_eq!(
        config.summary(),
        "2 pipelines: logs/audit (otlp → kafka/audit); traces (otlp → batch → kafka,kafka/audit)"
    );
}

#[test]
fn a_misspelt_reference_names_its_path_and_suggests_the_right_id() {
    let text = VALID.replace(
        "exporters: [kafka, kafka/audit]",
        "exporters: [kafka/audit, kafak]",
    );
    let errors = errors_of(&text);
    assert_has(
        &errors,
        r#"service.pipelines.traces.exporters[1]: no exporter named "kafak"; did you mean "kafka"?"#,
    );
}

#[test]
fn unknown_keys_are_errors_with_line_and_suggestion() {
    let text = VALID.replace("topic: audit }", "topic: audit, brokerz: [] }");
    let errors = errors_of(&text);
    assert_has(&errors, "line 13, column");
    assert_has(&errors, "exporters.kafka/audit: unknown field `brokerz`");
    assert_has(&errors, "did you mean `brokers`?");
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let text = VALID
        .replace("send_batch_size: 100", "send_batch_size: 0")
        .replace("topic: audit }", "topic: audit, brokerz: [] }")
        .replace("${env:ENVIRONMENT}", "${env:UNSET_VARIABLE}")
        .replace(
            "receivers: [otlp]\n      exporters: [kafka/audit]",
            "receivers: []\n      exporters: [kafka/audit]",
        )
        .replace("traces:\n", "spans:\n");
    let errors = errors_of(&text);
    assert_has(&errors, "environment variable UNSET_VARIABLE is not set");
    assert_has(
        &errors,
        "processors.batch.send_batch_size: expected at least 1 item",
    );
    assert_has(&errors, "exporters.kafka/audit: unknown field `brokerz`");
    assert_has(
        &errors,
        "service.pipelines.logs/audit.receivers: a pipeline needs at least one receiver",
    );
    assert_has(
        &errors,
        r#"service.pipelines.spans: expected a pipeline id of the form signal or signal/name"#,
    );
    assert!(errors.len() >= 5, "{errors:#?}");
}

#[test]
fn unused_components_and_empty_pipelines_are_errors() {
    let text = VALID.replace(
        "exporters: [kafka, kafka/audit]",
        "exporters: [kafka/audit]",
    );
    assert_has(
        &errors_of(&text),
        r#"exporters.kafka: exporter "kafka" is used by no pipeline"#,
    );
    let text = VALID.replace("      exporters: [kafka/audit]\n", "");
    assert_has(
        &errors_of(&text),
        "service.pipelines.logs/audit.exporters: a pipeline needs at least one exporter, found none",
    );
}

#[test]
fn unknown_component_types_suggest_a_built_in_one() {
    let text = VALID
        .replace("  batch: {", "  bacth: {")
        .replace("processors: [batch]", "processors: [bacth]");
    assert_has(
        &errors_of(&text),
        r#"processors.bacth: unknown processor type "bacth"; did you mean "batch"?"#,
    );
}

#[test]
fn a_listed_twice_component_is_an_error() {
    let text = VALID.replace("processors: [batch]", "processors: [batch, batch]");
    assert_has(
        &errors_of(&text),
        r#"service.pipelines.traces.processors[1]: "batch" is listed twice"#,
    );
}

#[test]
fn yaml_syntax_errors_carry_a_location() {
    let errors = errors_of("receivers:\n  otlp: [\n");
    assert_eq!(errors.len(), 1);
    assert_has(&errors, "line ");
}

#[test]
fn the_root_collector_yaml_is_valid() {
    let text = include_str!("../../collector.yaml");
    Config::parse(text, |_| None).unwrap_or_else(|e| panic!("{e:#?}"));
}

const WITH_DEAD_LETTER: &str = r#"
receivers:
  otlp: { protocols: { http: {} } }
processors:
  validate/gds: { rules: gds.metric.v1 }
  batch: {}
exporters:
  kafka: { brokers: [127.0.0.1:9092], topic: gds.metrics }
  kafka/dlq: { brokers: [127.0.0.1:9092], topic: gds.metrics.dlq, encoding: dlq_json }
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [validate/gds, batch]
      exporters: [kafka]
      dead_letter: [kafka/dlq]
"#;

#[test]
fn a_dead_letter_route_resolves_and_counts_as_use() {
    let config = Config::parse(WITH_DEAD_LETTER, env).unwrap();
    assert_eq!(config.pipelines[0].dead_letter[0].to_string(), "kafka/dlq");
}

#[test]
fn dead_letter_exporters_and_data_exporters_do_not_mix() {
    let swapped = WITH_DEAD_LETTER
        .replace("exporters: [kafka]", "exporters: [kafka/dlq]")
        .replace("dead_letter: [kafka/dlq]", "dead_letter: [kafka]");
    let errors = errors_of(&swapped);
    assert_has(
        &errors,
        r#"service.pipelines.metrics.exporters[0]: exporter "kafka/dlq" writes dead letters only"#,
    );
    assert_has(
        &errors,
        r#"service.pipelines.metrics.dead_letter[0]: exporter "kafka" cannot write dead letters"#,
    );
}

#[test]
fn a_validator_that_dead_letters_needs_a_dead_letter_route() {
    let without = WITH_DEAD_LETTER
        .replace("      dead_letter: [kafka/dlq]\n", "")
        .replace("  kafka/dlq: { brokers: [127.0.0.1:9092], topic: gds.metrics.dlq, encoding: dlq_json }\n", "");
    assert_has(
        &errors_of(&without),
        r#"service.pipelines.metrics.dead_letter: processor "validate/gds" sends what it refuses to the dead letter"#,
    );
}

#[test]
fn rejecting_whole_requests_must_happen_before_batching() {
    let late = WITH_DEAD_LETTER
        .replace(
            "rules: gds.metric.v1 }",
            "rules: gds.metric.v1, on_invalid: reject_request }",
        )
        .replace(
            "processors: [validate/gds, batch]",
            "processors: [batch, validate/gds]",
        );
    assert_has(
        &errors_of(&late),
        r#"processor "validate/gds" refuses whole requests, so it must come before "batch""#,
    );
}

#[test]
fn a_processor_of_another_signal_is_an_error() {
    let traces = WITH_DEAD_LETTER.replace("    metrics:\n", "    traces:\n");
    assert_has(
        &errors_of(&traces),
        r#"service.pipelines.traces.processors[0]: processor "validate/gds" cannot handle traces; it handles metrics"#,
    );
}

#[test]
fn the_dual_write_example_is_valid() {
    let text = include_str!("../../examples/dual-write.yaml");
    let config = Config::parse(text, |_| None).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(config.pipelines[0].exporters.len(), 2);
}

#[test]
fn validate_checks_the_files_and_origins_run_would_fail_on() {
    let garbage = std::env::temp_dir().join(format!("tributary-garbage-{}", std::process::id()));
    std::fs::write(&garbage, "not PEM at all").unwrap();
    let text = format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        cors: {{ allowed_origins: ["not a url", "https://x/path", "ftp://x", "https://ok.example.com", "*"] }}
        auth: {{ bearer_tokens_file: /nonexistent/tokens.txt }}
      grpc:
        tls: {{ cert_file: "{garbage}", key_file: "{garbage}" }}
exporters:
  debug:
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug] }}
"#,
        garbage = garbage.display()
    );
    let errors = errors_of(&text);
    std::fs::remove_file(&garbage).unwrap();
    for expected in [
        "receivers.otlp.protocols.http.cors.allowed_origins[0]: expected \"*\" or scheme://host[:port]",
        "receivers.otlp.protocols.http.cors.allowed_origins[1]: expected",
        "receivers.otlp.protocols.http.cors.allowed_origins[2]: expected",
        "receivers.otlp.protocols.http.auth.bearer_tokens_file: expected a readable file of tokens, found /nonexistent/tokens.txt",
    ] {
        assert_has(&errors, expected);
    }
    #[cfg(feature = "tls")]
    {
        assert_has(
            &errors,
            "receivers.otlp.protocols.grpc.tls.cert_file: expected PEM certificates",
        );
        assert_has(
            &errors,
            "receivers.otlp.protocols.grpc.tls.key_file: expected a PEM private key",
        );
    }
    assert!(
        !errors
            .iter()
            .any(|e| e.contains("allowed_origins[3]") || e.contains("allowed_origins[4]")),
        "{errors:#?}"
    );
}

#[test]
fn otlp_http_limits_must_be_above_zero_and_name_their_path() {
    let text = r#"
receivers:
  otlp:
    protocols:
      http:
        read_header_timeout: 0s
        read_timeout: 0s
        idle_timeout: 0s
        max_connections: 0
        max_concurrent_streams: 0
        max_header_list_size: 1KiB
exporters:
  debug:
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [debug] }
"#;
    let errors = errors_of(text);
    for expected in [
        "receivers.otlp.protocols.http.read_header_timeout: expected a duration above zero, found 0s",
        "receivers.otlp.protocols.http.read_timeout: expected a duration above zero, found 0s",
        "receivers.otlp.protocols.http.idle_timeout: expected a duration above zero, found 0s",
        "receivers.otlp.protocols.http.max_connections: expected at least 1 connection, found 0",
        "receivers.otlp.protocols.http.max_concurrent_streams: expected at least 1 stream, found 0",
        "receivers.otlp.protocols.http.max_header_list_size: expected a size from 8KiB to 4GiB, found 1.0 KiB",
    ] {
        assert_has(&errors, expected);
    }
    let limits = "      http: { read_header_timeout: 2s, read_timeout: 5s, idle_timeout: 1m, max_connections: 10, max_concurrent_streams: 250, max_header_list_size: 16KiB }\n";
    let valid = text
        .lines()
        .take(4)
        .map(|l| format!("{l}\n"))
        .chain([limits.to_string()])
        .chain(text.lines().skip(11).map(|l| format!("{l}\n")))
        .collect::<String>();
    let config = Config::parse(&valid, env).unwrap_or_else(|e| panic!("{e:?}\n{valid}"));
    let ReceiverConfig::Otlp(otlp) = &config.receivers[&ComponentId::parse("otlp").unwrap()] else {
        panic!("an otlp receiver")
    };
    let http = otlp.protocols.http.as_ref().unwrap();
    assert_eq!(http.max_connections, Some(10));
    assert_eq!(http.idle_timeout, std::time::Duration::from_secs(60));
}
