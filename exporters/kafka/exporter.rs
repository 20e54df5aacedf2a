//! The exporter task: encodes each batch, hands it to librdkafka, and counts what the delivery
//! reports say. In-flight bytes are bounded, so a slow broker slows the pipeline instead of
//! growing memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::encode::{encode, OutRecord};
use super::{readiness, KafkaExporterConfig, KafkaExporterError};
use crate::config::ComponentId;
use crate::pipeline::batch::Batch;
use crate::telemetry::{names, Health};

/// Encoded bytes (in KiB) handed to librdkafka and not yet acknowledged.
const MAX_IN_FLIGHT_KIB: u32 = 64 * 1024;
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);

pub struct KafkaExporter {
    id: String,
    topic: String,
    producer: super::Producer,
    in_flight_kib: Arc<Semaphore>,
    in_flight_items: Arc<AtomicUsize>,
    stop_watching: CancellationToken,
}

impl KafkaExporter {
    /// Creating the producer does not connect: a broker that is down at start-up makes the
    /// exporter unready, not the agent fail.
    pub fn start(
        config: &KafkaExporterConfig,
        id: &ComponentId,
        health: Health,
        deadline_passed: CancellationToken,
    ) -> Result<KafkaExporter, KafkaExporterError> {
        let producer: super::Producer = config
            .client_config()
            .create_with_context(super::QuietContext)
            .map_err(KafkaExporterError::Create)?;
        let stop_watching = deadline_passed.child_token();
        readiness::watch(
            producer.clone(),
            id.to_string(),
            config.brokers.join(","),
            health,
            stop_watching.clone(),
        );
        Ok(KafkaExporter {
            id: id.to_string(),
            topic: config.topic.clone(),
            producer,
            in_flight_kib: Arc::new(Semaphore::new(MAX_IN_FLIGHT_KIB as usize)),
            in_flight_items: Arc::new(AtomicUsize::new(0)),
            stop_watching,
        })
    }

    pub async fn run(self, mut input: mpsc::Receiver<Batch>, deadline_passed: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                _ = deadline_passed.cancelled() => break,
                received = input.recv() => match received {
                    Some(batch) => {
                        if !self.produce(batch, &deadline_passed).await {
                            break;
                        }
                    }
                    None => {
                        self.await_deliveries(&deadline_passed).await;
                        self.stop_watching.cancel();
                        return;
                    }
                },
            }
        }
        self.give_up(input);
    }

    /// False when the shutdown deadline passed before librdkafka took the batch.
    async fn produce(&self, batch: Batch, deadline_passed: &CancellationToken) -> bool {
        metrics::counter!(names::EXPORTER_RECEIVED, "exporter" => self.id.clone())
            .increment(batch.items() as u64);
        let mut records = encode(batch).into_iter();
        while let Some(record) = records.next() {
            if !self.produce_record(record, deadline_passed).await {
                self.count_undrained(records.map(|r| r.items).sum());
                return false;
            }
        }
        true
    }

    async fn produce_record(&self, out: OutRecord, deadline_passed: &CancellationToken) -> bool {
        let items = out.items;
        let kib = u32::try_from(out.value.len() / 1024 + 1)
            .unwrap_or(u32::MAX)
            .min(MAX_IN_FLIGHT_KIB);
        let permit = tokio::select! {
            biased;
            _ = deadline_passed.cancelled() => {
                self.count_undrained(items);
                return false;
            }
            permit = self.in_flight_kib.clone().acquire_many_owned(kib) => permit.expect("never closed"),
        };
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .payload(&out.value)
            .headers(out.headers);
        if let Some(key) = &out.key {
            record = record.key(key);
        }
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight_items.fetch_add(items, Ordering::Relaxed);
                    tokio::spawn(track_delivery(
                        delivery,
                        items,
                        self.id.clone(),
                        self.in_flight_items.clone(),
                        permit,
                    ));
                    return true;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    tokio::select! {
                        biased;
                        _ = deadline_passed.cancelled() => {
                            self.count_undrained(items);
                            return false;
                        }
                        _ = tokio::time::sleep(QUEUE_FULL_BACKOFF) => {}
                    }
                }
                Err((e, _)) => {
                    metrics::counter!(names::EXPORTER_FAILED, "exporter" => self.id.clone())
                        .increment(items as u64);
                    tracing::error!(exporter = %self.id, topic = %self.topic, items, error = %e, "Kafka refused the record");
                    return true;
                }
            }
        }
    }

    async fn await_deliveries(&self, deadline_passed: &CancellationToken) {
        tokio::select! {
            biased;
            _ = deadline_passed.cancelled() => {
                let items = self.in_flight_items.load(Ordering::Relaxed);
                self.count_undrained(items);
                tracing::warn!(exporter = %self.id, items, "shutdown deadline passed before Kafka acknowledged everything");
            }
            all = self.in_flight_kib.acquire_many(MAX_IN_FLIGHT_KIB) => {
                drop(all);
                tracing::info!(exporter = %self.id, "every record is acknowledged by Kafka");
            }
        }
    }

    fn give_up(&self, mut input: mpsc::Receiver<Batch>) {
        self.stop_watching.cancel();
        input.close();
        let mut items = self.in_flight_items.load(Ordering::Relaxed);
        while let Ok(batch) = input.try_recv() {
            items += batch.items();
        }
        self.count_undrained(items);
        if items > 0 {
            tracing::warn!(exporter = %self.id, items, "shutdown deadline passed with items not delivered");
        }
    }

    fn count_undrained(&self, items: usize) {
        metrics::counter!(names::EXPORTER_UNDRAINED, "exporter" => self.id.clone())
            .increment(items as u64);
    }
}

async fn track_delivery(
    delivery: DeliveryFuture,
    items: usize,
    exporter: String,
    in_flight_items: Arc<AtomicUsize>,
    permit: OwnedSemaphorePermit,
) {
    let started = Instant::now();
    let outcome = delivery.await;
    in_flight_items.fetch_sub(items, Ordering::Relaxed);
    drop(permit);
    match outcome {
        Ok(Ok(_)) => {
            metrics::counter!(names::EXPORTER_SENT, "exporter" => exporter.clone())
                .increment(items as u64);
            metrics::histogram!(names::KAFKA_DELIVERY_SECONDS, "exporter" => exporter)
                .record(started.elapsed().as_secs_f64());
        }
        Ok(Err((e, _))) => {
            metrics::counter!(names::EXPORTER_FAILED, "exporter" => exporter.clone())
                .increment(items as u64);
            tracing::error!(%exporter, items, error = %e, "Kafka did not accept a record");
        }
        Err(_) => {
            metrics::counter!(names::EXPORTER_FAILED, "exporter" => exporter.clone())
                .increment(items as u64);
            tracing::error!(%exporter, items, "the producer dropped a record without a delivery report");
        }
    }
}
