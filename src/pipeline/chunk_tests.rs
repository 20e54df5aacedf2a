use super::*;
use crate::pipeline::batch::Payload;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn resource(db: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "db.system".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(db.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn traces(groups: &[(&str, usize)]) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: groups
            .iter()
            .map(|(db, n)| ResourceSpans {
                resource: resource(db),
                scope_spans: vec![ScopeSpans {
                    spans: (0..*n)
                        .map(|i| Span {
                            name: format!("{db}-{i}"),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

#[test]
fn chunks_respect_the_item_limit_and_keep_groups_shared() {
    let chunks = chunk(traces(&[("pg", 5), ("mongo", 3)]), 3, usize::MAX);
    let counts: Vec<usize> = chunks.iter().map(Payload::item_count).collect();
    assert_eq!(counts, [3, 3, 2]);
    let Payload::Traces(first) = &chunks[0] else {
        panic!()
    };
    assert_eq!(
        first.resource_spans.len(),
        1,
        "three spans of one resource share it"
    );
    let Payload::Traces(second) = &chunks[1] else {
        panic!()
    };
    assert_eq!(
        second.resource_spans.len(),
        2,
        "pg's last two, then mongo's first"
    );
    let mut rejoined = Payload::empty(crate::pipeline::batch::Signal::Traces);
    for piece in chunks {
        rejoined.append(piece).unwrap();
    }
    assert_eq!(
        rejoined.into_items(),
        traces(&[("pg", 5), ("mongo", 3)]).into_items()
    );
}

#[test]
fn chunks_respect_the_byte_limit_unless_one_item_is_larger() {
    let payload = traces(&[("pg", 10)]);
    let one = payload.clone().into_items()[0].encoded_len();
    let chunks = chunk(payload, usize::MAX, one * 3);
    assert!(chunks.iter().all(|c| c.encoded_len() <= one * 3));
    assert_eq!(chunks.iter().map(Payload::item_count).sum::<usize>(), 10);
    assert_eq!(
        chunk(traces(&[("pg", 2)]), usize::MAX, 1).len(),
        2,
        "an item larger than the limit goes alone"
    );
}

#[test]
fn groups_by_resource_attribute_values() {
    let groups = group_by_resource(
        traces(&[("pg", 2), ("mongo", 1), ("pg", 1)]),
        &["db.system".to_string()],
    );
    let counts: Vec<(String, usize)> = groups
        .into_iter()
        .map(|(k, p)| (k[0].clone(), p.item_count()))
        .collect();
    assert_eq!(counts, [("mongo".to_string(), 1), ("pg".to_string(), 3)]);
}

#[test]
fn equal_resources_merge_into_the_first_group_in_order() {
    let merged = merge_equal_resources(traces(&[("a", 2), ("b", 1), ("a", 3)]));
    let Payload::Traces(request) = merged else {
        panic!("traces stay traces");
    };
    let groups: Vec<(Option<Resource>, Vec<usize>)> = request
        .resource_spans
        .iter()
        .map(|g| {
            let sizes = g.scope_spans.iter().map(|s| s.spans.len()).collect();
            (g.resource.clone(), sizes)
        })
        .collect();
    assert_eq!(
        groups,
        vec![(resource("a"), vec![2, 3]), (resource("b"), vec![1])]
    );
}
