//! `batch`: merges small batches into larger ones, flushing at a size or after a timeout,
//! optionally one batch per resource key, never past a maximum of items or encoded bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use tokio::time::{sleep_until, Instant};

use super::ProcessorCounters;
use crate::config::ConfigError;
use crate::config::{Component, ComponentId, ComponentType};
use crate::pipeline::batch::Batch;
use crate::pipeline::chunk::{chunk, group_by_resource};
use crate::pipeline::fanout::Fanout;
use crate::pipeline::stage_input::InputGuard;
use crate::pipeline::StageContext;
use crate::processors::{ProcessorStage, ProcessorType};
use crate::telemetry::names;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, data points, log records) that trigger a flush.
    pub send_batch_size: usize,
    /// No batch holds more items; larger inputs are split. 0: no limit.
    pub send_batch_max_size: usize,
    /// No batch encodes to more bytes (unless a single item does), so that it fits what the
    /// exporter can send.
    pub send_batch_max_bytes: Option<ByteSize>,
    /// How long the first item of a batch may wait for the rest.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `resource:<attribute>` keys: one batch per distinct combination of their values.
    pub batch_by: Vec<String>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            send_batch_max_bytes: None,
            timeout: Duration::from_millis(200),
            batch_by: Vec::new(),
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
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            errors.push(ConfigError::new(
                "send_batch_max_size",
                format!(
                    "expected 0 (no limit) or at least send_batch_size ({}), found {}",
                    self.send_batch_size, self.send_batch_max_size
                ),
            ));
        }
        if self.send_batch_max_bytes.is_some_and(|b| b.as_u64() == 0) {
            errors.push(ConfigError::new(
                "send_batch_max_bytes",
                "expected a size above zero, found 0",
            ));
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new(
                "timeout",
                "expected a duration above zero, found 0s",
            ));
        }
        for (index, key) in self.batch_by.iter().enumerate() {
            if key.strip_prefix("resource:").is_none_or(str::is_empty) {
                errors.push(ConfigError::new(
                    format!("batch_by[{index}]"),
                    format!("expected resource:<attribute>, found {key:?}"),
                ));
            }
        }
        errors
    }

    fn max_items(&self) -> usize {
        if self.send_batch_max_size == 0 {
            usize::MAX
        } else {
            self.send_batch_max_size
        }
    }

    fn max_bytes(&self) -> usize {
        self.send_batch_max_bytes.map_or(usize::MAX, |b| {
            usize::try_from(b.as_u64()).unwrap_or(usize::MAX)
        })
    }
}

struct Pending {
    batch: Batch,
    bytes: usize,
    flush_at: Instant,
}

pub struct BatchProcessor {
    config: BatchConfig,
    keys: Vec<String>,
    context: StageContext,
    counters: ProcessorCounters,
    pending: BTreeMap<Vec<String>, Pending>,
}

impl BatchProcessor {
    pub fn new(config: BatchConfig, context: StageContext) -> BatchProcessor {
        let keys = config
            .batch_by
            .iter()
            .filter_map(|k| k.strip_prefix("resource:").map(str::to_string))
            .collect();
        let counters = ProcessorCounters::new(&context.id, &context.pipeline, &context.ledger);
        BatchProcessor {
            config,
            keys,
            context,
            counters,
            pending: BTreeMap::new(),
        }
    }

    pub async fn run(mut self, mut input: InputGuard, output: Fanout) {
        let deadline_passed = self.context.deadline_passed.clone();
        loop {
            let next_flush = self.pending.values().map(|p| p.flush_at).min();
            tokio::select! {
                biased;
                _ = deadline_passed.cancelled() => break,
                received = input.recv() => match received {
                    Some(batch) => {
                        self.counters.received.increment(batch.items() as u64);
                        let mut ready = self.add(batch).into_iter();
                        while let Some(next) = ready.next() {
                            if !self.send(&output, next).await {
                                let left: usize = ready.map(|b| b.items()).sum();
                                self.counters.undrained.increment(left as u64);
                                return self.give_up(input);
                            }
                        }
                    }
                    None => {
                        let mut rest = std::mem::take(&mut self.pending).into_values();
                        while let Some(pending) = rest.next() {
                            if !self.send(&output, pending.batch).await {
                                let left: usize = rest.map(|p| p.batch.items()).sum();
                                self.counters.undrained.increment(left as u64);
                                break;
                            }
                        }
                        return;
                    }
                },
                _ = sleep_until(next_flush.unwrap_or_else(Instant::now)), if next_flush.is_some() => {
                    let now = Instant::now();
                    let due: Vec<_> = self.pending.iter().filter(|(_, p)| p.flush_at <= now).map(|(k, _)| k.clone()).collect();
                    for key in due {
                        let Some(pending) = self.pending.remove(&key) else { continue };
                        if !self.send(&output, pending.batch).await {
                            return self.give_up(input);
                        }
                    }
                }
            }
        }
        self.give_up(input);
    }

    /// Takes a batch in; returns the batches now ready to go, in order.
    fn add(&mut self, mut batch: Batch) -> Vec<Batch> {
        let template = batch.clone_context_only();
        // Every pending batch that takes a piece takes a share; the originals are then done.
        let receipts = std::mem::take(&mut batch.context.receipts);
        let (max_items, max_bytes) = (self.config.max_items(), self.config.max_bytes());
        let size = |batch: &Batch| match max_bytes {
            usize::MAX => 0,
            _ => batch.encoded_len(),
        };
        // A batch that goes whole keeps its received bytes, and its items undecoded.
        let whole = self.keys.is_empty() && batch.items() <= max_items && size(&batch) <= max_bytes;
        let pieces: Vec<(Vec<String>, Batch)> = if whole {
            vec![(Vec::new(), batch)]
        } else {
            let parts = if self.keys.is_empty() {
                BTreeMap::from([(Vec::new(), batch.into_payload())])
            } else {
                group_by_resource(batch.into_payload(), &self.keys)
            };
            parts
                .into_iter()
                .flat_map(|(key, payload)| {
                    let cut = payload.item_count() > max_items
                        || (max_bytes != usize::MAX && payload.encoded_len() > max_bytes);
                    let pieces = match cut {
                        true => chunk(payload, max_items, max_bytes),
                        false => vec![payload],
                    };
                    let template = &template;
                    pieces.into_iter().map(move |piece| {
                        (
                            key.clone(),
                            template.clone_context_only().with_payload(piece),
                        )
                    })
                })
                .collect()
        };
        let mut ready = Vec::new();
        for (key, piece) in pieces {
            let bytes = size(&piece);
            let overflows = self.pending.get(&key).is_some_and(|p| {
                p.batch.items() + piece.items() > max_items || p.bytes + bytes > max_bytes
            });
            if overflows {
                ready.extend(self.pending.remove(&key).map(|p| p.batch));
            }
            let timeout = self.config.timeout;
            let pending = self.pending.entry(key.clone()).or_insert_with(|| Pending {
                batch: template.clone_context_only(),
                bytes: 0,
                flush_at: Instant::now() + timeout,
            });
            if !receipts.is_empty() {
                pending.batch.context.receipts.extend(receipts.clone());
            }
            pending.bytes += bytes;
            if let Err(e) = pending.batch.append(piece) {
                unreachable!("a pipeline carries one signal: {e}");
            }
            if pending.batch.items() >= self.config.send_batch_size {
                ready.extend(self.pending.remove(&key).map(|p| p.batch));
            }
        }
        receipts.settle();
        ready
    }

    /// False when the shutdown deadline passed or the next stage is gone.
    async fn send(&mut self, output: &Fanout, batch: Batch) -> bool {
        let items = batch.items() as u64;
        metrics::histogram!(names::BATCH_SIZE, "processor" => self.context.id.to_string(), "pipeline" => self.context.pipeline.clone())
            .record(items as f64);
        tokio::select! {
            biased;
            _ = self.context.deadline_passed.cancelled() => {
                self.counters.undrained.increment(items);
                false
            }
            sent = output.send(batch) => match sent {
                Ok(()) => {
                    self.counters.passed.increment(items);
                    true
                }
                Err(e) => {
                    self.counters.undrained.increment(items);
                    tracing::error!(processor = %self.context.id, pipeline = %self.context.pipeline, items, error = %e, "cannot pass a batch on");
                    false
                }
            }
        }
    }

    fn give_up(mut self, mut input: InputGuard) {
        let mut items: usize = std::mem::take(&mut self.pending)
            .values()
            .map(|p| p.batch.items())
            .sum();
        input.close();
        while let Ok(batch) = input.try_recv() {
            items += batch.items();
        }
        self.counters.undrained.increment(items as u64);
        if items > 0 {
            tracing::warn!(processor = %self.context.id, pipeline = %self.context.pipeline, items, "shutdown deadline passed with items not passed on");
        }
    }
}

impl Drop for BatchProcessor {
    /// Every way the task ends passes on or gives up what is pending, except a panic: then
    /// what it held is lost, and counted so (its receipts fail as they drop).
    fn drop(&mut self) {
        let items: usize = self.pending.values().map(|p| p.batch.items()).sum();
        if items > 0 {
            self.counters.failed.increment(items as u64);
            tracing::error!(processor = %self.context.id, pipeline = %self.context.pipeline, items, "the batch processor stopped holding items; they count as failed");
        }
    }
}

impl ComponentType for BatchConfig {
    const TYPE: &'static str = "batch";

    fn read<'de, D: serde::Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        crate::config::or_default(config)
    }
}

impl Component for BatchConfig {
    fn validate(&self) -> Vec<ConfigError> {
        BatchConfig::validate(self)
    }
}

impl ProcessorType for BatchConfig {
    fn queues(&self) -> bool {
        true
    }

    fn build(
        &self,
        _id: &ComponentId,
        _pipeline: &str,
        _ledger: &std::sync::Arc<crate::pipeline::ledger::Ledger>,
    ) -> ProcessorStage {
        ProcessorStage::Batch(self.clone())
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
