//! Hands a batch to every consumer of a stage: moved to the last one, cloned only for the others.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::batch::Batch;
use super::ledger::Ledger;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FanoutError {
    #[error("the pipeline queue is full")]
    Full,
    #[error("the pipeline is shutting down")]
    Closed,
}

#[derive(Debug, Clone)]
pub struct Fanout {
    consumers: Vec<mpsc::Sender<Batch>>,
    /// Where the extra copies are counted in: the running agent's ledger.
    ledger: Arc<Ledger>,
}

impl Default for Fanout {
    fn default() -> Fanout {
        Fanout::new(Vec::new())
    }
}

impl Fanout {
    /// Counting into the shared default ledger: for fan-outs built without a runtime.
    pub fn new(consumers: Vec<mpsc::Sender<Batch>>) -> Fanout {
        Fanout::with_ledger(consumers, Ledger::shared_default())
    }

    pub fn with_ledger(consumers: Vec<mpsc::Sender<Batch>>, ledger: Arc<Ledger>) -> Fanout {
        Fanout { consumers, ledger }
    }

    /// Each extra copy is an item of its own in the ledger (dead letters were counted already).
    fn count_copies(&self, batch: &Batch, extra: usize) {
        if extra > 0 && !batch.is_dead_letters() {
            self.ledger.received(batch.items() * extra);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    /// Whether some consumer has no room now: a hint for refusing before the work of decoding
    /// a request; `try_reserve` still decides.
    pub fn is_full(&self) -> bool {
        self.consumers
            .iter()
            .any(|consumer| consumer.capacity() == 0)
    }

    /// Waits for room in every consumer; used between stages so that a slow exporter slows
    /// its processors instead of growing a queue.
    pub async fn send(&self, batch: Batch) -> Result<(), FanoutError> {
        let Some((last, rest)) = self.consumers.split_last() else {
            return Ok(());
        };
        self.count_copies(&batch, rest.len());
        for consumer in rest {
            consumer
                .send(batch.clone())
                .await
                .map_err(|_| FanoutError::Closed)?;
        }
        last.send(batch).await.map_err(|_| FanoutError::Closed)
    }

    /// All or nothing, without waiting: a receiver must either hand the batch to every
    /// pipeline or refuse it to its client, never deliver it to some and refuse it to others.
    pub fn try_send(&self, batch: Batch) -> Result<(), FanoutError> {
        self.try_reserve()?.send(batch);
        Ok(())
    }

    /// Room in every consumer, held until sent or dropped.
    pub fn try_reserve(&self) -> Result<Reserved<'_>, FanoutError> {
        let mut permits = Vec::with_capacity(self.consumers.len());
        for consumer in &self.consumers {
            match consumer.try_reserve() {
                Ok(permit) => permits.push(permit),
                Err(mpsc::error::TrySendError::Full(())) => return Err(FanoutError::Full),
                Err(mpsc::error::TrySendError::Closed(())) => return Err(FanoutError::Closed),
            }
        }
        Ok(Reserved {
            permits,
            fanout: self,
        })
    }
}

pub struct Reserved<'a> {
    fanout: &'a Fanout,
    permits: Vec<mpsc::Permit<'a, Batch>>,
}

impl Reserved<'_> {
    pub fn send(mut self, batch: Batch) {
        let Some(last) = self.permits.pop() else {
            return;
        };
        self.fanout.count_copies(&batch, self.permits.len());
        for permit in self.permits {
            permit.send(batch.clone());
        }
        last.send(batch);
    }
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
