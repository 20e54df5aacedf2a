//! Overload: the broker takes far less than the agent is sent (a Kafka produce quota on the
//! agent's client id). Memory stays under `memory_limit`, clients get 429/503 with Retry-After,
//! and once the broker takes data again every item that got a 200 is delivered.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{
    consume, numbered_spans, post_traces, record_items, require_kafka, unique_topic, Agent,
    ProduceQuota,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tributary::pipeline::batch::Signal;

const SPANS_PER_REQUEST: usize = 1000;
const LIMIT: u64 = 160 * 1024 * 1024;

#[test]
fn an_overloaded_agent_refuses_stays_under_its_memory_limit_and_delivers_what_it_took() {
    require_kafka();
    let topic = unique_topic("overload");
    let client_id = format!("tributary-overload-{}", std::process::id());
    let throttle = ProduceQuota::set(&client_id, "100000");
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
processors:
  batch: { send_batch_size: 2000, timeout: 50ms }
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: TOPIC
    producer: { client.id: CLIENT, linger.ms: 5 }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  memory_limit: 160MiB
"#
    .replace("TOPIC", &topic)
    .replace("CLIENT", &client_id);
    let agent = Agent::start("overload", &config);

    let (mut accepted, mut refusals) = (Vec::new(), 0);
    for index in 0..400 {
        let response = post_traces(&agent, &numbered_spans("o", index, SPANS_PER_REQUEST, 500));
        match response.status {
            200 => accepted.push(index),
            429 | 503 => {
                assert!(response.header("retry-after").is_some(), "a retry hint");
                refusals += 1;
                if refusals >= 5 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    assert!(
        refusals >= 5,
        "the overloaded agent refused ({} accepted)",
        accepted.len()
    );
    let peak = agent.peak_resident_bytes();
    eprintln!(
        "{} requests accepted, {refusals} refused, peak resident memory {} MiB",
        accepted.len(),
        peak / (1024 * 1024)
    );
    assert!(
        peak < LIMIT,
        "peak resident memory {peak} stayed under {LIMIT}"
    );

    throttle.lift();
    let expected: HashSet<String> = accepted
        .iter()
        .flat_map(|r| (0..SPANS_PER_REQUEST).map(move |i| format!("o{r}-{i}")))
        .collect();
    let (mut arrived, mut decoded) = (HashSet::new(), 0);
    consume(&topic, Duration::from_secs(90), |records| {
        // Only the records added since the last look are decoded.
        for item in record_items(&records[decoded..], Signal::Traces) {
            let request = ExportTraceServiceRequest::decode(item.as_slice()).unwrap();
            let name = &request.resource_spans[0].scope_spans[0].spans[0].name;
            arrived.insert(name.clone());
        }
        decoded = records.len();
        expected.is_subset(&arrived)
    });
    let missing = expected.difference(&arrived).count();
    assert_eq!(missing, 0, "accepted spans missing after the overload");
    agent.assert_accounted(Duration::from_secs(30));
}
