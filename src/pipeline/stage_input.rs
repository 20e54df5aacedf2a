//! A stage's input channel, kept apart from the task that reads it: when a supervised task
//! dies, the batches waiting for it stay in the channel, and the task started in its place
//! takes the channel over.

use std::sync::Arc;

use tokio::sync::{mpsc, Mutex, OwnedMutexGuard};

use super::batch::Batch;

/// What one incarnation of a stage holds while it runs; released when its task ends or unwinds.
pub type InputGuard = OwnedMutexGuard<mpsc::Receiver<Batch>>;

#[derive(Clone)]
pub struct SharedInput(Arc<Mutex<mpsc::Receiver<Batch>>>);

impl SharedInput {
    pub fn new(input: mpsc::Receiver<Batch>) -> SharedInput {
        SharedInput(Arc::new(Mutex::new(input)))
    }

    /// Waits for the previous incarnation, if any, to let go.
    pub async fn take(&self) -> InputGuard {
        self.0.clone().lock_owned().await
    }

    /// No batch is waiting and none can come (every sender is gone, or the input was closed
    /// at the deadline): a task that stops now stops for good. False while a task holds it.
    pub fn is_finished(&self) -> bool {
        self.0
            .try_lock()
            .is_ok_and(|input| input.is_closed() && input.is_empty())
    }
}
