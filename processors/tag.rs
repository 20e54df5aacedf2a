//! `tag`: the OpenTelemetry Collector's `resource` and `attributes` processor actions on resource
//! attributes or on each span's, data point's and log record's attributes.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::items::{self, as_text, string_value};
use super::ProcessorCounters;
use crate::config::ConfigError;
use crate::config::{Component, ComponentId, ComponentType};
use crate::pipeline::batch::Batch;
use crate::pipeline::inline::{InlineProcessor, Outcome};
use crate::processors::{ProcessorStage, ProcessorType};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    /// Shorthand: upsert these resource attributes.
    #[serde(default)]
    pub resource: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub actions: Vec<TagAction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagAction {
    pub key: String,
    pub action: ActionKind,
    pub value: Option<serde_json::Value>,
    /// Copies another attribute of the same resource or item.
    pub from_attribute: Option<String>,
    /// Takes the value of an environment variable, read once at start-up.
    pub from_env: Option<String>,
    #[serde(default)]
    pub context: Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Only where the key is absent.
    Insert,
    /// Only where the key is present.
    Update,
    Upsert,
    Delete,
    /// Replaces the value with the hex SHA-256 of its text.
    Hash,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    #[default]
    Resource,
    /// The span's, data point's or log record's own attributes.
    Attributes,
}

impl TagConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.resource.is_empty() && self.actions.is_empty() {
            errors.push(ConfigError::new(
                "",
                "expected resource or actions, found neither",
            ));
        }
        for (key, value) in &self.resource {
            if scalar(value).is_none() {
                errors.push(ConfigError::new(
                    format!("resource.{key}"),
                    format!("expected a string, number or boolean, found {value}"),
                ));
            }
        }
        for (index, action) in self.actions.iter().enumerate() {
            let path = format!("actions[{index}]");
            if action.key.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}.key"),
                    "expected a key, found an empty string",
                ));
            }
            let sources = [
                action.value.is_some(),
                action.from_attribute.is_some(),
                action.from_env.is_some(),
            ]
            .iter()
            .filter(|s| **s)
            .count();
            match action.action {
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert if sources != 1 => {
                    errors.push(ConfigError::new(
                        path.clone(),
                        format!("expected exactly one of value, from_attribute, from_env, found {sources}"),
                    ))
                }
                ActionKind::Delete | ActionKind::Hash if sources != 0 => errors.push(ConfigError::new(
                    path.clone(),
                    "delete and hash take no value, from_attribute or from_env",
                )),
                _ => {}
            }
            if let Some(value) = action.value.as_ref().filter(|v| scalar(v).is_none()) {
                errors.push(ConfigError::new(
                    format!("{path}.value"),
                    format!("expected a string, number or boolean, found {value}"),
                ));
            }
            if let Some(name) = &action.from_env {
                if std::env::var(name).is_err() {
                    errors.push(ConfigError::new(
                        format!("{path}.from_env"),
                        format!("environment variable {name} is not set"),
                    ));
                }
            }
        }
        errors
    }
}

fn scalar(value: &serde_json::Value) -> Option<AnyValue> {
    let value = match value {
        serde_json::Value::String(s) => any_value::Value::StringValue(s.clone()),
        serde_json::Value::Bool(b) => any_value::Value::BoolValue(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64()?),
        },
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

enum Source {
    Value(AnyValue),
    Attribute(String),
}

struct Step {
    key: String,
    kind: ActionKind,
    source: Option<Source>,
}

pub struct TagProcessor {
    resource_steps: Vec<Step>,
    item_steps: Vec<Step>,
    counters: ProcessorCounters,
}

impl TagProcessor {
    pub fn new(config: &TagConfig, counters: ProcessorCounters) -> TagProcessor {
        let shorthand = config.resource.iter().filter_map(|(key, value)| {
            Some((
                Context::Resource,
                Step {
                    key: key.clone(),
                    kind: ActionKind::Upsert,
                    source: Some(Source::Value(scalar(value)?)),
                },
            ))
        });
        let actions = config.actions.iter().map(|action| {
            let source = match (&action.value, &action.from_attribute, &action.from_env) {
                (Some(value), _, _) => scalar(value).map(Source::Value),
                (_, Some(attribute), _) => Some(Source::Attribute(attribute.clone())),
                (_, _, Some(name)) => Some(Source::Value(string_value(
                    std::env::var(name).unwrap_or_default(),
                ))),
                _ => None,
            };
            (
                action.context,
                Step {
                    key: action.key.clone(),
                    kind: action.action,
                    source,
                },
            )
        });
        let (mut resource_steps, mut item_steps) = (Vec::new(), Vec::new());
        for (context, step) in shorthand.chain(actions) {
            match context {
                Context::Resource => resource_steps.push(step),
                Context::Attributes => item_steps.push(step),
            }
        }
        TagProcessor {
            resource_steps,
            item_steps,
            counters,
        }
    }
}

impl InlineProcessor for TagProcessor {
    fn process(&self, mut batch: Batch, _: &mut Outcome) -> Option<Batch> {
        let items = batch.items();
        self.counters.received.increment(items as u64);
        if !self.resource_steps.is_empty() {
            items::resource_attributes_mut(batch.payload_mut(), |attributes| {
                apply(&self.resource_steps, attributes)
            });
        }
        if !self.item_steps.is_empty() {
            items::item_attributes_mut(batch.payload_mut(), |attributes| {
                apply(&self.item_steps, attributes)
            });
        }
        self.counters.passed.increment(items as u64);
        Some(batch)
    }
}

fn apply(steps: &[Step], attributes: &mut Vec<KeyValue>) {
    for step in steps {
        let position = attributes.iter().position(|kv| kv.key == step.key);
        let new_value = match &step.source {
            Some(Source::Value(value)) => Some(value.clone()),
            Some(Source::Attribute(from)) => items::find(attributes, from).cloned(),
            None => None,
        };
        match (step.kind, position) {
            (ActionKind::Insert, None) | (ActionKind::Upsert, None) => {
                if let Some(value) = new_value {
                    attributes.push(KeyValue {
                        key: step.key.clone(),
                        value: Some(value),
                        ..Default::default()
                    });
                }
            }
            (ActionKind::Update, Some(index)) | (ActionKind::Upsert, Some(index)) => {
                if let Some(value) = new_value {
                    attributes[index].value = Some(value);
                }
            }
            (ActionKind::Delete, Some(_)) => attributes.retain(|kv| kv.key != step.key),
            (ActionKind::Hash, Some(index)) => {
                let text = attributes[index]
                    .value
                    .as_ref()
                    .and_then(as_text)
                    .unwrap_or_default();
                let digest = Sha256::digest(text.as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                attributes[index].value = Some(string_value(hex));
            }
            _ => {}
        }
    }
}

impl ComponentType for TagConfig {
    const TYPE: &'static str = "tag";

    fn read<'de, D: serde::Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        crate::config::or_default(config)
    }
}

impl Component for TagConfig {
    fn validate(&self) -> Vec<ConfigError> {
        TagConfig::validate(self)
    }
}

impl ProcessorType for TagConfig {
    fn build(
        &self,
        id: &ComponentId,
        pipeline: &str,
        ledger: &std::sync::Arc<crate::pipeline::ledger::Ledger>,
    ) -> ProcessorStage {
        let counters = ProcessorCounters::new(id, pipeline, ledger);
        ProcessorStage::Inline(std::sync::Arc::new(TagProcessor::new(self, counters)))
    }
}

#[cfg(test)]
#[path = "tag_tests.rs"]
mod tests;
