//! The tables: one row per metric data point, log record or span. Metric and log rows are the
//! kafka exporter's standard messages (`gds_json`, the reference's fields) laid out in columns,
//! built by the same code, so that a warehouse row and a Kafka message never disagree. Spans,
//! which have no standard message, get a table of their own.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, MapBuilder, MapFieldNames, StringBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{json, Value};

use crate::exporters::kafka::gds::{self, GdsNames};
use crate::pipeline::batch::{Payload, Signal};
use crate::pipeline::dead_letter::nanos_from_rfc3339;
use crate::pipeline::ids::new_record_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A timestamp in milliseconds, UTC, from RFC 3339 text or nanoseconds.
    Millis,
    /// A timestamp in microseconds, UTC, from nanoseconds.
    Micros,
    Text,
    Float,
    /// A `map<string, string>`.
    Map,
}

/// A column and where its value is in the row's message: the keys down to it.
struct Column {
    name: &'static str,
    path: &'static [&'static str],
    kind: Kind,
    nullable: bool,
}

const fn column(
    name: &'static str,
    path: &'static [&'static str],
    kind: Kind,
    nullable: bool,
) -> Column {
    Column {
        name,
        path,
        kind,
        nullable,
    }
}

/// The standard metric message; `record_id` is the message's `correlation_id`.
const METRIC_COLUMNS: &[Column] = &[
    column("timestamp", &["timestamp"], Kind::Millis, false),
    column("database_type", &["database_type"], Kind::Text, true),
    column("instance_id", &["instance_id"], Kind::Text, true),
    column("metric_name", &["metric_name"], Kind::Text, false),
    column("value", &["value"], Kind::Float, true),
    column("unit", &["metadata", "unit"], Kind::Text, true),
    column("tags", &["tags"], Kind::Map, false),
    column(
        "record_id",
        &["metadata", "correlation_id"],
        Kind::Text,
        false,
    ),
];

/// The standard log message.
const LOG_COLUMNS: &[Column] = &[
    column("timestamp", &["timestamp"], Kind::Millis, false),
    column("level", &["level"], Kind::Text, false),
    column("message", &["message"], Kind::Text, false),
    column("service", &["service"], Kind::Text, true),
    column("trace_id", &["trace_id"], Kind::Text, true),
    column("span_id", &["span_id"], Kind::Text, true),
    column("context", &["context"], Kind::Map, false),
    column(
        "record_id",
        &["metadata", "correlation_id"],
        Kind::Text,
        false,
    ),
];

/// Spans, from `span_message`.
const SPAN_COLUMNS: &[Column] = &[
    column("trace_id", &["trace_id"], Kind::Text, false),
    column("span_id", &["span_id"], Kind::Text, false),
    column("parent_span_id", &["parent_span_id"], Kind::Text, true),
    column("name", &["name"], Kind::Text, false),
    column("kind", &["kind"], Kind::Text, false),
    column("start_time", &["start_time"], Kind::Micros, false),
    column("end_time", &["end_time"], Kind::Micros, false),
    column("status", &["status"], Kind::Text, false),
    column("status_message", &["status_message"], Kind::Text, true),
    column("attributes", &["attributes"], Kind::Map, false),
    column(
        "resource_attributes",
        &["resource_attributes"],
        Kind::Map,
        false,
    ),
    column("record_id", &["record_id"], Kind::Text, false),
];

/// The parquet convention for a map's parts, which warehouse loaders expect.
fn map_names() -> MapFieldNames {
    MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Millis => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::Micros => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Text => DataType::Utf8,
            Kind::Float => DataType::Float64,
            Kind::Map => {
                let names = map_names();
                let entries = Fields::from(vec![
                    Field::new(names.key, DataType::Utf8, false),
                    Field::new(names.value, DataType::Utf8, true),
                ]);
                DataType::Map(
                    Arc::new(Field::new(names.entry, DataType::Struct(entries), false)),
                    false,
                )
            }
        }
    }
}

/// One signal's table: its schema, and its rows from a batch's payload.
pub struct Table {
    columns: &'static [Column],
    schema: SchemaRef,
}

impl Table {
    pub fn of(signal: Signal) -> Table {
        let columns = match signal {
            Signal::Metrics => METRIC_COLUMNS,
            Signal::Logs => LOG_COLUMNS,
            Signal::Traces => SPAN_COLUMNS,
        };
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), c.nullable))
            .collect();
        Table {
            columns,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The payload's rows, each with a new record id (derived ones under `with_ids_from`).
    pub fn rows(&self, payload: Payload, names: &GdsNames<'_>) -> Result<RecordBatch, ArrowError> {
        let messages = match payload {
            Payload::Traces(request) => span_messages(&request),
            Payload::Metrics(_) | Payload::Logs(_) => payload
                .into_items()
                .iter()
                .filter_map(|item| Some(gds::message(item, names, &new_record_id())?.0))
                .collect(),
            Payload::DeadLetters(_) => Vec::new(),
        };
        let mut builders: Vec<Builder> = self
            .columns
            .iter()
            .map(|c| Builder::new(c.kind, messages.len()))
            .collect();
        for message in &messages {
            for (column, builder) in self.columns.iter().zip(&mut builders) {
                let value = column
                    .path
                    .iter()
                    .try_fold(message, |value, key| value.get(key))
                    .filter(|v| !v.is_null());
                builder.append(value, column.nullable)?;
            }
        }
        let arrays = builders.iter_mut().map(Builder::finish).collect();
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

fn span_messages(request: &ExportTraceServiceRequest) -> Vec<Value> {
    let hex = |id: &[u8]| -> Option<String> {
        (!id.is_empty()).then(|| id.iter().map(|b| format!("{b:02x}")).collect())
    };
    // `SPAN_KIND_SERVER` → `SERVER`, `STATUS_CODE_ERROR` → `ERROR`, as log levels read.
    let short = |name: &str, prefix: &str| name.trim_start_matches(prefix).to_string();
    let mut messages = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |r| &r.attributes);
        for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
            let status = span.status.as_ref();
            messages.push(json!({
                "trace_id": hex(&span.trace_id),
                "span_id": hex(&span.span_id),
                "parent_span_id": hex(&span.parent_span_id),
                "name": span.name,
                "kind": short(span.kind().as_str_name(), "SPAN_KIND_"),
                "start_time": span.start_time_unix_nano,
                "end_time": span.end_time_unix_nano,
                "status": short(status.map_or("UNSET", |s| s.code().as_str_name()), "STATUS_CODE_"),
                "status_message": status.map(|s| s.message.as_str()).filter(|m| !m.is_empty()),
                "attributes": gds::strings(&span.attributes),
                "resource_attributes": gds::strings(resource),
                "record_id": new_record_id(),
            }));
        }
    }
    messages
}

enum Builder {
    Millis(TimestampMillisecondBuilder),
    Micros(TimestampMicrosecondBuilder),
    Text(StringBuilder),
    Float(Float64Builder),
    Map(Box<MapBuilder<StringBuilder, StringBuilder>>),
}

impl Builder {
    fn new(kind: Kind, rows: usize) -> Builder {
        match kind {
            Kind::Millis => Builder::Millis(
                TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            Kind::Micros => Builder::Micros(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            Kind::Text => Builder::Text(StringBuilder::with_capacity(rows, rows * 16)),
            Kind::Float => Builder::Float(Float64Builder::with_capacity(rows)),
            Kind::Map => Builder::Map(Box::new(MapBuilder::new(
                Some(map_names()),
                StringBuilder::new(),
                StringBuilder::new(),
            ))),
        }
    }

    /// Appends the value; a missing one as null where the column allows it, else as the
    /// type's zero (an empty string or map, the epoch).
    fn append(&mut self, value: Option<&Value>, nullable: bool) -> Result<(), ArrowError> {
        let nanos = || {
            value.and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(nanos_from_rfc3339))
            })
        };
        match self {
            Builder::Millis(b) => match nanos() {
                Some(n) => b.append_value((n / 1_000_000) as i64),
                None if nullable => b.append_null(),
                None => b.append_value(0),
            },
            Builder::Micros(b) => match nanos() {
                Some(n) => b.append_value((n / 1_000) as i64),
                None if nullable => b.append_null(),
                None => b.append_value(0),
            },
            Builder::Text(b) => match value {
                Some(Value::String(s)) => b.append_value(s),
                Some(other) => b.append_value(other.to_string()),
                None if nullable => b.append_null(),
                None => b.append_value(""),
            },
            Builder::Float(b) => match value.and_then(Value::as_f64) {
                Some(f) => b.append_value(f),
                None if nullable => b.append_null(),
                None => b.append_value(0.0),
            },
            Builder::Map(b) => match value.and_then(Value::as_object) {
                Some(map) => {
                    for (key, value) in map {
                        b.keys().append_value(key);
                        // A map of strings: other JSON values (a log's typed context) as
                        // their JSON text.
                        match value {
                            Value::String(text) => b.values().append_value(text),
                            Value::Null => b.values().append_null(),
                            other => b.values().append_value(other.to_string()),
                        }
                    }
                    b.append(true)?;
                }
                None => b.append(!nullable)?,
            },
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Millis(b) => Arc::new(b.finish()),
            Builder::Micros(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Map(b) => Arc::new(b.finish()),
        }
    }
}
