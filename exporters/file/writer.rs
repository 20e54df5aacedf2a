//! An append-only file that rotates by size and age, keeps a bounded number of backups, and is
//! only ever written whole chunks (one batch's lines), so no line is split across files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::pipeline::dead_letter::rfc3339;

const FLUSH_AT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    pub max_bytes: Option<u64>,
    pub max_age: Option<Duration>,
    pub max_backups: usize,
}

pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: Option<File>,
    /// Bytes in the file, written or buffered.
    size: u64,
    opened_at: Instant,
    buffer: Vec<u8>,
}

impl RotatingFile {
    pub fn open(path: PathBuf, rotation: Rotation) -> std::io::Result<RotatingFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            rotation,
            file: Some(file),
            size,
            opened_at: Instant::now(),
            buffer: Vec::new(),
        })
    }

    /// Adds a whole chunk, rotating first if it would not fit or the file is too old.
    pub fn append(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let too_big = self
            .rotation
            .max_bytes
            .is_some_and(|max| self.size + chunk.len() as u64 > max);
        if self.size > 0 && (too_big || self.too_old()) {
            self.rotate()?;
        }
        self.buffer.extend_from_slice(chunk);
        self.size += chunk.len() as u64;
        // The flush interval bounds how long data waits; this bounds how much.
        if self.buffer.len() >= FLUSH_AT_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub fn too_old(&self) -> bool {
        self.rotation
            .max_age
            .is_some_and(|age| self.opened_at.elapsed() >= age)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the file is closed"))?;
        file.write_all(&self.buffer)?;
        file.flush()?;
        self.buffer.clear();
        Ok(())
    }

    /// Closes the file under a timestamped backup name, drops the oldest backups, starts anew.
    pub fn rotate(&mut self) -> std::io::Result<()> {
        self.flush()?;
        let backup = backup_name(&self.path, SystemTime::now());
        // The file is reopened whatever the rename did (a cleanup job may have removed it), so
        // that one failed rotation does not stop every later write.
        let renamed = std::fs::rename(&self.path, &backup);
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        renamed?;
        self.prune_backups()?;
        self.size = 0;
        self.opened_at = Instant::now();
        Ok(())
    }

    fn prune_backups(&self) -> std::io::Result<()> {
        let mut backups = backups_of(&self.path)?;
        backups.sort();
        let excess = backups.len().saturating_sub(self.rotation.max_backups);
        for old in &backups[..excess] {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }
}

/// `dir/telemetry.jsonl.gz` → (`telemetry`, `.jsonl.gz`): backups go between the two.
fn split_name(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.find('.') {
        Some(dot) if dot > 0 => (name[..dot].to_string(), name[dot..].to_string()),
        _ => (name, String::new()),
    }
}

fn backup_name(path: &Path, now: SystemTime) -> PathBuf {
    let (base, extension) = split_name(path);
    let stamp = rfc3339(now).replace(':', "-");
    let mut candidate = path.with_file_name(format!("{base}-{stamp}{extension}"));
    let mut counter = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{base}-{stamp}-{counter}{extension}"));
        counter += 1;
    }
    candidate
}

/// The backups of `path`, oldest first. Only names of exactly the shape `backup_name` makes
/// count: with templated paths, another file of the directory may start with the same base
/// (`svc-1.jsonl` beside `svc.jsonl`, `a-<time>.b.jsonl` from `a.b.jsonl` beside `a.jsonl`),
/// and rotation must never delete a file it did not make.
pub fn backups_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let (base, extension) = split_name(path);
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(order) = backup_order(&name, &base, &extension) {
            found.push((order, directory.join(name)));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// For `base-<time>.ext` or `base-<time>-<n>.ext` (two rotations within one millisecond):
/// (time, n), which orders backups by age; `None` for any other name.
fn backup_order(name: &str, base: &str, extension: &str) -> Option<(String, u64)> {
    let rest = name
        .strip_prefix(base)?
        .strip_prefix('-')?
        .strip_suffix(extension)?;
    let stamp = rest.get(..BACKUP_STAMP_SHAPE.len())?;
    let matches_shape =
        stamp
            .bytes()
            .zip(BACKUP_STAMP_SHAPE.bytes())
            .all(|(c, shape)| match shape {
                b'9' => c.is_ascii_digit(),
                literal => c == literal,
            });
    if !matches_shape {
        return None;
    }
    let counter = match &rest[stamp.len()..] {
        "" => 0,
        suffix => {
            let digits = suffix.strip_prefix('-')?;
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
    };
    Some((stamp.to_string(), counter))
}

/// The time in a backup's name (`rfc3339` with `-` for `:`), `9` standing for any digit.
const BACKUP_STAMP_SHAPE: &str = "9999-99-99T99-99-99.999Z";

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tributary-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rotates_by_size_keeps_whole_chunks_and_prunes_backups() {
        let dir = dir("size");
        let path = dir.join("out.jsonl");
        let rotation = Rotation {
            max_bytes: Some(100),
            max_age: None,
            max_backups: 2,
        };
        let mut file = RotatingFile::open(path.clone(), rotation).unwrap();
        for i in 0..10 {
            file.append(format!("{i:039}\n").as_bytes()).unwrap();
            file.flush().unwrap();
        }
        let backups = backups_of(&path).unwrap();
        assert_eq!(backups.len(), 2, "{backups:?}");
        for file in backups.iter().chain([&path]) {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.len() <= 100);
            assert!(
                text.ends_with('\n') && text.lines().all(|l| l.len() == 39),
                "whole lines only: {text:?}"
            );
        }
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains(&format!("{:039}", 9)));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn rotated(path: &Path, max_backups: usize) -> RotatingFile {
        let rotation = Rotation {
            max_bytes: None,
            max_age: None,
            max_backups,
        };
        let mut file = RotatingFile::open(path.to_path_buf(), rotation).unwrap();
        file.append(b"line\n").unwrap();
        file.rotate().unwrap();
        file
    }

    #[test]
    fn rotation_leaves_a_file_whose_name_extends_the_base_alone() {
        let dir = dir("neighbours");
        let (svc, svc_1) = (dir.join("svc.jsonl"), dir.join("svc-1.jsonl"));
        let mut other = rotated(&svc_1, 1);
        other.append(b"svc-1 live\n").unwrap();
        other.flush().unwrap();
        rotated(&svc, 1).rotate().unwrap();
        assert_eq!(
            std::fs::read_to_string(&svc_1).unwrap(),
            "svc-1 live\n",
            "another service's live file"
        );
        assert_eq!(backups_of(&svc_1).unwrap().len(), 1, "and its backup stay");
        let backups = backups_of(&svc).unwrap();
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert!(backups[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("svc-2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotation_of_a_dotted_name_and_its_prefix_keep_their_own_backups() {
        let dir = dir("dotted");
        let (dotted, plain) = (dir.join("a.b.jsonl"), dir.join("a.jsonl"));
        rotated(&dotted, 1);
        let mut file = rotated(&plain, 1);
        file.rotate().unwrap();
        file.rotate().unwrap();
        assert_eq!(backups_of(&dotted).unwrap().len(), 1, "a.b's backup stays");
        assert_eq!(backups_of(&plain).unwrap().len(), 1);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn backups_are_recognised_by_their_exact_shape_and_ordered_by_age() {
        let order = |name| backup_order(name, "svc", ".jsonl");
        assert_eq!(
            order("svc-2025-01-15T10-30-00.123Z.jsonl"),
            Some(("2025-01-15T10-30-00.123Z".into(), 0))
        );
        assert_eq!(
            order("svc-2025-01-15T10-30-00.123Z-12.jsonl"),
            Some(("2025-01-15T10-30-00.123Z".into(), 12))
        );
        for other in [
            "svc-1.jsonl",
            "svc-1-2025-01-15T10-30-00.123Z.jsonl",
            "svc-2025-01-15T10-30-00.123Z.b.jsonl",
            "svc-2025-01-15T10-30-00.123Z-.jsonl",
            "svc-2025-01-15T10-30-00.123Zx.jsonl",
            "svc-2025-01-15 10-30-00.123Z.jsonl",
            "svc.jsonl",
        ] {
            assert_eq!(order(other), None, "{other}");
        }
        assert!(
            order("svc-2025-01-15T10-30-00.123Z-2.jsonl")
                < order("svc-2025-01-15T10-30-00.123Z-10.jsonl")
        );
    }

    #[test]
    fn rotates_by_age() {
        let dir = dir("age");
        let path = dir.join("out.log");
        let rotation = Rotation {
            max_bytes: None,
            max_age: Some(Duration::ZERO),
            max_backups: 5,
        };
        let mut file = RotatingFile::open(path.clone(), rotation).unwrap();
        file.append(b"a\n").unwrap();
        file.append(b"b\n").unwrap();
        file.flush().unwrap();
        assert_eq!(backups_of(&path).unwrap().len(), 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
