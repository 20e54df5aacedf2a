//! Reading OTLP attributes: what processors match on and exporters render into topics and keys.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::batch::Payload;

pub fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// The value as text: strings as they are, other scalars in their usual notation, bytes in hex,
/// arrays and maps as JSON.
pub fn as_text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BytesValue(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
        any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_) => {
            serde_json::to_string(value).ok()
        }
        _ => None,
    }
}

/// An attribute value as JSON of its own type: strings, booleans, integers and doubles as
/// themselves (a double that JSON cannot hold, NaN or an infinity, as its text), bytes as hex,
/// arrays and key-value lists as arrays and objects. An empty value is `None`.
pub fn json_of(value: &AnyValue) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::from(*i),
        any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(d.to_string()), Value::Number),
        any_value::Value::BytesValue(b) => {
            Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
        }
        any_value::Value::ArrayValue(array) => {
            Value::Array(array.values.iter().filter_map(json_of).collect())
        }
        any_value::Value::KvlistValue(list) => Value::Object(
            list.values
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), json_of(kv.value.as_ref()?)?)))
                .collect(),
        ),
        _ => return None,
    })
}

/// JSON back to an attribute value of the same type (`json_of` the other way; a `null` is an
/// empty value).
pub fn any_value_of(json: &serde_json::Value) -> AnyValue {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use serde_json::Value;
    let value = match json {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or_default()),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any_value_of).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: Some(any_value_of(value)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

pub fn text_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    find(attributes, key).and_then(as_text)
}

/// A string attribute.
pub fn key_value(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(string_value(value)),
        ..Default::default()
    }
}

pub fn string_value(text: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    }
}

/// The first resource's attributes (a single-group payload has just one resource).
pub fn first_resource_attributes(payload: &Payload) -> &[KeyValue] {
    let resource = match payload {
        Payload::Traces(r) => r.resource_spans.first().and_then(|g| g.resource.as_ref()),
        Payload::Metrics(r) => r.resource_metrics.first().and_then(|g| g.resource.as_ref()),
        Payload::Logs(r) => r.resource_logs.first().and_then(|g| g.resource.as_ref()),
        Payload::DeadLetters(_) => None,
    };
    resource.map_or(&[], |r| &r.attributes)
}

/// The first item's own attributes: for a single-item payload, the item's.
pub fn first_item_attributes(payload: &Payload) -> &[KeyValue] {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match payload {
        Payload::Traces(r) => r
            .resource_spans
            .first()
            .and_then(|g| g.scope_spans.first())
            .and_then(|s| s.spans.first())
            .map_or(&[], |span| &span.attributes),
        Payload::Logs(r) => r
            .resource_logs
            .first()
            .and_then(|g| g.scope_logs.first())
            .and_then(|s| s.log_records.first())
            .map_or(&[], |log| &log.attributes),
        Payload::Metrics(r) => {
            let metric = r
                .resource_metrics
                .first()
                .and_then(|g| g.scope_metrics.first())
                .and_then(|s| s.metrics.first());
            match metric.and_then(|m| m.data.as_ref()) {
                Some(Data::Gauge(g)) => g.data_points.first().map_or(&[], |p| &p.attributes),
                Some(Data::Sum(s)) => s.data_points.first().map_or(&[], |p| &p.attributes),
                Some(Data::Histogram(h)) => h.data_points.first().map_or(&[], |p| &p.attributes),
                Some(Data::ExponentialHistogram(h)) => {
                    h.data_points.first().map_or(&[], |p| &p.attributes)
                }
                Some(Data::Summary(s)) => s.data_points.first().map_or(&[], |p| &p.attributes),
                None => &[],
            }
        }
        Payload::DeadLetters(_) => &[],
    }
}
