//! `parquet`: warehouse staging files (the reference's Kafka → staging → `COPY INTO` path,
//! without the consumer). One row per metric data point, log record or span, in the columns of
//! the platform's standard messages (`table.rs`). One open file per signal, written under a
//! hidden temporary name (`.metrics-….parquet.tmp`) and renamed to
//! `<signal>-<UTC time>-<seq>.parquet` once complete: every `roll_interval`, once past
//! `max_file_size`, and when the exporter stops. A loader that picks up `*.parquet` never reads
//! half a file.
//!
//! A batch counts as delivered (its receipts settled, the exporter and accounting counters
//! moved) only once its rows are in a completed, renamed and synced file: until then they are
//! in memory or in a file that is not valid yet, and a crash loses them. Behind a disk
//! `sending_queue` this makes the pair durable: the queue keeps each batch until its file is
//! complete, and hands it over again after a crash.

mod factory;
#[cfg(test)]
mod reading;
mod table;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytesize::ByteSize;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::{ComponentId, ConfigError};
use crate::exporters::kafka::gds::GdsNames;
use crate::pipeline::batch::{Batch, Signal};
use crate::pipeline::dead_letter::rfc3339;
use crate::pipeline::exporter_input::{Intake, Outcomes};
use crate::pipeline::ids::with_ids_from;
use crate::pipeline::receipt::Receipts;
use table::Table;

/// A row group is written out once its encoded size passes this: it bounds the memory a file
/// holds before it is complete.
const ROW_GROUP_BYTES: usize = 16 * 1024 * 1024;
const TEMPORARY_SUFFIX: &str = ".parquet.tmp";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetExporterConfig {
    #[serde(default)]
    pub sending_queue: crate::exporters::queue::SendingQueueConfig,
    /// Where the files go (created if missing). One exporter per directory.
    pub directory: PathBuf,
    /// A file is completed this long after it was opened, however small.
    #[serde(default = "default_roll_interval", with = "humantime_serde")]
    pub roll_interval: Duration,
    /// A file is completed once it passes this size (after the batch that made it pass).
    #[serde(default = "default_max_file_size")]
    pub max_file_size: ByteSize,
    #[serde(default)]
    pub compression: ParquetCompression,
}

/// The resource attributes read as `database_type` and `instance_id`: the `kafka` exporter's
/// and the `validate` processor's defaults.
const NAMES: GdsNames<'static> = GdsNames {
    database_type: "db.system",
    instance_id: "service.instance.id",
};

fn default_roll_interval() -> Duration {
    Duration::from_secs(300)
}

fn default_max_file_size() -> ByteSize {
    ByteSize::mib(128)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParquetCompression {
    None,
    Snappy,
    #[default]
    Zstd,
}

impl ParquetCompression {
    fn codec(self) -> Compression {
        match self {
            ParquetCompression::None => Compression::UNCOMPRESSED,
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
        }
    }
}

impl ParquetExporterConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.directory.as_os_str().is_empty() {
            errors.push(ConfigError::new(
                "directory",
                "expected a directory, found an empty string",
            ));
        }
        if self.roll_interval.is_zero() {
            errors.push(ConfigError::new(
                "roll_interval",
                "expected a duration above zero, found 0s",
            ));
        }
        if self.max_file_size.as_u64() == 0 {
            errors.push(ConfigError::new(
                "max_file_size",
                "expected a size above zero, found 0B",
            ));
        }
        errors
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParquetExporterError {
    #[error("cannot use the directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("cannot lay out the rows: {0}")]
    Rows(#[from] arrow_schema::ArrowError),
}

/// A file being written: its rows are not delivered until `complete` renamed it.
struct OpenFile {
    writer: ArrowWriter<File>,
    temporary: PathBuf,
    name: PathBuf,
    opened: Instant,
    items: usize,
    /// The receipts of every batch in the file, settled once it is complete.
    receipts: Receipts,
}

impl OpenFile {
    fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Footer, sync, rename: the file is loadable from here on.
    fn complete(
        writer: ArrowWriter<File>,
        temporary: &Path,
        name: &Path,
    ) -> parquet::errors::Result<()> {
        let file = writer.into_inner()?;
        file.sync_all()?;
        std::fs::rename(temporary, name)?;
        Ok(())
    }
}

pub struct ParquetExporter {
    id: String,
    directory: PathBuf,
    roll_interval: Duration,
    max_file_size: u64,
    properties: WriterProperties,
    /// By `Signal as usize`.
    tables: [Table; 3],
    files: [Option<OpenFile>; 3],
    next_seq: u64,
    /// The running incarnation's, from its intake.
    outcomes: Outcomes,
}

impl ParquetExporter {
    /// Creates the directory and removes the temporary files an earlier run left (a crash
    /// leaves them without a footer: unreadable; behind a disk queue their rows come again).
    pub fn open(
        config: &ParquetExporterConfig,
        id: &ComponentId,
    ) -> Result<ParquetExporter, ParquetExporterError> {
        let directory = config.directory.clone();
        let dir_error = |source| ParquetExporterError::Directory {
            path: directory.clone(),
            source,
        };
        std::fs::create_dir_all(&directory).map_err(dir_error)?;
        let mut stale = 0;
        for entry in std::fs::read_dir(&directory).map_err(dir_error)? {
            let path = entry.map_err(dir_error)?.path();
            if is_temporary(&path) {
                std::fs::remove_file(&path).map_err(dir_error)?;
                stale += 1;
            }
        }
        if stale > 0 {
            tracing::warn!(exporter = %id, directory = %directory.display(), files = stale, "removed incomplete parquet files of an earlier run");
        }
        // Fails the start now rather than every batch later.
        let probe = directory.join(format!(".probe{TEMPORARY_SUFFIX}"));
        File::create(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(dir_error)?;
        let properties = WriterProperties::builder()
            .set_compression(config.compression.codec())
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .build();
        Ok(ParquetExporter {
            id: id.to_string(),
            directory,
            roll_interval: config.roll_interval,
            max_file_size: config.max_file_size.as_u64(),
            properties,
            tables: Signal::ALL.map(Table::of),
            files: [None, None, None],
            next_seq: 1,
            outcomes: Outcomes::new(&id.to_string()),
        })
    }

    /// Until the input closes (then every open file is completed) or the deadline passes.
    /// `input_closed` is cancelled when a disk queue in front of the exporter took its last
    /// batch: the queue stops only once every batch it handed over is settled, so from then
    /// on the files are completed whenever no batch is waiting.
    pub async fn run(mut self, mut input: Intake, input_closed: CancellationToken) {
        self.outcomes = input.outcomes().clone();
        let mut tick = tokio::time::interval(self.roll_interval.min(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut draining = false;
        // Writing, encoding and renaming block: let the runtime move its other tasks off this
        // thread meanwhile.
        loop {
            tokio::select! {
                biased;
                received = input.next() => match received {
                    Some(batch) => tokio::task::block_in_place(|| self.write(batch)),
                    None => break,
                },
                _ = input_closed.cancelled(), if !draining => draining = true,
                _ = tick.tick() => tokio::task::block_in_place(|| self.roll_due()),
            }
            if draining && input.is_empty() {
                tokio::task::block_in_place(|| self.roll_all());
            }
        }
        tokio::task::block_in_place(|| self.roll_all());
    }

    fn write(&mut self, mut batch: Batch) {
        let items = batch.items();
        let receipts = std::mem::take(&mut batch.context.receipts);
        if batch.is_dead_letters() {
            // Validation keeps dead letters away (`takes_dead_letters`); they were counted out.
            tracing::error!(exporter = %self.id, "the parquet exporter takes no dead letters; they are dropped");
            self.outcomes.failed(items, true);
            return;
        }
        let signal = batch.signal();
        let table = &self.tables[signal as usize];
        // A batch a disk queue hands over again gets the record ids it had the first time.
        let id_seed = batch.context.id_seed;
        let rows = match with_ids_from(id_seed, || table.rows(batch.into_payload(), &NAMES)) {
            Ok(rows) => rows,
            Err(e) => return self.fail(items, &e.into()),
        };
        if rows.num_rows() == 0 {
            self.delivered(items);
            receipts.settle();
            return;
        }
        let file = match self.file(signal) {
            Ok(file) => file,
            Err(e) => return self.fail(items, &e),
        };
        if let Err(source) = file.writer.write(&rows) {
            // The file may be torn: it and everything in it fails.
            let path = file.name.clone();
            self.abandon(signal);
            return self.fail(items, &ParquetExporterError::Write { path, source });
        }
        file.items += items;
        file.receipts.extend(receipts);
        if file.size() >= self.max_file_size {
            self.roll(signal);
        }
    }

    /// The signal's open file, opened now if there is none.
    fn file(&mut self, signal: Signal) -> Result<&mut OpenFile, ParquetExporterError> {
        let slot = signal as usize;
        if self.files[slot].is_none() {
            let stamp: String = rfc3339(SystemTime::now())
                .chars()
                .filter(|c| !matches!(c, '-' | ':'))
                .collect();
            let (name, temporary) = loop {
                let base = format!("{signal}-{stamp}-{:06}.parquet", self.next_seq);
                self.next_seq += 1;
                let name = self.directory.join(&base);
                let temporary = self.directory.join(format!(".{base}.tmp"));
                if !name.exists() && !temporary.exists() {
                    break (name, temporary);
                }
            };
            let write_error = |source| ParquetExporterError::Write {
                path: temporary.clone(),
                source,
            };
            // Again, in case a cleanup removed the directory.
            let handle = std::fs::create_dir_all(&self.directory)
                .and_then(|()| File::create(&temporary))
                .map_err(|e| write_error(e.into()))?;
            let writer = ArrowWriter::try_new(
                handle,
                self.tables[slot].schema(),
                Some(self.properties.clone()),
            )
            .map_err(write_error)?;
            self.files[slot] = Some(OpenFile {
                writer,
                temporary,
                name,
                opened: Instant::now(),
                items: 0,
                receipts: Receipts::default(),
            });
        }
        Ok(self.files[slot].as_mut().expect("just opened"))
    }

    /// Completes the signal's file: its batches are delivered, or, if it cannot be completed,
    /// failed (their receipts dropped unsettled, so a disk queue hands them over again).
    fn roll(&mut self, signal: Signal) {
        let Some(file) = self.files[signal as usize].take() else {
            return;
        };
        match OpenFile::complete(file.writer, &file.temporary, &file.name) {
            Ok(()) => {
                // The rename itself survives a power loss once the directory is synced.
                if let Ok(directory) = File::open(&self.directory) {
                    let _ = directory.sync_all();
                }
                tracing::debug!(exporter = %self.id, path = %file.name.display(), items = file.items, "parquet file complete");
                self.delivered(file.items);
                file.receipts.settle();
            }
            Err(source) => {
                let _ = std::fs::remove_file(&file.temporary);
                let error = ParquetExporterError::Write {
                    path: file.name,
                    source,
                };
                self.fail(file.items, &error);
            }
        }
    }

    fn roll_due(&mut self) {
        for signal in Signal::ALL {
            let due = self.files[signal as usize]
                .as_ref()
                .is_some_and(|file| file.opened.elapsed() >= self.roll_interval);
            if due {
                self.roll(signal);
            }
        }
    }

    fn roll_all(&mut self) {
        Signal::ALL.into_iter().for_each(|signal| self.roll(signal));
    }

    /// Drops the signal's file after a write error, failing what it held.
    fn abandon(&mut self, signal: Signal) {
        if let Some(file) = self.files[signal as usize].take() {
            drop(file.writer);
            let _ = std::fs::remove_file(&file.temporary);
            self.outcomes.failed(file.items, false);
        }
    }

    fn delivered(&self, items: usize) {
        self.outcomes.sent(items, false);
    }

    fn fail(&self, items: usize, error: &ParquetExporterError) {
        self.outcomes.failed(items, false);
        tracing::error!(exporter = %self.id, items, error = %error, "cannot write to a parquet file");
    }
}

fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(TEMPORARY_SUFFIX))
}

#[cfg(test)]
mod tests;
