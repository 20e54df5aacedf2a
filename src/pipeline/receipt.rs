//! Acknowledgements that follow a batch through the pipeline. A batch may carry receipts; every
//! copy, piece or merge of it carries its own share. A share is settled by whoever takes final
//! responsibility for its items (an exporter once Kafka acknowledged them, a disk queue once
//! they are written, a processor that drops them on purpose). A share dropped unsettled (a
//! shutdown deadline, a failed delivery) fails the whole receipt: the default is "not done",
//! so a forgotten path costs a retry, never a silent loss.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How far a batch must get before its receipt is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AckLevel {
    /// In a disk queue (or, without one, delivered).
    Queued,
    /// Acknowledged by the destination.
    Delivered,
}

type Done = Box<dyn FnOnce(bool) + Send>;

struct Shared {
    level: AckLevel,
    failed: AtomicBool,
    done: Mutex<Option<Done>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let done = self.done.get_mut().ok().and_then(Option::take);
        if let Some(done) = done {
            done(!self.failed.load(Ordering::Acquire));
        }
    }
}

/// One share of a batch's acknowledgement.
pub struct Receipt {
    shared: Arc<Shared>,
    settled: bool,
}

impl Receipt {
    /// `done` runs once every share is settled (`true`) or any share was lost (`false`).
    pub fn new(level: AckLevel, done: impl FnOnce(bool) + Send + 'static) -> Receipt {
        Receipt {
            shared: Arc::new(Shared {
                level,
                failed: AtomicBool::new(false),
                done: Mutex::new(Some(Box::new(done))),
            }),
            settled: false,
        }
    }

    /// A receipt whose outcome arrives on a channel.
    pub fn channel(level: AckLevel) -> (Receipt, tokio::sync::oneshot::Receiver<bool>) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let receipt = Receipt::new(level, move |delivered| {
            let _ = sender.send(delivered);
        });
        (receipt, receiver)
    }

    pub fn level(&self) -> AckLevel {
        self.shared.level
    }

    pub fn settle(mut self) {
        self.settled = true;
    }
}

impl Clone for Receipt {
    /// Another share, to be settled on its own.
    fn clone(&self) -> Receipt {
        Receipt {
            shared: self.shared.clone(),
            settled: false,
        }
    }
}

impl Drop for Receipt {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.failed.store(true, Ordering::Release);
        }
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Receipt({:?})", self.shared.level)
    }
}

impl PartialEq for Receipt {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Receipt {}

/// The receipts a batch carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipts(Vec<Receipt>);

impl Receipts {
    pub fn one(receipt: Receipt) -> Receipts {
        Receipts(vec![receipt])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Settles every share: their items are now someone's final responsibility.
    pub fn settle(self) {
        self.0.into_iter().for_each(Receipt::settle);
    }

    /// Takes another batch's shares, as when batches are merged.
    pub fn extend(&mut self, other: Receipts) {
        self.0.extend(other.0);
    }

    /// Splits by level: (wanting at most `level`, wanting more).
    pub fn split_at_level(self, level: AckLevel) -> (Receipts, Receipts) {
        let (low, high) = self.0.into_iter().partition(|r| r.level() <= level);
        (Receipts(low), Receipts(high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn watched(level: AckLevel) -> (Receipt, Arc<AtomicUsize>) {
        // 0: pending, 1: settled, 2: failed
        let state = Arc::new(AtomicUsize::new(0));
        let seen = state.clone();
        let receipt = Receipt::new(level, move |ok| {
            seen.store(if ok { 1 } else { 2 }, Ordering::SeqCst)
        });
        (receipt, state)
    }

    #[test]
    fn done_once_every_share_is_settled() {
        let (receipt, state) = watched(AckLevel::Delivered);
        let (a, b) = (receipt.clone(), receipt.clone());
        receipt.settle();
        a.settle();
        assert_eq!(state.load(Ordering::SeqCst), 0, "one share is still out");
        b.settle();
        assert_eq!(state.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_share_dropped_unsettled_fails_the_receipt() {
        let (receipt, state) = watched(AckLevel::Delivered);
        let lost = receipt.clone();
        receipt.settle();
        drop(lost);
        assert_eq!(state.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn receipts_split_by_the_level_they_wait_for() {
        let (queued, _) = watched(AckLevel::Queued);
        let (delivered, _) = watched(AckLevel::Delivered);
        let mut receipts = Receipts::one(queued);
        receipts.extend(Receipts::one(delivered));
        let (now, later) = receipts.split_at_level(AckLevel::Queued);
        assert_eq!((now.0.len(), later.0.len()), (1, 1));
        assert_eq!(later.0[0].level(), AckLevel::Delivered);
        now.settle();
        later.settle();
    }
}
