//! The exporter task: encodes each batch, hands it to librdkafka, and counts what the delivery
//! reports say. In-flight bytes are bounded, so a slow broker slows the pipeline instead of
//! growing memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::DeliveryFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::delivery::{self, DeliveryError};
use super::encode::{Encoder, OutRecord};
use super::fallback::FallbackFile;
use super::first_send::{future_record, kib_of, send_while_room};
use super::{readiness, KafkaExporterConfig, KafkaExporterError};
use crate::config::ComponentId;
use crate::pipeline::batch::{Batch, DeadLetter, DeadLetterRoute, DeadLetters, Payload, Signal};
use crate::pipeline::exporter_input::{Intake, Outcomes};
use crate::pipeline::receipt::Receipts;
use crate::telemetry::{names, Health};

/// Encoded bytes (in KiB) handed to librdkafka and not yet acknowledged.
pub(super) const MAX_IN_FLIGHT_KIB: u32 = 64 * 1024;
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);

pub struct KafkaExporter {
    shared: Arc<Shared>,
    in_flight_kib: Arc<Semaphore>,
    stop_watching: CancellationToken,
}

/// What the exporter task and its delivery tasks share.
struct Shared {
    id: String,
    producer: super::Producer,
    encoder: Encoder,
    fallback: FallbackFile,
    retry: super::RetryConfig,
    /// False with `acks=0`: then no delivery report carries an offset.
    offsets_expected: bool,
    /// Its records are dead letters: counted by the exporter, not again by the ledger.
    writes_dead_letters: bool,
    outcomes: Outcomes,
    retry_log: RetryLog,
}

/// When a broker goes away, every record in flight fails at once: one warning per interval
/// says how many were produced again, instead of one line per record.
#[derive(Default)]
struct RetryLog {
    since_last: AtomicUsize,
    last: std::sync::Mutex<Option<Instant>>,
}

impl RetryLog {
    const INTERVAL: Duration = Duration::from_secs(5);

    fn note(&self, exporter: &str, topic: &str, attempt: u32, error: &DeliveryError) {
        let retries = self.since_last.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < Self::INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        self.since_last.store(0, Ordering::Relaxed);
        tracing::warn!(exporter, topic, attempt, retries, error = %error, "delivery failed; producing records again (retries counts those since the last warning)");
    }
}

impl KafkaExporter {
    /// Creating the producer does not connect: a broker that is down at start-up makes the
    /// exporter unready, not the agent fail.
    pub fn start(
        config: &KafkaExporterConfig,
        id: &ComponentId,
        health: Health,
        deadline_passed: CancellationToken,
        outcomes: Outcomes,
    ) -> Result<KafkaExporter, KafkaExporterError> {
        let producer: super::Producer = config
            .client_config()
            .create_with_context(super::QuietContext)
            .map_err(KafkaExporterError::Create)?;
        if !config.acks_expected() {
            tracing::warn!(exporter = %id, "acks=0: Kafka confirms nothing, so every record counts as delivered when sent (ack: on_delivery, disk queues and Kafka receiver commits included)");
        }
        let stop_watching = deadline_passed.child_token();
        readiness::watch(
            producer.clone(),
            id.to_string(),
            config.brokers.join(","),
            health,
            stop_watching.clone(),
        );
        let fallback_path = config.dead_letter_file_for(id);
        Ok(KafkaExporter {
            shared: Arc::new(Shared {
                id: id.to_string(),
                producer,
                encoder: Encoder::new(config, &id.to_string()),
                fallback: FallbackFile::new(fallback_path),
                retry: config.retry_on_failure,
                offsets_expected: config.acks_expected(),
                writes_dead_letters: config.writes_dead_letters(),
                retry_log: RetryLog::default(),
                outcomes,
            }),
            in_flight_kib: Arc::new(Semaphore::new(MAX_IN_FLIGHT_KIB as usize)),
            stop_watching,
        })
    }

    /// Until the input closes and Kafka acknowledged everything, or the deadline passes (the
    /// harness then counts what is left as undrained).
    pub async fn run(self, mut input: Intake) {
        let deadline_passed = input.deadline_passed().clone();
        while let Some(batch) = input.next().await {
            if !self.produce(batch, &deadline_passed).await {
                return;
            }
        }
        if !deadline_passed.is_cancelled() {
            self.await_deliveries(&deadline_passed).await;
        }
    }

    /// False when the shutdown deadline passed before librdkafka took the batch.
    async fn produce(&self, mut batch: Batch, deadline_passed: &CancellationToken) -> bool {
        let shared = &self.shared;
        let route = batch.context.dead_letter.clone();
        // Each record holds a share; the batch's own shares are done once all are handed over.
        let receipts = std::mem::take(&mut batch.context.receipts);
        let seed = batch.context.id_seed;
        // Encoding a large batch, and librdkafka copying its records in, take milliseconds: off
        // the runtime's workers, so that the receivers keep answering meanwhile (with one core
        // there may be one worker only).
        let encoding = Arc::clone(shared);
        let in_flight_kib = Arc::clone(&self.in_flight_kib);
        let deadline = deadline_passed.clone();
        let (planned, sent) = tokio::task::spawn_blocking(move || {
            let mut planned =
                crate::pipeline::ids::with_ids_from(seed, || encoding.encoder.plan(batch));
            let records = std::mem::take(&mut planned.records);
            let sent = send_while_room(&encoding.producer, &in_flight_kib, &deadline, records);
            (planned, sent)
        })
        .await
        .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()));
        let letters_kept = planned.dead_letters.is_empty()
            || shared
                .dead_letter(route.as_ref(), planned.dead_letters)
                .await;
        let start_delivery = |record: OutRecord, permit, sent| {
            tokio::spawn(deliver(
                shared.clone(),
                record,
                receipts.clone(),
                route.clone(),
                permit,
                sent,
            ));
        };
        for (record, permit, delivery) in sent.sent {
            start_delivery(record, permit, Some(delivery));
        }
        for record in sent.unsent {
            let kib = kib_of(&record);
            let permit = tokio::select! {
                biased;
                _ = deadline_passed.cancelled() => return false,
                permit = self.in_flight_kib.clone().acquire_many_owned(kib) => permit.expect("never closed"),
            };
            start_delivery(record, permit, None);
        }
        if letters_kept {
            receipts.settle();
        }
        true
    }

    async fn await_deliveries(&self, deadline_passed: &CancellationToken) {
        let shared = &self.shared;
        tokio::select! {
            biased;
            _ = deadline_passed.cancelled() => {
                tracing::warn!(exporter = %shared.id, "shutdown deadline passed before Kafka acknowledged everything");
            }
            all = self.in_flight_kib.acquire_many(MAX_IN_FLIGHT_KIB) => {
                drop(all);
                tracing::info!(exporter = %shared.id, "every record is acknowledged by Kafka");
            }
        }
    }
}

impl Drop for KafkaExporter {
    /// However the task ends (a panic included), the readiness watcher stops with it.
    fn drop(&mut self) {
        self.stop_watching.cancel();
    }
}

impl Shared {
    /// To the batch's pipeline's dead-letter exporters; to the fallback file when there is no
    /// route or this exporter is itself the dead letter.
    /// True when the letters are in someone's hands (a dead-letter exporter or the file).
    async fn dead_letter(&self, route: Option<&DeadLetterRoute>, letters: Vec<DeadLetter>) -> bool {
        // Items, not letters: a refused record may hold a whole resource group.
        let items: u64 = letters
            .iter()
            .map(|l| l.item.item_count().max(1) as u64)
            .sum();
        let counted = || {
            self.outcomes
                .dead_lettered(items as usize, self.writes_dead_letters)
        };
        if let Some(route) = route {
            let signal = letters.first().map_or(Signal::Traces, |l| l.item.signal());
            let batch = Batch::new(
                Payload::DeadLetters(DeadLetters {
                    signal,
                    letters: letters.clone(),
                }),
                self.id.clone().into(),
            );
            if route.send(batch).await.is_ok() {
                counted();
                return true;
            }
        }
        // A blocking write, but rare: let the runtime move its other tasks off this thread.
        match tokio::task::block_in_place(|| self.fallback.write(&letters)) {
            Ok(()) => {
                counted();
                tracing::warn!(exporter = %self.id, items, file = %self.fallback.path().display(), "dead letters written to the fallback file");
                true
            }
            Err(e) => {
                self.outcomes
                    .failed(items as usize, self.writes_dead_letters);
                tracing::error!(exporter = %self.id, items, file = %self.fallback.path().display(), error = %e, "dead letters lost: the fallback file cannot be written");
                false
            }
        }
    }
}

/// Produces `out` until Kafka takes it or the retries run out; `sent` is the first attempt's
/// delivery when the record was already handed over.
async fn deliver(
    shared: Arc<Shared>,
    out: OutRecord,
    receipts: Receipts,
    route: Option<DeadLetterRoute>,
    permit: OwnedSemaphorePermit,
    mut sent: Option<DeliveryFuture>,
) {
    let started = Instant::now();
    let headers = out.owned_headers();
    let mut attempt = 0;
    let failure = loop {
        let mut record = future_record(&out, headers.clone());
        let delivery = loop {
            if let Some(delivery) = sent.take() {
                break Ok(delivery);
            }
            match shared.producer.send_result(record) {
                Ok(delivery) => break Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((e, _)) => break Err(e),
            }
        };
        let outcome = match delivery {
            Ok(delivery) => delivery::outcome(delivery.await, shared.offsets_expected),
            Err(e) => Err(DeliveryError::Kafka(e)),
        };
        match outcome {
            Ok(_) => break None,
            Err(e) if e.is_permanent() => break Some(e),
            Err(e) => {
                attempt += 1;
                let backoff = shared
                    .retry
                    .backoff(attempt, crate::pipeline::ids::unit_random());
                if started.elapsed() + backoff > shared.retry.max_elapsed_time {
                    break Some(e);
                }
                shared.retry_log.note(&shared.id, &out.topic, attempt, &e);
                tokio::time::sleep(backoff).await;
            }
        }
    };
    match failure {
        None => {
            shared.outcomes.sent(out.items, shared.writes_dead_letters);
            metrics::histogram!(names::KAFKA_DELIVERY_SECONDS, "exporter" => shared.id.clone())
                .record(started.elapsed().as_secs_f64());
            receipts.settle();
        }
        Some(e) => {
            tracing::error!(exporter = %shared.id, topic = %out.topic, items = out.items, retries = attempt, error = %e, "Kafka did not accept a record; it goes to the dead letter");
            let error_type = e.error_type();
            let pipeline = route
                .as_ref()
                .map(|r| r.pipeline().to_string())
                .unwrap_or_default();
            let letters = if out.encoding == super::Encoding::DlqJson {
                // A dead letter that failed: keep the DLQ message itself.
                vec![undeliverable_dead_letter(
                    &out,
                    &shared.id,
                    e.to_string(),
                    attempt,
                )]
            } else {
                vec![out.into_dead_letter(
                    &shared.id,
                    &pipeline,
                    e.to_string(),
                    error_type,
                    attempt,
                )]
            };
            // A DLQ record never goes back to a DLQ: that could loop.
            let route = route.filter(|_| letters[0].error_type != "DeadLetterDeliveryError");
            if shared.dead_letter(route.as_ref(), letters).await {
                receipts.settle();
            }
        }
    }
    drop(permit);
}

fn undeliverable_dead_letter(
    out: &OutRecord,
    exporter: &str,
    error: String,
    retries: u32,
) -> DeadLetter {
    DeadLetter {
        original_value: Some(String::from_utf8_lossy(&out.value).into_owned()),
        retry_count: retries,
        ..DeadLetter::new(
            Payload::empty(out.signal),
            format!(
                "the dead letter itself could not be delivered to {}: {error}",
                out.topic
            ),
            "DeadLetterDeliveryError",
            exporter,
            "",
        )
    }
}
