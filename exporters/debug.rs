//! `debug`: prints what reaches it to stderr, for trying a pipeline out.

use std::io::Write;

use crate::pipeline::batch::{Batch, Payload};
use crate::pipeline::exporter_input::Intake;
use serde::Deserialize;

use crate::config::{Component, ComponentId, ComponentType};
use crate::exporters::queue::SendingQueueConfig;
use crate::exporters::{ExporterType, OpenContext, Opening};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugExporterConfig {
    #[serde(default)]
    pub verbosity: Verbosity,
    #[serde(default)]
    pub sending_queue: crate::exporters::queue::SendingQueueConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verbosity {
    /// Nothing printed: only counted, as a sink for measuring the pipeline alone.
    None,
    /// One line per batch: signal, items, resource groups.
    #[default]
    Basic,
    /// The whole batch as OTLP/JSON (dead letters as DLQ messages).
    Detailed,
}

pub async fn run(config: DebugExporterConfig, id: String, mut input: Intake) {
    while let Some(mut batch) = input.next().await {
        if config.verbosity != Verbosity::None {
            let text = describe(&mut batch, config.verbosity);
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{id}: {text}");
        }
        input
            .outcomes()
            .sent(batch.items(), batch.is_dead_letters());
        batch.context.receipts.settle();
    }
}

pub fn describe(batch: &mut Batch, verbosity: Verbosity) -> String {
    let groups = batch.resources().group_count();
    let summary = format!(
        "{} {} items in {groups} resource groups from {}",
        batch.signal(),
        batch.items(),
        batch.context.source
    );
    if verbosity != Verbosity::Detailed {
        return summary;
    }
    match batch.payload() {
        Payload::DeadLetters(dead) => {
            let lines: Vec<String> = dead
                .letters
                .iter()
                .map(|l| String::from_utf8_lossy(&l.to_json()).into_owned())
                .collect();
            format!("{summary}\n{}", lines.join("\n"))
        }
        data => {
            let json = data.to_otlp_json().unwrap_or_default();
            format!("{summary}\n{}", String::from_utf8_lossy(&json))
        }
    }
}

impl ComponentType for DebugExporterConfig {
    const TYPE: &'static str = "debug";

    fn read<'de, D: serde::Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        crate::config::or_default(config)
    }
}

impl Component for DebugExporterConfig {}

impl ExporterType for DebugExporterConfig {
    fn sending_queue(&self) -> &SendingQueueConfig {
        &self.sending_queue
    }

    fn takes_dead_letters(&self) -> bool {
        true
    }

    fn open<'a>(&'a self, id: &'a ComponentId, context: OpenContext) -> Opening<'a> {
        let (config, id) = (self.clone(), id.to_string());
        Box::pin(async move {
            let run: crate::exporters::Run =
                Box::pin(async move { run(config, id, context.intake.await).await });
            Ok(run)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::batch::Signal;

    #[test]
    fn basic_is_one_line_and_detailed_adds_the_otlp_json() {
        let mut batch = Batch::new(Payload::empty(Signal::Logs), "otlp".into());
        assert_eq!(
            describe(&mut batch, Verbosity::Basic),
            "logs 0 items in 0 resource groups from otlp"
        );
        // An empty request: proto3 JSON leaves the empty `resourceLogs` out.
        assert!(describe(&mut batch, Verbosity::Detailed).ends_with("otlp\n{}"));
    }
}
