//! Batches to Kafka records: topic and key rendered from templates, one record per resource
//! group (OTLP encodings) or per item (`gds_json`), records over the size limit split, and what
//! cannot be sent as a record (a missing template attribute, an item too large alone) turned
//! into dead letters. Dead letters themselves become DLQ messages.

use rdkafka::message::{Header, OwnedHeaders};

use super::gds::{self, GdsNames};
use super::{Encoding, KafkaExporterConfig};
use crate::exporters::template::Template;
use crate::pipeline::admission::Received;
use crate::pipeline::attributes::{first_item_attributes, first_resource_attributes};
use crate::pipeline::batch::{Batch, DeadLetter, Payload, Signal};
use crate::pipeline::chunk::{append_item, chunk, merge_equal_resources, resource_groups};
use crate::pipeline::dead_letter::KafkaCoordinates;
use crate::pipeline::ids::new_record_id;

const OTLP_SCHEMA: &str = "otlp/1";
const DLQ_SCHEMA: &str = "gds.dlq.v1";
const PROTOBUF: &str = "application/x-protobuf";

/// A record ready for the producer, with what is needed to dead-letter it if Kafka refuses it.
pub struct OutRecord {
    pub topic: String,
    pub key: Option<String>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub items: usize,
    pub signal: Signal,
    pub encoding: Encoding,
    pub record_id: String,
}

impl OutRecord {
    pub fn owned_headers(&self) -> OwnedHeaders {
        self.headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                })
            })
    }

    /// The record as a dead letter: the item decoded back where the encoding allows.
    pub fn into_dead_letter(
        self,
        exporter: &str,
        pipeline: &str,
        error: String,
        error_type: &'static str,
        retries: u32,
    ) -> DeadLetter {
        let item = match self.encoding {
            Encoding::OtlpProto => {
                crate::pipeline::batch::decode_protobuf(self.signal, &self.value)
            }
            Encoding::OtlpJson => {
                crate::pipeline::batch::decode_otlp_json(self.signal, &self.value)
            }
            _ => None,
        };
        let original_value = item
            .is_none()
            .then(|| String::from_utf8_lossy(&self.value).into_owned());
        DeadLetter {
            original: Some(KafkaCoordinates {
                topic: self.topic,
                partition: None,
                offset: None,
                key: self.key,
            }),
            original_value,
            retry_count: retries,
            ..DeadLetter::new(
                item.unwrap_or_else(|| Payload::empty(self.signal)),
                error,
                error_type,
                exporter,
                pipeline,
            )
        }
    }
}

pub struct Encoder {
    exporter: String,
    topic: Template,
    key: Option<Template>,
    encoding: Encoding,
    static_headers: Vec<(String, Vec<u8>)>,
    record_limit: usize,
    database_type_attribute: String,
    instance_id_attribute: String,
}

pub struct Planned {
    pub records: Vec<OutRecord>,
    pub dead_letters: Vec<DeadLetter>,
}

impl Encoder {
    pub fn new(config: &KafkaExporterConfig, exporter: &str) -> Encoder {
        Encoder {
            exporter: exporter.to_string(),
            topic: Template::parse(&config.topic).expect("validated"),
            key: config
                .key
                .as_deref()
                .map(|k| Template::parse(k).expect("validated")),
            encoding: config.encoding,
            static_headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                .collect(),
            record_limit: config.record_limit(),
            database_type_attribute: config.database_type_attribute.clone(),
            instance_id_attribute: config.instance_id_attribute.clone(),
        }
    }

    pub fn plan(&self, batch: Batch) -> Planned {
        let pipeline = batch
            .context
            .dead_letter
            .as_ref()
            .map(|r| r.pipeline().to_string())
            .unwrap_or_default();
        let signal = batch.signal();
        let mut planned = Planned {
            records: Vec::new(),
            dead_letters: Vec::new(),
        };
        if batch.is_dead_letters() {
            let Payload::DeadLetters(dead) = batch.into_payload() else {
                unreachable!("a batch of dead letters")
            };
            for letter in dead.letters {
                let topic = self
                    .topic
                    .render(signal, first_resource_attributes(&letter.item), &[])
                    .unwrap_or_else(|_| self.topic.sample());
                let mut headers = self.headers("application/json", DLQ_SCHEMA, signal);
                headers.push(("error".into(), letter.error.as_bytes().to_vec()));
                headers.push(("error_type".into(), letter.error_type.as_bytes().to_vec()));
                planned.records.push(self.record(
                    topic,
                    letter.original.as_ref().and_then(|o| o.key.clone()),
                    letter.to_json(),
                    headers,
                    1,
                    signal,
                    Encoding::DlqJson,
                ));
            }
            return planned;
        }
        let per_item = self.encoding == Encoding::GdsJson
            || self.topic.uses_item_attributes()
            || self
                .key
                .as_ref()
                .is_some_and(Template::uses_item_attributes);
        let bytes_match = batch
            .encoded()
            .is_some_and(|e| e.len() == batch.resources().group_count());
        if !per_item && self.encoding == Encoding::OtlpProto && bytes_match {
            let received = batch.into_received();
            self.plan_encoded(received, &pipeline, &mut planned);
            return planned;
        }
        let payload = batch.into_payload();
        let units = if per_item {
            payload.into_items()
        } else {
            resource_groups(merge_equal_resources(payload))
        };
        // Consecutive units bound for the same topic and key share a record in OTLP encodings.
        let mut pending: Option<(String, Option<String>, Payload)> = None;
        for unit in units {
            let Some((unit, topic, key)) = self.target(unit, &pipeline, &mut planned) else {
                continue;
            };
            if self.encoding == Encoding::GdsJson {
                self.encode_gds(unit, topic, key, &pipeline, &mut planned);
                continue;
            }
            match &mut pending {
                Some((t, k, payload)) if per_item && *t == topic && *k == key => {
                    append_item(payload, unit)
                }
                _ => {
                    if let Some((t, k, payload)) = pending.take() {
                        self.encode_otlp(payload, t, k, &pipeline, &mut planned);
                    }
                    pending = Some((topic, key, unit));
                }
            }
        }
        if let Some((topic, key, payload)) = pending {
            self.encode_otlp(payload, topic, key, &pipeline, &mut planned);
        }
        planned
    }

    /// Records from the groups' received bytes, merged as `merge_equal_resources` merges
    /// decoded groups. The groups' resources give the topic and key; the items are decoded
    /// only for what becomes a dead letter or is split.
    fn plan_encoded(&self, received: Received, pipeline: &str, planned: &mut Planned) {
        let (payload, encoded, items_undecoded) = match received {
            Received::Walked { resources, encoded } => (resources, encoded, true),
            Received::DecodedWithBytes { payload, encoded } => (payload, encoded, false),
            Received::Decoded(_) => {
                unreachable!("planned from received bytes only when the batch has them")
            }
        };
        debug_assert!(
            items_undecoded || encoded.encodes(&payload),
            "a stage changed the payload and left the bytes it was received in"
        );
        let signal = payload.signal();
        let mut groups: Vec<Option<Payload>> =
            resource_groups(payload).into_iter().map(Some).collect();
        for request in encoded.requests(self.record_limit) {
            let mut unit = Payload::empty(signal);
            for &index in &request.groups {
                if let Some(group) = groups[index].take() {
                    unit.append(group).expect("one signal");
                }
            }
            let whole = |unit: Payload| match items_undecoded {
                false => unit,
                true => encoded
                    .decode_groups(signal, request.groups.iter().copied())
                    .expect("bytes a receiver walked as well-formed decode"),
            };
            let (topic, key) = match self.render(signal, &unit) {
                Ok(target) => target,
                Err((error, error_type)) => {
                    let letter = self.dead_letter(whole(unit), pipeline, error, error_type);
                    planned.dead_letters.push(letter);
                    continue;
                }
            };
            match request.bytes {
                Some(value) => {
                    let headers = self.headers(PROTOBUF, OTLP_SCHEMA, signal);
                    let items = request.groups.iter().map(|&i| encoded.items(i)).sum();
                    planned.records.push(self.record(
                        topic,
                        key,
                        value,
                        headers,
                        items,
                        signal,
                        Encoding::OtlpProto,
                    ));
                }
                // One group over the limit: it is split decoded.
                None => self.encode_otlp(whole(unit), topic, key, pipeline, planned),
            }
        }
    }

    /// The unit with its topic and key; a unit that cannot have them becomes a dead letter.
    fn target(
        &self,
        unit: Payload,
        pipeline: &str,
        planned: &mut Planned,
    ) -> Option<(Payload, String, Option<String>)> {
        match self.render(unit.signal(), &unit) {
            Ok((topic, key)) => Some((unit, topic, key)),
            Err((error, error_type)) => {
                planned
                    .dead_letters
                    .push(self.dead_letter(unit, pipeline, error, error_type));
                None
            }
        }
    }

    /// The topic and key, or why the unit cannot have them and the error type to say so.
    fn render(
        &self,
        signal: Signal,
        unit: &Payload,
    ) -> Result<(String, Option<String>), (String, &'static str)> {
        const MISSING: &str = "MissingAttribute";
        let (resource, item) = (first_resource_attributes(unit), first_item_attributes(unit));
        let topic = self
            .topic
            .render(signal, resource, item)
            .map_err(|e| (format!("topic {}: {e}", self.topic), MISSING))?;
        if let Some(problem) = super::config::topic_problem(&topic) {
            return Err((
                format!("topic {}: rendered {topic:?}: {problem}", self.topic),
                "InvalidTopic",
            ));
        }
        let key = match &self.key {
            Some(template) => Some(
                template
                    .render(signal, resource, item)
                    .map_err(|e| (format!("key {template}: {e}"), MISSING))?,
            ),
            None => None,
        };
        Ok((topic, key))
    }

    fn encode_otlp(
        &self,
        payload: Payload,
        topic: String,
        key: Option<String>,
        pipeline: &str,
        planned: &mut Planned,
    ) {
        let signal = payload.signal();
        let items = payload.item_count();
        let (content_type, value) = match self.encoding {
            Encoding::OtlpJson => (
                "application/json",
                payload.to_otlp_json().unwrap_or_default(),
            ),
            _ => (PROTOBUF, payload.encode_protobuf()),
        };
        if value.len() > self.record_limit {
            if items > 1 {
                // Cut once at resource and item boundaries, into one piece more than the size
                // alone asks for (items differ in size); a piece still over is cut again.
                let pieces = value.len().div_ceil(self.record_limit) + 1;
                for piece in chunk(payload, items.div_ceil(pieces), usize::MAX) {
                    self.encode_otlp(piece, topic.clone(), key.clone(), pipeline, planned);
                }
            } else {
                let error = format!(
                    "a single item encodes to {} bytes, over the record limit of {}",
                    value.len(),
                    self.record_limit
                );
                planned.dead_letters.push(self.dead_letter(
                    payload,
                    pipeline,
                    error,
                    "RecordTooLarge",
                ));
            }
            return;
        }
        let headers = self.headers(content_type, OTLP_SCHEMA, signal);
        planned
            .records
            .push(self.record(topic, key, value, headers, items, signal, self.encoding));
    }

    fn encode_gds(
        &self,
        item: Payload,
        topic: String,
        key: Option<String>,
        pipeline: &str,
        planned: &mut Planned,
    ) {
        let signal = item.signal();
        let names = GdsNames {
            database_type: &self.database_type_attribute,
            instance_id: &self.instance_id_attribute,
        };
        let record_id = new_record_id();
        let Some((message, schema)) = gds::message(&item, &names, &record_id) else {
            let error = format!("gds_json has no message for this {signal} item");
            planned
                .dead_letters
                .push(self.dead_letter(item, pipeline, error, "EncodingError"));
            return;
        };
        let value = serde_json::to_vec(&message).unwrap_or_default();
        if value.len() > self.record_limit {
            let error = format!(
                "the message encodes to {} bytes, over the record limit of {}",
                value.len(),
                self.record_limit
            );
            planned
                .dead_letters
                .push(self.dead_letter(item, pipeline, error, "RecordTooLarge"));
            return;
        }
        let headers = self.headers("application/json", schema, signal);
        let mut record = self.record(topic, key, value, headers, 1, signal, Encoding::GdsJson);
        record.record_id = record_id;
        if let Some(header) = record.headers.iter_mut().find(|(k, _)| k == "record.id") {
            header.1 = record.record_id.as_bytes().to_vec();
        }
        planned.records.push(record);
    }

    fn headers(&self, content_type: &str, schema: &str, signal: Signal) -> Vec<(String, Vec<u8>)> {
        let mut headers = vec![
            ("content-type".to_string(), content_type.as_bytes().to_vec()),
            ("schema.version".to_string(), schema.as_bytes().to_vec()),
            ("signal".to_string(), signal.as_str().as_bytes().to_vec()),
        ];
        headers.extend(self.static_headers.iter().cloned());
        headers
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        topic: String,
        key: Option<String>,
        value: Vec<u8>,
        mut headers: Vec<(String, Vec<u8>)>,
        items: usize,
        signal: Signal,
        encoding: Encoding,
    ) -> OutRecord {
        let record_id = new_record_id();
        headers.push(("record.id".to_string(), record_id.as_bytes().to_vec()));
        OutRecord {
            topic,
            key,
            value,
            headers,
            items,
            signal,
            encoding,
            record_id,
        }
    }

    fn dead_letter(
        &self,
        item: Payload,
        pipeline: &str,
        error: String,
        error_type: &'static str,
    ) -> DeadLetter {
        DeadLetter::new(item, error, error_type, self.exporter.clone(), pipeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::attributes::key_value as kv;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn logs(groups: &[(&str, &[(&str, usize)])]) -> Batch {
        let request = ExportLogsServiceRequest {
            resource_logs: groups
                .iter()
                .map(|(instance, records)| ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![kv("service.instance.id", instance)],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: records
                            .iter()
                            .map(|(tenant, size)| LogRecord {
                                attributes: vec![kv("tenant", tenant)],
                                body: Some(AnyValue {
                                    value: Some(any_value::Value::StringValue("x".repeat(*size))),
                                }),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        Batch::new(Payload::Logs(request), "otlp".into())
    }

    fn encoder(yaml: &str) -> Encoder {
        let config: KafkaExporterConfig = serde_saphyr::from_str(yaml).unwrap();
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        Encoder::new(&config, "kafka")
    }

    #[test]
    fn item_attribute_templates_split_a_resource_group_by_value() {
        let encoder = encoder(
            r#"{ brokers: [b:1], topic: "logs.${attribute:tenant}", key: "${resource:service.instance.id}" }"#,
        );
        let planned = encoder.plan(logs(&[
            ("db-1", &[("a", 1), ("a", 1), ("b", 1)]),
            ("db-2", &[("a", 1)]),
        ]));
        let routed: Vec<(String, Option<String>, usize)> = planned
            .records
            .iter()
            .map(|r| (r.topic.clone(), r.key.clone(), r.items))
            .collect();
        assert_eq!(
            routed,
            [
                ("logs.a".to_string(), Some("db-1".to_string()), 2),
                ("logs.b".to_string(), Some("db-1".to_string()), 1),
                ("logs.a".to_string(), Some("db-2".to_string()), 1),
            ]
        );
        assert!(planned.dead_letters.is_empty());
    }

    #[test]
    fn a_single_item_over_the_limit_is_dead_lettered_and_the_rest_split() {
        let encoder = encoder("{ brokers: [b:1], topic: logs, max_record_bytes: 4KiB }");
        let planned = encoder.plan(logs(&[(
            "db-1",
            &[("a", 1500), ("a", 1500), ("a", 1500), ("a", 9000)],
        )]));
        assert!(planned.records.len() >= 2);
        assert!(planned.records.iter().all(|r| r.value.len() <= 4096));
        assert_eq!(planned.records.iter().map(|r| r.items).sum::<usize>(), 3);
        assert_eq!(planned.dead_letters.len(), 1);
        assert_eq!(planned.dead_letters[0].error_type, "RecordTooLarge");
    }

    #[test]
    fn a_rendered_topic_that_kafka_would_refuse_is_dead_lettered() {
        let encoder =
            encoder(r#"{ brokers: [b:1], topic: "logs.${resource:service.instance.id}" }"#);
        let planned = encoder.plan(logs(&[("has space", &[("a", 1)])]));
        assert!(planned.records.is_empty());
        assert_eq!(planned.dead_letters[0].error_type, "InvalidTopic");
        assert!(planned.dead_letters[0].error.contains("has space"));
    }

    /// The batch as a receiver hands it over from a protobuf body, decoded or only walked.
    fn received(batch: Batch, walked: bool) -> Batch {
        let source = batch.context.source.clone();
        Batch::received(Received::protobuf(batch.into_payload(), walked), source)
    }

    fn read_back(planned: &Planned) -> Vec<(String, Option<String>, usize, Payload)> {
        planned
            .records
            .iter()
            .map(|r| {
                let payload = crate::pipeline::batch::decode_protobuf(Signal::Logs, &r.value);
                (r.topic.clone(), r.key.clone(), r.items, payload.unwrap())
            })
            .collect()
    }

    #[test]
    fn received_bytes_make_the_records_encoding_again_would_make() {
        let encoder = encoder(
            r#"{ brokers: [b:1], topic: "logs.${resource:service.instance.id}", key: "${resource:service.instance.id}" }"#,
        );
        let batch = logs(&[
            ("db-1", &[("a", 10), ("b", 20)]),
            ("db-2", &[("a", 30)]),
            ("db-1", &[("c", 40)]),
        ]);
        let decoded = encoder.plan(batch.clone());
        for walked in [false, true] {
            let passed_on = encoder.plan(received(batch.clone(), walked));
            assert_eq!(read_back(&passed_on), read_back(&decoded));
            assert_eq!(passed_on.records.len(), 2, "db-1's groups share a record");
            assert!(passed_on.records[0]
                .headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == b"application/x-protobuf"));
        }
    }

    #[test]
    fn received_bytes_over_the_limit_are_cut_as_decoded_ones_are() {
        let encoder = encoder("{ brokers: [b:1], topic: logs, max_record_bytes: 4KiB }");
        for walked in [false, true] {
            let batch = logs(&[
                ("db-1", &[("a", 1500), ("a", 1500)]),
                ("db-1", &[("a", 1500), ("a", 1500), ("a", 9000)]),
                ("db-2", &[("a", 100)]),
            ]);
            let planned = encoder.plan(received(batch, walked));
            assert!(planned.records.iter().all(|r| r.value.len() <= 4096));
            assert_eq!(planned.records.iter().map(|r| r.items).sum::<usize>(), 5);
            assert_eq!(planned.dead_letters.len(), 1);
            assert_eq!(planned.dead_letters[0].error_type, "RecordTooLarge");
            assert_eq!(
                planned.dead_letters[0].item.item_count(),
                1,
                "the item, decoded"
            );
        }
    }

    #[test]
    fn a_group_without_its_topic_attribute_is_dead_lettered_from_received_bytes_too() {
        let encoder = encoder(r#"{ brokers: [b:1], topic: "logs.${resource:tenant}" }"#);
        for walked in [false, true] {
            let planned = encoder.plan(received(logs(&[("db-1", &[("a", 1)])]), walked));
            assert!(planned.records.is_empty());
            assert_eq!(planned.dead_letters[0].error_type, "MissingAttribute");
            assert_eq!(
                planned.dead_letters[0].item.item_count(),
                1,
                "the item, decoded"
            );
        }
    }
}
