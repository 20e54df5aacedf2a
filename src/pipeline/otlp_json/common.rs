//! The messages every signal shares: attributes and their values, resources, scopes.

use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, EntityRef, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::writer::{self, Object};

/// An AnyValue is a oneof: its one set member, written even at its default (`"intValue":"0"`,
/// `"stringValue":""`), or `{}` when none is set.
pub(super) fn any_value(out: &mut Vec<u8>, any: &AnyValue) {
    let mut object = Object::begin(out);
    match &any.value {
        None => {}
        Some(Value::StringValue(text)) => writer::string(object.field("stringValue"), text),
        Some(Value::BoolValue(flag)) => writer::bool(object.field("boolValue"), *flag),
        Some(Value::IntValue(int)) => writer::int64_string(object.field("intValue"), *int),
        Some(Value::DoubleValue(double)) => writer::double(object.field("doubleValue"), *double),
        Some(Value::ArrayValue(array)) => {
            let mut inner = Object::begin(object.field("arrayValue"));
            inner.array_always("values", &array.values, any_value);
            inner.end();
        }
        Some(Value::KvlistValue(list)) => {
            let mut inner = Object::begin(object.field("kvlistValue"));
            inner.array_always("values", &list.values, key_value);
            inner.end();
        }
        Some(Value::BytesValue(bytes)) => writer::base64_string(object.field("bytesValue"), bytes),
        Some(Value::StringValueStrindex(index)) => {
            writer::int(object.field("stringValueStrindex"), (*index).into())
        }
    }
    object.end();
}

/// Proto3 JSON lets a writer emit a field at its default, and a reader must accept it. The
/// attribute key, and the `values` of an array or kvlist value (in `any_value`), are always
/// written: the OTLP/JSON decoder our own receivers use (opentelemetry-proto's serde) refuses
/// a KeyValue without `key` and an array or kvlist without `values`, and the Kafka receiver
/// reads back what the Kafka exporter writes.
pub(super) fn key_value(out: &mut Vec<u8>, pair: &KeyValue) {
    let mut object = Object::begin(out);
    writer::string(object.field("key"), &pair.key);
    object.message("value", pair.value.as_ref(), any_value);
    object.int32("keyStrindex", pair.key_strindex);
    object.end();
}

pub(super) fn attributes(object: &mut Object, name: &str, attributes: &[KeyValue]) {
    object.array(name, attributes, key_value);
}

pub(super) fn resource(out: &mut Vec<u8>, resource: &Resource) {
    let mut object = Object::begin(out);
    attributes(&mut object, "attributes", &resource.attributes);
    object.uint32("droppedAttributesCount", resource.dropped_attributes_count);
    object.array("entityRefs", &resource.entity_refs, entity_ref);
    object.end();
}

/// Every field written, defaults included, for the same reason as `key_value`: the decoder
/// our receivers use requires them all.
fn entity_ref(out: &mut Vec<u8>, entity: &EntityRef) {
    let mut object = Object::begin(out);
    writer::string(object.field("schemaUrl"), &entity.schema_url);
    writer::string(object.field("type"), &entity.r#type);
    object.array_always("idKeys", &entity.id_keys, |out, key| {
        writer::string(out, key)
    });
    object.array_always("descriptionKeys", &entity.description_keys, |out, key| {
        writer::string(out, key)
    });
    object.end();
}

pub(super) fn scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    let mut object = Object::begin(out);
    object.string("name", &scope.name);
    object.string("version", &scope.version);
    attributes(&mut object, "attributes", &scope.attributes);
    object.uint32("droppedAttributesCount", scope.dropped_attributes_count);
    object.end();
}
