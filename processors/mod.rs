//! Processors: the middle of a pipeline. Each type is registered in the one `match` below.

pub mod batch;
pub mod filter;
mod items;
pub mod tag;
#[cfg(test)]
pub(crate) mod test_data;
pub mod validate;

use crate::config::{Component, ComponentId, ConfigError};
use crate::pipeline::batch::Signal;
use std::sync::Arc;

use crate::pipeline::inline::SharedInline;
use crate::pipeline::ledger::Ledger;
pub use crate::pipeline::processor_counters::ProcessorCounters;

/// What a processor type adds to its description: its place in a pipeline, and how each
/// pipeline's instance of it is built.
pub trait ProcessorType: Component {
    /// Sends refused items to the pipeline's `dead_letter` exporters.
    fn needs_dead_letter(&self) -> bool {
        false
    }

    /// Answers the client itself, so it must run before any queueing stage.
    fn must_run_before_queues(&self) -> bool {
        false
    }

    /// Holds items in a queue of its own (a batch processor).
    fn queues(&self) -> bool {
        false
    }

    /// Each pipeline gets its own instance, as in the OpenTelemetry Collector.
    fn build(&self, id: &ComponentId, pipeline: &str, ledger: &Arc<Ledger>) -> ProcessorStage;
}

crate::registry! {
    /// A processor's config, by type.
    pub enum ProcessorConfig: Processor as dyn ProcessorType {
        Batch(batch::BatchConfig),
        Tag(tag::TagConfig),
        Validate(validate::ValidateConfig),
        Filter(filter::FilterConfig),
    }
    extra {
        fn signals(&self) -> &'static [Signal] {
            self.description().signals()
        }

        fn validate(&self) -> Vec<ConfigError> {
            self.description().validate()
        }

        fn needs_dead_letter(&self) -> bool {
            self.description().needs_dead_letter()
        }

        fn must_run_before_queues(&self) -> bool {
            self.description().must_run_before_queues()
        }

        fn queues(&self) -> bool {
            self.description().queues()
        }
    }
}

/// How a processor runs: inline (in the receiving task, or as a stage after a queue) or as a
/// queueing stage task of its own.
#[derive(Clone)]
pub enum ProcessorStage {
    Inline(SharedInline),
    Batch(batch::BatchConfig),
}

impl ProcessorConfig {
    pub fn build(&self, id: &ComponentId, pipeline: &str, ledger: &Arc<Ledger>) -> ProcessorStage {
        self.description().build(id, pipeline, ledger)
    }
}
