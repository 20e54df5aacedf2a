use super::*;
use crate::pipeline::batch::Payload;
use crate::processors::test_data::*;

fn processor(yaml: &str) -> TagProcessor {
    let config: TagConfig = serde_saphyr::from_str(yaml).unwrap();
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    TagProcessor::new(&config, counters("tag"))
}

fn run(processor: &TagProcessor, batch: Batch) -> Batch {
    processor.process(batch, &mut Outcome::default()).unwrap()
}

#[test]
fn the_resource_shorthand_upserts() {
    let tag =
        processor("resource: { deployment.environment: production, cloud.region: us-east-1 }");
    let out = run(
        &tag,
        traces(
            resource(&[("deployment.environment", "dev")]),
            vec![span("a", 1)],
        ),
    );
    assert_eq!(
        resource_value(&out, "deployment.environment").as_deref(),
        Some("production")
    );
    assert_eq!(
        resource_value(&out, "cloud.region").as_deref(),
        Some("us-east-1")
    );
    let out = run(&tag, traces(None, vec![span("a", 1)]));
    assert_eq!(
        resource_value(&out, "cloud.region").as_deref(),
        Some("us-east-1"),
        "a missing resource gets one"
    );
}

#[test]
fn insert_update_delete_and_copy_follow_the_collector_semantics() {
    let tag = processor(
        r#"
actions:
  - { key: env, action: insert, value: prod }
  - { key: team, action: insert, value: ignored }
  - { key: tier, action: update, value: gold }
  - { key: secret, action: delete }
  - { key: host.copy, action: upsert, from_attribute: host.name }
"#,
    );
    let out = run(
        &tag,
        traces(
            resource(&[("team", "db"), ("secret", "x"), ("host.name", "h1")]),
            vec![span("a", 1)],
        ),
    );
    assert_eq!(resource_value(&out, "env").as_deref(), Some("prod"));
    assert_eq!(
        resource_value(&out, "team").as_deref(),
        Some("db"),
        "insert leaves a present key alone"
    );
    assert_eq!(
        resource_value(&out, "tier"),
        None,
        "update does not add a missing key"
    );
    assert_eq!(resource_value(&out, "secret"), None);
    assert_eq!(resource_value(&out, "host.copy").as_deref(), Some("h1"));
}

#[test]
fn hash_replaces_a_value_with_its_sha256() {
    let tag = processor("actions: [{ key: user.email, action: hash, context: attributes }]");
    let mut span = span("a", 1);
    span.attributes.push(kv("user.email", "a@example.com"));
    let mut out = run(&tag, traces(None, vec![span]));
    let Payload::Traces(request) = out.payload() else {
        panic!()
    };
    let value = crate::processors::items::find(
        &request.resource_spans[0].scope_spans[0].spans[0].attributes,
        "user.email",
    )
    .and_then(crate::processors::items::as_text)
    .unwrap();
    assert_eq!(
        value,
        "08168cd80dfd534ab0f10af10f1303fe00af2d43ab5c1432360d137f8197e17a"
    );
}

#[test]
fn item_context_touches_data_points_and_not_the_resource() {
    let tag = processor(
        "actions: [{ key: unit.kind, action: upsert, value: percent, context: attributes }]",
    );
    let mut out = run(
        &tag,
        metrics(vec![(
            database(),
            vec![gauge(
                "cpu",
                vec![point(1.0, &[]), point(2.0, &[("ü", "ñ")])],
            )],
        )]),
    );
    assert_eq!(resource_value(&out, "unit.kind"), None);
    let Payload::Metrics(request) = out.payload() else {
        panic!()
    };
    let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) = &metric.data else {
        panic!()
    };
    assert!(g.data_points.iter().all(|p| crate::processors::items::find(
        &p.attributes,
        "unit.kind"
    )
    .is_some()));
}

#[test]
fn from_env_reads_the_variable_once() {
    std::env::set_var("TRIBUTARY_TAG_TEST_REGION", "eu-west-1");
    let tag = processor(
        "actions: [{ key: cloud.region, action: upsert, from_env: TRIBUTARY_TAG_TEST_REGION }]",
    );
    let out = run(&tag, logs(None, vec![log("x", 9)]));
    assert_eq!(
        resource_value(&out, "cloud.region").as_deref(),
        Some("eu-west-1")
    );
}

#[test]
fn validation_names_each_bad_action() {
    let config: TagConfig = serde_saphyr::from_str(
        "actions: [{ key: a, action: upsert }, { key: b, action: delete, value: 1 }, { key: c, action: insert, from_env: TRIBUTARY_SURELY_UNSET }]",
    )
    .unwrap();
    let paths: Vec<String> = config.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["actions[0]", "actions[1]", "actions[2].from_env"]);
}

#[test]
fn a_walked_batch_is_decoded_and_loses_its_received_bytes_when_tagged() {
    let tag = processor("resource: { deployment.environment: production }");
    let decoded = traces(resource(&[]), vec![span("a", 1), span("b", 1)]);
    let source = decoded.context.source.clone();
    let walked = Batch::received(
        crate::pipeline::admission::Received::protobuf(decoded.into_payload(), true),
        source,
    );
    let mut out = run(&tag, walked);
    assert!(out.encoded().is_none(), "the bytes no longer match");
    assert_eq!(out.items(), 2);
    assert_eq!(
        out.payload().item_count(),
        2,
        "the spans were decoded, not lost"
    );
    assert_eq!(
        resource_value(&out, "deployment.environment").as_deref(),
        Some("production")
    );
}
