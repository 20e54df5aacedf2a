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
use std::sync::{Arc, OnceLock};

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
    pub const ALL: [Exit; 6] = [
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

/// One running agent's counts. The runtime makes one when the agent starts and hands it to
/// every component it builds, across reloads; components built outside a runtime (in tests
/// and benchmarks) share `Ledger::shared_default`.
#[derive(Debug, Default)]
pub struct Ledger {
    received: AtomicU64,
    exited: [AtomicU64; 6],
    on_disk: AtomicI64,
}

/// The counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub received: u64,
    pub exited: [u64; 6],
    pub on_disk: i64,
}

impl Snapshot {
    pub fn exited(&self, exit: Exit) -> u64 {
        self.exited[exit as usize]
    }

    /// `received` minus every outcome: in memory or on disk now.
    pub fn queued(&self) -> i64 {
        self.received as i64 - self.exited.iter().sum::<u64>() as i64
    }
}

impl Ledger {
    pub fn new() -> Arc<Ledger> {
        Arc::new(Ledger::default())
    }

    /// For components built without a runtime.
    pub fn shared_default() -> Arc<Ledger> {
        static DEFAULT: OnceLock<Arc<Ledger>> = OnceLock::new();
        DEFAULT.get_or_init(Ledger::new).clone()
    }

    /// Items in: accepted by a receiver, refused by one, copied by a fan-out, or recovered from
    /// disk.
    pub fn received(&self, items: usize) {
        self.received.fetch_add(items as u64, Ordering::Relaxed);
    }

    pub fn exited(&self, exit: Exit, items: usize) {
        self.exited[exit as usize].fetch_add(items as u64, Ordering::Relaxed);
    }

    /// A disk queue's change in the items it holds.
    pub fn on_disk(&self, change: i64) {
        self.on_disk.fetch_add(change, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            received: self.received.load(Ordering::Relaxed),
            exited: std::array::from_fn(|index| self.exited[index].load(Ordering::Relaxed)),
            on_disk: self.on_disk.load(Ordering::Relaxed),
        }
    }

    /// Sets the gauges from the counts; called before each `/metrics` answer.
    pub fn publish(&self) {
        let now = self.snapshot();
        metrics::gauge!(NAME, "outcome" => "received").set(now.received as f64);
        for exit in Exit::ALL {
            metrics::gauge!(NAME, "outcome" => exit.as_str()).set(now.exited(exit) as f64);
        }
        metrics::gauge!(QUEUED).set(now.queued() as f64);
        metrics::gauge!(QUEUED_ON_DISK).set(now.on_disk as f64);
    }
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
    ledger: Arc<Ledger>,
}

impl CountedOut {
    pub fn new(counter: Counter, exit: Exit, ledger: Arc<Ledger>) -> CountedOut {
        CountedOut {
            counter,
            exit,
            ledger,
        }
    }

    pub fn increment(&self, items: u64) {
        self.counter.increment(items);
        self.ledger.exited(self.exit, items as usize);
    }

    /// The counter alone, for items the ledger counted out already (dead letters).
    pub fn increment_counter_only(&self, items: u64) {
        self.counter.increment(items);
    }
}
