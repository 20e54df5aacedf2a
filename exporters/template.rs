//! Templates for topics, keys and file paths: `gds.${signal}.${resource:db.system}.${resource:deployment.environment:-dev}`.
//! `${signal}` is the signal name, `${resource:KEY}` a resource attribute, `${attribute:KEY}` the
//! item's own attribute; `:-text` gives a default for a missing or empty attribute (as the
//! shell's `${x:-text}`). An empty attribute without a default renders as empty; a missing one
//! without a default sends the item to the pipeline's dead letter.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::pipeline::attributes::text_of;
use crate::pipeline::batch::Signal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Signal,
    Resource {
        key: String,
        default: Option<String>,
    },
    Attribute {
        key: String,
        default: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("a reference opened with ${{ at byte {0} is not closed with }}")]
    Unclosed(usize),
    #[error("expected ${{signal}}, ${{resource:KEY}} or ${{attribute:KEY}}, found ${{{0}}}")]
    UnknownReference(String),
}

/// A reference that had no value and no default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {whose} attribute {key:?} is missing and the template gives no default")]
pub struct Missing {
    pub whose: &'static str,
    pub key: String,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let end = rest[start..]
                .find('}')
                .ok_or(TemplateError::Unclosed(offset + start))?
                + start;
            let reference = &rest[start + 2..end];
            let (body, default) = match reference.split_once(":-") {
                Some((body, default)) => (body, Some(default.to_string())),
                None => (reference, None),
            };
            parts.push(match body.split_once(':') {
                None if body == "signal" => Part::Signal,
                Some(("resource", key)) if !key.is_empty() => Part::Resource {
                    key: key.into(),
                    default,
                },
                Some(("attribute", key)) if !key.is_empty() => Part::Attribute {
                    key: key.into(),
                    default,
                },
                _ => return Err(TemplateError::UnknownReference(reference.into())),
            });
            offset += end + 1;
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Whether rendering needs each item's own attributes, not only its resource's.
    pub fn uses_item_attributes(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Attribute { .. }))
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The text with every reference replaced by a sample value, for checking what the
    /// literal parts allow.
    pub fn sample(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(text) => text.as_str(),
                _ => "x",
            })
            .collect()
    }

    pub fn render(
        &self,
        signal: Signal,
        resource: &[KeyValue],
        item: &[KeyValue],
    ) -> Result<String, Missing> {
        self.render_values(signal, resource, item, str::to_string)
    }

    /// As `render`, with each substituted value passed through `clean` (for file paths, where
    /// an attribute value must not add directories).
    pub fn render_values(
        &self,
        signal: Signal,
        resource: &[KeyValue],
        item: &[KeyValue],
        clean: impl Fn(&str) -> String,
    ) -> Result<String, Missing> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Signal => out.push_str(signal.as_str()),
                Part::Resource { key, default } => out.push_str(&clean(&lookup(
                    resource,
                    key,
                    default.as_deref(),
                    "resource",
                )?)),
                Part::Attribute { key, default } => {
                    out.push_str(&clean(&lookup(item, key, default.as_deref(), "item")?))
                }
            }
        }
        Ok(out)
    }
}

impl Template {
    /// As `render_values`, with `missing` in place of an attribute that is absent or empty and
    /// has no default (for file paths, where every item must land somewhere, in a named file).
    pub fn render_lenient(
        &self,
        signal: Signal,
        resource: &[KeyValue],
        clean: impl Fn(&str) -> String,
        missing: &str,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Signal => out.push_str(signal.as_str()),
                Part::Resource { key, default } => {
                    // A file name needs a value: empty is written as missing would be.
                    match lookup(resource, key, default.as_deref(), "resource") {
                        Ok(value) if !value.is_empty() => out.push_str(&clean(&value)),
                        _ => out.push_str(missing),
                    }
                }
                Part::Attribute { .. } => out.push_str(missing),
            }
        }
        out
    }
}

fn lookup(
    attributes: &[KeyValue],
    key: &str,
    default: Option<&str>,
    whose: &'static str,
) -> Result<String, Missing> {
    // Empty is not missing: it renders as empty, unless a default is given, which (as the
    // shell's `${x:-default}`) covers an empty value too.
    match (text_of(attributes, key), default) {
        (Some(text), Some(default)) if text.is_empty() => Ok(default.to_string()),
        (Some(text), _) => Ok(text),
        (None, Some(default)) => Ok(default.to_string()),
        (None, None) => Err(Missing {
            whose,
            key: key.to_string(),
        }),
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Signal => f.write_str("${signal}")?,
                Part::Resource { key, default } => write!(
                    f,
                    "${{resource:{key}{}}}",
                    default
                        .as_ref()
                        .map(|d| format!(":-{d}"))
                        .unwrap_or_default()
                )?,
                Part::Attribute { key, default } => write!(
                    f,
                    "${{attribute:{key}{}}}",
                    default
                        .as_ref()
                        .map(|d| format!(":-{d}"))
                        .unwrap_or_default()
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::attributes::key_value as kv;

    #[test]
    fn renders_signal_resource_and_item_references_with_defaults() {
        let topic = Template::parse(
            "gds.${signal}.${resource:db.system}.${resource:deployment.environment:-dev}",
        )
        .unwrap();
        let resource = [kv("db.system", "postgresql")];
        assert_eq!(
            topic.render(Signal::Metrics, &resource, &[]).unwrap(),
            "gds.metrics.postgresql.dev"
        );
        let key = Template::parse("${resource:db.system}:${attribute:db.instance}").unwrap();
        assert!(key.uses_item_attributes());
        assert_eq!(
            key.render(Signal::Logs, &resource, &[kv("db.instance", "prod-db-01")])
                .unwrap(),
            "postgresql:prod-db-01"
        );
        assert_eq!(
            key.render(Signal::Logs, &resource, &[]),
            Err(Missing {
                whose: "item",
                key: "db.instance".into()
            })
        );
        assert_eq!(
            topic.to_string(),
            "gds.${signal}.${resource:db.system}.${resource:deployment.environment:-dev}"
        );
    }

    #[test]
    fn an_empty_attribute_is_not_a_missing_one() {
        let key = Template::parse("${resource:db.system}:${resource:service.instance.id}").unwrap();
        let resource = [kv("db.system", "postgresql"), kv("service.instance.id", "")];
        assert_eq!(
            key.render(Signal::Metrics, &resource, &[]).unwrap(),
            "postgresql:",
            "empty renders as empty"
        );
        let with_default = Template::parse("${resource:service.instance.id:-none}").unwrap();
        assert_eq!(
            with_default
                .render(Signal::Metrics, &resource, &[])
                .unwrap(),
            "none",
            "a default covers empty, as the shell's :- does"
        );
        assert_eq!(
            key.render(Signal::Metrics, &resource[..1], &[]),
            Err(Missing {
                whose: "resource",
                key: "service.instance.id".into()
            }),
            "only an absent attribute is missing"
        );
    }

    #[test]
    fn reports_malformed_templates() {
        assert_eq!(
            Template::parse("a.${resource:x"),
            Err(TemplateError::Unclosed(2))
        );
        assert_eq!(
            Template::parse("${env:X}"),
            Err(TemplateError::UnknownReference("env:X".into()))
        );
        assert_eq!(
            Template::parse("plain")
                .unwrap()
                .render(Signal::Traces, &[], &[])
                .unwrap(),
            "plain"
        );
    }
}
