//! `filter`: drops items by metric name (exact, glob or regex), resource or item attribute,
//! log severity floor, or span kind, and counts what it drops.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::items::{self, as_text, find, Item, ItemRef};
use super::ProcessorCounters;
use crate::config::ConfigError;
use crate::config::{Component, ComponentId, ComponentType};
use crate::pipeline::batch::{Batch, Signal};
use crate::pipeline::inline::{InlineProcessor, Outcome};
use crate::processors::{ProcessorStage, ProcessorType};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Names to drop: exact, or globs with `*` and `?`.
    #[serde(default)]
    pub metric_names: Vec<String>,
    #[serde(default)]
    pub metric_name_regex: Vec<String>,
    /// Drops items whose resource has all of these attribute values.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
    /// Drops items that have all of these attribute values.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Drops log records below this severity.
    pub min_severity: Option<Severity>,
    #[serde(default)]
    pub span_kinds: Vec<SpanKindName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Severity {
    /// The lowest OTLP severity number of the level.
    fn floor(self) -> i32 {
        match self {
            Severity::Trace => 1,
            Severity::Debug => 5,
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKindName {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl FilterConfig {
    pub fn signals(&self) -> &'static [Signal] {
        let metrics = !self.metric_names.is_empty() || !self.metric_name_regex.is_empty();
        let logs = self.min_severity.is_some();
        let traces = !self.span_kinds.is_empty();
        match (metrics, logs, traces) {
            (false, false, false) => &Signal::ALL,
            (true, false, false) => &[Signal::Metrics],
            (false, true, false) => &[Signal::Logs],
            (false, false, true) => &[Signal::Traces],
            _ => &[],
        }
    }

    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.signals().is_empty() {
            errors.push(ConfigError::new(
                "",
                "expected conditions for one signal (metric names, min_severity or span_kinds), found several; use one filter per signal",
            ));
        }
        for (index, pattern) in self.metric_name_regex.iter().enumerate() {
            if let Err(e) = regex_lite::Regex::new(pattern) {
                errors.push(ConfigError::new(
                    format!("metric_name_regex[{index}]"),
                    format!("invalid regular expression: {e}"),
                ));
            }
        }
        if *self == FilterConfig::default() {
            errors.push(ConfigError::new(
                "",
                "expected at least one condition, found none",
            ));
        }
        errors
    }
}

pub struct FilterProcessor {
    config: FilterConfig,
    regexes: Vec<regex_lite::Regex>,
    counters: ProcessorCounters,
}

impl FilterProcessor {
    pub fn new(config: &FilterConfig, counters: ProcessorCounters) -> FilterProcessor {
        let regexes = config
            .metric_name_regex
            .iter()
            .filter_map(|p| regex_lite::Regex::new(p).ok())
            .collect();
        FilterProcessor {
            config: config.clone(),
            regexes,
            counters,
        }
    }

    fn drops(&self, item: &ItemRef<'_>) -> bool {
        let config = &self.config;
        let all_match = |wanted: &BTreeMap<String, String>, attributes: &[_]| {
            !wanted.is_empty()
                && wanted.iter().all(|(key, value)| {
                    find(attributes, key).and_then(as_text).as_deref() == Some(value.as_str())
                })
        };
        if all_match(&config.resource_attributes, item.resource_attributes())
            || all_match(&config.attributes, item.attributes())
        {
            return true;
        }
        match &item.item {
            Item::Point(metric, _) => {
                config
                    .metric_names
                    .iter()
                    .any(|pattern| glob_match(pattern, &metric.name))
                    || self.regexes.iter().any(|r| r.is_match(&metric.name))
            }
            Item::Log(log) => config
                .min_severity
                .is_some_and(|floor| log.severity_number < floor.floor()),
            Item::Span(span) => config
                .span_kinds
                .iter()
                .any(|kind| *kind as i32 == span.kind),
        }
    }
}

impl InlineProcessor for FilterProcessor {
    fn process(&self, mut batch: Batch, _: &mut Outcome) -> Option<Batch> {
        let received = batch.items();
        self.counters.received.increment(received as u64);
        let mut dropped = 0;
        items::retain(
            batch.payload_mut(),
            |item| if self.drops(item) { Err(()) } else { Ok(()) },
            |_, ()| dropped += 1,
        );
        self.counters.dropped.increment(dropped as u64);
        self.counters.passed.increment((received - dropped) as u64);
        Some(batch)
    }
}

/// `*` matches any run of characters, `?` any one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

impl ComponentType for FilterConfig {
    const TYPE: &'static str = "filter";

    fn read<'de, D: serde::Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        crate::config::or_default(config)
    }
}

impl Component for FilterConfig {
    fn signals(&self) -> &'static [Signal] {
        FilterConfig::signals(self)
    }

    fn validate(&self) -> Vec<ConfigError> {
        FilterConfig::validate(self)
    }
}

impl ProcessorType for FilterConfig {
    fn build(
        &self,
        id: &ComponentId,
        pipeline: &str,
        ledger: &std::sync::Arc<crate::pipeline::ledger::Ledger>,
    ) -> ProcessorStage {
        let counters = ProcessorCounters::new(id, pipeline, ledger);
        ProcessorStage::Inline(std::sync::Arc::new(FilterProcessor::new(self, counters)))
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
