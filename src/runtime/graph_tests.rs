//! The runtime in memory, without Kafka: data admitted as a receiver admits it (the test is the
//! source), exporters that never reach anything (the sinks), and the graph's own ledger, which
//! must add up per run: received = delivered + dead_lettered + refused + dropped + failed +
//! undrained + queued.

use std::time::Duration;

use super::*;
use crate::pipeline::admission::Admission;
use crate::pipeline::ledger::{Exit, Snapshot};
use crate::processors::test_data::{span, traces};

/// One traces pipeline from an OTLP receiver through `processors` to the exporter `sink`.
fn config(sink: &str, sink_config: &str, processors: &str) -> Config {
    let text = format!(
        r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  batch: {{ send_batch_size: 20, timeout: 20ms }}
  filter: {{ span_kinds: [internal] }}
exporters:
  {sink}: {sink_config}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [{processors}], exporters: [{sink}] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:0" }} }}
"#
    );
    Config::parse(&text, |_| None).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Admits `requests` batches of five spans (one internal), retrying while the pipeline
/// is full, as a client would.
async fn send(service: &Service, requests: usize) -> usize {
    let admission = Admission::new("otlp".into(), "memory", service.routes_of("otlp"));
    let mut accepted = 0;
    for _ in 0..requests {
        let spans = (0..5)
            // Kind 1 is internal, which the filter drops; 2 is server.
            .map(|i| span("span", if i == 0 { 1 } else { 2 }))
            .collect();
        let payload = traces(None, spans).into_payload();
        for _ in 0..500 {
            match admission.admit(payload.clone()) {
                Ok(_) => {
                    accepted += 5;
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }
    accepted
}

fn assert_adds_up(now: Snapshot) {
    let out: u64 = Exit::ALL.iter().map(|e| now.exited(*e)).sum();
    assert_eq!(
        now.received, out,
        "received = every outcome, nothing queued: {now:?}"
    );
    assert_eq!(now.queued(), 0);
}

#[tokio::test]
async fn a_run_accounts_for_every_item_in_its_own_ledger() {
    let config = config("debug/sink", "{ verbosity: none }", "filter, batch");
    let ledger = Ledger::new();
    let service = Service::start(&config, &Health::default(), ledger.clone())
        .await
        .unwrap();
    let accepted = send(&service, 40).await;
    service.shutdown(Duration::from_secs(5)).await;
    let now = ledger.snapshot();
    assert_eq!(now.received, accepted as u64);
    assert_eq!(now.exited(Exit::Dropped), 40, "one span a request filtered");
    assert_eq!(now.exited(Exit::Delivered), 160);
    assert_adds_up(now);
}

#[tokio::test]
async fn a_deadline_with_a_stalled_exporter_leaves_nothing_uncounted() {
    // Nothing listens on port 1: records wait in the producer until the deadline.
    let config = config(
        "kafka/sink",
        "{ brokers: [127.0.0.1:1], topic: t, producer: { message.timeout.ms: 60000 } }",
        "filter, batch",
    );
    let ledger = Ledger::new();
    let service = Service::start(&config, &Health::default(), ledger.clone())
        .await
        .unwrap();
    let accepted = send(&service, 20).await;
    assert!(accepted > 0);
    service.shutdown(Duration::from_millis(300)).await;
    let now = ledger.snapshot();
    assert_eq!(now.received, accepted as u64);
    assert_eq!(now.exited(Exit::Delivered), 0);
    assert!(now.exited(Exit::Undrained) > 0, "{now:?}");
    assert_adds_up(now);
}

#[tokio::test]
async fn a_reload_of_the_exporter_under_load_keeps_the_ledger_whole() {
    let one = config("debug/sink", "{ verbosity: none }", "filter, batch");
    let two = config(
        "debug/sink",
        "{ verbosity: none, sending_queue: { storage: memory, max_size: 1GiB } }",
        "filter, batch",
    );
    let ledger = Ledger::new();
    let health = Health::default();
    let mut service = Service::start(&one, &health, ledger.clone()).await.unwrap();
    let before = send(&service, 20).await;
    let routes = service.routes_of("otlp");
    let sending = {
        let admission = Admission::new("otlp".into(), "memory", routes.clone());
        tokio::spawn(async move {
            let mut accepted = 0;
            for _ in 0..200 {
                let payload = traces(None, vec![span("during", 2)]).into_payload();
                if admission.admit(payload).is_ok() {
                    accepted += 1;
                }
                tokio::task::yield_now().await;
            }
            accepted
        })
    };
    service
        .reload(&two, &health, Duration::from_secs(5))
        .await
        .unwrap();
    let during = sending.await.unwrap();
    let after = send(&service, 20).await;
    service.shutdown(Duration::from_secs(5)).await;
    let now = ledger.snapshot();
    let refused = now.exited(Exit::Refused);
    assert_eq!(now.received, (before + during + after) as u64 + refused);
    // One span in five of `send`'s is filtered; the spans sent during the reload are not.
    let dropped = ((before + after) / 5) as u64;
    assert_eq!(now.exited(Exit::Dropped), dropped);
    assert_eq!(
        now.exited(Exit::Delivered),
        (before + during + after) as u64 - dropped
    );
    assert_adds_up(now);
}

/// A metrics pipeline whose invalid points go to `debug/dlq` (with `dlq` as its config).
fn with_dead_letters(dlq: &str) -> Config {
    let text = format!(
        r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  validate: {{ rules: gds.metric.v1 }}
exporters:
  debug/sink: {{ verbosity: none }}
  debug/dlq: {dlq}
service:
  pipelines:
    metrics: {{ receivers: [otlp], processors: [validate], exporters: [debug/sink], dead_letter: [debug/dlq] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:0" }} }}
"#
    );
    Config::parse(&text, |_| None).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Admits `requests` requests of one valid point and one NaN point (which `gds.metric.v1`
/// refuses to the dead letter).
async fn send_metrics(service: &Service, requests: usize) {
    use crate::processors::test_data::{database, gauge, metrics, point};
    let admission = Admission::new("otlp".into(), "memory", service.routes_of("otlp"));
    for _ in 0..requests {
        let payload = metrics(vec![(
            database(),
            vec![gauge("cpu", vec![point(1.0, &[]), point(f64::NAN, &[])])],
        )])
        .into_payload();
        for _ in 0..500 {
            if admission.admit(payload.clone()).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

#[tokio::test]
async fn a_reload_of_the_dead_letter_exporter_does_not_wait_for_the_deadline() {
    let ledger = Ledger::new();
    let health = Health::default();
    let one = with_dead_letters("{ verbosity: none }");
    let mut service = Service::start(&one, &health, ledger.clone()).await.unwrap();
    send_metrics(&service, 20).await;
    // The dead-letter exporter changes; the sink and its pipeline's batches stay. Nothing holds
    // the old dead-letter exporter's input once the pipeline is rebuilt, so it ends well before
    // a deadline this long.
    let two = with_dead_letters("{ verbosity: basic }");
    tokio::time::timeout(
        Duration::from_secs(30),
        service.reload(&two, &health, Duration::from_secs(600)),
    )
    .await
    .expect("the reload ended before the deadline was near")
    .unwrap();
    send_metrics(&service, 20).await;
    service.shutdown(Duration::from_secs(5)).await;
    let now = ledger.snapshot();
    assert_eq!(now.exited(Exit::Delivered), 40);
    assert_eq!(now.exited(Exit::DeadLettered), 40);
    assert_adds_up(now);
}
