//! Cutting a payload into pieces of bounded items and encoded bytes, and grouping it by
//! resource attributes, keeping resources and scopes shared where items allow.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use super::batch::Payload;

/// Pieces of at most `max_items` items and (unless one item alone is larger) `max_bytes`
/// encoded bytes, in order.
pub fn chunk(payload: Payload, max_items: usize, max_bytes: usize) -> Vec<Payload> {
    let signal = payload.signal();
    let mut chunks = Vec::new();
    let mut current = Payload::empty(signal);
    let (mut items, mut bytes) = (0, 0);
    for item in payload.into_items() {
        let size = item.encoded_len();
        if items > 0 && (items + 1 > max_items || bytes + size > max_bytes) {
            chunks.push(std::mem::replace(&mut current, Payload::empty(signal)));
            (items, bytes) = (0, 0);
        }
        append_item(&mut current, item);
        items += 1;
        bytes += size;
    }
    if items > 0 {
        chunks.push(current);
    }
    chunks
}

/// Appends a single-item payload, into the last resource and scope when they are the same.
pub fn append_item(into: &mut Payload, item: Payload) {
    macro_rules! merge {
        ($groups:expr, $item_groups:expr, $scopes:ident, $items:ident) => {{
            for mut group in $item_groups {
                let last = $groups
                    .last_mut()
                    .filter(|l| l.resource == group.resource && l.schema_url == group.schema_url);
                match last {
                    Some(last) => {
                        for scope in group.$scopes.drain(..) {
                            let same = last.$scopes.last_mut().filter(|s| {
                                s.scope == scope.scope && s.schema_url == scope.schema_url
                            });
                            match same {
                                Some(same) => same.$items.extend(scope.$items),
                                None => last.$scopes.push(scope),
                            }
                        }
                    }
                    None => $groups.push(group),
                }
            }
        }};
    }
    match (into, item) {
        (Payload::Traces(a), Payload::Traces(b)) => {
            merge!(a.resource_spans, b.resource_spans, scope_spans, spans)
        }
        (Payload::Metrics(a), Payload::Metrics(b)) => merge!(
            a.resource_metrics,
            b.resource_metrics,
            scope_metrics,
            metrics
        ),
        (Payload::Logs(a), Payload::Logs(b)) => {
            merge!(a.resource_logs, b.resource_logs, scope_logs, log_records)
        }
        (into, item) => {
            let _ = into.append(item);
        }
    }
}

/// Each resource group as a payload of its own.
pub fn resource_groups(payload: Payload) -> Vec<Payload> {
    match payload {
        Payload::Traces(r) => r
            .resource_spans
            .into_iter()
            .map(|g| Payload::Traces(opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest { resource_spans: vec![g] }))
            .collect(),
        Payload::Metrics(r) => r
            .resource_metrics
            .into_iter()
            .map(|g| Payload::Metrics(opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest { resource_metrics: vec![g] }))
            .collect(),
        Payload::Logs(r) => r
            .resource_logs
            .into_iter()
            .map(|g| Payload::Logs(opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest { resource_logs: vec![g] }))
            .collect(),
        dead @ Payload::DeadLetters(_) => vec![dead],
    }
}

/// The payload's resource groups, grouped by the values of `keys` in each resource's attributes
/// (a missing attribute counts as empty).
pub fn group_by_resource(payload: Payload, keys: &[String]) -> BTreeMap<Vec<String>, Payload> {
    let signal = payload.signal();
    let mut groups: BTreeMap<Vec<String>, Payload> = BTreeMap::new();
    let key_of = |attributes: Option<&Vec<KeyValue>>| -> Vec<String> {
        keys.iter()
            .map(|key| {
                attributes
                    .and_then(|a| a.iter().find(|kv| &kv.key == key))
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(
                            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                                s,
                            ),
                        ) => Some(s.clone()),
                        Some(other) => Some(format!("{other:?}")),
                        None => None,
                    })
                    .unwrap_or_default()
            })
            .collect()
    };
    macro_rules! split {
        ($request:expr, $field:ident, $variant:ident, $ty:ty) => {
            for group in $request.$field {
                let key = key_of(group.resource.as_ref().map(|r| &r.attributes));
                let entry = groups.entry(key).or_insert_with(|| Payload::empty(signal));
                if let Payload::$variant(request) = entry {
                    request.$field.push(group);
                }
            }
        };
    }
    match payload {
        Payload::Traces(request) => split!(request, resource_spans, Traces, _),
        Payload::Metrics(request) => split!(request, resource_metrics, Metrics, _),
        Payload::Logs(request) => split!(request, resource_logs, Logs, _),
        dead @ Payload::DeadLetters(_) => {
            groups.insert(vec![String::new(); keys.len()], dead);
        }
    }
    groups
}

/// Resource groups with the same resource (and schema URL) as one group, their scopes in order,
/// where they first appeared: requests of one instance batched together become one group, so
/// one record rather than one a request.
pub fn merge_equal_resources(payload: Payload) -> Payload {
    macro_rules! merge {
        ($groups:expr, $group:ty, $scopes:ident) => {{
            let mut merged: Vec<$group> = Vec::with_capacity($groups.len());
            let mut index_of: HashMap<(Vec<u8>, String), usize> = HashMap::new();
            for group in std::mem::take(&mut $groups) {
                let resource = group.resource.as_ref().map(Message::encode_to_vec);
                let identity = (resource.unwrap_or_default(), group.schema_url.clone());
                match index_of.get(&identity) {
                    Some(&index) => merged[index].$scopes.extend(group.$scopes),
                    None => {
                        index_of.insert(identity, merged.len());
                        merged.push(group);
                    }
                }
            }
            $groups = merged;
        }};
    }
    let mut payload = payload;
    match &mut payload {
        Payload::Traces(r) => merge!(r.resource_spans, ResourceSpans, scope_spans),
        Payload::Metrics(r) => merge!(r.resource_metrics, ResourceMetrics, scope_metrics),
        Payload::Logs(r) => merge!(r.resource_logs, ResourceLogs, scope_logs),
        Payload::DeadLetters(_) => {}
    }
    payload
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
