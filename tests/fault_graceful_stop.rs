//! Graceful stop under load with a disk queue: the broker is throttled, so SIGTERM cannot
//! deliver everything before the shutdown deadline. The agent stops on time, leaves the rest in
//! the disk queue, and the next start delivers it: every item that got a 200 arrives.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    consume, numbered_spans, post_traces, record_items, require_kafka, unique_topic, Agent,
    ProduceQuota,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tributary::pipeline::batch::Signal;

const SPANS_PER_REQUEST: usize = 200;

fn config(topic: &str, client: &str, queue: &str) -> String {
    r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
processors:
  batch: { send_batch_size: 1000, timeout: 20ms }
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: TOPIC
    producer: { client.id: CLIENT, linger.ms: 5 }
    sending_queue: { storage: disk, directory: QUEUE, segment_size: 1MiB }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 2s
"#
    .replace("TOPIC", topic)
    .replace("CLIENT", client)
    .replace("QUEUE", queue)
}

#[test]
fn sigterm_under_load_leaves_what_it_cannot_deliver_in_the_disk_queue() {
    require_kafka();
    let topic = unique_topic("graceful");
    let client = format!("tributary-graceful-{}", std::process::id());
    let queue = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("graceful-queue");
    let _ = std::fs::remove_dir_all(&queue);
    let config = config(&topic, &client, queue.to_str().unwrap());
    let throttle = ProduceQuota::set(&client, "20000");

    let mut agent = Agent::start("graceful", &config);
    let accepted: Vec<usize> = (0..100)
        .filter(|&index| {
            post_traces(&agent, &numbered_spans("g", index, SPANS_PER_REQUEST, 0)).status == 200
        })
        .collect();
    assert!(accepted.len() >= 50, "{} accepted", accepted.len());
    let stopping = Instant::now();
    let status = agent.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    eprintln!("stopped in {:?}", stopping.elapsed());
    let left_on_disk = std::fs::read_dir(&queue)
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.extension().is_some_and(|x| x == "seg") && path.metadata().unwrap().len() > 0
        })
        .count();
    assert!(
        left_on_disk > 0,
        "the throttled broker left data in the queue"
    );

    throttle.lift();
    let restarted = Agent::start("graceful-restarted", &config);
    let expected: HashSet<String> = accepted
        .iter()
        .flat_map(|r| (0..SPANS_PER_REQUEST).map(move |i| format!("g{r}-{i}")))
        .collect();
    let (mut arrived, mut decoded) = (HashSet::new(), 0);
    consume(&topic, Duration::from_secs(60), |records| {
        for item in record_items(&records[decoded..], Signal::Traces) {
            let request = ExportTraceServiceRequest::decode(item.as_slice()).unwrap();
            arrived.insert(
                request.resource_spans[0].scope_spans[0].spans[0]
                    .name
                    .clone(),
            );
        }
        decoded = records.len();
        expected.is_subset(&arrived)
    });
    let missing = expected.difference(&arrived).count();
    assert_eq!(missing, 0, "accepted spans missing after the restart");
    restarted.assert_accounted(Duration::from_secs(10));
}
