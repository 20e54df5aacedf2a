use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::ComponentId;
use crate::pipeline::admission::Received;
use crate::pipeline::batch::{Payload, Signal};

fn spans(n: usize) -> Batch {
    let payload = Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); n],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    Batch::new(payload, "otlp".into())
}

struct Harness {
    input: mpsc::Sender<Batch>,
    output: mpsc::Receiver<Batch>,
    deadline_passed: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(send_batch_size: usize, timeout: Duration) -> Harness {
    start_with_output_capacity(send_batch_size, timeout, 16)
}

fn start_with_output_capacity(
    send_batch_size: usize,
    timeout: Duration,
    output_capacity: usize,
) -> Harness {
    let config = BatchConfig {
        send_batch_size,
        timeout,
        ..Default::default()
    };
    start_with(config, output_capacity)
}

fn start_with(config: BatchConfig, output_capacity: usize) -> Harness {
    let (input, input_rx) = mpsc::channel(16);
    let (output_tx, output) = mpsc::channel(output_capacity);
    let deadline_passed = CancellationToken::new();
    let context = StageContext {
        id: ComponentId::parse("batch").unwrap(),
        pipeline: "traces".into(),
        signal: Signal::Traces,
        deadline_passed: deadline_passed.clone(),

        ledger: crate::pipeline::ledger::Ledger::shared_default(),
    };
    let processor = BatchProcessor::new(config, context);
    let task = tokio::spawn(async move {
        let input = crate::pipeline::stage_input::SharedInput::new(input_rx)
            .take()
            .await;
        processor.run(input, Fanout::new(vec![output_tx])).await
    });
    Harness {
        input,
        output,
        deadline_passed,
        task,
    }
}

#[tokio::test(start_paused = true)]
async fn flushes_as_soon_as_the_size_is_reached() {
    let mut h = start(5, Duration::from_secs(3600));
    for _ in 0..3 {
        h.input.send(spans(2)).await.unwrap();
    }
    let mut batch = h.output.recv().await.unwrap();
    assert_eq!(batch.items(), 6);
    assert_eq!(batch.payload().item_count(), 6);
    assert!(h.output.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn flushes_a_partial_batch_after_the_timeout() {
    let mut h = start(100, Duration::from_millis(200));
    h.input.send(spans(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(h.output.try_recv().is_err(), "not before the timeout");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.output.try_recv().unwrap().items(), 1);
}

#[tokio::test(start_paused = true)]
async fn flushes_what_it_holds_when_its_input_closes() {
    let mut h = start(100, Duration::from_secs(3600));
    h.input.send(spans(3)).await.unwrap();
    h.input.send(spans(4)).await.unwrap();
    drop(h.input);
    h.task.await.unwrap();
    assert_eq!(h.output.recv().await.unwrap().items(), 7);
    assert!(h.output.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn gives_up_when_the_deadline_passes_and_the_next_stage_is_stuck() {
    let h = start_with_output_capacity(1, Duration::from_secs(1), 1);
    for _ in 0..3 {
        h.input.send(spans(1)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!h.task.is_finished(), "blocked on the full next stage");
    h.deadline_passed.cancel();
    tokio::time::timeout(Duration::from_secs(1), h.task)
        .await
        .expect("stops once the deadline passed")
        .unwrap();
    drop(h.output);
}

#[test]
fn validation_names_each_bad_field() {
    let errors = BatchConfig {
        send_batch_size: 0,
        timeout: Duration::ZERO,
        ..Default::default()
    }
    .validate();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["send_batch_size", "timeout"]);
}

fn spans_of(instance: &str, n: usize) -> Batch {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let mut batch = spans(n);
    let Payload::Traces(request) = batch.payload_mut() else {
        unreachable!()
    };
    request.resource_spans[0].resource = Some(Resource {
        attributes: vec![KeyValue {
            key: "service.instance.id".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(instance.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    });
    batch
}

#[tokio::test(start_paused = true)]
async fn inputs_larger_than_the_maximum_are_split() {
    let mut h = start_with(
        BatchConfig {
            send_batch_size: 4,
            send_batch_max_size: 5,
            timeout: Duration::from_secs(3600),
            ..Default::default()
        },
        16,
    );
    h.input.send(spans(12)).await.unwrap();
    drop(h.input);
    h.task.await.unwrap();
    let mut sizes = Vec::new();
    while let Ok(mut batch) = h.output.try_recv() {
        assert_eq!(batch.items(), batch.payload().item_count());
        sizes.push(batch.items());
    }
    assert_eq!(sizes.iter().sum::<usize>(), 12);
    assert!(sizes.iter().all(|s| *s <= 5), "{sizes:?}");
}

#[tokio::test(start_paused = true)]
async fn batch_by_keeps_one_instance_per_batch() {
    let mut h = start_with(
        BatchConfig {
            send_batch_size: 3,
            timeout: Duration::from_secs(3600),
            batch_by: vec!["resource:service.instance.id".into()],
            ..Default::default()
        },
        16,
    );
    for _ in 0..3 {
        h.input.send(spans_of("db-1", 1)).await.unwrap();
        h.input.send(spans_of("db-2", 1)).await.unwrap();
    }
    let first = h.output.recv().await.unwrap();
    let second = h.output.recv().await.unwrap();
    for mut batch in [first, second] {
        let Payload::Traces(request) = batch.payload() else {
            unreachable!()
        };
        let instances: std::collections::BTreeSet<_> = request
            .resource_spans
            .iter()
            .map(|r| format!("{:?}", r.resource))
            .collect();
        assert_eq!(instances.len(), 1);
        assert_eq!(batch.items(), 3);
    }
    drop(h.deadline_passed);
}

fn received(batch: Batch, walked: bool) -> Batch {
    let source = batch.context.source.clone();
    Batch::received(Received::protobuf(batch.into_payload(), walked), source)
}

fn span_count(payload: &Payload) -> usize {
    let Payload::Traces(request) = payload else {
        unreachable!()
    };
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[tokio::test(start_paused = true)]
async fn received_bytes_go_along_while_every_request_in_the_batch_has_them() {
    let mut h = start(6, Duration::from_secs(3600));
    for walked in [false, true, false] {
        h.input.send(received(spans(2), walked)).await.unwrap();
    }
    let mut batch = h.output.recv().await.unwrap();
    let encoded = batch.encoded().expect("kept").clone();
    assert_eq!(encoded.len(), 3);
    assert_eq!(encoded.request(), batch.payload().encode_protobuf());
    assert_eq!(span_count(batch.payload()), 6);

    h.input.send(received(spans(2), false)).await.unwrap();
    h.input.send(spans(2)).await.unwrap();
    h.input.send(received(spans(2), true)).await.unwrap();
    let mut batch = h.output.recv().await.unwrap();
    assert_eq!(batch.items(), 6);
    assert!(batch.encoded().is_none(), "one request came without them");
    assert_eq!(
        span_count(batch.payload()),
        6,
        "the walked request was decoded"
    );
}

#[tokio::test(start_paused = true)]
async fn walked_requests_stay_undecoded_through_the_batch() {
    let mut h = start(4, Duration::from_secs(3600));
    for _ in 0..2 {
        h.input.send(received(spans(2), true)).await.unwrap();
    }
    let mut batch = h.output.recv().await.unwrap();
    assert_eq!(batch.items(), 4);
    assert_eq!(
        span_count(batch.resources()),
        0,
        "nothing decoded the spans"
    );
    assert_eq!(batch.encoded().map(|e| e.item_count()), Some(4));
    assert_eq!(span_count(batch.payload()), 4);
}

#[tokio::test]
async fn what_a_panicked_batch_processor_held_counts_as_failed() {
    crate::telemetry::test_metrics::install();
    let config = BatchConfig {
        send_batch_size: 100,
        timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let context = StageContext {
        id: ComponentId::parse("batch/panics").unwrap(),
        pipeline: "traces".into(),
        signal: Signal::Traces,
        deadline_passed: CancellationToken::new(),

        ledger: crate::pipeline::ledger::Ledger::shared_default(),
    };
    let (input, input_rx) = mpsc::channel(4);
    let processor = BatchProcessor::new(config, context);
    let task = tokio::spawn(async move {
        let mut input = crate::pipeline::stage_input::SharedInput::new(input_rx)
            .take()
            .await;
        let mut processor = processor;
        let batch = input.recv().await.expect("a batch");
        assert!(
            processor.add(batch).is_empty(),
            "pending, below the batch size"
        );
        panic!("on demand");
    });
    input.send(spans(7)).await.unwrap();
    assert!(task.await.unwrap_err().is_panic());
    let failed = crate::telemetry::test_metrics::counter_with(
        names::PROCESSOR_ITEMS,
        &[("processor", "batch/panics"), ("outcome", "failed")],
    );
    assert_eq!(failed, 7);
}
