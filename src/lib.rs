//! Tributary: a telemetry agent that receives OpenTelemetry data, runs it through the
//! pipelines of `collector.yaml` and delivers it to Kafka without silent loss.

pub mod config;
pub mod model;
pub mod pipeline;
pub mod runtime;
pub mod telemetry;
pub mod workload;

#[path = "../receivers/mod.rs"]
pub mod receivers;

#[path = "../processors/mod.rs"]
pub mod processors;

#[path = "../exporters/mod.rs"]
pub mod exporters;
