use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use super::common::{any_value, attributes, resource, scope};
use super::writer::Object;

pub fn write(out: &mut Vec<u8>, request: &ExportLogsServiceRequest) {
    let mut object = Object::begin(out);
    object.array("resourceLogs", &request.resource_logs, resource_logs);
    object.end();
}

fn resource_logs(out: &mut Vec<u8>, group: &ResourceLogs) {
    let mut object = Object::begin(out);
    object.message("resource", group.resource.as_ref(), resource);
    object.array("scopeLogs", &group.scope_logs, scope_logs);
    object.string("schemaUrl", &group.schema_url);
    object.end();
}

fn scope_logs(out: &mut Vec<u8>, group: &ScopeLogs) {
    let mut object = Object::begin(out);
    object.message("scope", group.scope.as_ref(), scope);
    object.array("logRecords", &group.log_records, log_record);
    object.string("schemaUrl", &group.schema_url);
    object.end();
}

fn log_record(out: &mut Vec<u8>, record: &LogRecord) {
    let mut object = Object::begin(out);
    object.uint64("timeUnixNano", record.time_unix_nano);
    object.uint64("observedTimeUnixNano", record.observed_time_unix_nano);
    object.int32("severityNumber", record.severity_number);
    object.string("severityText", &record.severity_text);
    object.message("body", record.body.as_ref(), any_value);
    attributes(&mut object, "attributes", &record.attributes);
    object.uint32("droppedAttributesCount", record.dropped_attributes_count);
    object.uint32("flags", record.flags);
    object.hex_id("traceId", &record.trace_id);
    object.hex_id("spanId", &record.span_id);
    object.string("eventName", &record.event_name);
    object.end();
}
