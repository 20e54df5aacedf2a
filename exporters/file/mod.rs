//! `file`: writes each batch as OTLP/JSON lines (the OpenTelemetry Collector's file format) or
//! length-prefixed protobuf, optionally gzip- or zstd-compressed, to a path that may depend on
//! resource attributes, rotating by size and age.

mod factory;
mod writer;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use writer::backups_of;
use writer::{RotatingFile, Rotation};

use crate::config::{ComponentId, ConfigError};
use crate::exporters::template::Template;
use crate::pipeline::attributes::first_resource_attributes;
use crate::pipeline::batch::{Batch, Payload};
use crate::pipeline::chunk::resource_groups;
use crate::pipeline::exporter_input::{Intake, Outcomes};
use crate::pipeline::receipt::Receipts;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExporterConfig {
    #[serde(default)]
    pub sending_queue: crate::exporters::queue::SendingQueueConfig,
    /// A path, or a template over the signal and resource attributes, such as
    /// `./data/${resource:service.instance.id}.jsonl` (one file per database instance).
    pub path: String,
    #[serde(default)]
    pub format: FileFormat,
    /// Each batch is written as a gzip member or zstd frame: the file stays a valid stream.
    pub compression: Option<FileCompression>,
    pub rotation: Option<RotationConfig>,
    /// How long written data may wait in memory before it is flushed to the file.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
}

fn default_flush_interval() -> Duration {
    Duration::from_secs(1)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One `Export*ServiceRequest` in OTLP/JSON per line; dead letters one DLQ message per line.
    #[default]
    Json,
    /// Each request as protobuf after its length as a 4-byte big-endian integer.
    Proto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileCompression {
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    pub max_megabytes: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
    #[serde(default = "default_max_backups")]
    pub max_backups: usize,
}

fn default_max_backups() -> usize {
    10
}

#[derive(Debug, thiserror::Error)]
pub enum FileExporterError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl FileExporterConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match Template::parse(&self.path) {
            Ok(_) if self.path.trim().is_empty() => errors.push(ConfigError::new(
                "path",
                "expected a file path, found an empty string",
            )),
            Ok(template) if template.uses_item_attributes() => errors.push(ConfigError::new(
                "path",
                "expected ${signal} or ${resource:KEY} references; a file holds whole resource groups, so ${attribute:KEY} cannot pick one",
            )),
            Ok(_) => {}
            Err(e) => errors.push(ConfigError::new("path", e.to_string())),
        }
        if let Some(rotation) = &self.rotation {
            if rotation.max_megabytes.is_none() && rotation.max_age.is_none() {
                errors.push(ConfigError::new(
                    "rotation",
                    "expected max_megabytes or max_age, found neither",
                ));
            }
            if rotation.max_megabytes == Some(0) {
                errors.push(ConfigError::new(
                    "rotation.max_megabytes",
                    "expected at least 1, found 0",
                ));
            }
        }
        if self.flush_interval.is_zero() {
            errors.push(ConfigError::new(
                "flush_interval",
                "expected a duration above zero, found 0s",
            ));
        }
        errors
    }

    fn rotation(&self) -> Rotation {
        self.rotation
            .as_ref()
            .map_or(Rotation::default(), |r| Rotation {
                max_bytes: r.max_megabytes.map(|mb| mb * 1024 * 1024),
                max_age: r.max_age,
                max_backups: r.max_backups,
            })
    }
}

pub struct FileExporter {
    id: String,
    path: Template,
    format: FileFormat,
    compression: Option<FileCompression>,
    rotation: Rotation,
    flush_interval: Duration,
    files: HashMap<PathBuf, RotatingFile>,
    /// Receipts of what is written but not yet flushed: settled by the next good flush.
    unflushed: Vec<Receipts>,
}

impl FileExporter {
    /// Opens a literal path now, so that an unwritable one fails start-up.
    pub async fn open(
        config: &FileExporterConfig,
        id: &ComponentId,
    ) -> Result<FileExporter, FileExporterError> {
        let path = Template::parse(&config.path).expect("validated");
        let mut exporter = FileExporter {
            id: id.to_string(),
            path,
            format: config.format,
            compression: config.compression,
            rotation: config.rotation(),
            flush_interval: config.flush_interval,
            files: HashMap::new(),
            unflushed: Vec::new(),
        };
        if !config.path.contains("${") {
            exporter
                .file(PathBuf::from(&config.path))
                .map_err(|source| FileExporterError::Open {
                    path: config.path.clone(),
                    source,
                })?;
        }
        Ok(exporter)
    }

    /// Until the input closes or the deadline passes; flushes what it wrote either way.
    pub async fn run(mut self, mut input: Intake) {
        let outcomes = input.outcomes().clone();
        let mut flush = tokio::time::interval(self.flush_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                received = input.next() => match received {
                    Some(batch) => self.write(batch, &outcomes),
                    None => break,
                },
                // Flushing blocks (a slow disk, a full pipe): let the runtime move its other
                // tasks off this thread meanwhile.
                _ = flush.tick() => tokio::task::block_in_place(|| self.flush_all()),
            }
        }
        tokio::task::block_in_place(|| self.flush_all());
    }

    fn write(&mut self, mut batch: Batch, outcomes: &Outcomes) {
        let receipts = std::mem::take(&mut batch.context.receipts);
        let mut all_written = true;
        let letters = batch.is_dead_letters();
        let signal = batch.signal();
        let payload = batch.into_payload();
        let units = if self.path.is_literal() {
            vec![payload]
        } else {
            resource_groups(payload)
        };
        for unit in units {
            let rendered = self.path.render_lenient(
                signal,
                first_resource_attributes(&unit),
                safe_path_part,
                "unknown",
            );
            let unit_items = unit.item_count();
            let outcome = self.encode(&unit).and_then(|bytes| {
                self.file(PathBuf::from(&rendered))
                    .and_then(|file| file.append(&bytes))
                    .map_err(|source| FileExporterError::Write {
                        path: rendered.clone(),
                        source,
                    })
            });
            match outcome {
                Ok(()) => outcomes.sent(unit_items, letters),
                Err(e) => {
                    all_written = false;
                    outcomes.failed(unit_items, letters);
                    tracing::error!(exporter = %self.id, items = unit_items, error = %e, "cannot write a batch");
                }
            }
        }
        if all_written && !receipts.is_empty() {
            self.unflushed.push(receipts);
        }
    }

    fn encode(&self, payload: &Payload) -> Result<Vec<u8>, FileExporterError> {
        let raw = match (self.format, payload) {
            (_, Payload::DeadLetters(dead)) => dead
                .letters
                .iter()
                .flat_map(|letter| {
                    let mut line = letter.to_json();
                    line.push(b'\n');
                    line
                })
                .collect(),
            (FileFormat::Json, data) => {
                let mut line = data.to_otlp_json().unwrap_or_default();
                line.push(b'\n');
                line
            }
            (FileFormat::Proto, data) => {
                let encoded = data.encode_protobuf();
                let mut framed = (encoded.len() as u32).to_be_bytes().to_vec();
                framed.extend_from_slice(&encoded);
                framed
            }
        };
        let compressed = match self.compression {
            None => Ok(raw),
            Some(FileCompression::Gzip) => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(&raw).and_then(|_| encoder.finish())
            }
            Some(FileCompression::Zstd) => zstd::encode_all(raw.as_slice(), 3),
        };
        compressed.map_err(|source| FileExporterError::Write {
            path: self.path.to_string(),
            source,
        })
    }

    fn file(&mut self, path: PathBuf) -> std::io::Result<&mut RotatingFile> {
        if !self.files.contains_key(&path) {
            let file = RotatingFile::open(path.clone(), self.rotation)?;
            self.files.insert(path.clone(), file);
        }
        Ok(self.files.get_mut(&path).expect("just inserted"))
    }

    fn flush_all(&mut self) {
        let mut flushed = true;
        for (path, file) in &mut self.files {
            let result = if file.too_old() {
                file.rotate()
            } else {
                file.flush()
            };
            if let Err(e) = result {
                flushed = false;
                tracing::error!(exporter = %self.id, path = %path.display(), error = %e, "cannot flush");
            }
        }
        // Dropped unsettled on a failed flush: whoever waits hears it did not arrive.
        let receipts = std::mem::take(&mut self.unflushed);
        if flushed {
            receipts.into_iter().for_each(Receipts::settle);
        }
    }
}

/// An attribute value may not add directories to a path.
fn safe_path_part(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        "_".into()
    } else {
        cleaned
    }
}
