//! `validate`: checks each item against rule sets (the platform's standard metric and log
//! messages) and general rules; what fails is removed and dead-lettered, dropped, or makes the
//! whole request refused, as `on_invalid` says.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde::Deserialize;

use super::items::{self, as_text, find, Item, ItemRef, Point};
use super::ProcessorCounters;
use crate::config::ConfigError;
use crate::config::{Component, ComponentId, ComponentType};
use crate::pipeline::batch::{Batch, DeadLetter, Signal};
use crate::pipeline::inline::{InlineProcessor, Outcome};
use crate::processors::{ProcessorStage, ProcessorType};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// `gds.metric.v1`, `gds.log.v1`, or a list of them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub rules: Vec<RuleSet>,
    #[serde(default = "default_database_type_attribute")]
    pub database_type_attribute: String,
    #[serde(default = "default_instance_id_attribute")]
    pub instance_id_attribute: String,
    #[serde(default)]
    pub on_invalid: OnInvalid,
    #[serde(default)]
    pub required_resource_attributes: Vec<String>,
    #[serde(default)]
    pub required_attributes: Vec<String>,
    /// An attribute (of the item, else of its resource) that, when present, must hold one of these.
    #[serde(default)]
    pub allowed_values: BTreeMap<String, Vec<String>>,
    pub metric_name_pattern: Option<String>,
    /// Items whose timestamp is older than this are invalid.
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
    /// Items whose timestamp is further ahead of the agent's clock than this are invalid.
    #[serde(default, with = "humantime_serde")]
    pub max_future: Option<Duration>,
    pub max_attributes: Option<usize>,
    pub max_attribute_value_length: Option<usize>,
    /// Span and trace ids of the right length and not all zero.
    #[serde(default)]
    pub check_ids: bool,
}

fn default_database_type_attribute() -> String {
    "db.system".into()
}

fn default_instance_id_attribute() -> String {
    "service.instance.id".into()
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RuleSet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(RuleSet),
        Many(Vec<RuleSet>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(rule) => vec![rule],
        OneOrMany::Many(rules) => rules,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RuleSet {
    /// The reference's "Standard Metric Message": timestamp, finite value, metric name,
    /// database type and instance id.
    #[serde(rename = "gds.metric.v1")]
    GdsMetricV1,
    /// The reference's "Standard Log Message": timestamp, severity, body, service name.
    #[serde(rename = "gds.log.v1")]
    GdsLogV1,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    Drop,
    #[default]
    DeadLetter,
    RejectRequest,
}

impl ValidateConfig {
    /// Rule sets and name patterns tie the processor to a signal.
    pub fn signals(&self) -> &'static [Signal] {
        let metrics =
            self.rules.contains(&RuleSet::GdsMetricV1) || self.metric_name_pattern.is_some();
        let logs = self.rules.contains(&RuleSet::GdsLogV1);
        match (metrics, logs) {
            (true, false) => &[Signal::Metrics],
            (false, true) => &[Signal::Logs],
            (true, true) => &[],
            (false, false) => &Signal::ALL,
        }
    }

    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.signals().is_empty() {
            errors.push(ConfigError::new(
                "rules",
                "expected rules for one signal, found metric and log rules together; use two validate processors",
            ));
        }
        if let Some(pattern) = &self.metric_name_pattern {
            if let Err(e) = regex_lite::Regex::new(pattern) {
                errors.push(ConfigError::new(
                    "metric_name_pattern",
                    format!("invalid regular expression: {e}"),
                ));
            }
        }
        for (field, value) in [
            ("max_attributes", self.max_attributes),
            (
                "max_attribute_value_length",
                self.max_attribute_value_length,
            ),
        ] {
            if value == Some(0) {
                errors.push(ConfigError::new(field, "expected at least 1, found 0"));
            }
        }
        let has_rules = !self.rules.is_empty()
            || !self.required_resource_attributes.is_empty()
            || !self.required_attributes.is_empty()
            || !self.allowed_values.is_empty()
            || self.metric_name_pattern.is_some()
            || self.max_age.is_some()
            || self.max_future.is_some()
            || self.max_attributes.is_some()
            || self.max_attribute_value_length.is_some()
            || self.check_ids;
        if !has_rules {
            errors.push(ConfigError::new(
                "",
                "expected at least one rule, found none",
            ));
        }
        errors
    }
}

/// Why an item failed: the rule, the field it concerns and the value found.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub rule: String,
    pub field: String,
    pub value: Option<String>,
    pub message: String,
}

impl Violation {
    fn new(rule: &str, field: &str, value: Option<String>, message: String) -> Violation {
        Violation {
            rule: rule.into(),
            field: field.into(),
            value,
            message,
        }
    }
}

pub struct ValidateProcessor {
    config: ValidateConfig,
    metric_name: Option<regex_lite::Regex>,
    stage: String,
    pipeline: String,
    counters: ProcessorCounters,
}

impl ValidateProcessor {
    pub fn new(
        config: &ValidateConfig,
        stage: String,
        pipeline: String,
        counters: ProcessorCounters,
    ) -> ValidateProcessor {
        let metric_name = config
            .metric_name_pattern
            .as_deref()
            .and_then(|p| regex_lite::Regex::new(p).ok());
        ValidateProcessor {
            config: config.clone(),
            metric_name,
            stage,
            pipeline,
            counters,
        }
    }

    /// The first rule the item breaks.
    pub fn check(&self, item: &ItemRef<'_>, now_nanos: u64) -> Result<(), Violation> {
        for rules in &self.config.rules {
            match (rules, &item.item) {
                (RuleSet::GdsMetricV1, Item::Point(metric, point)) => {
                    self.gds_metric(item, metric.name.as_str(), point)?
                }
                (RuleSet::GdsLogV1, Item::Log(log)) => gds_log(item, log)?,
                _ => {}
            }
        }
        self.general(item, now_nanos)
    }

    fn gds_metric(
        &self,
        item: &ItemRef<'_>,
        name: &str,
        point: &Point<'_>,
    ) -> Result<(), Violation> {
        const RULE: &str = "gds.metric.v1";
        if name.is_empty() {
            return Err(Violation::new(
                RULE,
                "metric_name",
                None,
                "expected a metric name, found none".into(),
            ));
        }
        let (time, value) = match point {
            Point::Number(p) => (p.time_unix_nano, number_value(p)),
            Point::Histogram(p) => (p.time_unix_nano, Some(p.sum.unwrap_or(0.0))),
            Point::ExponentialHistogram(p) => (p.time_unix_nano, Some(p.sum.unwrap_or(0.0))),
            Point::Summary(p) => (p.time_unix_nano, Some(p.sum)),
        };
        if time == 0 {
            return Err(Violation::new(
                RULE,
                "timestamp",
                None,
                format!("metric {name:?}: expected a timestamp, found none"),
            ));
        }
        match value {
            None => {
                return Err(Violation::new(
                    RULE,
                    "value",
                    None,
                    format!("metric {name:?}: expected a numeric value, found none"),
                ))
            }
            Some(v) if !v.is_finite() => {
                return Err(Violation::new(
                    RULE,
                    "value",
                    Some(v.to_string()),
                    format!("metric {name:?}: expected a finite value, found {v}"),
                ))
            }
            Some(_) => {}
        }
        for (field, attribute) in [
            ("database_type", &self.config.database_type_attribute),
            ("instance_id", &self.config.instance_id_attribute),
        ] {
            let present = find(item.resource_attributes(), attribute)
                .and_then(as_text)
                .is_some_and(|t| !t.is_empty());
            if !present {
                return Err(Violation::new(
                    RULE,
                    field,
                    None,
                    format!("metric {name:?}: expected the resource attribute {attribute} ({field}), found none"),
                ));
            }
        }
        Ok(())
    }

    fn general(&self, item: &ItemRef<'_>, now_nanos: u64) -> Result<(), Violation> {
        let config = &self.config;
        for key in &config.required_resource_attributes {
            if find(item.resource_attributes(), key).is_none() {
                return Err(Violation::new(
                    "required_resource_attributes",
                    key,
                    None,
                    format!("expected the resource attribute {key}, found none"),
                ));
            }
        }
        for key in &config.required_attributes {
            if find(item.attributes(), key).is_none() {
                return Err(Violation::new(
                    "required_attributes",
                    key,
                    None,
                    format!("expected the attribute {key}, found none"),
                ));
            }
        }
        for (key, allowed) in &config.allowed_values {
            let value =
                find(item.attributes(), key).or_else(|| find(item.resource_attributes(), key));
            if let Some(text) = value.and_then(as_text) {
                if !allowed.contains(&text) {
                    return Err(Violation::new(
                        "allowed_values",
                        key,
                        Some(text.clone()),
                        format!(
                            "{key}: expected one of {}, found {text:?}",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        if let (Some(pattern), Item::Point(metric, _)) = (&self.metric_name, &item.item) {
            if !pattern.is_match(&metric.name) {
                return Err(Violation::new(
                    "metric_name_pattern",
                    "metric_name",
                    Some(metric.name.clone()),
                    format!(
                        "metric name {:?} does not match {}",
                        metric.name,
                        pattern.as_str()
                    ),
                ));
            }
        }
        self.time_window(item, now_nanos)?;
        self.attribute_limits(item.resource_attributes(), "resource")?;
        self.attribute_limits(item.attributes(), "item")?;
        if config.check_ids {
            ids_well_formed(item)?;
        }
        Ok(())
    }

    fn time_window(&self, item: &ItemRef<'_>, now_nanos: u64) -> Result<(), Violation> {
        let time = match &item.item {
            Item::Span(span) => span.start_time_unix_nano,
            Item::Log(log) => {
                if log.time_unix_nano != 0 {
                    log.time_unix_nano
                } else {
                    log.observed_time_unix_nano
                }
            }
            Item::Point(_, Point::Number(p)) => p.time_unix_nano,
            Item::Point(_, Point::Histogram(p)) => p.time_unix_nano,
            Item::Point(_, Point::ExponentialHistogram(p)) => p.time_unix_nano,
            Item::Point(_, Point::Summary(p)) => p.time_unix_nano,
        };
        if time == 0 {
            return Ok(());
        }
        if let Some(max_age) = self.config.max_age {
            if time
                < now_nanos.saturating_sub(u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX))
            {
                return Err(Violation::new(
                    "max_age",
                    "timestamp",
                    Some(time.to_string()),
                    format!(
                        "timestamp is older than {}",
                        humantime::format_duration(max_age)
                    ),
                ));
            }
        }
        if let Some(max_future) = self.config.max_future {
            if time
                > now_nanos.saturating_add(u64::try_from(max_future.as_nanos()).unwrap_or(u64::MAX))
            {
                return Err(Violation::new(
                    "max_future",
                    "timestamp",
                    Some(time.to_string()),
                    format!(
                        "timestamp is more than {} ahead",
                        humantime::format_duration(max_future)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn attribute_limits(&self, attributes: &[KeyValue], whose: &str) -> Result<(), Violation> {
        if let Some(max) = self.config.max_attributes {
            if attributes.len() > max {
                return Err(Violation::new(
                    "max_attributes",
                    &format!("{whose}.attributes"),
                    Some(attributes.len().to_string()),
                    format!(
                        "expected at most {max} {whose} attributes, found {}",
                        attributes.len()
                    ),
                ));
            }
        }
        if let Some(max) = self.config.max_attribute_value_length {
            for kv in attributes {
                if let Some(AnyValue {
                    value: Some(any_value::Value::StringValue(text)),
                }) = &kv.value
                {
                    if text.len() > max {
                        return Err(Violation::new(
                            "max_attribute_value_length",
                            &kv.key,
                            Some(format!("{} bytes", text.len())),
                            format!(
                                "{}: expected a value of at most {max} bytes, found {}",
                                kv.key,
                                text.len()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn number_value(point: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint) -> Option<f64> {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    match point.value? {
        Value::AsDouble(d) => Some(d),
        Value::AsInt(i) => Some(i as f64),
    }
}

fn gds_log(
    item: &ItemRef<'_>,
    log: &opentelemetry_proto::tonic::logs::v1::LogRecord,
) -> Result<(), Violation> {
    const RULE: &str = "gds.log.v1";
    if log.time_unix_nano == 0 && log.observed_time_unix_nano == 0 {
        return Err(Violation::new(
            RULE,
            "timestamp",
            None,
            "expected a timestamp, found none".into(),
        ));
    }
    if log.severity_number == 0 && log.severity_text.is_empty() {
        return Err(Violation::new(
            RULE,
            "level",
            None,
            "expected a severity, found none".into(),
        ));
    }
    let body = log.body.as_ref().and_then(as_text).unwrap_or_default();
    if body.is_empty() {
        return Err(Violation::new(
            RULE,
            "message",
            None,
            "expected a body, found none".into(),
        ));
    }
    let service = find(item.resource_attributes(), "service.name")
        .and_then(as_text)
        .unwrap_or_default();
    if service.is_empty() {
        return Err(Violation::new(
            RULE,
            "service",
            None,
            "expected the resource attribute service.name, found none".into(),
        ));
    }
    Ok(())
}

fn ids_well_formed(item: &ItemRef<'_>) -> Result<(), Violation> {
    let (trace_id, span_id, required) = match &item.item {
        Item::Span(span) => (&span.trace_id, &span.span_id, true),
        Item::Log(log) => (&log.trace_id, &log.span_id, false),
        Item::Point(..) => return Ok(()),
    };
    for (field, id, length) in [("trace_id", trace_id, 16), ("span_id", span_id, 8)] {
        if id.is_empty() && !required {
            continue;
        }
        if id.len() != length || id.iter().all(|b| *b == 0) {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            return Err(Violation::new(
                "check_ids",
                field,
                Some(hex.clone()),
                format!("expected a non-zero {length}-byte {field}, found {hex:?}"),
            ));
        }
    }
    Ok(())
}

impl InlineProcessor for ValidateProcessor {
    fn process(&self, mut batch: Batch, outcome: &mut Outcome) -> Option<Batch> {
        let received = batch.items();
        self.counters.received.increment(received as u64);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let on_invalid = self.config.on_invalid;
        let mut refused = 0;
        items::retain(
            batch.payload_mut(),
            |item| self.check(item, now),
            |single, violation| {
                refused += 1;
                match on_invalid {
                    OnInvalid::RejectRequest => {
                        outcome.reject_request.get_or_insert_with(|| {
                            format!("{}: {}", violation.rule, violation.message)
                        });
                    }
                    OnInvalid::Drop => outcome.reject(violation.message),
                    OnInvalid::DeadLetter => {
                        outcome.reject(violation.message.clone());
                        outcome.dead_letters.push(DeadLetter {
                            rule: Some(violation.rule),
                            field: Some(violation.field),
                            value: violation.value,
                            ..DeadLetter::new(
                                single,
                                violation.message,
                                "ValidationError",
                                self.stage.clone(),
                                self.pipeline.clone(),
                            )
                        });
                    }
                }
            },
        );
        match on_invalid {
            OnInvalid::RejectRequest if refused > 0 => {
                // The whole request is refused, its valid items with it.
                self.counters.refused.increment(received as u64);
                return None;
            }
            OnInvalid::RejectRequest => {}
            OnInvalid::Drop => self.counters.dropped.increment(refused as u64),
            OnInvalid::DeadLetter => self.counters.dead_lettered.increment(refused as u64),
        }
        self.counters.passed.increment((received - refused) as u64);
        Some(batch)
    }
}

impl ComponentType for ValidateConfig {
    const TYPE: &'static str = "validate";

    fn read<'de, D: serde::Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        crate::config::or_default(config)
    }
}

impl Component for ValidateConfig {
    fn signals(&self) -> &'static [Signal] {
        ValidateConfig::signals(self)
    }

    fn validate(&self) -> Vec<ConfigError> {
        ValidateConfig::validate(self)
    }
}

impl ProcessorType for ValidateConfig {
    fn needs_dead_letter(&self) -> bool {
        self.on_invalid == OnInvalid::DeadLetter
    }

    fn must_run_before_queues(&self) -> bool {
        self.on_invalid == OnInvalid::RejectRequest
    }

    fn build(
        &self,
        id: &ComponentId,
        pipeline: &str,
        ledger: &std::sync::Arc<crate::pipeline::ledger::Ledger>,
    ) -> ProcessorStage {
        let counters = ProcessorCounters::new(id, pipeline, ledger);
        let processor =
            ValidateProcessor::new(self, id.to_string(), pipeline.to_string(), counters);
        ProcessorStage::Inline(std::sync::Arc::new(processor))
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
