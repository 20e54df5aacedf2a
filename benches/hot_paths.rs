//! Micro-benchmarks of the hot paths: OTLP decode (with its well-formedness check), topic and
//! key templates, and the Kafka exporter's encodings.
//!
//! `cargo bench --bench hot_paths` (add `-- --sample-count 20` for a shorter run, or a name to
//! filter: `-- encode`). Every benchmark counts items: spans, data points or log records (for
//! template parsing, templates).
//!
//! The data follows the OpenTelemetry benchmark shape the load generator sends: 100 items per
//! request, each with 10 attributes whose keys and values are 20 characters long.
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tributary::exporters::kafka::{Encoder, KafkaExporterConfig};
use tributary::exporters::template::Template;
use tributary::pipeline::admission::Received;
use tributary::pipeline::attributes::key_value;
use tributary::pipeline::batch::{Batch, Payload, Signal};
use tributary::receivers::otlp::{check_wellformed, decode, Encoding};

fn main() {
    divan::main();
}

/// Items in one OTLP request, as the load generator sends them.
const REQUEST_ITEMS: usize = 100;
/// Items in one batch reaching the exporter: the batch processor's default send_batch_size.
const BATCH_ITEMS: usize = 8192;
const NOW: u64 = 1_750_000_000_000_000_000;

// ---------------------------------------------------------------------------------------------
// Data

/// `kind` then `i`, zero-padded to 20 characters: `key00000000000000003`.
fn text(i: usize, kind: &str) -> String {
    format!("{kind}{i:0>width$}", width = 20 - kind.len())
}

/// The 10 attributes of item `i`.
fn attributes(i: usize) -> Vec<KeyValue> {
    (0..10)
        .map(|a| key_value(&text(a, "key"), &text(i * 10 + a, "value")))
        .collect()
}

fn resource(seed: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            key_value("service.name", "loadgen"),
            key_value("service.instance.id", &format!("loadgen-{seed}")),
            key_value("db.system", "postgresql"),
            key_value("deployment.environment", "production"),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "tributary-loadgen".into(),
        ..Default::default()
    })
}

fn traces(seed: usize, spans: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(seed),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: [(seed as u64).to_be_bytes(), (i as u64).to_be_bytes()].concat(),
                        span_id: ((seed as u64) << 32 | i as u64)
                            .max(1)
                            .to_be_bytes()
                            .to_vec(),
                        name: format!("operation-{}", i % 16),
                        kind: 2,
                        start_time_unix_nano: NOW,
                        end_time_unix_nano: NOW + 1_000_000,
                        attributes: attributes(i),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(seed: usize, records: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(seed),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: (0..records)
                    .map(|i| LogRecord {
                        time_unix_nano: NOW + i as u64,
                        observed_time_unix_nano: NOW + i as u64,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!(
                                "checkpoint complete: wrote {i} buffers"
                            ))),
                        }),
                        attributes: attributes(i),
                        trace_id: [(seed as u64).to_be_bytes(), (i as u64).to_be_bytes()].concat(),
                        span_id: ((seed as u64) << 32 | i as u64)
                            .max(1)
                            .to_be_bytes()
                            .to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `points` data points in metrics of 10 points each, gauges (doubles) and cumulative sums
/// (integers) in turn.
fn metrics(seed: usize, points: usize) -> ExportMetricsServiceRequest {
    let metrics = (0..points.div_ceil(10))
        .map(|m| {
            let data_points: Vec<NumberDataPoint> = (m * 10..points.min(m * 10 + 10))
                .map(|i| NumberDataPoint {
                    attributes: attributes(i),
                    start_time_unix_nano: NOW - 60_000_000_000,
                    time_unix_nano: NOW,
                    value: Some(if m % 2 == 0 {
                        number_data_point::Value::AsDouble(i as f64 * 0.5)
                    } else {
                        number_data_point::Value::AsInt(i as i64)
                    }),
                    ..Default::default()
                })
                .collect();
            let data = if m % 2 == 0 {
                metric::Data::Gauge(Gauge { data_points })
            } else {
                metric::Data::Sum(Sum {
                    data_points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })
            };
            Metric {
                name: format!("db.metric.{m:0>5}"),
                unit: "1".into(),
                data: Some(data),
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(seed),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A request of `items` items of `signal`.
fn request(signal: Signal, seed: usize, items: usize) -> Payload {
    match signal {
        Signal::Traces => Payload::Traces(traces(seed, items)),
        Signal::Metrics => Payload::Metrics(metrics(seed, items)),
        Signal::Logs => Payload::Logs(logs(seed, items)),
    }
}

/// What the batch processor hands the exporter: `BATCH_ITEMS` items from requests of
/// `REQUEST_ITEMS`, one resource group per request.
fn batch_payload(signal: Signal) -> Payload {
    let mut payload = Payload::empty(signal);
    for (seed, start) in (0..BATCH_ITEMS).step_by(REQUEST_ITEMS).enumerate() {
        let items = REQUEST_ITEMS.min(BATCH_ITEMS - start);
        payload
            .append(request(signal, seed, items))
            .expect("same signal");
    }
    assert_eq!(payload.item_count(), BATCH_ITEMS);
    payload
}

fn body(signal: Signal, encoding: Encoding) -> Vec<u8> {
    let payload = request(signal, 1, REQUEST_ITEMS);
    assert_eq!(payload.item_count(), REQUEST_ITEMS);
    match encoding {
        Encoding::Protobuf => payload.encode_protobuf(),
        Encoding::Json => payload.to_otlp_json().expect("not dead letters"),
    }
}

// ---------------------------------------------------------------------------------------------
// OTLP decode: bytes to a checked payload, as the HTTP and gRPC receivers run it.

#[divan::bench_group]
mod otlp_decode {
    use super::*;

    fn run(bencher: Bencher, signal: Signal, encoding: Encoding) {
        let body = body(signal, encoding);
        let decoded = decode(signal, encoding, &body).expect("decodes");
        assert_eq!(decoded.item_count(), REQUEST_ITEMS);
        bencher
            .counter(ItemsCount::new(REQUEST_ITEMS))
            .bench(|| decode(signal, encoding, black_box(&body)));
    }

    #[divan::bench]
    fn traces_protobuf(bencher: Bencher) {
        run(bencher, Signal::Traces, Encoding::Protobuf);
    }

    #[divan::bench]
    fn traces_json(bencher: Bencher) {
        run(bencher, Signal::Traces, Encoding::Json);
    }

    #[divan::bench]
    fn logs_protobuf(bencher: Bencher) {
        run(bencher, Signal::Logs, Encoding::Protobuf);
    }

    #[divan::bench]
    fn logs_json(bencher: Bencher) {
        run(bencher, Signal::Logs, Encoding::Json);
    }

    #[divan::bench]
    fn metrics_protobuf(bencher: Bencher) {
        run(bencher, Signal::Metrics, Encoding::Protobuf);
    }

    #[divan::bench]
    fn metrics_json(bencher: Bencher) {
        run(bencher, Signal::Metrics, Encoding::Json);
    }
}

// ---------------------------------------------------------------------------------------------
// The protobuf walk that answers for `decode` without building the request, on the same bodies.

#[divan::bench_group]
mod otlp_wire_check {
    use super::*;
    use tributary::receivers::otlp::wire_check::well_formed_items;

    fn run(bencher: Bencher, signal: Signal) {
        let body = body(signal, Encoding::Protobuf);
        assert_eq!(well_formed_items(signal, &body), Some(REQUEST_ITEMS));
        bencher
            .counter(ItemsCount::new(REQUEST_ITEMS))
            .bench(|| well_formed_items(signal, black_box(&body)));
    }

    #[divan::bench]
    fn traces(bencher: Bencher) {
        run(bencher, Signal::Traces);
    }

    #[divan::bench]
    fn logs(bencher: Bencher) {
        run(bencher, Signal::Logs);
    }

    #[divan::bench]
    fn metrics(bencher: Bencher) {
        run(bencher, Signal::Metrics);
    }
}

// ---------------------------------------------------------------------------------------------
// The well-formedness check alone (`decode` above includes it).

// Fixed sample sizes here: divan's own tuning can settle on one iteration a sample after a cold
// first sample, which leaves sub-microsecond timings at the timer's precision.
#[divan::bench_group(sample_size = 64)]
mod otlp_wellformed {
    use super::*;

    fn run(bencher: Bencher, signal: Signal) {
        let payload = request(signal, 1, REQUEST_ITEMS);
        check_wellformed(&payload).expect("well-formed");
        bencher
            .counter(ItemsCount::new(REQUEST_ITEMS))
            .bench(|| check_wellformed(black_box(&payload)));
    }

    #[divan::bench]
    fn traces(bencher: Bencher) {
        run(bencher, Signal::Traces);
    }

    #[divan::bench]
    fn logs(bencher: Bencher) {
        run(bencher, Signal::Logs);
    }

    #[divan::bench]
    fn metrics(bencher: Bencher) {
        run(bencher, Signal::Metrics);
    }
}

// ---------------------------------------------------------------------------------------------
// Templates: parsing (once per config, counted per template) and rendering (per resource group,
// or per item when the template reads item attributes; counted per rendered item).

const LITERAL_TOPIC: &str = "gds.traces.all.production";
const PLACEHOLDER_TOPIC: &str =
    "gds.${signal}.${resource:db.system}.${resource:deployment.environment:-dev}";
/// Reads the last of the item's 10 attributes: the longest lookup.
const ITEM_KEY: &str = "${resource:service.instance.id}:${attribute:key00000000000000009}";

#[divan::bench_group(sample_size = 64)]
mod template {
    use super::*;

    fn parse(bencher: Bencher, text: &str) {
        bencher
            .counter(ItemsCount::new(1usize))
            .bench(|| Template::parse(black_box(text)));
    }

    #[divan::bench(sample_size = 1024)]
    fn parse_literal(bencher: Bencher) {
        parse(bencher, LITERAL_TOPIC);
    }

    #[divan::bench(sample_size = 1024)]
    fn parse_placeholders(bencher: Bencher) {
        parse(bencher, PLACEHOLDER_TOPIC);
    }

    /// Renders `text` for each span of a request, with its resource's and its own attributes.
    fn render(bencher: Bencher, text: &str, clean: Option<fn(&str) -> String>) {
        let template = Template::parse(text).expect("parses");
        let request = traces(1, REQUEST_ITEMS);
        let group = &request.resource_spans[0];
        let resource = &group.resource.as_ref().expect("resource").attributes;
        let spans = &group.scope_spans[0].spans;
        for span in spans {
            template
                .render(Signal::Traces, resource, &span.attributes)
                .expect("renders");
        }
        bencher.counter(ItemsCount::new(spans.len())).bench(|| {
            for span in black_box(spans) {
                let rendered = match clean {
                    None => template.render(Signal::Traces, resource, &span.attributes),
                    Some(clean) => {
                        template.render_values(Signal::Traces, resource, &span.attributes, clean)
                    }
                };
                black_box(rendered.ok());
            }
        });
    }

    #[divan::bench]
    fn render_literal(bencher: Bencher) {
        render(bencher, LITERAL_TOPIC, None);
    }

    #[divan::bench]
    fn render_placeholders(bencher: Bencher) {
        render(bencher, PLACEHOLDER_TOPIC, None);
    }

    #[divan::bench]
    fn render_item_attribute(bencher: Bencher) {
        render(bencher, ITEM_KEY, None);
    }

    /// `render_values` with a cleaning function, as for file paths.
    #[divan::bench]
    fn render_values_placeholders(bencher: Bencher) {
        render(
            bencher,
            PLACEHOLDER_TOPIC,
            Some(|value: &str| value.replace(['/', '\\'], "_")),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Kafka encodings: `Encoder::plan` on a batch of 8192 items, from the batch to records ready
// for the producer (topic and key rendered, values encoded, oversized records split).

#[divan::bench_group(sample_size = 1)]
mod kafka_encode {
    use super::*;

    fn run(bencher: Bencher, signal: Signal, encoding: &str, topic: &str, key: Option<&str>) {
        let key = key.map_or(String::new(), |k| format!(", key: {k:?}"));
        let yaml =
            format!("{{ brokers: [127.0.0.1:9092], topic: {topic:?}{key}, encoding: {encoding} }}");
        let config: KafkaExporterConfig = serde_saphyr::from_str(&yaml).expect("parses");
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        let batch = Batch::new(batch_payload(signal), "otlp".into());
        plan(bencher, &config, batch);
    }

    fn plan(bencher: Bencher, config: &KafkaExporterConfig, batch: Batch) {
        let encoder = Encoder::new(config, "kafka");
        let planned = encoder.plan(batch.clone());
        assert!(planned.dead_letters.is_empty(), "no dead letters expected");
        assert_eq!(
            planned.records.iter().map(|r| r.items).sum::<usize>(),
            BATCH_ITEMS
        );
        bencher
            .counter(ItemsCount::new(BATCH_ITEMS))
            .with_inputs(|| batch.clone())
            .bench_local_values(|batch| encoder.plan(batch));
    }

    /// `otlp_proto` from the bytes the requests arrived in, as the receivers hand them over
    /// when no processor changes them: records are cut from those bytes, not encoded again.
    /// `walked`: the receiver only walked the bytes, and no item was ever decoded.
    fn received(bencher: Bencher, signal: Signal, walked: bool) {
        let yaml = format!("{{ brokers: [127.0.0.1:9092], topic: {PLACEHOLDER_TOPIC:?} }}");
        let config: KafkaExporterConfig = serde_saphyr::from_str(&yaml).expect("parses");
        let mut batch = Batch::new(Payload::empty(signal), "otlp".into());
        for (seed, start) in (0..BATCH_ITEMS).step_by(REQUEST_ITEMS).enumerate() {
            let payload = request(signal, seed, REQUEST_ITEMS.min(BATCH_ITEMS - start));
            let one = Batch::received(Received::protobuf(payload, walked), "otlp".into());
            batch.append(one).expect("same signal");
        }
        assert!(batch.encoded().is_some());
        plan(bencher, &config, batch);
    }

    #[divan::bench]
    fn traces_otlp_proto_received(bencher: Bencher) {
        received(bencher, Signal::Traces, false);
    }

    #[divan::bench]
    fn traces_otlp_proto_walked(bencher: Bencher) {
        received(bencher, Signal::Traces, true);
    }

    #[divan::bench]
    fn logs_otlp_proto_received(bencher: Bencher) {
        received(bencher, Signal::Logs, false);
    }

    #[divan::bench]
    fn metrics_otlp_proto_received(bencher: Bencher) {
        received(bencher, Signal::Metrics, false);
    }

    #[divan::bench]
    fn traces_otlp_proto(bencher: Bencher) {
        run(bencher, Signal::Traces, "otlp_proto", LITERAL_TOPIC, None);
    }

    #[divan::bench]
    fn traces_otlp_json(bencher: Bencher) {
        run(bencher, Signal::Traces, "otlp_json", LITERAL_TOPIC, None);
    }

    #[divan::bench]
    fn logs_otlp_proto(bencher: Bencher) {
        run(bencher, Signal::Logs, "otlp_proto", PLACEHOLDER_TOPIC, None);
    }

    #[divan::bench]
    fn logs_otlp_json(bencher: Bencher) {
        run(bencher, Signal::Logs, "otlp_json", PLACEHOLDER_TOPIC, None);
    }

    /// A key from an item attribute: one unit per item, consecutive ones merged when their
    /// topic and key agree. Here the value differs from item to item: one record per item.
    #[divan::bench]
    fn logs_otlp_proto_item_key(bencher: Bencher) {
        run(
            bencher,
            Signal::Logs,
            "otlp_proto",
            PLACEHOLDER_TOPIC,
            Some(ITEM_KEY),
        );
    }

    #[divan::bench]
    fn logs_gds_json(bencher: Bencher) {
        run(bencher, Signal::Logs, "gds_json", PLACEHOLDER_TOPIC, None);
    }

    #[divan::bench]
    fn metrics_otlp_proto(bencher: Bencher) {
        run(
            bencher,
            Signal::Metrics,
            "otlp_proto",
            PLACEHOLDER_TOPIC,
            None,
        );
    }

    #[divan::bench]
    fn metrics_otlp_json(bencher: Bencher) {
        run(
            bencher,
            Signal::Metrics,
            "otlp_json",
            PLACEHOLDER_TOPIC,
            None,
        );
    }

    #[divan::bench]
    fn metrics_gds_json(bencher: Bencher) {
        run(
            bencher,
            Signal::Metrics,
            "gds_json",
            PLACEHOLDER_TOPIC,
            None,
        );
    }
}
