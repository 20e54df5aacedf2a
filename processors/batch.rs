//! `batch`: merges small batches into larger ones, flushing at a size or after a timeout.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use crate::config::ConfigError;
use crate::pipeline::batch::Batch;
use crate::pipeline::fanout::Fanout;
use crate::pipeline::StageContext;
use crate::telemetry::names;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, data points, log records) that trigger a flush.
    pub send_batch_size: usize,
    /// How long the first item of a batch may wait for the rest.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            timeout: Duration::from_millis(200),
        }
    }
}

impl BatchConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.send_batch_size == 0 {
            errors.push(ConfigError::new(
                "send_batch_size",
                "expected at least 1 item, found 0",
            ));
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new(
                "timeout",
                "expected a duration above zero, found 0s",
            ));
        }
        errors
    }
}

pub struct BatchProcessor {
    config: BatchConfig,
    context: StageContext,
    pending: Option<Batch>,
    flush_at: Option<Instant>,
}

impl BatchProcessor {
    pub fn new(config: BatchConfig, context: StageContext) -> BatchProcessor {
        BatchProcessor {
            config,
            context,
            pending: None,
            flush_at: None,
        }
    }

    pub async fn run(mut self, mut input: mpsc::Receiver<Batch>, output: Fanout) {
        let deadline_passed = self.context.deadline_passed.clone();
        loop {
            let flush_at = self.flush_at;
            tokio::select! {
                biased;
                _ = deadline_passed.cancelled() => break,
                received = input.recv() => match received {
                    Some(batch) => {
                        self.count(names::PROCESSOR_RECEIVED, batch.items());
                        if let Some(full) = self.add(batch) {
                            if !self.send(&output, full).await {
                                break;
                            }
                        }
                    }
                    None => {
                        if let Some(rest) = self.take() {
                            self.send(&output, rest).await;
                        }
                        return;
                    }
                },
                _ = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    if let Some(due) = self.take() {
                        if !self.send(&output, due).await {
                            break;
                        }
                    }
                }
            }
        }
        self.give_up(input);
    }

    /// Returns a batch to send once the size is reached.
    fn add(&mut self, batch: Batch) -> Option<Batch> {
        match &mut self.pending {
            Some(pending) => {
                pending.context.items += batch.context.items;
                if let Err(e) = pending.payload.append(batch.payload) {
                    unreachable!("a pipeline carries one signal: {e}");
                }
            }
            None => {
                self.pending = Some(batch);
                self.flush_at = Some(Instant::now() + self.config.timeout);
            }
        }
        let full = self
            .pending
            .as_ref()
            .is_some_and(|p| p.items() >= self.config.send_batch_size);
        if full {
            self.take()
        } else {
            None
        }
    }

    fn take(&mut self) -> Option<Batch> {
        self.flush_at = None;
        self.pending.take()
    }

    /// False when the shutdown deadline passed or the next stage is gone.
    async fn send(&mut self, output: &Fanout, batch: Batch) -> bool {
        let items = batch.items();
        metrics::histogram!(names::BATCH_SIZE, "processor" => self.context.id.to_string(), "pipeline" => self.context.pipeline.clone())
            .record(items as f64);
        tokio::select! {
            biased;
            _ = self.context.deadline_passed.cancelled() => {
                self.count(names::PROCESSOR_UNDRAINED, items);
                false
            }
            sent = output.send(batch) => match sent {
                Ok(()) => {
                    self.count(names::PROCESSOR_SENT, items);
                    true
                }
                Err(e) => {
                    self.count(names::PROCESSOR_UNDRAINED, items);
                    tracing::error!(processor = %self.context.id, pipeline = %self.context.pipeline, items, error = %e, "cannot pass a batch on");
                    false
                }
            }
        }
    }

    fn give_up(mut self, mut input: mpsc::Receiver<Batch>) {
        let mut items = self.take().map_or(0, |b| b.items());
        input.close();
        while let Ok(batch) = input.try_recv() {
            items += batch.items();
        }
        self.count(names::PROCESSOR_UNDRAINED, items);
        if items > 0 {
            tracing::warn!(processor = %self.context.id, pipeline = %self.context.pipeline, items, "shutdown deadline passed with items not passed on");
        }
    }

    fn count(&self, name: &'static str, items: usize) {
        metrics::counter!(name, "processor" => self.context.id.to_string(), "pipeline" => self.context.pipeline.clone())
            .increment(items as u64);
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
