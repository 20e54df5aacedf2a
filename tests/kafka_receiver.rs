//! The consumer leg against the real broker: consumer groups fan out and split, a poison record
//! goes to the DLQ with its coordinates, a timestamp replays exactly what came after it, and a
//! consuming agent killed mid-stream loses nothing.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use common::{kafka_brokers, require_kafka, unique_topic, Agent};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tributary::pipeline::dead_letter::rfc3339;

fn span_request(name: &str) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![4; 16],
                    span_id: vec![2; 8],
                    name: name.to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Produces one record per name (a one-span OTLP request, with the headers the `kafka`
/// exporter writes), or the raw bytes for a name starting with `!`.
fn produce(topic: &str, names: &[String]) {
    produce_to(topic, None, names)
}

/// As `produce`, to one partition, or by key when `partition` is `None`.
fn produce_to(topic: &str, partition: Option<i32>, names: &[String]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sends = names.iter().map(|name| {
            let (value, headers) = match name.strip_prefix('!') {
                Some(garbage) => (garbage.as_bytes().to_vec(), OwnedHeaders::new()),
                None => (
                    span_request(name),
                    OwnedHeaders::new()
                        .insert(Header {
                            key: "content-type",
                            value: Some("application/x-protobuf"),
                        })
                        .insert(Header {
                            key: "signal",
                            value: Some("traces"),
                        })
                        .insert(Header {
                            key: "record.id",
                            value: Some(name.as_str()),
                        }),
                ),
            };
            let producer = producer.clone();
            async move {
                let mut record = FutureRecord::to(topic)
                    .key(name.as_str())
                    .payload(&value)
                    .headers(headers);
                record.partition = partition;
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| e)
                    .expect("producing a test record");
            }
        });
        in_order(sends).await;
    });
}

/// One at a time: the records keep their order within a partition.
async fn in_order<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    for future in futures {
        future.await;
    }
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

fn tmp(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn config(topic: &str, group: &str, out: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
receivers:
  kafka:
    brokers: ["{{brokers}}"]
    topics: ["{topic}"]
    group_id: {group}
    {extra}
exporters:
  file: {{ path: "{}", flush_interval: 50ms }}
service:
  pipelines:
    traces: {{ receivers: [kafka], exporters: [file] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
  shutdown_timeout: 5s
"#,
        out.display()
    )
}

/// Span names in a file exporter's output, with how often each appears.
/// As `config`, with the pipeline's dead letters written to the file `dlq`.
fn config_with_dead_letters(
    topic: &str,
    group: &str,
    out: &std::path::Path,
    dlq: &std::path::Path,
) -> String {
    config(topic, group, out, "")
        .replace(
            "exporters:\n",
            &format!(
                "exporters:\n  file/dlq: {{ path: \"{}\", flush_interval: 50ms }}\n",
                dlq.display()
            ),
        )
        .replace(
            "exporters: [file] }",
            "exporters: [file], dead_letter: [file/dlq] }",
        )
}

fn spans_in(path: &std::path::Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let request: ExportTraceServiceRequest = serde_json::from_str(line).unwrap();
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    *counts.entry(span.name).or_default() += 1;
                }
            }
        }
    }
    counts
}

fn wait_for(paths: &[&std::path::Path], expected: usize, timeout: Duration) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let seen: usize = paths.iter().map(|p| spans_in(p).len()).sum();
        if seen >= expected {
            // A little longer, so that a duplicate would have time to show.
            std::thread::sleep(Duration::from_millis(500));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_until_assigned(agent: &Agent) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if agent
            .metric("tributary_receiver_kafka_assigned_partitions{receiver=\"kafka\"}")
            .is_some_and(|n| n > 0.0)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the consumer got no partitions within 30 s");
}

#[test]
fn groups_fan_out_and_members_of_one_group_split_the_partitions() {
    require_kafka();
    let topic = unique_topic("consume-groups");
    produce(&topic, &names("warmup", 1));
    let (a, b) = (tmp("group-a.jsonl"), tmp("group-b.jsonl"));
    let (c1, c2) = (tmp("group-c1.jsonl"), tmp("group-c2.jsonl"));
    let agent_a = Agent::start("group-a", &config(&topic, "alerting", &a, ""));
    let agent_b = Agent::start("group-b", &config(&topic, "warehouse", &b, ""));
    let agent_c1 = Agent::start("group-c1", &config(&topic, "analytics", &c1, ""));
    let agent_c2 = Agent::start("group-c2", &config(&topic, "analytics", &c2, ""));
    for agent in [&agent_a, &agent_b, &agent_c1, &agent_c2] {
        wait_until_assigned(agent);
    }
    // Both analytics members hold partitions before the records come, so none moves mid-way.
    std::thread::sleep(Duration::from_secs(2));
    let sent = names("g", 90);
    produce(&topic, &sent);
    let expected: HashSet<String> = sent.iter().cloned().chain(["warmup-0".into()]).collect();

    wait_for(&[&a], expected.len(), Duration::from_secs(60));
    wait_for(&[&b], expected.len(), Duration::from_secs(30));
    wait_for(&[&c1, &c2], expected.len(), Duration::from_secs(30));
    for (group, path) in [("alerting", &a), ("warehouse", &b)] {
        let seen: HashSet<String> = spans_in(path).into_keys().collect();
        assert_eq!(seen, expected, "group {group} received every record");
    }
    let (first, second) = (spans_in(&c1), spans_in(&c2));
    assert!(
        !first.is_empty() && !second.is_empty(),
        "both members of one group consumed ({} and {})",
        first.len(),
        second.len()
    );
    let together: HashSet<String> = first.keys().chain(second.keys()).cloned().collect();
    assert_eq!(together, expected, "together they received every record");
    let total: usize = first.values().chain(second.values()).sum();
    assert_eq!(total, expected.len(), "and each once");
    for agent in [&agent_a, &agent_b, &agent_c1, &agent_c2] {
        agent.assert_accounted(Duration::from_secs(10));
    }
}

#[test]
fn a_poison_record_goes_to_the_dlq_with_its_coordinates_and_consumption_continues() {
    require_kafka();
    let topic = unique_topic("consume-poison");
    let (out, dlq) = (tmp("poison.jsonl"), tmp("poison-dlq.jsonl"));
    let config = config_with_dead_letters(&topic, "poison", &out, &dlq);
    let agent = Agent::start("poison", &config);
    produce(
        &topic,
        &[
            "before".to_string(),
            "!\u{1}garbage".to_string(),
            "after".to_string(),
        ],
    );
    wait_for(&[&out], 2, Duration::from_secs(60));
    let seen: HashSet<String> = spans_in(&out).into_keys().collect();
    assert_eq!(
        seen,
        HashSet::from(["before".to_string(), "after".to_string()]),
        "consumption went on past the poison record"
    );
    let started = Instant::now();
    let letter = loop {
        let text = std::fs::read_to_string(&dlq).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no dead letter"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(letter["original_topic"], topic.as_str());
    assert!(letter["original_partition"].is_i64(), "{letter}");
    assert!(letter["original_offset"].is_i64(), "{letter}");
    assert_eq!(letter["original_key"], "!\u{1}garbage");
    assert_eq!(letter["original_value"], "\u{1}garbage");
    assert_eq!(letter["error_type"], "DecodingError");
    assert!(
        letter["error"].as_str().unwrap().contains("content-type"),
        "{letter}"
    );
    assert_eq!(letter["retry_count"], 0);
    assert!(
        letter["consumer_id"]
            .as_str()
            .unwrap()
            .starts_with("poison/"),
        "{letter}"
    );
    agent.assert_accounted(Duration::from_secs(10));
}

/// A one-span request that is not UTF-8 (its ids are not), so its dead letter holds base64.
fn poison_value() -> Vec<u8> {
    let mut request = ExportTraceServiceRequest::decode(span_request("poison").as_slice()).unwrap();
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![0xff; 16];
    request.encode_to_vec()
}

/// Produces to partition 0 one OTLP record whose headers include one with a key that is not UTF-8, through
/// librdkafka itself: rdkafka's `OwnedHeaders` (and the Python client) only take text keys.
fn produce_with_a_binary_header_key(topic: &str, key: &[u8]) {
    use rdkafka::bindings::{
        rd_kafka_error_destroy, rd_kafka_error_string, rd_kafka_produceva,
        rd_kafka_vtype_t as VType, rd_kafka_vu_s__bindgen_ty_1 as Union, rd_kafka_vu_t,
    };
    use rdkafka::producer::{BaseProducer, Producer};
    use std::ffi::{c_void, CStr, CString};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .create()
        .unwrap();
    let topic = CString::new(topic).unwrap();
    let value = poison_value();
    let header_key = CString::new(key).unwrap();
    let header = |name: &CStr, value: &[u8]| rd_kafka_vu_t {
        vtype: VType::RD_KAFKA_VTYPE_HEADER,
        u: Union {
            header: rdkafka::bindings::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_2 {
                name: name.as_ptr(),
                val: value.as_ptr().cast::<c_void>(),
                size: value.len() as isize,
            },
        },
    };
    let (content_type, signal) = (c"content-type", c"signal");
    let fields = [
        rd_kafka_vu_t {
            vtype: VType::RD_KAFKA_VTYPE_TOPIC,
            u: Union {
                cstr: topic.as_ptr(),
            },
        },
        rd_kafka_vu_t {
            vtype: VType::RD_KAFKA_VTYPE_PARTITION,
            u: Union { i32_: 0 },
        },
        rd_kafka_vu_t {
            vtype: VType::RD_KAFKA_VTYPE_VALUE,
            u: Union {
                mem: rdkafka::bindings::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                    ptr: value.as_ptr() as *mut c_void,
                    size: value.len(),
                },
            },
        },
        rd_kafka_vu_t {
            vtype: VType::RD_KAFKA_VTYPE_MSGFLAGS,
            u: Union {
                i: rdkafka::bindings::RD_KAFKA_MSG_F_COPY,
            },
        },
        header(content_type, b"application/x-protobuf"),
        header(signal, b"traces"),
        header(&header_key, b"x"),
    ];
    // SAFETY: every pointer in `fields` points into values alive until after the flush, and
    // RD_KAFKA_MSG_F_COPY makes librdkafka copy the value.
    unsafe {
        let rk = producer.client().native_ptr();
        let error = rd_kafka_produceva(rk, fields.as_ptr(), fields.len());
        if !error.is_null() {
            let text = CStr::from_ptr(rd_kafka_error_string(error)).to_string_lossy();
            let text = text.into_owned();
            rd_kafka_error_destroy(error);
            panic!("producing the poison record: {text}");
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("the poison record was delivered");
}

#[test]
fn a_record_with_a_header_key_that_is_not_utf8_is_dead_lettered_and_consumption_goes_on() {
    require_kafka();
    let topic = unique_topic("consume-binary-header");
    let (out, dlq) = (tmp("binary-header.jsonl"), tmp("binary-header-dlq.jsonl"));
    let config = config_with_dead_letters(&topic, "binary-header", &out, &dlq);
    let bad_key = b"trace\xff\xfe-state";
    produce_with_a_binary_header_key(&topic, bad_key);
    // Behind it in its partition: a receiver stuck on it would never get to them.
    let good = names("good", 10);
    produce_to(&topic, Some(0), &good);
    let agent = Agent::start("binary-header", &config);

    wait_for(&[&out], good.len(), Duration::from_secs(60));
    let seen: HashSet<String> = spans_in(&out).into_keys().collect();
    assert_eq!(
        seen,
        good.iter().cloned().collect::<HashSet<_>>(),
        "every good record after the poison one arrived, and the poison one did not"
    );
    let started = Instant::now();
    let letter = loop {
        let text = std::fs::read_to_string(&dlq).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no dead letter"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    assert_eq!(letter["error_type"], "UnreadableRecord", "{letter}");
    assert_eq!(letter["original_topic"], topic.as_str());
    assert_eq!(letter["original_offset"], 0, "{letter}");
    assert_eq!(letter["field"], "headers[2].key", "{letter}");
    assert_eq!(letter["value"], engine.encode(bad_key), "{letter}");
    let original = engine
        .decode(letter["original_value"].as_str().unwrap())
        .unwrap();
    assert_eq!(original, poison_value(), "the value, whole");
    let marked: Vec<&str> = letter["base64_fields"]
        .as_array()
        .expect("base64_fields")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(marked, ["original_value", "value"], "{letter}");
    assert_eq!(
        agent.metric("tributary_receiver_kafka_poison_records_total{receiver=\"kafka\"}"),
        Some(1.0)
    );
    assert_eq!(agent.get("/health").0, 200, "the agent still runs");
    agent.assert_accounted(Duration::from_secs(10));
}

#[test]
fn replay_from_a_timestamp_delivers_exactly_what_came_after_it() {
    require_kafka();
    let topic = unique_topic("consume-replay");
    produce(&topic, &names("old", 20));
    std::thread::sleep(Duration::from_millis(1500));
    let from = SystemTime::now();
    std::thread::sleep(Duration::from_millis(500));
    let new = names("new", 20);
    produce(&topic, &new);

    let out = tmp("replay.jsonl");
    let start_at = format!("start_at: {{ timestamp: \"{}\" }}", rfc3339(from));
    let agent = Agent::start("replay", &config(&topic, "backfill", &out, &start_at));
    wait_for(&[&out], new.len(), Duration::from_secs(60));
    let seen = spans_in(&out);
    let expected: HashSet<String> = new.into_iter().collect();
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "exactly the records from the timestamp on"
    );
    assert!(seen.values().all(|&n| n == 1));
    agent.assert_accounted(Duration::from_secs(10));
}

#[test]
fn a_consumer_killed_mid_stream_loses_nothing_after_a_restart() {
    require_kafka();
    let topic = unique_topic("consume-crash");
    let sent = names("c", 3000);
    produce(&topic, &sent);
    let out = tmp("crash-consumer.jsonl");
    // The killed member's partitions move once the broker gives up on it: the least it allows.
    let config = config(
        &topic,
        "crash",
        &out,
        "consumer: { session.timeout.ms: 6000 }",
    );
    let mut agent = Agent::start("crash-consumer", &config);
    let started = Instant::now();
    while spans_in(&out).len() < 300 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.kill_hard();
    let before = spans_in(&out).len();
    assert!(before < sent.len(), "killed mid-stream ({before} consumed)");

    let restarted = Agent::start("crash-consumer-restarted", &config);
    wait_for(&[&out], sent.len(), Duration::from_secs(60));
    let seen = spans_in(&out);
    let missing: Vec<&String> = sent.iter().filter(|n| !seen.contains_key(*n)).collect();
    let duplicated = seen.values().filter(|&&n| n > 1).count();
    eprintln!("{before} consumed before the kill; {duplicated} delivered twice after the restart");
    assert!(missing.is_empty(), "{} records missing", missing.len());
    restarted.assert_accounted(Duration::from_secs(10));
}

#[test]
fn records_seen_within_the_dedupe_window_are_dropped_and_counted_and_lag_is_reported() {
    require_kafka();
    let topic = unique_topic("consume-dedupe");
    let first = names("d", 10);
    produce(&topic, &first);
    // The same record ids again, as a producer retrying after a timeout would send them.
    produce(&topic, &first[..4]);
    let out = tmp("dedupe.jsonl");
    let agent = Agent::start(
        "dedupe",
        &config(&topic, "dedupe", &out, "dedupe: { window: 1h }"),
    );
    wait_for(&[&out], first.len(), Duration::from_secs(60));
    let started = Instant::now();
    while agent
        .metric("tributary_receiver_kafka_duplicates_total{receiver=\"kafka\"}")
        .unwrap_or(0.0)
        < 4.0
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = spans_in(&out);
    assert_eq!(seen.len(), first.len());
    assert!(
        seen.values().all(|&n| n == 1),
        "no duplicate delivered: {seen:?}"
    );
    assert_eq!(
        agent.metric("tributary_receiver_kafka_duplicates_total{receiver=\"kafka\"}"),
        Some(4.0)
    );
    // librdkafka reports statistics every 5 s.
    let started = Instant::now();
    let lag = loop {
        let (_, metrics) = agent.get("/metrics");
        let lag: Vec<String> = metrics
            .lines()
            .filter(|l| l.starts_with("tributary_receiver_kafka_consumer_lag{"))
            .map(str::to_string)
            .collect();
        if lag.len() >= 3 || started.elapsed() > Duration::from_secs(15) {
            break lag;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(lag.len(), 3, "a lag gauge per partition: {lag:?}");
    assert!(
        lag.iter().all(|l| l.contains(&topic) && l.ends_with(" 0")),
        "caught up: {lag:?}"
    );
    agent.assert_accounted(Duration::from_secs(10));
}

/// `start_at` acts as Kafka's `auto.offset.reset`: where the group has committed offsets, a
/// restarted agent reads on from them, whatever `start_at` says. Two restarts: with `earliest`
/// nothing is read twice; with `latest` what was produced while the agent was down is not skipped.
#[test]
fn start_at_applies_only_where_the_group_has_no_committed_offset() {
    require_kafka();
    let topic = unique_topic("consume-start-at");
    let group = format!("start-at-{}", std::process::id());
    let first = names("first", 20);
    produce(&topic, &first);

    let out = tmp("start-at.jsonl");
    let run = |start_at: &str, expected: usize| {
        let mut agent = Agent::start(
            "start-at",
            &config(&topic, &group, &out, &format!("start_at: {start_at}")),
        );
        wait_for(&[&out], expected, Duration::from_secs(60));
        // A clean stop commits what was delivered.
        agent.terminate(Duration::from_secs(20));
    };
    run("earliest", first.len());
    let second = names("second", 10);
    produce(&topic, &second);
    run("earliest", first.len() + second.len());
    let third = names("third", 10);
    produce(&topic, &third);
    run("latest", first.len() + second.len() + third.len());

    let seen = spans_in(&out);
    let expected: HashSet<String> = first.into_iter().chain(second).chain(third).collect();
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "every record, none skipped by latest"
    );
    let repeated: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        repeated.is_empty(),
        "read twice after a restart: {repeated:?}"
    );
}
