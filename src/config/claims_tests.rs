use super::*;
use crate::config::ComponentId;
use crate::runtime::Config;

fn errors_of(text: &str) -> Vec<String> {
    Config::parse(text, |_| None)
        .expect_err("the config clashes")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn assert_valid(text: &str) {
    if let Err(errors) = Config::parse(text, |_| None) {
        panic!("expected a valid config, got {errors:#?}");
    }
}

/// A config of the given receivers and exporters, every one in one traces pipeline.
fn config(receivers: &str, exporters: &str) -> String {
    let ids = |section: &str| {
        section
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.trim().split(':').next())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "receivers:\n{receivers}exporters:\n{exporters}service:\n  pipelines:\n    traces:\n      receivers: [{}]\n      exporters: [{}]\n",
        ids(receivers),
        ids(exporters)
    )
}

const DEBUG: &str = "  debug:\n";

#[test]
fn two_receivers_on_one_port_name_both_at_the_second_ones_line() {
    let text = config(
        "  otlp/a:\n    protocols:\n      http: { endpoint: 127.0.0.1:4318 }\n  otlp/b:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:4318\n",
        DEBUG,
    );
    assert_eq!(
        errors_of(&text),
        ["line 8, column 19: receivers.otlp/b.protocols.http.endpoint: 127.0.0.1:4318 is also claimed by receivers.otlp/a.protocols.http.endpoint (line 4)"]
    );
}

#[test]
fn a_default_endpoint_clashes_where_its_protocol_is_written() {
    let text = config(
        "  otlp/a:\n    protocols: { http: }\n  otlp/b:\n    protocols:\n      http:\n",
        DEBUG,
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("line 6, column 11: receivers.otlp/b.protocols.http.endpoint: 127.0.0.1:4318 is also claimed by receivers.otlp/a.protocols.http.endpoint"),
        "{errors:#?}"
    );
}

#[test]
fn http_and_grpc_of_one_receiver_on_one_port_clash() {
    let text = config(
        "  otlp:\n    protocols:\n      http: { endpoint: 127.0.0.1:5000 }\n      grpc: { endpoint: \"localhost:5000\" }\n",
        DEBUG,
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("receivers.otlp.protocols.grpc.endpoint: localhost:5000 overlaps 127.0.0.1:5000, claimed by receivers.otlp.protocols.http.endpoint"),
        "{errors:#?}"
    );
}

#[test]
fn a_receiver_on_the_telemetry_port_clashes() {
    let text = config(
        "  otlp:\n    protocols:\n      http: { endpoint: 127.0.0.1:8888 }\n",
        DEBUG,
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("receivers.otlp.protocols.http.endpoint: 127.0.0.1:8888 is also claimed by service.telemetry.metrics.address"),
        "{errors:#?}"
    );
    let moved = format!("{text}  telemetry: {{ metrics: {{ address: 127.0.0.1:9999 }} }}\n");
    assert_valid(&moved);
}

#[test]
fn a_wildcard_host_clashes_with_any_host_on_its_port() {
    for (first, second) in [
        ("0.0.0.0:4318", "127.0.0.1:4318"),
        ("\"[::]:4318\"", "10.1.2.3:4318"),
        ("myhost:4318", "0.0.0.0:4318"),
    ] {
        let text = config(
            &format!("  otlp/a:\n    protocols: {{ http: {{ endpoint: {first} }} }}\n  otlp/b:\n    protocols: {{ http: {{ endpoint: {second} }} }}\n"),
            DEBUG,
        );
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{first} {second}: {errors:#?}");
        assert!(
            errors[0].contains("receivers.otlp/b.protocols.http.endpoint")
                && errors[0].contains("receivers.otlp/a.protocols.http.endpoint"),
            "{errors:#?}"
        );
    }
}

#[test]
fn different_ports_or_hosts_or_port_zero_do_not_clash() {
    for (first, second) in [
        ("127.0.0.1:4318", "127.0.0.1:4319"),
        ("127.0.0.1:4318", "127.0.0.2:4318"),
        ("127.0.0.1:0", "127.0.0.1:0"),
        ("myhost:4318", "otherhost:4318"),
    ] {
        let text = config(
            &format!("  otlp/a:\n    protocols: {{ http: {{ endpoint: {first} }} }}\n  otlp/b:\n    protocols: {{ http: {{ endpoint: {second} }} }}\n"),
            DEBUG,
        );
        assert_valid(&text);
    }
}

#[test]
fn every_clash_is_reported() {
    let text = config(
        "  otlp/a:\n    protocols: { http: }\n  otlp/b:\n    protocols: { http: }\n  otlp/c:\n    protocols: { http: }\n",
        DEBUG,
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 3, "b-a, c-a, c-b: {errors:#?}");
}

#[test]
fn a_disk_queue_on_another_ones_default_directory_clashes() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  file/a:\n    path: a.jsonl\n    sending_queue: { storage: disk }\n  file/b:\n    path: b.jsonl\n    sending_queue: { storage: disk, directory: ./data/queue/file-a/ }\n",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("line 9, column 48: exporters.file/b.sending_queue.directory: ./data/queue/file-a/ is also claimed by exporters.file/a.sending_queue.directory (line 6)"),
        "{errors:#?}"
    );
}

#[test]
fn ids_that_once_shared_a_default_directory_no_longer_do() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  file/a/b:\n    path: ab.jsonl\n    sending_queue: { storage: disk }\n  file/a-b:\n    path: a-b.jsonl\n    sending_queue: { storage: disk }\n",
    );
    let config = Config::parse(&text, |_| None).expect("no clash");
    let directory = |id: &str| {
        config.exporters[&ComponentId::parse(id).unwrap()]
            .sending_queue()
            .directory_for(&ComponentId::parse(id).unwrap())
    };
    assert_eq!(
        directory("file/a-b"),
        std::path::Path::new("data/queue/file-a-b")
    );
    assert_eq!(
        directory("file/a/b"),
        std::path::Path::new("data/queue/~file-a%2Fb")
    );
}

#[test]
fn a_directory_inside_another_clashes() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  file/a:\n    path: a.jsonl\n    sending_queue: { storage: disk, directory: /tmp/q }\n  file/b:\n    path: b.jsonl\n    sending_queue: { storage: disk, directory: /tmp/q/inner }\n",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("exporters.file/b.sending_queue.directory: /tmp/q/inner is inside /tmp/q, claimed by exporters.file/a.sending_queue.directory"),
        "{errors:#?}"
    );
}

#[test]
fn two_file_exporters_on_one_path_clash() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  file/a: { path: ./out/x.jsonl }\n  file/b: { path: out//x.jsonl }\n",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains(
            "exporters.file/b.path: out//x.jsonl is also claimed by exporters.file/a.path"
        ),
        "{errors:#?}"
    );
}

#[test]
fn a_file_template_clashes_with_the_files_it_may_name() {
    let template = "  file/t: { path: \"./out/${resource:host}.jsonl\" }\n";
    let with = |other: &str| {
        config(
            "  otlp: { protocols: { http: } }\n",
            &format!("{template}  file/o: {{ path: {other} }}\n"),
        )
    };
    let errors = errors_of(&with("out/web.jsonl"));
    assert!(
        errors[0].contains("exporters.file/o.path: out/web.jsonl overlaps ./out/${resource:host}.jsonl, claimed by exporters.file/t.path"),
        "{errors:#?}"
    );
    assert_valid(&with("out/web.log"));
    assert_valid(&with("out/sub/web.jsonl"));
    assert_valid(&with("elsewhere/web.jsonl"));
}

#[test]
fn a_kafka_dead_letter_file_clashes_with_a_file_exporter_on_it() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  kafka: { brokers: [127.0.0.1:9092], topic: t }\n  file: { path: data/dead-letters/kafka.jsonl }\n",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("exporters.file.path: data/dead-letters/kafka.jsonl is also claimed by exporters.kafka.dead_letter_file"),
        "{errors:#?}"
    );
}

#[cfg(feature = "parquet")]
#[test]
fn two_parquet_directories_clash() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  parquet/a: { directory: ./staging }\n  parquet/b: { directory: staging/ }\n",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("exporters.parquet/b.directory: staging/ is also claimed by exporters.parquet/a.directory"),
        "{errors:#?}"
    );
}

#[test]
fn an_empty_path_claims_nothing_and_is_reported_once() {
    let text = config(
        "  otlp: { protocols: { http: } }\n",
        "  file/a: { path: \"\" }\n  file/b: { path: out.jsonl }\n",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("exporters.file/a.path: expected a file path"),
        "{errors:#?}"
    );
    assert_eq!(Claim::directory("d", Path::new("")), None);
}

#[test]
fn paths_normalize_lexically() {
    assert_eq!(normalize(Path::new("./a/b/")), normalize(Path::new("a/b")));
    assert_eq!(normalize(Path::new("a/../b")), normalize(Path::new("b")));
    assert_eq!(normalize(Path::new("/x/./y/..")), Path::new("/x"));
    assert_eq!(normalize(Path::new("/..")), Path::new("/"));
}

#[test]
fn localhost_overlaps_loopback_only() {
    let listen = |e: &str| Claim::listen("p", e).unwrap().resource;
    assert!(relation(&listen("localhost:1"), &listen("127.0.0.1:1")).is_some());
    assert!(relation(&listen("localhost:1"), &listen("[::1]:1")).is_some());
    assert!(relation(&listen("LocalHost:1"), &listen("localhost:1")).is_some());
    assert!(relation(&listen("localhost:1"), &listen("10.0.0.1:1")).is_none());
    assert!(relation(&listen("localhost:1"), &listen("localhost:2")).is_none());
    assert!(Claim::listen("p", "127.0.0.1:0").is_none());
}

#[test]
fn a_template_with_a_directory_reference_claims_its_literal_prefix() {
    let claim = Claim::file_template("path", "logs/${resource:host}/out.jsonl").unwrap();
    assert_eq!(
        claim.resource,
        Resource::Directory(normalize(Path::new("logs")))
    );
    let claim = Claim::file_template("path", "logs/app-${signal}.jsonl").unwrap();
    assert_eq!(
        claim.resource,
        Resource::Files {
            directory: normalize(Path::new("logs")),
            prefix: "app-".into(),
            suffix: ".jsonl".into(),
        }
    );
    let other = Claim::file_template("path", "logs/${signal}-x.jsonl")
        .unwrap()
        .resource;
    assert_eq!(relation(&other, &claim.resource), Some(Relation::Overlaps));
    let apart = Claim::file_template("path", "logs/${signal}.log")
        .unwrap()
        .resource;
    assert_eq!(relation(&apart, &claim.resource), None);
}
