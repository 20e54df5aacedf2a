//! `sending_queue`: what sits in front of an exporter. In memory (the default) it is the
//! bounded channel every stage has; on disk it is a segment log that survives a crash and is
//! replayed at the next start.

mod disk;
mod lock;
// Public only for the fuzz targets in `fuzz/` (the reader of files left by an earlier run).
#[doc(hidden)]
pub mod segment;

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

pub use disk::DiskQueue;
pub use lock::{DirectoryLock, LOCK_FILE};

use crate::config::{ComponentId, ConfigError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingQueueConfig {
    pub storage: Storage,
    /// Where the segments live; by default `data/queue/<type>-<name>` (see
    /// `ComponentId::file_name`). One queue per directory: claimed at load, locked at run.
    pub directory: Option<PathBuf>,
    /// Beyond this, the queue takes nothing more and the receivers refuse (429/503).
    pub max_size: ByteSize,
    /// Segments are files of about this size, deleted once everything in them is delivered.
    pub segment_size: ByteSize,
    pub fsync: FsyncPolicy,
    /// With `fsync: interval`.
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
}

impl Default for SendingQueueConfig {
    fn default() -> Self {
        SendingQueueConfig {
            storage: Storage::Memory,
            directory: None,
            max_size: ByteSize::gib(2),
            segment_size: ByteSize::mib(64),
            fsync: FsyncPolicy::Interval,
            fsync_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    #[default]
    Memory,
    Disk,
}

/// When written records are forced to the device. A process crash (`kill -9`) loses nothing
/// under any policy once a record is written; a power loss loses what was not yet synced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Before the batch counts as queued (and an `ack: on_queue` client hears "done").
    EveryBatch,
    /// At most `fsync_interval` apart.
    #[default]
    Interval,
    /// Left to the operating system.
    Never,
}

impl SendingQueueConfig {
    pub fn is_disk(&self) -> bool {
        self.storage == Storage::Disk
    }

    pub fn directory_for(&self, id: &ComponentId) -> PathBuf {
        self.directory
            .clone()
            .unwrap_or_else(|| PathBuf::from("data/queue").join(id.file_name()))
    }

    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut problem = |field: &str, message: String| {
            errors.push(ConfigError::new(format!("sending_queue.{field}"), message))
        };
        if self.storage == Storage::Memory {
            if self.directory.is_some() {
                problem(
                    "directory",
                    "expected storage: disk with a directory, found storage: memory".into(),
                );
            }
            return errors;
        }
        if self.segment_size.as_u64() < 4096 {
            problem(
                "segment_size",
                format!("expected at least 4KiB, found {}", self.segment_size),
            );
        }
        if self.max_size.as_u64() < 2 * self.segment_size.as_u64() {
            problem(
                "max_size",
                format!(
                    "expected at least twice segment_size ({}), found {}",
                    self.segment_size, self.max_size
                ),
            );
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.is_zero() {
            problem(
                "fsync_interval",
                "expected a duration above zero, found 0s".into(),
            );
        }
        errors
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot use the queue directory {path}: {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the queue directory {} is locked by another agent, {}; one agent per directory: give this one another sending_queue.directory", path.display(), holder.map_or_else(|| format!("whose pid is not in its {LOCK_FILE} file yet"), |pid| format!("process {pid}")))]
    Locked { path: PathBuf, holder: Option<u32> },
    #[error("the queue directory {} is still held by this agent's previous instance of the exporter, which did not stop", path.display())]
    HeldHere { path: PathBuf },
    #[error("cannot recover the queue segment {path}: {source}")]
    Recover {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests;
