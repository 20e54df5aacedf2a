//! SIGHUP under load: the topic changes mid-stream, nothing accepted is lost, what is sent after
//! the reload goes to the new topic, and an invalid new config leaves the running one in place.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume_topics, items, record_items, recorded_requests, require_kafka, run_client,
    unique_topic, Agent,
};
use tributary::pipeline::batch::Signal;

fn config(topic: &str) -> String {
    r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
processors:
  batch: { send_batch_size: 200, timeout: 50ms }
exporters:
  kafka: { brokers: ["{brokers}"], topic: TOPIC, producer: { linger.ms: 5 } }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 10s
"#
    .replace("TOPIC", topic)
}

fn send(agent: &Agent, name: &str, count: usize) -> Vec<Vec<u8>> {
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.sent"));
    let endpoint = agent.otlp_http_endpoint();
    run_client(
        "otlp_send.py",
        &[
            "--signal",
            "traces",
            "--endpoint",
            &endpoint,
            "--count",
            &count.to_string(),
            "--batch-size",
            "50",
            "--record",
            record.to_str().unwrap(),
        ],
    );
    items(recorded_requests(&record, Signal::Traces))
}

#[test]
fn a_reload_under_load_changes_the_topic_and_loses_nothing() {
    require_kafka();
    let (before, after) = (unique_topic("reload-before"), unique_topic("reload-after"));
    let agent = Agent::start("reload", &config(&before));

    let sent = std::thread::scope(|scope| {
        let client = scope.spawn(|| send(&agent, "reload-load", 6000));
        std::thread::sleep(Duration::from_millis(700));
        agent.reload(&config(&after));
        client.join().unwrap()
    });
    assert!(
        sent.len() >= 1000,
        "the SDK had {} spans accepted",
        sent.len()
    );

    // An invalid file is refused and the running pipelines stay.
    std::thread::sleep(Duration::from_secs(2));
    agent.reload("receivers: { otlp: { protocols: { http: { endpoint: nowhere } } } }\n");
    std::thread::sleep(Duration::from_millis(500));
    let late = send(&agent, "reload-late", 20);

    let all = sent.len() + late.len();
    let records = consume_topics(&[&before, &after], Duration::from_secs(60), |r| {
        record_items(r, Signal::Traces).len() >= all
    });
    let (first, second): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.topic == before);
    let (first_items, second_items) = (
        record_items(&first, Signal::Traces),
        record_items(&second, Signal::Traces),
    );
    assert!(
        !first_items.is_empty() && !second_items.is_empty(),
        "the stream was split by the reload"
    );
    let mut arrived = first_items;
    arrived.extend(second_items.iter().cloned());
    arrived.sort();
    let mut expected = sent.clone();
    expected.extend(late.iter().cloned());
    expected.sort();
    if arrived.len() != expected.len() {
        let (_, metrics) = agent.get("/metrics");
        eprintln!("the agent's counters:\n{metrics}");
        let missing: Vec<usize> = sent
            .iter()
            .enumerate()
            .filter(|(_, item)| arrived.binary_search(item).is_err())
            .map(|(index, _)| index)
            .collect();
        eprintln!(
            "missing items at positions {missing:?} of {}; first topic had {}, second {}",
            sent.len(),
            arrived.len() - second_items.len(),
            second_items.len()
        );
    }
    assert_eq!(
        arrived.len(),
        expected.len(),
        "every accepted span arrived once"
    );
    assert!(arrived == expected);
    assert!(
        late.iter().all(|item| second_items.contains(item)),
        "after the reload, spans go to the new topic"
    );
    agent.assert_accounted(Duration::from_secs(10));
}
