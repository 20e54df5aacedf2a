//! The accounting invariant. Every item that reaches a receiver is counted in, once per copy
//! the pipelines make of it (one per pipeline, one per exporter of a pipeline, and again when
//! a disk queue recovers it after a restart), and counted out once per copy with its outcome:
//!
//! `received = delivered + dead_lettered + refused + dropped + failed + undrained + queued`
//!
//! `queued` is what is still in memory or on disk. After quiescence (no load, queues drained)
//! `queued` equals the disk queues' own count, which is 0 once everything was delivered: an
//! item lost without being counted would show there. Dead letters themselves are not counted
//! again on their way through a dead-letter exporter: the item was counted out as dead-lettered.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use metrics::Counter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Delivered,
    DeadLettered,
    Refused,
    Dropped,
    Failed,
    Undrained,
}

impl Exit {
    const ALL: [Exit; 6] = [
        Exit::Delivered,
        Exit::DeadLettered,
        Exit::Refused,
        Exit::Dropped,
        Exit::Failed,
        Exit::Undrained,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Exit::Delivered => "delivered",
            Exit::DeadLettered => "dead_lettered",
            Exit::Refused => "refused",
            Exit::Dropped => "dropped",
            Exit::Failed => "failed",
            Exit::Undrained => "undrained",
        }
    }
}

static RECEIVED: AtomicU64 = AtomicU64::new(0);
static EXITED: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
static ON_DISK: AtomicI64 = AtomicI64::new(0);

/// Items in: accepted by a receiver, refused by one, copied by a fan-out, or recovered from disk.
pub fn received(items: usize) {
    RECEIVED.fetch_add(items as u64, Ordering::Relaxed);
}

pub fn exited(exit: Exit, items: usize) {
    EXITED[exit as usize].fetch_add(items as u64, Ordering::Relaxed);
}

/// A disk queue's change in the items it holds.
pub fn on_disk(change: i64) {
    ON_DISK.fetch_add(change, Ordering::Relaxed);
}

/// Sets the gauges from the counts; called before each `/metrics` answer.
pub fn publish() {
    let received = RECEIVED.load(Ordering::Relaxed);
    metrics::gauge!(NAME, "outcome" => "received").set(received as f64);
    let mut out = 0;
    for exit in Exit::ALL {
        let items = EXITED[exit as usize].load(Ordering::Relaxed);
        out += items;
        metrics::gauge!(NAME, "outcome" => exit.as_str()).set(items as f64);
    }
    metrics::gauge!(QUEUED).set(received as f64 - out as f64);
    metrics::gauge!(QUEUED_ON_DISK).set(ON_DISK.load(Ordering::Relaxed) as f64);
}

pub const NAME: &str = "tributary_accounting_items";
/// `received` minus every outcome: in memory or on disk now.
pub const QUEUED: &str = "tributary_accounting_queued_items";
pub const QUEUED_ON_DISK: &str = "tributary_accounting_queued_on_disk_items";

/// A Prometheus counter that also counts its items out of the ledger.
#[derive(Clone)]
pub struct CountedOut {
    counter: Counter,
    exit: Exit,
}

impl CountedOut {
    pub fn new(counter: Counter, exit: Exit) -> CountedOut {
        CountedOut { counter, exit }
    }

    pub fn increment(&self, items: u64) {
        self.counter.increment(items);
        exited(self.exit, items as usize);
    }
}
