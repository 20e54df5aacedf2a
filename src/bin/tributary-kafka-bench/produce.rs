//! The produce-only ceiling: the records the Kafka exporter would write for the same load (one
//! protobuf `ExportTraceServiceRequest` of `items` spans a record, with its headers), produced
//! by librdkafka with the exporter's producer defaults as fast as the producer takes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};
use tributary::exporters::kafka::PRODUCER_DEFAULTS;
use tributary::pipeline::batch::Signal;
use tributary::workload::{self, Stamped};

#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[derive(serde::Serialize)]
pub struct Produced {
    seconds: f64,
    records: u64,
    failed_records: u64,
    items: u64,
    items_per_second: f64,
}

pub fn produce(
    brokers: &str,
    topic: &str,
    items_per_record: usize,
    duration: Duration,
    overrides: &[(String, String)],
) -> Result<Produced, String> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in PRODUCER_DEFAULTS {
        config.set(*key, *value);
    }
    for (key, value) in overrides {
        config.set(key, value);
    }
    let producer: BaseProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .map_err(|e| format!("a Kafka producer for {brokers}: {e}"))?;
    let mut bodies: Vec<Stamped> = (1..=16)
        .map(|seed| {
            Stamped::new(workload::request(Signal::Traces, seed, items_per_record))
                .expect("stamp placeholders")
        })
        .collect();
    let started = Instant::now();
    let mut sequence = 0u64;
    while started.elapsed() < duration {
        sequence += 1;
        let slot = sequence as usize % bodies.len();
        let body = bodies[slot].stamp(sequence);
        let record_id = format!("{sequence:032x}");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "content-type",
                value: Some("application/x-protobuf"),
            })
            .insert(Header {
                key: "schema.version",
                value: Some("otlp/1"),
            })
            .insert(Header {
                key: "record.id",
                value: Some(record_id.as_str()),
            })
            .insert(Header {
                key: "signal",
                value: Some("traces"),
            });
        let mut record = BaseRecord::<str, [u8]>::to(topic)
            .payload(body)
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(format!("producing to {topic}: {e}")),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("flushing to {topic}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let records = producer.context().delivered.load(Ordering::Relaxed);
    let items = records * items_per_record as u64;
    Ok(Produced {
        seconds,
        records,
        failed_records: producer.context().failed.load(Ordering::Relaxed),
        items,
        items_per_second: items as f64 / seconds,
    })
}
