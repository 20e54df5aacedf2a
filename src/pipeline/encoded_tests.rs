use super::*;
use crate::pipeline::attributes::key_value;
use crate::pipeline::batch::Payload;
use crate::pipeline::chunk::merge_equal_resources;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn request(groups: &[(&str, usize)]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: groups
            .iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![key_value("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: (0..*spans)
                        .map(|i| Span {
                            name: format!("{service}-{i}"),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            })
            .collect(),
    }
}

fn encoded(request: &ExportTraceServiceRequest) -> EncodedGroups {
    EncodedGroups::of(&Payload::Traces(request.clone())).expect("splits")
}

fn decoded(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).expect("a request")
}

#[test]
fn each_group_is_the_bytes_of_its_decoded_group() {
    let original = request(&[("a", 2), ("b", 3), ("a", 1)]);
    let groups = encoded(&original);
    assert_eq!(groups.len(), 3);
    for (bytes, group) in groups.groups.iter().zip(&original.resource_spans) {
        assert_eq!(&ResourceSpans::decode(bytes.clone()).unwrap(), group);
    }
    assert_eq!(decoded(&groups.request()), original);
}

#[test]
fn bytes_that_do_not_match_the_decoded_count_or_do_not_walk_keep_nothing() {
    let bytes = Bytes::from(request(&[("a", 1), ("b", 1)]).encode_to_vec());
    assert!(EncodedGroups::split(&bytes, vec![1]).is_none());
    assert!(EncodedGroups::split(&bytes.slice(..bytes.len() - 1), vec![1, 1]).is_none());
    assert!(EncodedGroups::split(&Bytes::from_static(&[0x0b]), vec![]).is_none());
    let empty = EncodedGroups::split(&Bytes::new(), vec![]).expect("an empty request splits");
    assert!(empty.is_empty());
}

#[test]
fn groups_of_equal_resource_become_one_as_decoded_merging_makes_them() {
    let original = request(&[("a", 2), ("b", 3), ("a", 1), ("c", 1), ("b", 2)]);
    let requests = encoded(&original).requests(usize::MAX);
    let indices: Vec<&[usize]> = requests.iter().map(|r| r.groups.as_slice()).collect();
    assert_eq!(indices, [&[0, 2][..], &[1, 4], &[3]]);
    let mut merged = ExportTraceServiceRequest::default();
    for request in &requests {
        let one = decoded(request.bytes.as_deref().expect("fits"));
        assert_eq!(one.resource_spans.len(), 1, "one group a request");
        merged.resource_spans.extend(one.resource_spans);
    }
    assert_eq!(
        Payload::Traces(merged),
        merge_equal_resources(Payload::Traces(original))
    );
}

#[test]
fn no_request_passes_the_limit_and_a_group_over_it_alone_has_no_bytes() {
    let original = request(&[("a", 40), ("a", 40), ("a", 40), ("big", 400)]);
    let groups = encoded(&original);
    let one_group = groups.groups[0].len() + 4;
    let requests = groups.requests(2 * one_group);
    let indices: Vec<&[usize]> = requests.iter().map(|r| r.groups.as_slice()).collect();
    assert_eq!(indices, [&[0, 1][..], &[2], &[3]]);
    for request in &requests[..2] {
        assert!(request.bytes.as_ref().unwrap().len() <= 2 * one_group);
    }
    assert_eq!(requests[3 - 1].groups, [3]);
    assert!(requests[2].bytes.is_none(), "the big group cannot fit");
    let items: usize = requests[..2]
        .iter()
        .map(|r| decoded(r.bytes.as_deref().unwrap()))
        .flat_map(|r| r.resource_spans)
        .flat_map(|g| g.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(items, 120);
}

#[test]
fn a_group_alone_keeps_fields_this_version_does_not_know() {
    let original = request(&[("a", 1)]);
    let mut group = original.resource_spans[0].encode_to_vec();
    // Field 9, a string "x": what a newer OTLP might add.
    group.extend_from_slice(&[0x4a, 0x01, b'x']);
    let mut bytes = vec![0x0a];
    prost::encoding::encode_varint(group.len() as u64, &mut bytes);
    bytes.extend_from_slice(&group);
    let groups = EncodedGroups::split(&Bytes::from(bytes.clone()), vec![1]).unwrap();
    let requests = groups.requests(usize::MAX);
    assert_eq!(requests[0].bytes.as_deref(), Some(&bytes[..]));
    assert_eq!(decoded(&bytes), original);
}
