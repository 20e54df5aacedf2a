//! The leaf of the crate: what every layer names (signals, component ids and kinds, the config
//! error, metric names). It imports nothing else of the crate.
//!
//! The layers, each importing only from those before it (checked by `layering_tests.rs`):
//! `model` ← `config` ← `pipeline` (the data plane components share) ← `telemetry` ←
//! components (`receivers/`, `processors/`, `exporters/`) ← `runtime` ← `main` and the tools.

mod config_error;
mod id;
pub mod names;
mod signal;

pub use config_error::{did_you_mean, ConfigError, ConfigErrors};
pub use id::{ComponentId, IdError, Kind};
pub use signal::Signal;
