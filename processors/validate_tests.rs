use super::*;
use crate::pipeline::batch::Payload;
use crate::processors::test_data::*;

fn processor(yaml: &str) -> ValidateProcessor {
    let config: ValidateConfig = serde_saphyr::from_str(yaml).unwrap();
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    ValidateProcessor::new(
        &config,
        "validate/gds".into(),
        "metrics".into(),
        counters("validate"),
    )
}

fn run(processor: &ValidateProcessor, batch: Batch) -> (Option<Batch>, Outcome) {
    let mut outcome = Outcome::default();
    let out = processor.process(batch, &mut outcome);
    (out, outcome)
}

#[test]
fn gds_metric_v1_removes_each_invalid_point_and_dead_letters_it_with_context() {
    let gds = processor("rules: gds.metric.v1");
    let batch = metrics(vec![
        (
            database(),
            vec![gauge(
                "cpu_usage_percent",
                vec![point(85.5, &[]), point(f64::NAN, &[]), point(1.0, &[])],
            )],
        ),
        (
            resource(&[("service.instance.id", "x")]),
            vec![gauge("memory", vec![point(2.0, &[])])],
        ),
        (database(), vec![gauge("", vec![point(3.0, &[])])]),
    ]);
    let (out, outcome) = run(&gds, batch);
    let mut out = out.unwrap();
    assert_eq!(out.items(), 2);
    assert_eq!(out.payload().item_count(), 2);
    let Payload::Metrics(request) = out.payload() else {
        panic!()
    };
    assert_eq!(
        request.resource_metrics.len(),
        1,
        "emptied resources are removed"
    );
    assert_eq!(outcome.rejected, 3);
    let fields: Vec<_> = outcome
        .dead_letters
        .iter()
        .map(|d| d.field.clone().unwrap())
        .collect();
    assert_eq!(fields, ["value", "database_type", "metric_name"]);
    let letter = &outcome.dead_letters[0];
    assert_eq!(letter.rule.as_deref(), Some("gds.metric.v1"));
    assert_eq!(letter.value.as_deref(), Some("NaN"));
    assert_eq!(letter.stage, "validate/gds");
    assert_eq!(
        letter.item.item_count(),
        1,
        "the dead letter carries the item itself"
    );
    let message: serde_json::Value = serde_json::from_slice(&letter.to_json()).unwrap();
    assert_eq!(message["error_type"], "ValidationError");
    assert!(message["original_topic"].is_null());
    assert!(message["original_value"]
        .as_str()
        .unwrap()
        .contains("cpu_usage_percent"));
}

#[test]
fn attribute_names_for_the_database_are_configurable() {
    let gds = processor("{ rules: [gds.metric.v1], database_type_attribute: db.kind, instance_id_attribute: host.id }");
    let batch = metrics(vec![(
        resource(&[("db.kind", "mongodb"), ("host.id", "h")]),
        vec![gauge("ops", vec![point(1.0, &[])])],
    )]);
    let (out, outcome) = run(&gds, batch);
    assert_eq!(out.unwrap().items(), 1);
    assert_eq!(outcome.rejected, 0);
}

#[test]
fn gds_log_v1_needs_timestamp_severity_body_and_service() {
    let gds = processor("rules: gds.log.v1");
    let mut no_time = log("x", 9);
    no_time.time_unix_nano = 0;
    let batch = logs(
        database(),
        vec![log("ok", 17), log("", 9), log("no level", 0), no_time],
    );
    let (out, outcome) = run(&gds, batch);
    assert_eq!(out.unwrap().items(), 1);
    let fields: Vec<_> = outcome
        .dead_letters
        .iter()
        .map(|d| d.field.clone().unwrap())
        .collect();
    assert_eq!(fields, ["message", "level", "timestamp"]);
    let (_, outcome) = run(&gds, logs(resource(&[]), vec![log("ok", 9)]));
    assert_eq!(outcome.dead_letters[0].field.as_deref(), Some("service"));
}

#[test]
fn an_all_invalid_batch_leaves_nothing_and_an_empty_one_passes() {
    let gds = processor("rules: gds.metric.v1");
    let (out, outcome) = run(
        &gds,
        metrics(vec![(
            None,
            vec![gauge("cpu", vec![point(1.0, &[]), point(2.0, &[])])],
        )]),
    );
    assert_eq!(out.map(|b| b.items()), Some(0));
    assert_eq!(outcome.rejected, 2);
    let (out, outcome) = run(&gds, metrics(vec![]));
    assert_eq!(out.unwrap().items(), 0);
    assert_eq!(outcome.rejected, 0);
}

#[test]
fn general_rules_each_catch_their_case() {
    let rules = processor(
        r#"
required_resource_attributes: [service.name]
required_attributes: [route]
allowed_values: { env: [production, staging] }
max_attributes: 3
max_attribute_value_length: 10
max_age: 1h
max_future: 5m
check_ids: true
on_invalid: drop
"#,
    );
    let good = span("ok", 2);
    let mut spans = vec![good.clone()];
    let mut with = |f: &dyn Fn(&mut opentelemetry_proto::tonic::trace::v1::Span)| {
        let mut s = good.clone();
        f(&mut s);
        spans.push(s);
    };
    with(&|s| s.attributes.clear());
    with(&|s| s.attributes.push(kv("env", "dev")));
    with(&|s| {
        s.attributes
            .extend([kv("a", "1"), kv("b", "2"), kv("c", "3")])
    });
    with(&|s| s.attributes.push(kv("long", "ünïcödé values")));
    with(&|s| s.start_time_unix_nano = NOW - 2 * 3_600_000_000_000);
    with(&|s| s.span_id = vec![0; 8]);
    let mut batch = traces(resource(&[("service.name", "checkout")]), spans);
    let crate::pipeline::batch::Payload::Traces(request) = batch.payload_mut() else {
        panic!()
    };
    // Every span but the second has the required attribute.
    for span in request.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .skip(2)
    {
        span.attributes.insert(0, kv("route", "/"));
    }
    request.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(kv("route", "/"));
    let now = NOW + 1;
    let mut reasons = Vec::new();
    crate::processors::items::retain(
        batch.payload_mut(),
        |item| rules.check(item, now),
        |_, v: Violation| reasons.push(v.rule),
    );
    assert_eq!(
        reasons,
        [
            "required_attributes",
            "allowed_values",
            "max_attributes",
            "max_attribute_value_length",
            "max_age",
            "check_ids"
        ]
    );
    assert_eq!(batch.payload().item_count(), 1);
}

#[test]
fn reject_request_refuses_the_whole_batch() {
    let strict = processor("{ rules: gds.metric.v1, on_invalid: reject_request }");
    let (out, outcome) = run(
        &strict,
        metrics(vec![(
            database(),
            vec![gauge(
                "cpu",
                vec![point(1.0, &[]), point(f64::INFINITY, &[])],
            )],
        )]),
    );
    assert!(out.is_none());
    assert!(outcome.reject_request.unwrap().contains("finite"));
    assert!(outcome.dead_letters.is_empty());
}

#[test]
fn rule_sets_tie_the_processor_to_a_signal() {
    let config: ValidateConfig =
        serde_saphyr::from_str("rules: [gds.metric.v1, gds.log.v1]").unwrap();
    assert!(config.signals().is_empty());
    assert!(!config.validate().is_empty());
    let config: ValidateConfig = serde_saphyr::from_str("rules: gds.log.v1").unwrap();
    assert_eq!(config.signals(), [Signal::Logs]);
    let config: ValidateConfig =
        serde_saphyr::from_str("metric_name_pattern: '[unclosed'").unwrap();
    assert_eq!(config.validate()[0].path, "metric_name_pattern");
}

#[test]
fn a_huge_attribute_value_is_caught_without_copying_the_batch() {
    let limits = processor("max_attribute_value_length: 4096");
    let mut huge = span("huge", 2);
    huge.attributes.push(kv("payload", &"é".repeat(512 * 1024)));
    let (out, outcome) = run(&limits, traces(None, vec![huge, span("small", 2)]));
    assert_eq!(out.unwrap().items(), 1);
    assert_eq!(
        outcome.dead_letters[0].value.as_deref(),
        Some("1048576 bytes")
    );
}
