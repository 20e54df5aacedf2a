//! The pipeline engine: receivers feed each pipeline's chain of processors, whose output fans
//! out to the pipeline's exporters; stages are tasks joined by bounded channels.

pub mod admission;
pub mod attributes;
pub mod batch;
pub mod chunk;
pub mod codec;
pub mod dead_letter;
pub mod encoded;
pub mod exporter_input;
pub mod fanout;
pub mod ids;
pub mod inline;
pub mod ledger;
pub mod memory;
pub mod otlp_json;
pub mod processor_counters;
pub mod receipt;
pub mod stage_input;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use crate::model::{ComponentId, Signal};
use fanout::Fanout;

/// Batches, not bytes: each stage holds at most this many batches waiting for it.
pub const STAGE_QUEUE_CAPACITY: usize = 64;
/// Behind a batch processor an exporter's queue holds about this many items in all (but at
/// least two batches): 64 batches of 8192 spans would be half a million spans, a gigabyte
/// decoded, waiting on a slow exporter while receivers keep saying yes.
pub const EXPORTER_QUEUE_ITEMS: usize = 32_768;

/// Where a receiver's data enters one pipeline: the inline processors it runs itself, then
/// the first queued stage, and where refused items go.
pub struct PipelineEntry {
    pub pipeline: String,
    pub inline: Vec<inline::SharedInline>,
    pub next: Fanout,
    pub dead_letter: Fanout,
    /// The same exporters, for the batches to carry (none when the pipeline has none).
    pub dead_letter_route: Option<batch::DeadLetterRoute>,
}

/// Where a receiver sends each signal: every pipeline it feeds, at one moment.
#[derive(Clone, Default)]
pub struct RouteMap {
    by_signal: BTreeMap<Signal, Vec<Arc<PipelineEntry>>>,
}

impl RouteMap {
    pub fn add(&mut self, signal: Signal, entry: Arc<PipelineEntry>) {
        self.by_signal.entry(signal).or_default().push(entry);
    }

    pub fn get(&self, signal: Signal) -> Option<&[Arc<PipelineEntry>]> {
        self.by_signal.get(&signal).map(Vec::as_slice)
    }
}

/// A receiver's routes, which a reload may replace while the receiver keeps running: each
/// request routes by the map it loaded, so it reaches the old pipelines or the new ones whole,
/// and the old pipelines drain once the last request that loaded them is done.
#[derive(Clone)]
pub struct Routes {
    current: Arc<RwLock<Arc<RouteMap>>>,
    /// The running agent's: what the receiver admits or refuses is counted in it.
    ledger: Arc<ledger::Ledger>,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new(RouteMap::default(), ledger::Ledger::shared_default())
    }
}

impl Routes {
    pub fn new(map: RouteMap, ledger: Arc<ledger::Ledger>) -> Routes {
        Routes {
            current: Arc::new(RwLock::new(Arc::new(map))),
            ledger,
        }
    }

    pub fn ledger(&self) -> &Arc<ledger::Ledger> {
        &self.ledger
    }

    pub fn load(&self) -> Arc<RouteMap> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn replace(&self, map: RouteMap) {
        let old = std::mem::replace(
            &mut *self
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Arc::new(map),
        );
        // The old pipelines' senders go here, outside the lock.
        drop(old);
    }
}

/// What a processor task needs to know about its place in the graph.
#[derive(Debug, Clone)]
pub struct StageContext {
    pub id: ComponentId,
    pub pipeline: String,
    pub signal: Signal,
    /// Cancelled only when the shutdown deadline has passed: the task then gives up, counting
    /// what it could not pass on.
    pub deadline_passed: CancellationToken,
    pub ledger: Arc<ledger::Ledger>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start {component}: {message}")]
pub struct StartError {
    pub component: String,
    pub message: String,
}

impl StartError {
    pub fn new(component: &ComponentId, message: impl ToString) -> StartError {
        StartError {
            component: component.to_string(),
            message: message.to_string(),
        }
    }
}
