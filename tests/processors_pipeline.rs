//! tag → validate → filter → batch, end to end with the real broker: the Python SDK sends a mix
//! of valid and invalid metrics; the valid ones arrive on the main topic tagged, the invalid ones
//! on the DLQ topic in the platform's DLQ format, the client hears of them as partial_success,
//! and every processor's counters add up.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume, decode_payload, items, recorded_requests, require_kafka, run_client, unique_topic,
    Agent,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tributary::pipeline::batch::{Payload, Signal};

const PROCESSORS: [&str; 4] = ["tag/prod", "validate/gds", "filter/noise", "batch"];

fn config(main: &str, dlq: &str) -> String {
    r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
processors:
  tag/prod: { resource: { deployment.environment: production, cloud.region: us-east-1 } }
  validate/gds: { rules: gds.metric.v1, allowed_values: { tier: [gold, silver] } }
  filter/noise: { metric_names: [connections] }
  batch: { send_batch_size: 500, timeout: 100ms, batch_by: [resource:db.system, resource:service.instance.id] }
exporters:
  kafka: { brokers: ["{brokers}"], topic: MAIN, producer: { linger.ms: 5 } }
  kafka/dlq: { brokers: ["{brokers}"], topic: DLQ, encoding: dlq_json, producer: { linger.ms: 5 } }
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [tag/prod, validate/gds, filter/noise, batch]
      exporters: [kafka]
      dead_letter: [kafka/dlq]
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
"#
    .replace("MAIN", main)
    .replace("DLQ", dlq)
}

fn string(value: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(value.into())),
    })
}

/// What `tag/prod` does: upsert in place, or append (the shorthand goes in key order).
fn tagged(item: Payload) -> Payload {
    let Payload::Metrics(mut request) = item else {
        panic!("metrics")
    };
    for group in &mut request.resource_metrics {
        let attributes = &mut group
            .resource
            .get_or_insert_with(Default::default)
            .attributes;
        for (key, value) in [
            ("cloud.region", "us-east-1"),
            ("deployment.environment", "production"),
        ] {
            match attributes.iter_mut().find(|kv| kv.key == key) {
                Some(kv) => kv.value = string(value),
                None => attributes.push(KeyValue {
                    key: key.into(),
                    value: string(value),
                    ..Default::default()
                }),
            }
        }
    }
    Payload::Metrics(request)
}

/// Invalid by the test's rules: a point with tier=bronze, or a resource without db.system.
fn is_invalid(item: &Payload) -> bool {
    let Payload::Metrics(request) = item else {
        return false;
    };
    let group = &request.resource_metrics[0];
    let has = |attributes: &[KeyValue], key: &str, value: Option<&str>| {
        attributes.iter().any(|kv| {
            kv.key == key
                && value.is_none_or(|v| {
                    kv.value.as_ref().and_then(|a| a.value.as_ref())
                        == Some(&any_value::Value::StringValue(v.into()))
                })
        })
    };
    let resource = group
        .resource
        .as_ref()
        .map_or(&[][..], |r| &r.attributes[..]);
    let point_attributes = match &group.scope_metrics[0].metrics[0].data {
        Some(Data::Gauge(g)) => &g.data_points[0].attributes[..],
        Some(Data::Sum(s)) => &s.data_points[0].attributes[..],
        _ => &[][..],
    };
    !has(resource, "db.system", None) || has(point_attributes, "tier", Some("bronze"))
}

fn metric_name(item: &Payload) -> String {
    let Payload::Metrics(request) = item else {
        return String::new();
    };
    request.resource_metrics[0].scope_metrics[0].metrics[0]
        .name
        .clone()
}

#[test]
fn valid_metrics_reach_kafka_invalid_ones_the_dlq_and_the_counts_add_up() {
    require_kafka();
    let (main, dlq) = (
        unique_topic("processors-main"),
        unique_topic("processors-dlq"),
    );
    let agent = Agent::start("processors", &config(&main, &dlq));
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("processors.sent");
    let output = run_client(
        "otlp_send.py",
        &[
            "--signal",
            "metrics",
            "--transport",
            "http-raw",
            "--endpoint",
            &agent.otlp_http_endpoint(),
            "--count",
            "40",
            "--invalid-every",
            "4",
            "--record",
            record.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);

    let sent: Vec<Payload> = recorded_requests(&record, Signal::Metrics)
        .into_iter()
        .flat_map(Payload::into_items)
        .collect();
    let (invalid, rest): (Vec<Payload>, Vec<Payload>) = sent.into_iter().partition(is_invalid);
    let (filtered, valid): (Vec<Payload>, Vec<Payload>) = rest
        .into_iter()
        .partition(|i| metric_name(i) == "connections");
    assert!(!invalid.is_empty() && !filtered.is_empty() && !valid.is_empty());
    let expected_valid = items(valid.into_iter().map(tagged));
    let expected_invalid = items(invalid.into_iter().map(tagged));

    assert!(
        stdout.contains(&format!("partial_rejected={}", expected_invalid.len())),
        "the client saw partial_success with {} rejected points: {stdout}",
        expected_invalid.len()
    );
    assert!(
        stdout.contains("tier: expected one of gold, silver, found \"bronze\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected the resource attribute db.system"),
        "{stdout}"
    );

    let main_records = consume(&main, Duration::from_secs(60), |r| {
        items(r.iter().map(|r| decode_payload(Signal::Metrics, &r.value))).len()
            >= expected_valid.len()
    });
    let arrived = items(
        main_records
            .iter()
            .map(|r| decode_payload(Signal::Metrics, &r.value)),
    );
    assert_eq!(arrived.len(), expected_valid.len());
    assert!(
        arrived == expected_valid,
        "exactly the valid points arrived, tagged"
    );
    for record in &main_records {
        let Payload::Metrics(request) = decode_payload(Signal::Metrics, &record.value) else {
            unreachable!()
        };
        let instances: std::collections::BTreeSet<_> = request
            .resource_metrics
            .iter()
            .map(|r| format!("{:?}", r.resource.as_ref().map(|r| &r.attributes)))
            .collect();
        assert_eq!(instances.len(), 1, "batch_by keeps one instance per record");
    }

    let dlq_records = consume(&dlq, Duration::from_secs(60), |r| {
        r.len() >= expected_invalid.len()
    });
    assert_eq!(dlq_records.len(), expected_invalid.len());
    let mut dead_items = Vec::new();
    for record in &dlq_records {
        let message: serde_json::Value =
            serde_json::from_slice(&record.value).expect("a DLQ message is JSON");
        for field in [
            "original_topic",
            "original_partition",
            "original_offset",
            "original_key",
            "consumer_id",
        ] {
            assert!(
                message[field].is_null(),
                "{field} does not apply before Kafka: {message}"
            );
        }
        assert_eq!(message["error_type"], "ValidationError");
        assert_eq!(message["stage"], "validate/gds");
        let (rule, field) = (
            message["rule"].as_str().unwrap(),
            message["field"].as_str().unwrap(),
        );
        assert!(
            matches!(
                (rule, field),
                ("allowed_values", "tier") | ("gds.metric.v1", "database_type")
            ),
            "{message}"
        );
        assert_eq!(message["retry_count"], 0);
        assert!(!message["error"].as_str().unwrap().is_empty());
        assert!(message["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(record.header("error_type"), Some(&b"ValidationError"[..]));
        assert!(record.header("error").is_some());
        let original: ExportMetricsServiceRequest =
            serde_json::from_str(message["original_value"].as_str().unwrap())
                .expect("the item as OTLP/JSON");
        dead_items.push(Payload::Metrics(original));
    }
    let dead = items(dead_items);
    assert!(
        dead == expected_invalid,
        "the DLQ holds exactly the invalid points, tagged"
    );

    let value = |series: String| agent.metric(&series).unwrap_or(0.0);
    for processor in PROCESSORS {
        let labels = format!("processor=\"{processor}\",pipeline=\"metrics\"");
        let received = value(format!(
            "tributary_processor_received_items_total{{{labels}}}"
        ));
        let outcomes: f64 = ["passed", "dropped", "dead_lettered", "refused", "undrained"]
            .iter()
            .map(|o| {
                value(format!(
                    "tributary_processor_items_total{{{labels},outcome=\"{o}\"}}"
                ))
            })
            .sum();
        assert!(received > 0.0, "{processor} received items");
        assert_eq!(
            received, outcomes,
            "{processor}: received = passed + dropped + dead-lettered + refused"
        );
    }
    let outcome = |processor: &str, outcome: &str| {
        value(format!("tributary_processor_items_total{{processor=\"{processor}\",pipeline=\"metrics\",outcome=\"{outcome}\"}}"))
    };
    assert_eq!(
        outcome("validate/gds", "dead_lettered"),
        expected_invalid.len() as f64
    );
    assert_eq!(outcome("filter/noise", "dropped"), filtered.len() as f64);
    assert_eq!(outcome("batch", "passed"), expected_valid.len() as f64);
    agent.assert_accounted(Duration::from_secs(10));
}
