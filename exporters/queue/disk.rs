//! The disk queue task: writes each batch to the segment log, hands batches to the exporter
//! in order (straight from memory while it keeps up, from disk once it falls behind or after a
//! restart), and deletes a segment once the exporter settled every record in it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::lock::DirectoryLock;
use super::segment::{self, Next};
use super::{FsyncPolicy, QueueError, SendingQueueConfig};
use crate::config::ComponentId;
use crate::pipeline::batch::{Batch, DeadLetterRoute};
use crate::pipeline::exporter_input::{Intake, Outcomes};
use crate::pipeline::receipt::{AckLevel, Receipt, Receipts};
use crate::telemetry::names;

/// Batches kept in memory after writing, so that an exporter that keeps up never reads disk.
const CACHED_BATCHES: usize = 128;
const TICK: Duration = Duration::from_millis(200);
/// A record the exporter could not settle is offered again after this long.
const REDELIVERY_DELAY: Duration = Duration::from_secs(1);
const WATERMARK_FILE: &str = "acked";
/// While writes keep failing, the error is logged again this often (each is counted).
const WRITE_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(30);
/// How long a queue waits for this process's previous instance on its directory to close (a
/// reload, or a start that failed and is rolled back), and how often it looks.
const PREVIOUS_INSTANCE_WAIT: Duration = Duration::from_secs(10);
const PREVIOUS_INSTANCE_POLL: Duration = Duration::from_millis(50);

struct Segment {
    first_seq: u64,
    /// One past the last record's sequence number.
    end_seq: u64,
    bytes: u64,
    /// Records not yet settled, by sequence number: their items and where each starts.
    records: BTreeMap<u64, (u64, u64)>,
}

pub struct DiskQueue {
    exporter: String,
    directory: PathBuf,
    config: SendingQueueConfig,
    segments: VecDeque<Segment>,
    writer: File,
    next_seq: u64,
    total_bytes: u64,
    /// The next record to hand over.
    read_seq: u64,
    reader: Option<(u64, File)>,
    cache: VecDeque<(u64, Batch)>,
    /// Handed over and not yet settled, with where each record starts.
    outstanding: BTreeMap<u64, (u64, u64)>,
    redeliver: VecDeque<(Instant, u64)>,
    /// Every record below it is settled.
    watermark: u64,
    persisted_watermark: u64,
    waiting: HashMap<u64, Receipts>,
    routes: HashMap<String, DeadLetterRoute>,
    unsynced: bool,
    acks: mpsc::UnboundedSender<(u64, bool)>,
    /// This directory's own random number: with a record's sequence number, its id seed.
    nonce: u64,
    write_failing_since: Option<Instant>,
    /// `segment::MAX_RECORD_BODY`, smaller in tests.
    max_record_body: u32,
    /// Cancelled once the input closed: the queue then hands over what it holds and stops when
    /// all of it is settled.
    input_closed: CancellationToken,
    /// Held while the queue is open; dropped with it.
    _lock: DirectoryLock,
    /// Shared with the exporter behind the queue: one incarnation's.
    outcomes: Outcomes,
}

impl DiskQueue {
    /// `open`, after waiting for an instance of this process that still holds the directory
    /// to close; another agent's lock fails at once.
    pub async fn open_when_free(
        config: &SendingQueueConfig,
        id: &ComponentId,
        outcomes: Outcomes,
    ) -> Result<(DiskQueue, mpsc::UnboundedReceiver<(u64, bool)>), QueueError> {
        let deadline = Instant::now() + PREVIOUS_INSTANCE_WAIT;
        loop {
            match DiskQueue::open(config, id, outcomes.clone()) {
                Err(QueueError::HeldHere { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(PREVIOUS_INSTANCE_POLL).await;
                }
                opened => return opened,
            }
        }
    }

    /// Opens the directory and recovers what an earlier run left in it.
    pub fn open(
        config: &SendingQueueConfig,
        id: &ComponentId,
        outcomes: Outcomes,
    ) -> Result<(DiskQueue, mpsc::UnboundedReceiver<(u64, bool)>), QueueError> {
        let directory = config.directory_for(id);
        let dir_error = |source| QueueError::Directory {
            path: directory.clone(),
            source,
        };
        if !directory.exists() {
            warn_of_the_old_default(config, id, &directory);
        }
        std::fs::create_dir_all(&directory).map_err(dir_error)?;
        let lock = DirectoryLock::acquire(&directory)?;
        let watermark = std::fs::read_to_string(directory.join(WATERMARK_FILE))
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut paths: Vec<(u64, PathBuf)> = std::fs::read_dir(&directory)
            .map_err(dir_error)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter_map(|path| segment::segment_first_seq(&path).map(|seq| (seq, path)))
            .collect();
        paths.sort();
        let exporter = id.to_string();
        let mut segments = VecDeque::new();
        let (mut recovered_items, mut next_seq) = (0u64, watermark);
        for (first_seq, path) in paths {
            let recover_error = |source| QueueError::Recover {
                path: path.clone(),
                source,
            };
            let scanned = segment::scan(&path).map_err(recover_error)?;
            if scanned.torn {
                metrics::counter!(names::QUEUE_TORN_RECORDS, "exporter" => exporter.clone())
                    .increment(1);
                tracing::warn!(exporter, segment = %path.display(), kept_bytes = scanned.valid_len, "a torn record ends this queue segment; it is cut off (it was never acknowledged to anyone as queued)");
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(scanned.valid_len))
                    .map_err(recover_error)?;
            }
            let starts = std::iter::once(0).chain(scanned.records.iter().map(|&(_, _, end)| end));
            let records: BTreeMap<u64, (u64, u64)> = scanned
                .records
                .iter()
                .zip(starts)
                .filter(|((seq, _, _), _)| *seq >= watermark)
                .map(|(&(seq, items, _), start)| (seq, (items, start)))
                .collect();
            let end_seq = scanned
                .records
                .last()
                .map_or(first_seq, |&(seq, _, _)| seq + 1);
            if records.is_empty() && end_seq <= watermark {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            recovered_items += records.values().map(|(items, _)| items).sum::<u64>();
            next_seq = next_seq.max(end_seq);
            segments.push_back(Segment {
                first_seq,
                end_seq,
                bytes: scanned.valid_len,
                records,
            });
        }
        outcomes.received_again(recovered_items as usize);
        outcomes.ledger().on_disk(recovered_items as i64);
        if recovered_items > 0 {
            metrics::counter!(names::QUEUE_RECOVERED, "exporter" => exporter.clone())
                .increment(recovered_items);
            tracing::info!(exporter, items = recovered_items, directory = %directory.display(), "the disk queue holds items from an earlier run; they are delivered first");
        }
        let writer = match segments.back() {
            Some(last) => OpenOptions::new()
                .append(true)
                .open(segment::segment_path(&directory, last.first_seq)),
            None => {
                segments.push_back(Segment {
                    first_seq: next_seq,
                    end_seq: next_seq,
                    bytes: 0,
                    records: BTreeMap::new(),
                });
                create_segment(&directory, next_seq)
            }
        }
        .map_err(dir_error)?;
        let read_seq = segments
            .iter()
            .find_map(|s| s.records.keys().next().copied())
            .unwrap_or(next_seq);
        let nonce = directory_nonce(&directory).map_err(dir_error)?;
        let (acks, acked) = mpsc::unbounded_channel();
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        let queue = DiskQueue {
            exporter,
            directory,
            config: config.clone(),
            segments,
            writer,
            next_seq,
            total_bytes,
            read_seq,
            reader: None,
            cache: VecDeque::new(),
            outstanding: BTreeMap::new(),
            redeliver: VecDeque::new(),
            watermark: read_seq,
            persisted_watermark: watermark,
            waiting: HashMap::new(),
            routes: HashMap::new(),
            unsynced: false,
            acks,
            nonce,
            write_failing_since: None,
            max_record_body: segment::MAX_RECORD_BODY,
            input_closed: CancellationToken::new(),
            _lock: lock,
            outcomes,
        };
        queue.update_gauges();
        Ok((queue, acked))
    }

    /// Cancelled once the queue's input closed. An exporter that settles batches only at a
    /// moment of its own choosing (the parquet exporter, when a file is complete) watches it:
    /// the queue stops only once everything it handed over is settled.
    pub fn input_closed(&self) -> CancellationToken {
        self.input_closed.clone()
    }

    pub async fn run(
        mut self,
        mut acked: mpsc::UnboundedReceiver<(u64, bool)>,
        mut input: Intake,
        output: mpsc::Sender<Batch>,
    ) {
        let deadline_passed = input.deadline_passed().clone();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_sync = Instant::now();
        let mut held: Option<Batch> = None;
        let mut input_open = true;
        loop {
            if !input_open && held.is_none() && self.all_settled() {
                break;
            }
            let to_send = self.read_seq < self.next_seq
                || self
                    .redeliver
                    .front()
                    .is_some_and(|(at, _)| *at <= Instant::now());
            tokio::select! {
                biased;
                _ = deadline_passed.cancelled() => break,
                Some((seq, delivered)) = acked.recv() => {
                    self.settle(seq, delivered);
                    if let Some(batch) = held.take() {
                        held = self.write(batch);
                    }
                }
                permit = output.reserve(), if to_send => {
                    let Ok(permit) = permit else { break };
                    if let Some(batch) = self.next_batch() {
                        permit.send(batch);
                    }
                }
                received = input.next(), if input_open && held.is_none() => match received {
                    // Dead letters (a file or debug exporter takes both) pass straight through:
                    // the segment format holds OTLP data only.
                    Some(batch) if batch.is_dead_letters() => {
                        if output.send(batch).await.is_err() {
                            break;
                        }
                    }
                    Some(batch) => held = self.write(batch),
                    None => {
                        input_open = false;
                        self.input_closed.cancel();
                    }
                },
                _ = tick.tick() => {
                    if let Some(batch) = held.take() {
                        held = self.write(batch);
                    }
                    if self.config.fsync == FsyncPolicy::Interval
                        && last_sync.elapsed() >= self.config.fsync_interval
                    {
                        self.sync();
                        last_sync = Instant::now();
                    }
                    self.persist_watermark();
                }
            }
        }
        if self.config.fsync != FsyncPolicy::Never {
            self.sync();
        }
        self.persist_watermark();
        let left: u64 = self.queued_items();
        if left > 0 || held.is_some() {
            tracing::warn!(exporter = %self.exporter, items = left, "stopping with items in the disk queue; they are delivered at the next start");
        }
        if let Some(batch) = held {
            self.outcomes.undrained(batch.items(), false);
        }
    }

    fn all_settled(&self) -> bool {
        self.read_seq >= self.next_seq && self.outstanding.is_empty() && self.redeliver.is_empty()
    }

    /// Writes the batch; gives it back when it cannot be written now (full, or a write error).
    fn write(&mut self, mut batch: Batch) -> Option<Batch> {
        let seq = self.next_seq;
        let record = match segment::encode(seq, &batch, self.max_record_body) {
            Ok(Some(record)) => record,
            Ok(None) => unreachable!("dead letters pass the disk queue by"),
            Err(too_large) => {
                self.refuse(batch, too_large);
                return None;
            }
        };
        let len = record.len() as u64;
        if self.total_bytes + len > self.config.max_size.as_u64() {
            self.start_new_segment_if_all_settled();
            if self.total_bytes + len > self.config.max_size.as_u64() && self.total_bytes > 0 {
                return Some(batch);
            }
        }
        if let Err(e) = self.append(seq, &record) {
            metrics::counter!(names::QUEUE_WRITE_ERRORS, "exporter" => self.exporter.clone())
                .increment(1);
            let due = self
                .write_failing_since
                .is_none_or(|since| since.elapsed() >= WRITE_ERROR_LOG_INTERVAL);
            if due {
                self.write_failing_since = Some(Instant::now());
                tracing::error!(exporter = %self.exporter, directory = %self.directory.display(), error = %e, "cannot write to the disk queue; taking no more data until it can (clients are refused)");
            }
            return Some(batch);
        }
        if self.write_failing_since.take().is_some() {
            tracing::info!(exporter = %self.exporter, "the disk queue can write again");
        }
        if let Some(route) = &batch.context.dead_letter {
            // The newest route a pipeline gave: a rebuilt pipeline's replaces the old one.
            self.routes
                .insert(route.pipeline().to_string(), route.clone());
        }
        let items = batch.items() as u64;
        self.outcomes.ledger().on_disk(items as i64);
        let segment = self.segments.back_mut().expect("an active segment");
        segment.records.insert(seq, (items, segment.bytes));
        segment.bytes += len;
        segment.end_seq = seq + 1;
        self.total_bytes += len;
        self.next_seq += 1;
        let (queued, delivered) =
            std::mem::take(&mut batch.context.receipts).split_at_level(AckLevel::Queued);
        queued.settle();
        let contiguous = match self.cache.back() {
            Some((last, _)) => *last + 1 == seq,
            None => self.read_seq == seq,
        };
        if contiguous && self.cache.len() < CACHED_BATCHES {
            batch.context.receipts = delivered;
            self.cache.push_back((seq, batch));
        } else if !delivered.is_empty() {
            self.waiting.insert(seq, delivered);
        }
        self.update_gauges();
        None
    }

    /// A batch too large to be read back is not written, and not retried: it could never be.
    /// Its receipts fail, so clients waiting on them hear a refusal (a Kafka receiver reads the
    /// records again).
    fn refuse(&self, batch: Batch, too_large: segment::RecordTooLarge) {
        let items = batch.items();
        metrics::counter!(names::QUEUE_WRITE_ERRORS, "exporter" => self.exporter.clone())
            .increment(1);
        let letters = batch.is_dead_letters();
        self.outcomes.failed(items, letters);
        tracing::error!(exporter = %self.exporter, error = %too_large, "a batch is too large for the disk queue; it is refused, not written (lower the batch processor's send_batch_max_size or send_batch_max_bytes)");
        drop(batch);
    }

    #[cfg(test)]
    pub fn with_max_record_body(mut self, bytes: u32) -> DiskQueue {
        self.max_record_body = bytes;
        self
    }

    /// The active segment is never deleted; when everything in it is settled, a new one takes
    /// its place so that its bytes stop counting against `max_size`.
    fn start_new_segment_if_all_settled(&mut self) {
        let active = self.segments.back().expect("an active segment");
        if active.bytes == 0 || !active.records.is_empty() || self.read_seq < self.next_seq {
            return;
        }
        match self.rotate(self.next_seq) {
            Ok(()) => self.forget(self.next_seq),
            Err(e) => {
                tracing::warn!(exporter = %self.exporter, error = %e, "cannot start a new queue segment")
            }
        }
    }

    fn append(&mut self, seq: u64, record: &[u8]) -> std::io::Result<()> {
        let active = self.segments.back().expect("an active segment");
        if active.bytes > 0
            && active.bytes + record.len() as u64 > self.config.segment_size.as_u64()
        {
            self.rotate(seq)?;
        }
        let before = self.segments.back().expect("an active segment").bytes;
        let written = self.writer.write_all(record).and_then(|()| {
            if self.config.fsync == FsyncPolicy::EveryBatch {
                self.writer.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // No half record stays behind to be read as torn.
            let _ = self.writer.set_len(before);
            return Err(e);
        }
        self.unsynced = true;
        Ok(())
    }

    fn rotate(&mut self, first_seq: u64) -> std::io::Result<()> {
        let file = create_segment(&self.directory, first_seq)?;
        if self.config.fsync != FsyncPolicy::Never {
            let _ = self.writer.sync_data();
        }
        self.writer = file;
        self.segments.push_back(Segment {
            first_seq,
            end_seq: first_seq,
            bytes: 0,
            records: BTreeMap::new(),
        });
        Ok(())
    }

    /// The next batch for the exporter: one to deliver again, else the next in order.
    fn next_batch(&mut self) -> Option<Batch> {
        if let Some((at, seq)) = self.redeliver.front().copied() {
            if at <= Instant::now() {
                self.redeliver.pop_front();
                let at = self.outstanding.get(&seq).copied()?;
                // Counted in again: the exporter counted the first attempt out.
                let batch = self.read(seq, at)?;
                self.outcomes.received_again(batch.items());
                return Some(self.tracked(seq, batch));
            }
        }
        if self.read_seq >= self.next_seq {
            return None;
        }
        let seq = self.read_seq;
        self.read_seq += 1;
        let at = self.position(seq)?;
        let batch = match self.cache.front() {
            Some((cached, _)) if *cached == seq => self.cache.pop_front().expect("just seen").1,
            _ => {
                let mut batch = self.read(seq, at)?;
                if let Some(receipts) = self.waiting.remove(&seq) {
                    batch.context.receipts = receipts;
                }
                batch
            }
        };
        self.outstanding.insert(seq, at);
        Some(self.tracked(seq, batch))
    }

    fn position_items(&self, seq: u64) -> u64 {
        self.segments
            .iter()
            .find_map(|s| s.records.get(&seq).map(|&(items, _)| items))
            .unwrap_or(0)
    }

    /// The segment holding record `seq` and where in it the record starts.
    fn position(&self, seq: u64) -> Option<(u64, u64)> {
        self.segments
            .iter()
            .find_map(|s| s.records.get(&seq).map(|&(_, start)| (s.first_seq, start)))
    }

    fn tracked(&self, seq: u64, mut batch: Batch) -> Batch {
        batch.context.id_seed = Some(self.nonce ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let acks = self.acks.clone();
        batch.context.receipts.extend(Receipts::one(Receipt::new(
            AckLevel::Delivered,
            move |ok| {
                let _ = acks.send((seq, ok));
            },
        )));
        batch
    }

    /// Reads record `seq` at `(segment, offset)`.
    fn read(&mut self, seq: u64, (segment, offset): (u64, u64)) -> Option<Batch> {
        let result = (|| -> std::io::Result<Option<Batch>> {
            if self
                .reader
                .as_ref()
                .is_none_or(|(open, _)| *open != segment)
            {
                let file = File::open(segment::segment_path(&self.directory, segment))?;
                self.reader = Some((segment, file));
            }
            let (_, file) = self.reader.as_mut().expect("just opened");
            let len = file.metadata()?.len();
            Ok(match segment::read_at(file, offset, len)? {
                Next::Record { stored, .. } if stored.seq == seq => {
                    let mut batch = stored.batch;
                    batch.context.dead_letter = self.routes.get(&stored.pipeline).cloned();
                    Some(batch)
                }
                _ => None,
            })
        })();
        match result {
            Ok(Some(found)) => Some(found),
            Ok(None) | Err(_) => {
                tracing::error!(exporter = %self.exporter, seq, segment, offset, "a queued record cannot be read back; it is skipped");
                metrics::counter!(names::QUEUE_TORN_RECORDS, "exporter" => self.exporter.clone())
                    .increment(1);
                let items = self.position_items(seq);
                self.outcomes.failed(items as usize, false);
                self.outstanding.remove(&seq);
                // Dropped unsettled: whoever waits for these items hears they were lost.
                self.waiting.remove(&seq);
                self.forget(seq);
                None
            }
        }
    }

    fn settle(&mut self, seq: u64, delivered: bool) {
        if !delivered {
            // The exporter gave up on it (or is stopping): it stays on disk and goes again.
            self.redeliver
                .push_back((Instant::now() + REDELIVERY_DELAY, seq));
            return;
        }
        self.outstanding.remove(&seq);
        self.forget(seq);
    }

    /// Drops `seq` from its segment; deletes the segments no record of which is left.
    fn forget(&mut self, seq: u64) {
        if let Some(index) = self
            .segments
            .iter()
            .position(|s| s.records.contains_key(&seq))
        {
            if let Some((items, _)) = self.segments[index].records.remove(&seq) {
                self.outcomes.ledger().on_disk(-(items as i64));
            }
        }
        while self.segments.len() > 1 {
            let first = &self.segments[0];
            if !first.records.is_empty() || first.end_seq > self.read_seq {
                break;
            }
            let first = self.segments.pop_front().expect("more than one");
            self.total_bytes -= first.bytes;
            if self
                .reader
                .as_ref()
                .is_some_and(|(open, _)| *open == first.first_seq)
            {
                self.reader = None;
            }
            if let Err(e) =
                std::fs::remove_file(segment::segment_path(&self.directory, first.first_seq))
            {
                tracing::warn!(exporter = %self.exporter, error = %e, "cannot delete a delivered queue segment");
            }
        }
        self.watermark = self
            .segments
            .iter()
            .find_map(|s| s.records.keys().next().copied())
            .unwrap_or(self.next_seq)
            .min(self.read_seq);
        self.update_gauges();
    }

    fn persist_watermark(&mut self) {
        if self.watermark == self.persisted_watermark {
            return;
        }
        let path = self.directory.join(WATERMARK_FILE);
        let temporary = self.directory.join(format!("{WATERMARK_FILE}.tmp"));
        let written = std::fs::write(&temporary, self.watermark.to_string())
            .and_then(|()| std::fs::rename(&temporary, &path));
        match written {
            Ok(()) => self.persisted_watermark = self.watermark,
            Err(e) => {
                tracing::warn!(exporter = %self.exporter, error = %e, "cannot record the queue's delivered position; more may be delivered twice after a restart")
            }
        }
    }

    fn sync(&mut self) {
        if self.unsynced {
            if let Err(e) = self.writer.sync_data() {
                tracing::warn!(exporter = %self.exporter, error = %e, "cannot sync the disk queue");
            }
            self.unsynced = false;
        }
    }

    fn queued_items(&self) -> u64 {
        self.segments
            .iter()
            .flat_map(|s| s.records.values())
            .map(|(items, _)| items)
            .sum()
    }

    fn update_gauges(&self) {
        metrics::gauge!(names::QUEUE_BYTES, "exporter" => self.exporter.clone())
            .set(self.total_bytes as f64);
        metrics::gauge!(names::QUEUE_ITEMS, "exporter" => self.exporter.clone())
            .set(self.queued_items() as f64);
    }
}

/// Before ids with a '/' in their name had a default directory of their own, `kafka/a/b` used
/// `data/queue/kafka-a-b`: what it left there is not delivered unless moved over.
fn warn_of_the_old_default(
    config: &SendingQueueConfig,
    id: &ComponentId,
    directory: &std::path::Path,
) {
    if config.directory.is_some() || !id.name().is_some_and(|n| n.contains('/')) {
        return;
    }
    let old = std::path::Path::new("data/queue").join(id.to_string().replace('/', "-"));
    let holds_segments = std::fs::read_dir(&old).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| segment::segment_first_seq(&e.path()).is_some())
    });
    if holds_segments {
        tracing::warn!(exporter = %id, old = %old.display(), new = %directory.display(), "this exporter's default queue directory moved (ids with a '/' in their name now get one of their own); if the old one is this exporter's, stop the agent and move its files over, or its data is not delivered");
    }
}

impl Drop for DiskQueue {
    /// What stays on disk is this queue's no more: the next one to open the directory (after a
    /// reload or a restart after a panic) recovers it and counts it again.
    fn drop(&mut self) {
        self.outcomes
            .ledger()
            .on_disk(-(self.queued_items() as i64));
    }
}

fn directory_nonce(directory: &std::path::Path) -> std::io::Result<u64> {
    let path = directory.join("queue.id");
    if let Some(nonce) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| u64::from_str_radix(text.trim(), 16).ok())
    {
        return Ok(nonce);
    }
    let nonce = (crate::pipeline::ids::unit_random() * u64::MAX as f64) as u64
        ^ u64::from(std::process::id());
    std::fs::write(&path, format!("{nonce:016x}"))?;
    Ok(nonce)
}

fn create_segment(directory: &std::path::Path, first_seq: u64) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment::segment_path(directory, first_seq))
}
