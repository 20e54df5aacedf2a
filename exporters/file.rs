//! `file`: writes each batch as one line of OTLP/JSON (the OpenTelemetry Collector's file
//! format) or as a length-prefixed protobuf request.

use std::path::PathBuf;

use serde::Deserialize;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{ComponentId, ConfigError};
use crate::pipeline::batch::{Batch, Payload};
use crate::telemetry::names;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExporterConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: FileFormat,
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

#[derive(Debug, thiserror::Error)]
pub enum FileExporterError {
    #[error("cannot open {path} for appending: {source}")]
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
        if self.path.as_os_str().is_empty() {
            return vec![ConfigError::new(
                "path",
                "expected a file path, found an empty string",
            )];
        }
        Vec::new()
    }
}

pub struct FileExporter {
    id: String,
    path: PathBuf,
    format: FileFormat,
    file: BufWriter<tokio::fs::File>,
}

impl FileExporter {
    pub async fn open(
        config: &FileExporterConfig,
        id: &ComponentId,
    ) -> Result<FileExporter, FileExporterError> {
        let open_error = |source| FileExporterError::Open {
            path: config.path.display().to_string(),
            source,
        };
        if let Some(parent) = config.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(open_error)?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.path)
            .await
            .map_err(open_error)?;
        Ok(FileExporter {
            id: id.to_string(),
            path: config.path.clone(),
            format: config.format,
            file: BufWriter::new(file),
        })
    }

    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<Batch>,
        deadline_passed: CancellationToken,
    ) {
        loop {
            let batch = tokio::select! {
                biased;
                _ = deadline_passed.cancelled() => break,
                received = input.recv() => match received {
                    Some(batch) => batch,
                    None => break,
                },
            };
            let items = batch.items() as u64;
            metrics::counter!(names::EXPORTER_RECEIVED, "exporter" => self.id.clone())
                .increment(items);
            let outcome = match self.write(&batch.payload).await {
                Ok(()) => names::EXPORTER_SENT,
                Err(e) => {
                    tracing::error!(exporter = %self.id, items, error = %e, "cannot write a batch");
                    names::EXPORTER_FAILED
                }
            };
            metrics::counter!(outcome, "exporter" => self.id.clone()).increment(items);
        }
        if let Err(e) = self.file.flush().await {
            tracing::error!(exporter = %self.id, error = %e, "cannot flush on shutdown");
        }
    }

    async fn write(&mut self, payload: &Payload) -> Result<(), FileExporterError> {
        let bytes = match self.format {
            FileFormat::Json => match payload {
                Payload::DeadLetters(dead) => dead
                    .letters
                    .iter()
                    .flat_map(|letter| {
                        let mut line = letter.to_json();
                        line.push(b'\n');
                        line
                    })
                    .collect(),
                data => {
                    let mut line = data.to_otlp_json().ok_or_else(|| {
                        self.write_error(std::io::Error::other("no OTLP/JSON form"))
                    })?;
                    line.push(b'\n');
                    line
                }
            },
            FileFormat::Proto => {
                let encoded = payload.encode_protobuf();
                let length = u32::try_from(encoded.len())
                    .map_err(|_| self.write_error(std::io::Error::other("a request over 4 GiB")))?;
                let mut framed = length.to_be_bytes().to_vec();
                framed.extend_from_slice(&encoded);
                framed
            }
        };
        // Written whole and flushed per batch, so a reader never sees half a record.
        self.file
            .write_all(&bytes)
            .await
            .map_err(|e| self.write_error(e))?;
        self.file.flush().await.map_err(|e| self.write_error(e))
    }

    fn write_error(&self, source: std::io::Error) -> FileExporterError {
        FileExporterError::Write {
            path: self.path.display().to_string(),
            source,
        }
    }
}
