//! The consuming task: reads, decodes, hands each record to the pipelines with a receipt, and
//! commits what the receipts say is done. Rebalances commit finished work before partitions go.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, Statistics, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::decode::{decode, Consumed};
use super::dedupe::Dedupe;
use super::offsets::Offsets;
use super::{KafkaReceiverConfig, KafkaReceiverError, StartAt};
use crate::config::ComponentId;
use crate::exporters::kafka::QuietContext;
use crate::pipeline::admission::{Admission, Refusal};
use crate::pipeline::batch::{Batch, DeadLetter, DeadLetters, Payload, Signal};
use crate::pipeline::dead_letter::{nanos_from_rfc3339, text_or_base64, KafkaCoordinates};
use crate::pipeline::ledger::Exit;
use crate::pipeline::receipt::{AckLevel, Receipt, Receipts};
use crate::pipeline::Routes;
use crate::telemetry::names;

const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// A full pipeline is tried again this often; librdkafka's own prefetch (bounded by
/// `queued.max.messages.kbytes`) rides out short waits.
const FULL_BACKOFF: Duration = Duration::from_millis(5);
/// Full for longer than this, the partitions are paused: no more is fetched until there is room.
const PAUSE_AFTER: Duration = Duration::from_millis(500);
/// At shutdown, how long records already handed over may take to be delivered and committed.
const SETTLE_AT_STOP: Duration = Duration::from_secs(3);

/// A receipt's fate against the admission's: a loss reported before the admission returned
/// must still lead to a replay.
const PENDING: u8 = 0;
const ADMITTED: u8 = 1;
const LOST: u8 = 2;

pub const DUPLICATES: &str = "tributary_receiver_kafka_duplicates_total";
/// Ids forgotten before their window ended, because `dedupe.max_entries` were remembered.
pub const DEDUPE_EVICTED: &str = "tributary_receiver_kafka_dedupe_evicted_total";
pub const UNDECODABLE: &str = "tributary_receiver_kafka_undecodable_total";
pub const LAG: &str = "tributary_receiver_kafka_consumer_lag";
pub const ASSIGNED: &str = "tributary_receiver_kafka_assigned_partitions";

/// What the task and the consumer's callbacks share.
struct Shared {
    receiver: String,
    offsets: Mutex<Offsets>,
    /// Records a pipeline lost: their partitions are read again from there.
    replay: Mutex<Vec<(String, i32, i64)>>,
    start_at: StartAt,
}

pub struct Context {
    shared: Arc<Shared>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        QuietContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        QuietContext.error(error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        for (topic, found) in &statistics.topics {
            for (partition, stats) in &found.partitions {
                if *partition < 0 || stats.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(LAG, "receiver" => self.shared.receiver.clone(), "topic" => topic.clone(), "partition" => partition.to_string())
                    .set(stats.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.position(consumer, partitions);
                tracing::info!(receiver = %self.shared.receiver, partitions = partitions.count(), "partitions assigned");
                if cooperative {
                    consumer.incremental_assign(partitions)
                } else {
                    consumer.assign(partitions)
                }
            }
            _ => {
                // Finished work is committed before the partitions go; unfinished work is
                // abandoned uncommitted, for the next owner to read again.
                commit(consumer, &self.shared, CommitMode::Sync);
                let mut offsets = lock(&self.shared.offsets);
                let mut replay = lock(&self.shared.replay);
                for element in partitions.elements() {
                    let (topic, partition) = (element.topic(), element.partition());
                    offsets.abandon(topic, partition);
                    // The next owner reads from the committed offset, which a hold kept at or
                    // before the record to read again; this member no longer seeks there.
                    offsets.release(topic, partition);
                    replay.retain(|(t, p, _)| (t.as_str(), *p) != (topic, partition));
                }
                drop((replay, offsets));
                tracing::info!(receiver = %self.shared.receiver, partitions = partitions.count(), "partitions revoked");
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(receiver = %self.shared.receiver, error = %e, "rebalance failed");
        }
        let assigned = consumer.assignment().map_or(0, |a| a.count());
        metrics::gauge!(ASSIGNED, "receiver" => self.shared.receiver.clone()).set(assigned as f64);
    }
}

impl Context {
    /// Applies a `start_at` time, as `auto.offset.reset` applies `earliest` and `latest`: only
    /// to partitions where the group has no committed offset. A restart, a rebalance or a
    /// reload never moves a partition the group has read back to it.
    fn position(&self, consumer: &BaseConsumer<Self>, partitions: &mut TopicPartitionList) {
        if !matches!(self.shared.start_at, StartAt::Timestamp(_)) || partitions.count() == 0 {
            return;
        }
        let committed = match consumer
            .committed_offsets(partitions.clone(), Duration::from_secs(10))
        {
            Ok(committed) => committed,
            Err(e) => {
                // Unknown: moving a partition the group has read could re-read or skip it.
                tracing::error!(receiver = %self.shared.receiver, error = %e, "cannot read the group's committed offsets; start_at is not applied");
                return;
            }
        };
        let fresh: Vec<(String, i32)> = committed
            .elements()
            .iter()
            .filter(|e| !matches!(e.offset(), Offset::Offset(_)))
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let offset = match &self.shared.start_at {
            StartAt::Timestamp(time) => {
                let millis = nanos_from_rfc3339(time).unwrap_or_default() / 1_000_000;
                Offset::Offset(millis as i64)
            }
            // `auto.offset.reset` does these (see `client_config`).
            StartAt::Committed | StartAt::Earliest | StartAt::Latest => return,
        };
        let mut wanted = TopicPartitionList::new();
        for (topic, partition) in &fresh {
            let _ = wanted.add_partition_offset(topic, *partition, offset);
        }
        if matches!(self.shared.start_at, StartAt::Timestamp(_)) && wanted.count() > 0 {
            match consumer.offsets_for_times(wanted.clone(), Duration::from_secs(10)) {
                Ok(found) => wanted = found,
                Err(e) => {
                    tracing::error!(receiver = %self.shared.receiver, error = %e, "cannot find the offsets for start_at; starting at the committed offsets");
                    return;
                }
            }
        }
        for element in wanted.elements() {
            let _ = partitions.set_partition_offset(
                element.topic(),
                element.partition(),
                element.offset(),
            );
        }
    }
}

pub struct KafkaReceiver {
    id: String,
    consumer_id: String,
    config: KafkaReceiverConfig,
    consumer: StreamConsumer<Context>,
    admission: Admission,
    routes: Routes,
    shared: Arc<Shared>,
    dedupe: Option<Arc<Mutex<Dedupe>>>,
    /// Resuming partitions that were never paused makes librdkafka fetch again.
    paused: bool,
}

impl KafkaReceiver {
    pub fn new(
        config: &KafkaReceiverConfig,
        id: &ComponentId,
        routes: Routes,
    ) -> Result<KafkaReceiver, KafkaReceiverError> {
        let shared = Arc::new(Shared {
            receiver: id.to_string(),
            offsets: Mutex::new(Offsets::default()),
            replay: Mutex::new(Vec::new()),
            start_at: config.start_at.clone(),
        });
        let consumer: StreamConsumer<Context> = config
            .client_config()
            .create_with_context(Context {
                shared: shared.clone(),
            })
            .map_err(KafkaReceiverError::Create)?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|source| KafkaReceiverError::Subscribe {
                topics: config.topics.clone(),
                source,
            })?;
        Ok(KafkaReceiver {
            id: id.to_string(),
            consumer_id: format!("{}/{id}@{}", config.group_id, std::process::id()),
            config: config.clone(),
            consumer,
            admission: Admission::new(id.to_string().into(), "kafka", routes.clone()),
            routes,
            shared,
            dedupe: config
                .dedupe
                .as_ref()
                .map(|d| Arc::new(Mutex::new(Dedupe::new(d.window, d.max_entries)))),
            paused: false,
        })
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(receiver = %self.id, topics = ?self.config.topics, group = %self.config.group_id, "consuming");
        let mut tick = tokio::time::interval(COMMIT_INTERVAL);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.replay_lost();
                    commit(&self.consumer, &self.shared, CommitMode::Async);
                }
                message = self.consumer.recv() => match message {
                    Ok(message) => {
                        let consumed = owned(&message);
                        drop(message);
                        if !self.handle(consumed, &shutdown).await {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(receiver = %self.id, error = %e, "consuming failed"),
                },
            }
        }
        // What was handed over gets a moment to be delivered, so that its offsets are committed
        // now rather than read again at the next start.
        let until = Instant::now() + SETTLE_AT_STOP;
        while lock(&self.shared.offsets).in_flight() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        commit(&self.consumer, &self.shared, CommitMode::Sync);
        tracing::info!(receiver = %self.id, "stopped consuming");
    }

    /// False when the pipelines are gone (shutting down).
    async fn handle(&mut self, record: Consumed, shutdown: &CancellationToken) -> bool {
        let result = self.hand_over(record, shutdown).await;
        // Paused for a full pipeline: whatever became of this record, fetching goes on.
        self.resume();
        result
    }

    /// False when the pipelines are gone (shutting down).
    async fn hand_over(&mut self, record: Consumed, shutdown: &CancellationToken) -> bool {
        let (topic, partition, offset) = (record.topic.clone(), record.partition, record.offset);
        let (generation, first_read) =
            lock(&self.shared.offsets).started(&topic, partition, offset);
        let finish =
            |shared: &Shared| lock(&shared.offsets).finished(&topic, partition, offset, generation);
        if let Some((index, key)) = record.unreadable_header() {
            let (shown, _) = text_or_base64(key);
            let problem = Problem {
                error: format!(
                    "expected UTF-8 header keys, found header {index} with a key of {} bytes that is not UTF-8 (base64 {shown})",
                    key.len()
                ),
                error_type: "UnreadableRecord",
                field: Some(format!("headers[{index}].key")),
                value: Some(key.to_vec()),
            };
            if self.poison(&record, None, problem).await {
                finish(&self.shared);
            }
            return true;
        }
        let record_id = record.header("record.id").map(str::to_string);
        if let (Some(dedupe), Some(id)) = (&self.dedupe, &record_id) {
            let mut dedupe = lock(dedupe);
            let now = Instant::now();
            if first_read && dedupe.seen(id, now) {
                metrics::counter!(DUPLICATES, "receiver" => self.id.clone()).increment(1);
                self.routes.ledger().received(1);
                self.routes.ledger().exited(Exit::Dropped, 1);
                finish(&self.shared);
                return true;
            }
            let forgotten = dedupe.remember(id.clone(), now);
            if forgotten > 0 {
                metrics::counter!(DEDUPE_EVICTED, "receiver" => self.id.clone())
                    .increment(forgotten as u64);
            }
        }
        let payload = match decode(&record, self.config.encoding) {
            Ok(payload) => payload,
            Err(undecodable) => {
                metrics::counter!(UNDECODABLE, "receiver" => self.id.clone()).increment(1);
                let problem = Problem {
                    error: undecodable.error,
                    error_type: "DecodingError",
                    field: None,
                    value: None,
                };
                if self.poison(&record, undecodable.signal, problem).await {
                    finish(&self.shared);
                }
                return true;
            }
        };
        let signal = payload.signal();
        let mut full_since: Option<Instant> = None;
        loop {
            let state = Arc::new(AtomicU8::new(PENDING));
            let receipt = {
                let (shared, topic, state) = (self.shared.clone(), topic.clone(), state.clone());
                Receipt::new(AckLevel::Delivered, move |delivered| {
                    if delivered {
                        lock(&shared.offsets).finished(&topic, partition, offset, generation);
                    } else if state.swap(LOST, Ordering::AcqRel) == ADMITTED {
                        lock(&shared.replay).push((topic, partition, offset));
                    }
                })
            };
            match self
                .admission
                .admit_with(payload.clone(), Receipts::one(receipt))
            {
                Ok(_) => {
                    if state.swap(ADMITTED, Ordering::AcqRel) == LOST {
                        lock(&self.shared.replay).push((topic.clone(), partition, offset));
                    }
                    return true;
                }
                Err(Refusal::Full | Refusal::MemoryLimit) => {
                    // The pipeline is full: after a while, stop fetching instead of buffering.
                    if full_since.get_or_insert_with(Instant::now).elapsed() > PAUSE_AFTER {
                        self.pause();
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(FULL_BACKOFF) => {}
                    }
                }
                Err(Refusal::Closed) => return false,
                Err(refusal @ (Refusal::Invalid(_) | Refusal::NoPipeline(_))) => {
                    let problem = Problem {
                        error: refusal.to_string(),
                        error_type: "ValidationError",
                        field: None,
                        value: None,
                    };
                    if self.dead_letter(&record, Some(signal), problem).await {
                        finish(&self.shared);
                    }
                    return true;
                }
                Err(Refusal::NotAcknowledged(_)) => unreachable!("admit_with does not wait"),
            }
        }
    }

    /// A record this receiver cannot read: counted, and dead-lettered so that the records
    /// after it are read on (it would stop the partition at every start otherwise).
    async fn poison(&self, record: &Consumed, signal: Option<Signal>, problem: Problem) -> bool {
        metrics::counter!(names::RECEIVER_KAFKA_POISON_RECORDS, "receiver" => self.id.clone())
            .increment(1);
        tracing::warn!(receiver = %self.id, topic = %record.topic, partition = record.partition, offset = record.offset, error = %problem.error, "a record cannot be read; it goes to the dead letter");
        self.dead_letter(record, signal, problem).await
    }

    /// The record, as it was in Kafka, to the dead letter of the pipelines of its signal.
    async fn dead_letter(
        &self,
        record: &Consumed,
        signal: Option<Signal>,
        problem: Problem,
    ) -> bool {
        let Problem {
            error,
            error_type,
            field,
            value,
        } = problem;
        self.routes.ledger().received(1);
        let routes = self.routes.load();
        let entries = match signal {
            Some(signal) => routes.get(signal).unwrap_or_default(),
            None => Signal::ALL
                .iter()
                .find_map(|s| routes.get(*s))
                .unwrap_or_default(),
        };
        let entry = entries.iter().find(|e| !e.dead_letter.is_empty());
        let Some(entry) = entry else {
            self.routes.ledger().exited(Exit::Failed, 1);
            tracing::error!(receiver = %self.id, topic = %record.topic, partition = record.partition, offset = record.offset, error, "a record cannot be used and no pipeline has a dead letter; it is skipped");
            return true;
        };
        let signal = signal.unwrap_or(Signal::Logs);
        // Bytes go into the letter whole: as text when they are UTF-8, else as base64.
        let mut base64_fields = Vec::new();
        let mut shown = |bytes: &[u8], field: &'static str| {
            let (text, base64) = text_or_base64(bytes);
            if base64 {
                base64_fields.push(field);
            }
            text
        };
        let key = record.key.as_deref().map(|k| shown(k, "original_key"));
        let original_value = Some(shown(&record.value, "original_value"));
        let value = value.map(|v| shown(&v, "value"));
        let letter = DeadLetter {
            original: Some(KafkaCoordinates {
                topic: record.topic.clone(),
                partition: Some(record.partition),
                offset: Some(record.offset),
                key,
            }),
            original_value,
            field,
            value,
            base64_fields,
            consumer_id: Some(self.consumer_id.clone()),
            ..DeadLetter::new(
                Payload::empty(signal),
                error,
                error_type,
                self.id.clone(),
                entry.pipeline.clone(),
            )
        };
        let batch = Batch::new(
            Payload::DeadLetters(DeadLetters {
                signal,
                letters: vec![letter],
            }),
            self.id.clone().into(),
        );
        if entry.dead_letter.send(batch).await.is_ok() {
            self.routes.ledger().exited(Exit::DeadLettered, 1);
            true
        } else {
            // Shutting down: not committed, so it is read again at the next start.
            self.routes.ledger().exited(Exit::Undrained, 1);
            false
        }
    }

    fn pause(&mut self) {
        if self.paused {
            return;
        }
        if let Ok(assignment) = self.consumer.assignment() {
            self.paused = self.consumer.pause(&assignment).is_ok();
        }
    }

    fn resume(&mut self) {
        if !self.paused {
            return;
        }
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.resume(&assignment);
        }
        self.paused = false;
    }

    /// Partitions where a pipeline lost a record are read again from it.
    fn replay_lost(&self) {
        replay_lost(&self.shared, |topic, partition, offset| {
            self.consumer.seek(
                topic,
                partition,
                Offset::Offset(offset),
                Duration::from_secs(5),
            )
        });
    }
}

/// Seeks each partition where a pipeline lost a record back to it. A seek that fails is tried
/// again at the next tick, and until one succeeds the partition's commit point is held at the
/// record: the records read past it meanwhile must not commit it away.
fn replay_lost(shared: &Shared, mut seek: impl FnMut(&str, i32, i64) -> Result<(), KafkaError>) {
    let lost = std::mem::take(&mut *lock(&shared.replay));
    let mut earliest: std::collections::HashMap<(String, i32), i64> = Default::default();
    for (topic, partition, offset) in lost {
        let entry = earliest.entry((topic, partition)).or_insert(offset);
        *entry = (*entry).min(offset);
    }
    for ((topic, partition), lost) in earliest {
        // Records before the lost one that are still on their way go again too: once the
        // partition is abandoned, nothing would hold the commit point before them.
        let mut offsets = lock(&shared.offsets);
        let offset = offsets
            .earliest_unfinished(&topic, partition)
            .map_or(lost, |unfinished| unfinished.min(lost));
        offsets.abandon(&topic, partition);
        offsets.hold(&topic, partition, offset);
        drop(offsets);
        tracing::warn!(receiver = %shared.receiver, topic, partition, offset, "a record was not delivered; reading its partition again from it");
        match seek(&topic, partition, offset) {
            Ok(()) => lock(&shared.offsets).release(&topic, partition),
            Err(e) => {
                tracing::error!(receiver = %shared.receiver, topic, partition, offset, error = %e, "cannot seek back to a record that was not delivered; trying again in a moment, and committing nothing past it meanwhile");
                lock(&shared.replay).push((topic, partition, offset));
            }
        }
    }
}

fn commit<C: ConsumerContext>(consumer: &impl Consumer<C>, shared: &Shared, mode: CommitMode) {
    let commits = lock(&shared.offsets).take_commits();
    if commits.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in &commits {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    if let Err(e) = consumer.commit(&list, mode) {
        tracing::warn!(receiver = %shared.receiver, error = %e, "cannot commit offsets; they are committed with the next ones");
    }
}

/// Why a record goes to the dead letter, for the letter's `error`, `error_type`, `field` and
/// `value` (the raw bytes at fault, if any).
struct Problem {
    error: String,
    error_type: &'static str,
    field: Option<String>,
    value: Option<Vec<u8>>,
}

fn owned(message: &BorrowedMessage<'_>) -> Consumed {
    Consumed {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().unwrap_or_default().to_vec(),
        headers: raw_headers(message),
    }
}

/// The record's headers as bytes. rdkafka's `Headers` accessors panic on a key that is not
/// UTF-8, and such a record, read again after every restart, would stop the receiver for good;
/// so the keys are read through librdkafka itself and judged later (`unreadable_header`).
fn raw_headers(message: &BorrowedMessage<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    use rdkafka::bindings::{rd_kafka_header_get_all, rd_kafka_message_headers};
    let ok = RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR;
    let mut headers = std::ptr::null_mut();
    // SAFETY: `message` is a live librdkafka message for the whole function; the headers
    // belong to it, and every name and value is copied out before the borrow ends. librdkafka
    // gives names NUL-terminated and values with their size (or null for a null value).
    unsafe {
        if rd_kafka_message_headers(message.ptr(), &mut headers) != ok || headers.is_null() {
            return Vec::new();
        }
        let mut found = Vec::new();
        for index in 0.. {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
            if rd_kafka_header_get_all(headers, index, &mut name, &mut value, &mut size) != ok {
                break;
            }
            let key = if name.is_null() {
                Vec::new()
            } else {
                std::ffi::CStr::from_ptr(name).to_bytes().to_vec()
            };
            let value = if value.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(value.cast::<u8>(), size).to_vec()
            };
            found.push((key, value));
        }
        found
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            receiver: "kafka".into(),
            offsets: Mutex::new(Offsets::default()),
            replay: Mutex::new(Vec::new()),
            start_at: StartAt::Committed,
        }
    }

    #[test]
    fn a_failed_seek_back_is_tried_again_and_holds_the_commit_point_until_it_succeeds() {
        let shared = shared();
        let generation = lock(&shared.offsets).started("t", 0, 7).0;
        lock(&shared.replay).push(("t".into(), 0, 7));
        let mut sought = Vec::new();
        replay_lost(&shared, |topic, partition, offset| {
            sought.push((topic.to_string(), partition, offset));
            Err(KafkaError::Seek("broker away".into()))
        });
        assert_eq!(sought, vec![("t".to_string(), 0, 7)]);
        assert_eq!(
            *lock(&shared.replay),
            vec![("t".to_string(), 0, 7)],
            "to be tried again"
        );
        // Reading goes on past it meanwhile; those records must not commit it away.
        let after = lock(&shared.offsets).started("t", 0, 8).0;
        assert_ne!(after, generation);
        lock(&shared.offsets).finished("t", 0, 8, after);
        assert_eq!(
            lock(&shared.offsets).take_commits(),
            vec![("t".to_string(), 0, 7)]
        );

        let mut sought = Vec::new();
        replay_lost(&shared, |topic, partition, offset| {
            sought.push((topic.to_string(), partition, offset));
            Ok(())
        });
        assert_eq!(sought, vec![("t".to_string(), 0, 7)]);
        assert!(
            lock(&shared.replay).is_empty(),
            "done once the seek succeeded"
        );
        let again = lock(&shared.offsets).started("t", 0, 7).0;
        lock(&shared.offsets).finished("t", 0, 7, again);
        assert_eq!(
            lock(&shared.offsets).take_commits(),
            vec![("t".to_string(), 0, 8)]
        );
    }
}
