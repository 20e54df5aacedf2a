//! The last resort for dead letters that cannot reach Kafka: appended as DLQ JSON lines to a
//! local file, so that nothing vanishes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::pipeline::batch::DeadLetter;

pub struct FallbackFile {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FallbackFile {
    pub fn new(path: PathBuf) -> FallbackFile {
        FallbackFile {
            path,
            lock: Mutex::new(()),
        }
    }

    /// Blocking, but rare: only when both Kafka and the dead-letter route failed.
    pub fn write(&self, letters: &[DeadLetter]) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut lines = Vec::new();
        for letter in letters {
            lines.extend(letter.to_json());
            lines.push(b'\n');
        }
        file.write_all(&lines)?;
        file.sync_data()
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
