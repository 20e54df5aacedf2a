//! What a processor's items became: the counters every processor stage reports, each outcome
//! also counted out of the ledger.

use metrics::Counter;

use crate::model::names;
use crate::model::ComponentId;
use std::sync::Arc;

use crate::pipeline::ledger::{CountedOut, Exit, Ledger};

/// Every item a processor receives ends in exactly one of passed, dropped, dead-lettered or
/// refused (or, at a shutdown deadline, undrained; or failed, held by a stage that panicked).
#[derive(Clone)]
pub struct ProcessorCounters {
    pub received: Counter,
    pub passed: Counter,
    pub dropped: CountedOut,
    pub dead_lettered: CountedOut,
    pub refused: Counter,
    pub undrained: CountedOut,
    pub failed: CountedOut,
}

impl ProcessorCounters {
    pub fn new(id: &ComponentId, pipeline: &str, ledger: &Arc<Ledger>) -> ProcessorCounters {
        let labels = |outcome: &'static str| {
            [
                ("processor", id.to_string()),
                ("pipeline", pipeline.to_string()),
                ("outcome", outcome.to_string()),
            ]
        };
        let base = [
            ("processor", id.to_string()),
            ("pipeline", pipeline.to_string()),
        ];
        ProcessorCounters {
            received: metrics::counter!(names::PROCESSOR_RECEIVED, &base),
            passed: metrics::counter!(names::PROCESSOR_ITEMS, &labels("passed")),
            dropped: CountedOut::new(
                metrics::counter!(names::PROCESSOR_ITEMS, &labels("dropped")),
                Exit::Dropped,
                ledger.clone(),
            ),
            dead_lettered: CountedOut::new(
                metrics::counter!(names::PROCESSOR_ITEMS, &labels("dead_lettered")),
                Exit::DeadLettered,
                ledger.clone(),
            ),
            refused: metrics::counter!(names::PROCESSOR_ITEMS, &labels("refused")),
            undrained: CountedOut::new(
                metrics::counter!(names::PROCESSOR_ITEMS, &labels("undrained")),
                Exit::Undrained,
                ledger.clone(),
            ),
            failed: CountedOut::new(
                metrics::counter!(names::PROCESSOR_ITEMS, &labels("failed")),
                Exit::Failed,
                ledger.clone(),
            ),
        }
    }
}
