//! The `kafka` receiver: the consumer leg. Reads topics in a consumer group, decodes each
//! record, and commits an offset only once everything decoded up to it is delivered or
//! dead-lettered, so a crash replays instead of skipping.

mod consumer;
// Public only for the fuzz targets in `fuzz/` (records are outside input).
#[doc(hidden)]
pub mod decode;
mod dedupe;
mod factory;
mod offsets;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{host_port_problem, ComponentId, ConfigError};
use crate::pipeline::{Routes, StartError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaReceiverConfig {
    /// `host:port` of the bootstrap brokers.
    pub brokers: Vec<String>,
    /// Topic names, or regular expressions starting with `^` (`^gds\.metrics\..*`).
    pub topics: Vec<String>,
    pub group_id: String,
    #[serde(default)]
    pub encoding: RecordEncoding,
    /// Where a partition the group has no committed offset for starts reading (as Kafka's
    /// `auto.offset.reset`): the group's commits always win, so a restart neither re-reads nor
    /// skips. A replay is a new group with a `timestamp`.
    #[serde(default)]
    pub start_at: StartAt,
    /// Records whose `record.id` header was seen within the window are dropped, and counted.
    pub dedupe: Option<DedupeConfig>,
    /// librdkafka consumer properties, over the defaults of `CONSUMER_DEFAULTS`.
    #[serde(default)]
    pub consumer: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordEncoding {
    /// From each record's `content-type` and `schema.version` headers.
    #[default]
    Auto,
    OtlpProto,
    OtlpJson,
    GdsJson,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// The group's committed offsets, and the earliest record where there are none.
    #[default]
    Committed,
    Earliest,
    Latest,
    /// An RFC 3339 time: each partition without a committed offset starts at its first record
    /// from then on.
    Timestamp(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The most ids remembered at once (about 150 bytes each); past it the oldest are forgotten
    /// before their window ends.
    #[serde(default = "DedupeConfig::default_max_entries")]
    pub max_entries: usize,
}

impl DedupeConfig {
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    fn default_max_entries() -> usize {
        DedupeConfig::DEFAULT_MAX_ENTRIES
    }
}

/// The reference's consumer settings.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("auto.offset.reset", "earliest"),
    ("statistics.interval.ms", "5000"),
];

impl KafkaReceiverConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.brokers.is_empty() {
            errors.push(ConfigError::new(
                "brokers",
                "expected at least one broker, found none",
            ));
        }
        for (index, broker) in self.brokers.iter().enumerate() {
            if let Some(problem) = host_port_problem(broker) {
                errors.push(ConfigError::new(format!("brokers[{index}]"), problem));
            }
        }
        if self.topics.is_empty() {
            errors.push(ConfigError::new(
                "topics",
                "expected at least one topic, found none",
            ));
        }
        for (index, topic) in self.topics.iter().enumerate() {
            if let Some(pattern) = topic.strip_prefix('^') {
                if let Err(e) = regex_lite::Regex::new(pattern) {
                    errors.push(ConfigError::new(
                        format!("topics[{index}]"),
                        format!("expected a regular expression, found {topic:?}: {e}"),
                    ));
                }
            } else if topic.is_empty() {
                errors.push(ConfigError::new(
                    format!("topics[{index}]"),
                    "expected a topic name, found an empty string",
                ));
            }
        }
        if self.group_id.is_empty() {
            errors.push(ConfigError::new(
                "group_id",
                "expected a group id, found an empty string",
            ));
        }
        if let StartAt::Timestamp(time) = &self.start_at {
            if crate::pipeline::dead_letter::nanos_from_rfc3339(time).is_none() {
                errors.push(ConfigError::new(
                    "start_at.timestamp",
                    format!(
                        "expected an RFC 3339 time such as 2025-01-15T10:00:00Z, found {time:?}"
                    ),
                ));
            }
        }
        if self.dedupe.as_ref().is_some_and(|d| d.window.is_zero()) {
            errors.push(ConfigError::new(
                "dedupe.window",
                "expected a duration above zero, found 0s",
            ));
        }
        if self.dedupe.as_ref().is_some_and(|d| d.max_entries == 0) {
            errors.push(ConfigError::new(
                "dedupe.max_entries",
                "expected at least 1, found 0",
            ));
        }
        for key in self.consumer.keys() {
            if matches!(key.as_str(), "bootstrap.servers" | "group.id") {
                errors.push(ConfigError::new(
                    format!("consumer.{key}"),
                    "set the receiver's `brokers` and `group_id` instead",
                ));
            }
            if key == "enable.auto.commit" || key == "enable.auto.offset.store" {
                errors.push(ConfigError::new(
                    format!("consumer.{key}"),
                    "the receiver commits offsets itself, after delivery; remove this key",
                ));
            }
        }
        errors
    }

    fn client_config(&self) -> rdkafka::ClientConfig {
        let mut client = rdkafka::ClientConfig::new();
        client.set("bootstrap.servers", self.brokers.join(","));
        client.set("group.id", &self.group_id);
        for (key, value) in CONSUMER_DEFAULTS {
            client.set(*key, *value);
        }
        // Where a partition without a committed offset starts (the group's commits win).
        match self.start_at {
            StartAt::Latest => client.set("auto.offset.reset", "latest"),
            StartAt::Committed | StartAt::Earliest | StartAt::Timestamp(_) => {
                client.set("auto.offset.reset", "earliest")
            }
        };
        for (key, value) in &self.consumer {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            client.set(key, value);
        }
        client
    }
}

pub async fn start(
    config: &KafkaReceiverConfig,
    id: &ComponentId,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, StartError> {
    let receiver =
        consumer::KafkaReceiver::new(config, id, routes).map_err(|e| StartError::new(id, e))?;
    Ok(tokio::spawn(receiver.run(shutdown)))
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaReceiverError {
    #[error("cannot create the Kafka consumer: {0}")]
    Create(#[source] rdkafka::error::KafkaError),
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}
