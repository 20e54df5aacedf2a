//! Inline processors (tag, validate, filter) change a batch without holding it. At the head of a
//! pipeline they run in the receiving task, as the OpenTelemetry Collector runs its processors,
//! so that the receiver can tell its client what they refused (`partial_success`) or refuse the
//! request outright; after a batch processor they run as a stage task of their own.

use std::sync::Arc;

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
    with_receipts(batch, |batch| {
        let mut current = Some(batch);
        for processor in processors {
            current = processor.process(current?, outcome);
        }
        current
    })
}

/// Runs `process` with the batch's receipts held aside: they go on with what passes, and are
/// settled when nothing does (dropped, dead-lettered or refused items are accounted for there,
/// not lost). Processors need not know about receipts.
fn with_receipts(mut batch: Batch, process: impl FnOnce(Batch) -> Option<Batch>) -> Option<Batch> {
    let receipts = std::mem::take(&mut batch.context.receipts);
    match process(batch).filter(|b| b.items() > 0) {
        Some(mut passed) => {
            passed.context.receipts.extend(receipts);
            Some(passed)
        }
        None => {
            receipts.settle();
            None
        }
    }
}

/// An inline processor placed after a batch processor: a stage task of its own. No client is
/// waiting any more, so what it refuses can only be dead-lettered or dropped.
pub async fn run_stage(
    processor: SharedInline,
    context: StageContext,
    mut input: super::stage_input::InputGuard,
    output: Fanout,
    dead_letter: Fanout,
) {
    let counters = super::processor_counters::ProcessorCounters::new(
        &context.id,
        &context.pipeline,
        &context.ledger,
    );
    let deadline = context.deadline_passed.clone();
    loop {
        let batch = tokio::select! {
            biased;
            _ = deadline.cancelled() => break,
            received = input.recv() => match received {
                Some(batch) => batch,
                None => return,
            },
        };
        let mut outcome = Outcome::default();
        let source = batch.clone_context_only();
        let passed = with_receipts(batch, |batch| processor.process(batch, &mut outcome));
        // What cannot be passed on at the deadline is counted undrained, beside the outcome
        // the processor already gave it, so that a loss never goes uncounted.
        if let Some(letters) = outcome.take_dead_letters(&source) {
            let items = letters.items() as u64;
            if !send_before(&dead_letter, letters, &deadline).await {
                // Counted out of the ledger as dead-lettered already: only the counter moves.
                counters.undrained.increment_counter_only(items);
                tracing::error!(processor = %context.id, pipeline = %context.pipeline, items, "dead letters not passed on");
            }
        }
        if let Some(passed) = passed {
            let items = passed.items() as u64;
            if !send_before(&output, passed, &deadline).await {
                counters.undrained.increment(items);
                break;
            }
        }
    }
    input.close();
    let mut undrained = 0;
    while let Ok(batch) = input.try_recv() {
        undrained += batch.items();
    }
    counters.undrained.increment(undrained as u64);
    if undrained > 0 {
        tracing::warn!(processor = %context.id, pipeline = %context.pipeline, items = undrained, "shutdown deadline passed with items not processed");
    }
}

/// False when the deadline passed first or the next stage is gone.
async fn send_before(
    to: &Fanout,
    batch: Batch,
    deadline: &tokio_util::sync::CancellationToken,
) -> bool {
    tokio::select! {
        biased;
        _ = deadline.cancelled() => false,
        sent = to.send(batch) => sent.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::ComponentId;
    use crate::pipeline::batch::{Payload, Signal};

    /// Refuses every other batch as a dead letter, passes the rest.
    struct Alternate;

    impl InlineProcessor for Alternate {
        fn process(&self, batch: Batch, outcome: &mut Outcome) -> Option<Batch> {
            if batch.context.source.as_ref() == "odd" {
                outcome
                    .dead_letters
                    .push(crate::pipeline::batch::DeadLetter::new(
                        batch.into_payload(),
                        "odd",
                        "Test",
                        "alternate",
                        "traces",
                    ));
                return None;
            }
            Some(batch)
        }
    }

    fn spans(source: &str) -> Batch {
        let mut payload = Payload::empty(Signal::Traces);
        if let Payload::Traces(request) = &mut payload {
            request
                .resource_spans
                .push(opentelemetry_proto::tonic::trace::v1::ResourceSpans {
                    scope_spans: vec![opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                        spans: vec![Default::default()],
                        ..Default::default()
                    }],
                    ..Default::default()
                });
        }
        Batch::new(payload, source.into())
    }

    #[tokio::test]
    async fn a_stage_passes_on_and_dead_letters_until_its_input_closes() {
        let (input, input_rx) = mpsc::channel(8);
        let (output_tx, mut output) = mpsc::channel(8);
        let (dead_tx, mut dead) = mpsc::channel(8);
        let context = StageContext {
            id: ComponentId::parse("alternate").unwrap(),
            pipeline: "traces".into(),
            signal: Signal::Traces,
            deadline_passed: CancellationToken::new(),

            ledger: crate::pipeline::ledger::Ledger::shared_default(),
        };
        let task = tokio::spawn(run_stage(
            Arc::new(Alternate),
            context,
            crate::pipeline::stage_input::SharedInput::new(input_rx)
                .take()
                .await,
            Fanout::new(vec![output_tx]),
            Fanout::new(vec![dead_tx]),
        ));
        for source in ["even", "odd", "even"] {
            input.send(spans(source)).await.unwrap();
        }
        drop(input);
        task.await.unwrap();
        assert_eq!(output.recv().await.unwrap().items(), 1);
        assert_eq!(output.recv().await.unwrap().items(), 1);
        assert!(output.recv().await.is_none());
        let letters = dead.recv().await.unwrap();
        assert!(
            matches!(letters.into_payload(), Payload::DeadLetters(ref d) if d.letters.len() == 1)
        );
    }

    #[tokio::test]
    async fn a_stuck_next_stage_does_not_hold_the_stage_past_the_deadline() {
        let (input, input_rx) = mpsc::channel(8);
        let (output_tx, _output_never_read) = mpsc::channel(1);
        let deadline = CancellationToken::new();
        let context = StageContext {
            id: ComponentId::parse("alternate").unwrap(),
            pipeline: "traces".into(),
            signal: Signal::Traces,
            deadline_passed: deadline.clone(),

            ledger: crate::pipeline::ledger::Ledger::shared_default(),
        };
        let task = tokio::spawn(run_stage(
            Arc::new(Alternate),
            context,
            crate::pipeline::stage_input::SharedInput::new(input_rx)
                .take()
                .await,
            Fanout::new(vec![output_tx]),
            Fanout::default(),
        ));
        for _ in 0..3 {
            input.send(spans("even")).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!task.is_finished());
        deadline.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(2), task)
            .await
            .expect("stops at the deadline")
            .unwrap();
    }
}
