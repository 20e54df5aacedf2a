//! SIGHUP under load: the topic changes mid-stream, nothing accepted is lost, what is sent after
//! the reload goes to the new topic, and an invalid new config leaves the running one in place.
//! A reload that changes only an exporter keeps the receiver's listener: a client sending all
//! the while never has a connection refused.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    consume_topics, decode_payload, http_request, items, numbered_spans, record_items,
    recorded_requests, require_kafka, run_client, unique_topic, Agent,
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

/// Waits (at most 60 s) until the agent has accepted `items` spans.
fn wait_until_accepted(agent: &Agent, items: usize) {
    let series = r#"tributary_receiver_accepted_items_total{receiver="otlp",signal="traces",transport="http"}"#;
    let started = std::time::Instant::now();
    while agent.metric(series).unwrap_or(0.0) < items as f64
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
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
        // Reload once the SDK is sending (its start-up time varies with the machine's load).
        wait_until_accepted(&agent, 200);
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

/// What a plain client saw while sending one request after another.
#[derive(Default)]
struct Sent {
    accepted: Vec<Vec<u8>>,
    refused_connections: usize,
    retried: usize,
    other: Vec<u16>,
}

/// Sends numbered span requests one after another, retrying 429 and 503 as an SDK would,
/// until `stop` is set (at most `max_requests`).
fn send_continuously(
    agent: &Agent,
    stop: &std::sync::atomic::AtomicBool,
    max_requests: usize,
) -> Sent {
    let mut sent = Sent::default();
    for request in 0..max_requests {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let body = numbered_spans("continuous-", request, 20, 0);
        for _attempt in 0..200 {
            match http_request(
                agent.otlp_http,
                "POST",
                "/v1/traces",
                &[("content-type", "application/x-protobuf")],
                &body,
            ) {
                Ok(response) if response.status == 200 => {
                    sent.accepted
                        .extend(items([decode_payload(Signal::Traces, &body)]));
                    // About what an application's SDK sends, not a load test.
                    std::thread::sleep(Duration::from_millis(2));
                    break;
                }
                Ok(response) if matches!(response.status, 429 | 503) => {
                    sent.retried += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(response) => {
                    sent.other.push(response.status);
                    break;
                }
                Err(_) => {
                    sent.refused_connections += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    sent
}

#[test]
fn a_reload_of_only_an_exporter_refuses_no_connection_and_loses_nothing() {
    require_kafka();
    let (before, after) = (
        unique_topic("reload-exporter-a"),
        unique_topic("reload-exporter-b"),
    );
    let agent = Agent::start("reload-exporter", &config(&before));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let sent = std::thread::scope(|scope| {
        let client = scope.spawn(|| send_continuously(&agent, &stop, 5000));
        wait_until_accepted(&agent, 100);
        agent.reload(&config(&after));
        std::thread::sleep(Duration::from_millis(2500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        client.join().unwrap()
    });
    assert_eq!(
        sent.refused_connections, 0,
        "the receiver kept its listener through the reload"
    );
    assert!(
        sent.other.is_empty(),
        "unexpected answers: {:?}",
        sent.other
    );
    assert!(
        sent.accepted.len() >= 200,
        "only {} spans were accepted",
        sent.accepted.len()
    );

    // Counts each record once: decoding every record on every poll would not keep up.
    let (mut counted_records, mut counted_items) = (0, 0);
    let records = consume_topics(&[&before, &after], Duration::from_secs(60), |r| {
        counted_items += record_items(&r[counted_records..], Signal::Traces).len();
        counted_records = r.len();
        counted_items >= sent.accepted.len()
    });
    let (first, second): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.topic == before);
    assert!(
        !first.is_empty() && !second.is_empty(),
        "the stream was split by the reload ({} and {} records)",
        first.len(),
        second.len()
    );
    let mut arrived = record_items(&first, Signal::Traces);
    arrived.extend(record_items(&second, Signal::Traces));
    arrived.sort();
    let mut expected = sent.accepted.clone();
    expected.sort();
    assert_eq!(
        arrived.len(),
        expected.len(),
        "every accepted span arrived once"
    );
    assert!(arrived == expected);
    agent.assert_accounted(Duration::from_secs(10));
}
