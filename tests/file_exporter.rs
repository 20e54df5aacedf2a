//! The file exporter: one file per database instance from a path template, rotation by size
//! with pruned backups, gzip and zstd, OTLP/JSON lines and length-prefixed protobuf; every line
//! whole, and everything written decodes back to what was sent.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{items, post_retrying, Agent};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tributary::exporters::file::backups_of;
use tributary::pipeline::batch::{decode_protobuf, Payload, Signal};

fn request(instance: &str, first: u64, spans: u64) -> ExportTraceServiceRequest {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.instance.id", instance)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + spans)
                    .map(|i| Span {
                        trace_id: vec![3; 16],
                        span_id: (i + 1).to_be_bytes().to_vec(),
                        name: format!("span-{i}"),
                        attributes: vec![kv("filler", &format!("{i:0>2000}"))],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gunzip_all(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

/// The current file and its backups, oldest first.
fn all_files(path: &Path) -> Vec<PathBuf> {
    let mut files = backups_of(path).unwrap();
    files.push(path.to_path_buf());
    files
}

#[test]
fn rotated_gzip_json_and_zstd_proto_files_decode_back_whole() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("file-exporter");
    let _ = std::fs::remove_dir_all(&dir);
    let config = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
exporters:
  file/json:
    path: "DIR/json/${resource:service.instance.id}.jsonl.gz"
    compression: gzip
    rotation: { max_megabytes: 1, max_backups: 100 }
    flush_interval: 100ms
  file/pruned:
    path: "DIR/pruned/all.jsonl"
    rotation: { max_megabytes: 1, max_backups: 2 }
  file/proto: { path: "DIR/proto/${resource:service.instance.id}.bin.zst", format: proto, compression: zstd }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [file/json, file/pruned, file/proto] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 10s
"#
    .replace("DIR", dir.to_str().unwrap());
    let mut agent = Agent::start("file-exporter", &config);
    let mut sent = Vec::new();
    for round in 0..120 {
        for instance in ["db-1", "db-2", "../../escape"] {
            let body = request(instance, round * 10, 10);
            let response = post_retrying(
                agent.otlp_http,
                "/v1/traces",
                "application/x-protobuf",
                &body.encode_to_vec(),
            );
            assert_eq!(response.status, 200);
            sent.push(Payload::Traces(body));
        }
    }
    assert!(agent.terminate(Duration::from_secs(20)).success());

    // gzip'd JSON lines, one file per instance, rotated at 1 MiB of compressed bytes.
    let mut from_json = Vec::new();
    for instance in ["db-1", "db-2", ".._.._escape"] {
        let path = dir.join("json").join(format!("{instance}.jsonl.gz"));
        let files = all_files(&path);
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            assert!(
                bytes.len() <= 1024 * 1024,
                "{} is within the rotation size",
                file.display()
            );
            let text = String::from_utf8(gunzip_all(&bytes)).unwrap();
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                let parsed: ExportTraceServiceRequest =
                    serde_json::from_str(line).expect("every line is a whole request");
                from_json.push(Payload::Traces(parsed));
            }
        }
    }
    assert!(
        items(from_json) == items(sent.clone()),
        "the JSON files hold every span, unchanged"
    );
    assert!(
        !dir.parent().unwrap().join("escape.jsonl.gz").exists(),
        "an attribute value cannot leave the directory"
    );

    // Plain JSON lines, rotated, with only two backups kept.
    let pruned = dir.join("pruned").join("all.jsonl");
    let files = all_files(&pruned);
    assert_eq!(
        files.len(),
        3,
        "the current file and two backups: {files:?}"
    );
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.len() <= 1024 * 1024);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<ExportTraceServiceRequest>(l).is_ok()),
            "no line is split across files"
        );
    }

    // zstd'd length-prefixed protobuf.
    let mut from_proto = Vec::new();
    for instance in ["db-1", "db-2", ".._.._escape"] {
        let compressed =
            std::fs::read(dir.join("proto").join(format!("{instance}.bin.zst"))).unwrap();
        let raw = zstd::decode_all(compressed.as_slice()).expect("a valid zstd stream");
        let mut rest = raw.as_slice();
        while !rest.is_empty() {
            let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            from_proto.push(
                decode_protobuf(Signal::Traces, &rest[4..4 + length]).expect("a whole request"),
            );
            rest = &rest[4 + length..];
        }
    }
    assert!(
        items(from_proto) == items(sent),
        "the protobuf files hold every span, unchanged"
    );
}
