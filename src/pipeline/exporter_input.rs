//! The exporter harness: the one place that takes batches from an exporter's input, counts
//! them in, counts out what one incarnation of the exporter still holds when it ends, and at
//! the shutdown deadline gives up on what is left in the input.
//!
//! Every exporter reads its input through an [`Intake`] and reports what became of each item
//! through its [`Outcomes`] (sent, failed, dead-lettered, undrained), which moves the exporter's
//! counters and the ledger together. The outcomes know what the incarnation took and what it
//! counted out: when it ends, what is left is undrained (the deadline passed) or failed (it
//! panicked or stopped while its input was open), and a late report from it (a delivery
//! acknowledged after the deadline, by a task the dead incarnation left behind) counts no more.
//! Dead letters are counted on the exporter's counters but never in the ledger: their items
//! were counted out as dead-lettered already (see `ledger.rs`).

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::batch::Batch;
use super::ledger::{Exit, Ledger};
use super::stage_input::{InputGuard, SharedInput};
use crate::model::names;

/// One incarnation's record of its items.
#[derive(Clone)]
pub struct Outcomes(Arc<Tally>);

struct Tally {
    exporter: String,
    ledger: Arc<Ledger>,
    state: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Items taken in and not yet counted out: data (in the ledger) and dead letters (not).
    data: u64,
    letters: u64,
    /// Set when the incarnation ended: nothing counts any more.
    closed: bool,
}

impl Outcomes {
    /// Counted in the shared default ledger: for exporters built without a runtime.
    pub fn new(exporter: &str) -> Outcomes {
        Outcomes::with_ledger(exporter, Ledger::shared_default())
    }

    pub fn with_ledger(exporter: &str, ledger: Arc<Ledger>) -> Outcomes {
        Outcomes(Arc::new(Tally {
            exporter: exporter.to_string(),
            ledger,
            state: Mutex::new(Held::default()),
        }))
    }

    pub fn exporter(&self) -> &str {
        &self.0.exporter
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.0.ledger
    }

    pub fn sent(&self, items: usize, letters: bool) {
        self.out(Exit::Delivered, names::EXPORTER_SENT, items, letters);
    }

    pub fn failed(&self, items: usize, letters: bool) {
        self.out(Exit::Failed, names::EXPORTER_FAILED, items, letters);
    }

    pub fn dead_lettered(&self, items: usize, letters: bool) {
        self.out(
            Exit::DeadLettered,
            names::EXPORTER_DEAD_LETTERED,
            items,
            letters,
        );
    }

    pub fn undrained(&self, items: usize, letters: bool) {
        self.out(Exit::Undrained, names::EXPORTER_UNDRAINED, items, letters);
    }

    /// Data that enters the ledger here, not at a fan-out: a disk queue's records recovered
    /// after a restart, or handed over again after the exporter failed them.
    pub fn received_again(&self, items: usize) {
        if self.count_in(items, false) {
            self.0.ledger.received(items);
        }
    }

    /// False once the incarnation ended.
    fn count_in(&self, items: usize, letters: bool) -> bool {
        {
            let mut held = self.held();
            if held.closed {
                return false;
            }
            *held.of(letters) += items as u64;
        }
        metrics::counter!(names::EXPORTER_RECEIVED, "exporter" => self.0.exporter.clone())
            .increment(items as u64);
        true
    }

    fn out(&self, exit: Exit, counter: &'static str, items: usize, letters: bool) {
        {
            let mut held = self.held();
            if held.closed {
                return;
            }
            let of = held.of(letters);
            *of = of.saturating_sub(items as u64);
        }
        self.count(exit, counter, items, letters);
    }

    fn count(&self, exit: Exit, counter: &'static str, items: usize, letters: bool) {
        if items == 0 {
            return;
        }
        metrics::counter!(counter, "exporter" => self.0.exporter.clone()).increment(items as u64);
        if !letters {
            self.0.ledger.exited(exit, items);
        }
    }

    /// Ends the incarnation: what it still holds gets `exit`. Returns the items.
    fn close(&self, exit: Exit) -> u64 {
        let (data, letters) = {
            let mut held = self.held();
            if held.closed {
                return 0;
            }
            held.closed = true;
            (held.data, held.letters)
        };
        let counter = match exit {
            Exit::Undrained => names::EXPORTER_UNDRAINED,
            _ => names::EXPORTER_FAILED,
        };
        self.count(exit, counter, data as usize, false);
        self.count(exit, counter, letters as usize, true);
        data + letters
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Held {
    fn of(&mut self, letters: bool) -> &mut u64 {
        if letters {
            &mut self.letters
        } else {
            &mut self.data
        }
    }
}

/// An exporter's (or its disk queue's) hold on its input.
pub struct Intake {
    input: InputGuard,
    outcomes: Outcomes,
    deadline_passed: CancellationToken,
    counts_in: bool,
}

impl Intake {
    /// Waits for the input, which a previous incarnation may still hold. `counts_in` is false
    /// for an exporter behind a disk queue: the queue counted its batches in.
    pub async fn take(
        input: &SharedInput,
        outcomes: Outcomes,
        deadline_passed: CancellationToken,
        counts_in: bool,
    ) -> Intake {
        Intake {
            input: input.take().await,
            outcomes,
            deadline_passed,
            counts_in,
        }
    }

    /// The next batch, counted in; `None` once the input is closed and empty, or the deadline
    /// passed. Cancel-safe, for a `select!`.
    pub async fn next(&mut self) -> Option<Batch> {
        let batch = tokio::select! {
            biased;
            _ = self.deadline_passed.cancelled() => return None,
            received = self.input.recv() => received?,
        };
        if self.counts_in {
            self.outcomes
                .count_in(batch.items(), batch.is_dead_letters());
        }
        Some(batch)
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    pub fn outcomes(&self) -> &Outcomes {
        &self.outcomes
    }

    pub fn deadline_passed(&self) -> &CancellationToken {
        &self.deadline_passed
    }
}

impl Drop for Intake {
    /// Past the deadline the input closes, and every batch still in it is counted in and out
    /// as undrained; its receipts are dropped unsettled, so whoever waits hears it failed.
    fn drop(&mut self) {
        if !self.deadline_passed.is_cancelled() {
            return;
        }
        self.input.close();
        let mut items = 0;
        while let Ok(batch) = self.input.try_recv() {
            let letters = batch.is_dead_letters();
            if self.counts_in {
                self.outcomes.count_in(batch.items(), letters);
            }
            self.outcomes.undrained(batch.items(), letters);
            items += batch.items();
        }
        if items > 0 {
            tracing::warn!(exporter = %self.outcomes.exporter(), items, "shutdown deadline passed with items still in the exporter's input");
        }
    }
}

/// Runs one incarnation of an exporter. What it took and did not count out by the time it
/// ends is undrained if the deadline passed (however it ended: returned, panicked, or aborted
/// after the grace time), else failed: it panicked, or stopped with its input open (a bug:
/// logged). Either way its outcomes close, so nothing it left behind counts again.
pub async fn run_incarnation(
    outcomes: Outcomes,
    deadline_passed: CancellationToken,
    run: impl Future<Output = ()>,
) {
    let mut ending = Ending {
        outcomes,
        deadline_passed,
        finished: false,
    };
    run.await;
    ending.finished = true;
}

/// Closes the outcomes when the incarnation's future ends or is dropped (a panic, an abort).
struct Ending {
    outcomes: Outcomes,
    deadline_passed: CancellationToken,
    finished: bool,
}

impl Drop for Ending {
    fn drop(&mut self) {
        let exporter = self.outcomes.exporter().to_string();
        if self.deadline_passed.is_cancelled() {
            let items = self.outcomes.close(Exit::Undrained);
            if items > 0 {
                tracing::warn!(
                    exporter,
                    items,
                    "shutdown deadline passed with items not delivered"
                );
            }
            return;
        }
        let items = self.outcomes.close(Exit::Failed);
        if items > 0 {
            let how = if self.finished { "stopped" } else { "panicked" };
            tracing::error!(
                exporter,
                items,
                "the exporter {how} holding items it had not delivered; they count as failed"
            );
        }
    }
}

#[cfg(test)]
#[path = "exporter_input_tests.rs"]
mod tests;
