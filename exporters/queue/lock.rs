//! One agent per queue directory. Two queues on one directory would share the segment log and
//! the delivered position (and lose acknowledged data after a restart), so the queue holds an
//! exclusive lock on `lock` in its directory while it is open, with its pid written in it for
//! the error the next one gets. The lock goes with the process, so a crash leaves none behind.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::QueueError;

pub const LOCK_FILE: &str = "lock";

/// The directories this process holds: a reload opens a queue again while the previous
/// instance may still be closing, and must wait for it rather than call it another agent.
static HELD: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

#[derive(Debug)]
pub struct DirectoryLock {
    file: File,
    key: PathBuf,
}

impl DirectoryLock {
    pub fn acquire(directory: &Path) -> Result<DirectoryLock, QueueError> {
        let key = crate::config::claims::normalize(directory);
        let path = directory.join(LOCK_FILE);
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if held.contains(&key) {
            return Err(QueueError::HeldHere {
                path: directory.to_path_buf(),
            });
        }
        let lock_error = |source| QueueError::Directory {
            path: path.clone(),
            source,
        };
        // Not truncated on open: while another process holds it, its pid must stay readable.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(QueueError::Locked {
                    path: directory.to_path_buf(),
                    holder: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(lock_error)?;
        held.insert(key.clone());
        Ok(DirectoryLock { file, key })
    }
}

impl Drop for DirectoryLock {
    fn drop(&mut self) {
        // Unlocked before the directory leaves `HELD`, so that whoever sees it gone can lock.
        let _ = self.file.unlock();
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}
