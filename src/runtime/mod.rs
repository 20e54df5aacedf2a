//! The runtime: builds the running graph from a validated config, stops it tier by tier within
//! a deadline, and names the built-in components the config layer is generic over.

mod graph;
mod plan;
mod shutdown;
pub mod supervise;
mod supervised;

pub use graph::{ReloadError, Service};

use crate::exporters::ExporterConfig;
use crate::processors::ProcessorConfig;
use crate::receivers::ReceiverConfig;

/// `collector.yaml` with the built-in components.
pub type Config = crate::config::Document<ReceiverConfig, ProcessorConfig, ExporterConfig>;
