use super::*;

const BASE: &str = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:4318" } } }
  otlp/other: { protocols: { http: { endpoint: "127.0.0.1:4320" } } }
processors:
  batch: { send_batch_size: 100, timeout: 50ms }
  tag: { resource: { env: prod } }
exporters:
  kafka: { brokers: [127.0.0.1:9092], topic: spans }
  kafka/logs: { brokers: [127.0.0.1:9092], topic: logs }
  debug:
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
    logs: { receivers: [otlp, otlp/other], processors: [tag, batch], exporters: [kafka/logs, debug] }
"#;

fn parse(text: &str) -> Config {
    Config::parse(text, |_| None).expect("a valid config")
}

/// The shape a graph built from `config` would have, each exporter a distinct instance.
fn plan(old: &Config, new: &Config) -> ReloadPlan {
    let instances: BTreeMap<ComponentId, u64> = old
        .exporters
        .keys()
        .enumerate()
        .map(|(index, id)| (id.clone(), index as u64 + 1))
        .collect();
    let pipelines: BTreeMap<String, PipelineShape> = old
        .pipelines
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                PipelineShape::of(old, p, |id| instances[id]),
            )
        })
        .collect();
    let shape = RunningShape {
        receivers: old
            .receivers
            .iter()
            .map(|(id, r)| (id.clone(), r))
            .collect(),
        pipelines: pipelines.iter().map(|(n, p)| (n.clone(), p)).collect(),
        exporters: old
            .exporters
            .iter()
            .map(|(id, config)| {
                (
                    id.clone(),
                    ExporterShape {
                        config,
                        capacity: exporter_queue_capacity(old, id),
                        instance: instances[id],
                    },
                )
            })
            .collect(),
    };
    ReloadPlan::new(&shape, new)
}

fn ids(names: &[&str]) -> BTreeSet<ComponentId> {
    names
        .iter()
        .map(|n| ComponentId::parse(n).unwrap())
        .collect()
}

fn names(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(ToString::to_string).collect()
}

#[test]
fn the_same_config_keeps_everything() {
    let config = parse(BASE);
    let plan = plan(&config, &parse(BASE));
    assert_eq!(plan.exporters_kept, ids(&["kafka", "kafka/logs", "debug"]));
    assert!(plan.exporters_started.is_empty() && plan.exporters_retired.is_empty());
    assert_eq!(plan.pipelines_kept, names(&["traces", "logs"]));
    assert!(plan.pipelines_retired.is_empty());
    assert_eq!(plan.receivers_kept, ids(&["otlp", "otlp/other"]));
    assert!(plan.receivers_retired.is_empty());
    assert_eq!(plan.full_restart(), None);
}

#[test]
fn a_changed_exporter_rebuilds_only_the_pipelines_that_feed_it() {
    let old = parse(BASE);
    let new = parse(&BASE.replace("topic: spans", "topic: spans-v2"));
    let plan = plan(&old, &new);
    assert_eq!(plan.exporters_started, ids(&["kafka"]));
    assert_eq!(plan.exporters_retired, ids(&["kafka"]));
    assert_eq!(plan.pipelines_retired, names(&["traces"]));
    assert_eq!(plan.pipelines_kept, names(&["logs"]));
    // The receivers keep their listeners; only their routes change.
    assert_eq!(plan.receivers_kept, ids(&["otlp", "otlp/other"]));
    assert_eq!(plan.full_restart(), None);
}

#[test]
fn a_changed_receiver_is_replaced_and_the_pipelines_stay() {
    let old = parse(BASE);
    let new = parse(&BASE.replace("127.0.0.1:4320", "127.0.0.1:4321"));
    let plan = plan(&old, &new);
    assert_eq!(plan.receivers_retired, ids(&["otlp/other"]));
    assert!(plan.receivers_removed.is_empty());
    assert_eq!(plan.receivers_kept, ids(&["otlp"]));
    assert_eq!(plan.pipelines_kept, names(&["traces", "logs"]));
    assert!(plan.exporters_retired.is_empty());
}

#[test]
fn a_receiver_added_to_a_pipeline_does_not_rebuild_its_chain() {
    let old = parse(BASE);
    let new = parse(&BASE.replace(
        "traces: { receivers: [otlp]",
        "traces: { receivers: [otlp, otlp/other]",
    ));
    let plan = plan(&old, &new);
    assert_eq!(plan.pipelines_kept, names(&["traces", "logs"]));
    assert_eq!(plan.receivers_kept, ids(&["otlp", "otlp/other"]));
}

#[test]
fn a_changed_processor_rebuilds_its_pipeline() {
    let old = parse(BASE);
    let new = parse(&BASE.replace("env: prod", "env: staging"));
    let plan = plan(&old, &new);
    assert_eq!(plan.pipelines_retired, names(&["logs"]));
    assert_eq!(plan.pipelines_kept, names(&["traces"]));
    assert!(plan.exporters_started.is_empty());
}

#[test]
fn a_new_batch_size_gives_the_exporter_a_new_queue() {
    let old = parse(BASE);
    let new = parse(&BASE.replace("send_batch_size: 100", "send_batch_size: 10000"));
    let plan = plan(&old, &new);
    // Both pipelines batch with the processor that changed.
    assert_eq!(plan.pipelines_retired, names(&["traces", "logs"]));
    assert_eq!(
        plan.exporters_started,
        ids(&["kafka", "kafka/logs", "debug"])
    );
}

#[test]
fn a_removed_receiver_is_retired_and_forgotten() {
    let old = parse(BASE);
    let new = parse(
        &BASE
            .replace(
                "  otlp/other: { protocols: { http: { endpoint: \"127.0.0.1:4320\" } } }\n",
                "",
            )
            .replace("[otlp, otlp/other]", "[otlp]"),
    );
    let plan = plan(&old, &new);
    assert_eq!(plan.receivers_removed, ids(&["otlp/other"]));
    assert_eq!(plan.receivers_retired, ids(&["otlp/other"]));
    assert_eq!(plan.pipelines_kept, names(&["traces", "logs"]));
}

#[test]
fn exporters_that_own_files_are_never_run_twice() {
    let with_file = BASE
        .replace(
            "  debug:\n",
            "  file: { path: /tmp/tributary-plan-a.jsonl }\n",
        )
        .replace("debug]", "file]");
    let old = parse(&with_file);
    let new = parse(&with_file.replace("plan-a", "plan-b"));
    let plan = plan(&old, &new);
    assert!(
        plan.full_restart()
            .is_some_and(|reason| reason.contains("file")),
        "{plan}"
    );
    // A kept file exporter beside a replaced Kafka one is no reason.
    let new = parse(&with_file.replace("topic: spans", "topic: other"));
    assert_eq!(self::plan(&old, &new).full_restart(), None);
}

#[test]
fn a_receiver_that_reads_files_is_started_again_to_read_them() {
    let tokens = std::env::temp_dir().join(format!("tributary-plan-tokens-{}", std::process::id()));
    std::fs::write(&tokens, "secret\n").unwrap();
    let with_tokens = BASE.replace(
        "otlp/other: { protocols: { http: { endpoint: \"127.0.0.1:4320\" } } }",
        &format!(
            "otlp/other: {{ protocols: {{ http: {{ endpoint: \"127.0.0.1:4320\", auth: {{ bearer_tokens_file: {} }} }} }} }}",
            tokens.display()
        ),
    );
    let config = parse(&with_tokens);
    let plan = plan(&config, &parse(&with_tokens));
    assert_eq!(plan.receivers_kept, ids(&["otlp"]));
    assert_eq!(
        plan.receivers_retired,
        ids(&["otlp/other"]),
        "its token file is read again"
    );
    assert_eq!(plan.pipelines_kept, names(&["traces", "logs"]));
    std::fs::remove_file(tokens).unwrap();
}

/// Its records carry their pipeline's dead-letter route by name, so it may stay.
#[test]
fn a_kept_disk_queue_fed_by_a_changed_pipeline_keeps_running() {
    let queue = std::env::temp_dir().join(format!("tributary-plan-queue-{}", std::process::id()));
    let with_queue = BASE.replace(
        "topic: spans }",
        &format!(
            "topic: spans, sending_queue: {{ storage: disk, directory: {} }} }}",
            queue.display()
        ),
    );
    let old = parse(&with_queue);
    let new = parse(&with_queue.replace(
        "processors: [batch], exporters: [kafka]",
        "processors: [tag, batch], exporters: [kafka]",
    ));
    let plan = plan(&old, &new);
    assert_eq!(plan.full_restart(), None, "{plan}");
    assert!(plan
        .exporters_kept
        .contains(&ComponentId::parse("kafka").unwrap()));
    assert_eq!(plan.pipelines_retired, names(&["traces"]));
}
