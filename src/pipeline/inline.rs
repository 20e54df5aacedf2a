//! Inline processors (tag, validate, filter) change a batch without holding it. At the head of a
//! pipeline they run in the receiving task, as the OpenTelemetry Collector runs its processors,
//! so that the receiver can tell its client what they refused (`partial_success`) or refuse the
//! request outright; after a batch processor they run as a stage task of their own.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::batch::{Batch, DeadLetter, DeadLetters, Payload};
use super::fanout::Fanout;
use super::StageContext;

/// How many refusal reasons a client is told.
const REASONS_KEPT: usize = 3;

/// What the inline processors did to one batch besides passing the rest on.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Items refused as invalid (dead-lettered or dropped), reported as `partial_success`.
    pub rejected: usize,
    pub reasons: Vec<String>,
    pub dead_letters: Vec<DeadLetter>,
    /// Set by a processor configured to refuse a whole request that holds an invalid item.
    pub reject_request: Option<String>,
}

impl Outcome {
    pub fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < REASONS_KEPT && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    /// The dead letters as one batch for the dead-letter exporters.
    pub fn take_dead_letters(&mut self, batch_source: &Batch) -> Option<Batch> {
        if self.dead_letters.is_empty() {
            return None;
        }
        let letters = std::mem::take(&mut self.dead_letters);
        let payload = Payload::DeadLetters(DeadLetters {
            signal: batch_source.signal(),
            letters,
        });
        Some(Batch::new(payload, batch_source.context.source.clone()))
    }
}

pub trait InlineProcessor: Send + Sync + 'static {
    /// Returns what passes on; `None` when nothing is left.
    fn process(&self, batch: Batch, outcome: &mut Outcome) -> Option<Batch>;
}

pub type SharedInline = Arc<dyn InlineProcessor>;

/// Runs `processors` in order, stopping early once nothing is left.
pub fn run_chain(
    processors: &[SharedInline],
    batch: Batch,
    outcome: &mut Outcome,
) -> Option<Batch> {
    let mut current = Some(batch);
    for processor in processors {
        current = processor.process(current?, outcome);
    }
    current.filter(|b| b.items() > 0)
}

/// An inline processor placed after a batch processor: a stage task of its own. No client is
/// waiting any more, so what it refuses can only be dead-lettered or dropped.
pub async fn run_stage(
    processor: SharedInline,
    context: StageContext,
    mut input: mpsc::Receiver<Batch>,
    output: Fanout,
    dead_letter: Fanout,
) {
    loop {
        let batch = tokio::select! {
            biased;
            _ = context.deadline_passed.cancelled() => break,
            received = input.recv() => match received {
                Some(batch) => batch,
                None => return,
            },
        };
        let mut outcome = Outcome::default();
        let source = batch.clone_context_only();
        let passed = processor.process(batch, &mut outcome);
        if let Some(letters) = outcome.take_dead_letters(&source) {
            if dead_letter.send(letters).await.is_err() {
                tracing::error!(processor = %context.id, pipeline = %context.pipeline, "the dead-letter exporters are gone");
            }
        }
        if let Some(passed) = passed.filter(|b| b.items() > 0) {
            if output.send(passed).await.is_err() {
                break;
            }
        }
    }
    input.close();
    let mut undrained = 0;
    while let Ok(batch) = input.try_recv() {
        undrained += batch.items();
    }
    if undrained > 0 {
        tracing::warn!(processor = %context.id, pipeline = %context.pipeline, items = undrained, "shutdown deadline passed with items not processed");
    }
}
