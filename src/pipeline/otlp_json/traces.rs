use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::common::{attributes, resource, scope};
use super::writer::Object;

pub fn write(out: &mut Vec<u8>, request: &ExportTraceServiceRequest) {
    let mut object = Object::begin(out);
    object.array("resourceSpans", &request.resource_spans, resource_spans);
    object.end();
}

fn resource_spans(out: &mut Vec<u8>, group: &ResourceSpans) {
    let mut object = Object::begin(out);
    object.message("resource", group.resource.as_ref(), resource);
    object.array("scopeSpans", &group.scope_spans, scope_spans);
    object.string("schemaUrl", &group.schema_url);
    object.end();
}

fn scope_spans(out: &mut Vec<u8>, group: &ScopeSpans) {
    let mut object = Object::begin(out);
    object.message("scope", group.scope.as_ref(), scope);
    object.array("spans", &group.spans, span);
    object.string("schemaUrl", &group.schema_url);
    object.end();
}

fn span(out: &mut Vec<u8>, span: &Span) {
    let mut object = Object::begin(out);
    object.hex_id("traceId", &span.trace_id);
    object.hex_id("spanId", &span.span_id);
    object.string("traceState", &span.trace_state);
    object.hex_id("parentSpanId", &span.parent_span_id);
    object.uint32("flags", span.flags);
    object.string("name", &span.name);
    object.int32("kind", span.kind);
    object.uint64("startTimeUnixNano", span.start_time_unix_nano);
    object.uint64("endTimeUnixNano", span.end_time_unix_nano);
    attributes(&mut object, "attributes", &span.attributes);
    object.uint32("droppedAttributesCount", span.dropped_attributes_count);
    object.array("events", &span.events, event);
    object.uint32("droppedEventsCount", span.dropped_events_count);
    object.array("links", &span.links, link);
    object.uint32("droppedLinksCount", span.dropped_links_count);
    object.message("status", span.status.as_ref(), status);
    object.end();
}

fn event(out: &mut Vec<u8>, event: &Event) {
    let mut object = Object::begin(out);
    object.uint64("timeUnixNano", event.time_unix_nano);
    object.string("name", &event.name);
    attributes(&mut object, "attributes", &event.attributes);
    object.uint32("droppedAttributesCount", event.dropped_attributes_count);
    object.end();
}

fn link(out: &mut Vec<u8>, link: &Link) {
    let mut object = Object::begin(out);
    object.hex_id("traceId", &link.trace_id);
    object.hex_id("spanId", &link.span_id);
    object.string("traceState", &link.trace_state);
    attributes(&mut object, "attributes", &link.attributes);
    object.uint32("droppedAttributesCount", link.dropped_attributes_count);
    object.uint32("flags", link.flags);
    object.end();
}

fn status(out: &mut Vec<u8>, status: &Status) {
    let mut object = Object::begin(out);
    object.string("message", &status.message);
    object.int32("code", status.code);
    object.end();
}
