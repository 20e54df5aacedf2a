use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::config::{host_port_problem, ComponentId, ConfigError};
use crate::exporters::template::Template;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaExporterConfig {
    /// `host:port` of the bootstrap brokers.
    pub brokers: Vec<String>,
    #[serde(default)]
    pub sending_queue: crate::exporters::queue::SendingQueueConfig,
    /// A template: `gds.${signal}.${resource:db.system}.${resource:deployment.environment:-dev}`.
    pub topic: String,
    /// A template for the record key, such as `${resource:db.system}:${resource:service.instance.id}`.
    pub key: Option<String>,
    #[serde(default)]
    pub encoding: Encoding,
    /// Headers added to every record, beside content-type, schema.version, record.id and signal.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Records larger than this are split at resource and item boundaries; a single item still
    /// larger goes to the dead letter. Default: the producer's message.max.bytes (1000000) less
    /// room for headers.
    pub max_record_bytes: Option<ByteSize>,
    /// How a record that failed for a reason that may pass (a timeout, a broker away) is
    /// produced again before it goes to the dead letter.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    /// Where dead letters go when they cannot reach Kafka themselves (this exporter is a DLQ, or
    /// the pipeline has no dead_letter route). Default: `data/dead-letters/<exporter id>.jsonl`.
    pub dead_letter_file: Option<PathBuf>,
    /// For `gds_json`: the resource attributes holding the database type and instance id.
    #[serde(default = "default_database_type_attribute")]
    pub database_type_attribute: String,
    #[serde(default = "default_instance_id_attribute")]
    pub instance_id_attribute: String,
    /// librdkafka producer properties, over the defaults of `PRODUCER_DEFAULTS`.
    #[serde(default)]
    pub producer: BTreeMap<String, serde_json::Value>,
}

/// Exponential backoff with jitter, as the OpenTelemetry Collector's `retry_on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// After this long since the first attempt, the record goes to the dead letter.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl RetryConfig {
    /// The wait before attempt `attempt` (1-based): doubling, capped, with ±50 % jitter so that
    /// records failed together do not come back together.
    pub fn backoff(&self, attempt: u32, unit_random: f64) -> Duration {
        let doubled = self
            .initial_interval
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        doubled.min(self.max_interval).mul_f64(0.5 + unit_random)
    }
}

fn default_database_type_attribute() -> String {
    "db.system".into()
}

fn default_instance_id_attribute() -> String {
    "service.instance.id".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One record per batch: the signal's `Export*ServiceRequest` as protobuf.
    #[default]
    OtlpProto,
    /// One record per resource group: the request as OTLP/JSON.
    OtlpJson,
    /// One record per data point or log record: the platform's standard metric and log
    /// messages. Metrics and logs only.
    GdsJson,
    /// For a pipeline's `dead_letter`: one record per refused item, in the platform's DLQ
    /// message format.
    DlqJson,
}

/// The platform reference's producer settings; the partitioner puts a key on the partition a
/// Java producer would choose.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("enable.idempotence", "true"),
    ("compression.type", "lz4"),
    ("linger.ms", "100"),
    ("batch.size", "16384"),
    ("partitioner", "murmur2_random"),
];

impl KafkaExporterConfig {
    /// `dead_letter_file`, or its default `data/dead-letters/<id>.jsonl`.
    pub fn dead_letter_file_for(&self, id: &ComponentId) -> PathBuf {
        self.dead_letter_file.clone().unwrap_or_else(|| {
            PathBuf::from("data/dead-letters").join(format!("{}.jsonl", id.file_name()))
        })
    }

    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.brokers.is_empty() {
            errors.push(ConfigError::new(
                "brokers",
                "expected at least one host:port, found none",
            ));
        }
        for (index, broker) in self.brokers.iter().enumerate() {
            if let Some(problem) = host_port_problem(broker) {
                errors.push(ConfigError::new(format!("brokers[{index}]"), problem));
            }
        }
        match Template::parse(&self.topic) {
            Ok(template) => {
                if let Some(problem) = topic_problem(&template.sample()) {
                    errors.push(ConfigError::new("topic", problem));
                }
            }
            Err(e) => errors.push(ConfigError::new("topic", e.to_string())),
        }
        if let Some(Err(e)) = self.key.as_deref().map(Template::parse) {
            errors.push(ConfigError::new("key", e.to_string()));
        }
        if self.max_record_bytes.is_some_and(|b| b.as_u64() < 1024) {
            errors.push(ConfigError::new(
                "max_record_bytes",
                "expected at least 1KiB",
            ));
        }
        for (key, value) in &self.producer {
            let path = format!("producer.{key}");
            if key == "bootstrap.servers" {
                errors.push(ConfigError::new(
                    path,
                    "set the exporter's `brokers` instead of bootstrap.servers",
                ));
            } else if property_value(value).is_none() {
                errors.push(ConfigError::new(
                    path,
                    format!("expected a string, number or boolean, found {value}"),
                ));
            }
        }
        errors
    }

    /// Dead letters only (dlq_json), or data only.
    pub fn writes_dead_letters(&self) -> bool {
        self.encoding == Encoding::DlqJson
    }

    pub fn record_limit(&self) -> usize {
        const HEADER_ROOM: u64 = 4096;
        let from_producer = self
            .producer
            .get("message.max.bytes")
            .and_then(property_value)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1_000_000);
        // Never past what the producer itself accepts, or librdkafka refuses the record whole.
        let ceiling = from_producer.saturating_sub(HEADER_ROOM).max(1024);
        let limit = self
            .max_record_bytes
            .map_or(ceiling, |b| b.as_u64().min(ceiling));
        usize::try_from(limit).unwrap_or(usize::MAX)
    }

    /// False only with `acks=0`, where the broker sends no answer and so no offset.
    pub fn acks_expected(&self) -> bool {
        ["acks", "request.required.acks"]
            .iter()
            .filter_map(|key| self.producer.get(*key).and_then(property_value))
            .all(|acks| acks.trim() != "0")
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", self.brokers.join(","));
        for (key, value) in PRODUCER_DEFAULTS {
            client.set(*key, *value);
        }
        for (key, value) in &self.producer {
            if let Some(value) = property_value(value) {
                client.set(key, value);
            }
        }
        client
    }
}

fn property_value(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Kafka's own rule for topic names.
pub fn topic_problem(topic: &str) -> Option<String> {
    if topic.is_empty() {
        return Some("expected a topic name, found an empty string".into());
    }
    if topic.len() > 249 || topic == "." || topic == ".." {
        return Some(format!(
            "expected a valid Kafka topic name, found {topic:?}"
        ));
    }
    let bad = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
    bad.map(|c| {
        format!("expected only letters, digits, '.', '_' and '-' in the topic, found {c:?} in {topic:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KafkaExporterConfig {
        serde_saphyr::from_str("{ brokers: [127.0.0.1:9092], topic: gds.traces.all.production }")
            .unwrap()
    }

    #[test]
    fn defaults_follow_the_reference_and_config_overrides_them() {
        let mut config = config();
        config.producer.insert("linger.ms".into(), 5.into());
        config
            .producer
            .insert("enable.idempotence".into(), false.into());
        let client = config.client_config();
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("compression.type"), Some("lz4"));
        assert_eq!(client.get("partitioner"), Some("murmur2_random"));
        assert_eq!(client.get("linger.ms"), Some("5"));
        assert_eq!(client.get("enable.idempotence"), Some("false"));
        assert_eq!(client.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }

    #[test]
    fn only_acks_0_means_no_offsets_come_back() {
        let mut config = config();
        assert!(config.acks_expected());
        config.producer.insert("acks".into(), 1.into());
        assert!(config.acks_expected());
        config
            .producer
            .insert("request.required.acks".into(), "0".into());
        assert!(!config.acks_expected());
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let mut config = config();
        config.brokers.push("nohost".into());
        config.topic = "bad topic".into();
        config
            .producer
            .insert("bootstrap.servers".into(), "x:1".into());
        config
            .producer
            .insert("linger.ms".into(), serde_json::json!([1]));
        let paths: Vec<String> = config.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "brokers[1]",
                "topic",
                "producer.bootstrap.servers",
                "producer.linger.ms"
            ]
        );
    }

    #[test]
    fn this_build_of_librdkafka_takes_tls_and_sasl_plain_and_scram() {
        for (protocol, mechanism) in [
            ("SASL_SSL", "SCRAM-SHA-512"),
            ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
            ("SASL_SSL", "PLAIN"),
        ] {
            let mut config = config();
            for (key, value) in [
                ("security.protocol", protocol),
                ("sasl.mechanisms", mechanism),
                ("sasl.username", "tributary"),
                ("sasl.password", "secret"),
            ] {
                config.producer.insert(key.into(), value.into());
            }
            let created: Result<rdkafka::producer::FutureProducer, _> =
                config.client_config().create();
            assert!(
                created.is_ok(),
                "{protocol} with {mechanism}: {:?}",
                created.err()
            );
        }
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_a_cap() {
        let retry = RetryConfig::default();
        assert_eq!(retry.backoff(1, 0.5), Duration::from_millis(500));
        assert_eq!(retry.backoff(3, 0.5), Duration::from_secs(2));
        assert_eq!(retry.backoff(20, 0.5), Duration::from_secs(30));
        assert_eq!(retry.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(retry.backoff(1, 1.0), Duration::from_millis(750));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert_eq!(topic_problem("gds.metrics.postgresql.production"), None);
        assert!(topic_problem("").is_some());
        assert!(topic_problem("a/b").is_some());
        assert!(topic_problem(&"x".repeat(250)).is_some());
    }
}
