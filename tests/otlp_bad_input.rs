//! What no SDK would send: each bad request gets its status and a message that says what was
//! wrong, nothing of it enters the pipeline, and the agent keeps serving.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{http_request, run_client, Agent, HttpResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn config(output: &Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{{otlp_http}}", max_request_body_size: 1MiB }}
      grpc: {{ endpoint: "127.0.0.1:{{otlp_grpc}}", max_recv_msg_size: 1MiB }}
exporters:
  file: {{ path: "{}" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
"#,
        output.display()
    )
}

fn output_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.jsonl"));
    let _ = std::fs::remove_file(&path);
    path
}

fn span(name: &str) -> Span {
    Span {
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        name: name.into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        ..Default::default()
    }
}

fn traces(name: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(name)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gauge_request() -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "cpu_usage_percent".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            value: Some(number_data_point::Value::AsDouble(85.5)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

struct BadRequest {
    what: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
}

impl BadRequest {
    fn new(what: &'static str, path: &'static str, content_type: &str, body: &[u8]) -> BadRequest {
        BadRequest {
            what,
            path,
            headers: vec![("content-type", content_type.to_string())],
            body: body.to_vec(),
            status: 0,
            message: "",
        }
    }

    fn encoded(mut self, encoding: &str) -> BadRequest {
        self.headers
            .push(("content-encoding", encoding.to_string()));
        self
    }

    fn answers(mut self, status: u16, message: &'static str) -> BadRequest {
        self.status = status;
        self.message = message;
        self
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn post(agent: &Agent, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_request(agent.otlp_http, "POST", path, headers, body).expect("the receiver answers")
}

/// The spans the file exporter wrote, by name.
fn written_span_names(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<ExportTraceServiceRequest>(line).ok())
        .flat_map(|r| r.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|s| s.name)
        .collect()
}

fn wait_for_spans(path: &Path, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let names = written_span_names(path);
        if names.len() >= count || started.elapsed() > Duration::from_secs(10) {
            return names;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_http_requests_get_their_status_and_the_agent_keeps_serving() {
    let output = output_file("bad-http");
    let agent = Agent::start("bad-http", &config(&output));
    let valid = traces("valid").encode_to_vec();
    let bomb = gzip(&vec![0u8; 16 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "a bomb of {} bytes", bomb.len());
    let huge_label = "x".repeat(2 * 1024 * 1024);
    let oversized = traces(&huge_label).encode_to_vec();

    let cases = [
        BadRequest::new("truncated protobuf", "/v1/traces", PROTOBUF, &valid[..valid.len() - 5]).answers(400, "did not decode"),
        BadRequest::new("protobuf of the wrong message type", "/v1/traces", PROTOBUF, &gauge_request().encode_to_vec())
            .answers(400, "ExportTraceServiceRequest"),
        BadRequest::new("invalid JSON", "/v1/traces", JSON, br#"{"resourceSpans": [ {"#).answers(400, "did not parse"),
        BadRequest::new(
            "a JSON trace id that is not hex",
            "/v1/traces",
            JSON,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz0102030405060708090a0b0c0d0e0f","spanId":"0102030405060708","name":"x"}]}]}]}"#,
        )
        .answers(400, "did not parse"),
        BadRequest::new(
            "a data point whose value did not decode",
            "/v1/metrics",
            JSON,
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"cpu","gauge":{"dataPoints":[{"asInt":"x"}]}}]}]}]}"#,
        )
        .answers(400, "gauge.dataPoints[0]: expected a value"),
        BadRequest::new("a gzip body that is not gzip", "/v1/traces", PROTOBUF, b"this is not gzip at all")
            .encoded("gzip")
            .answers(400, "did not decompress"),
        BadRequest::new("a gzip bomb", "/v1/traces", PROTOBUF, &bomb)
            .encoded("gzip")
            .answers(413, "inflates past the limit of 1048576 bytes"),
        BadRequest::new("an oversized body", "/v1/traces", PROTOBUF, &oversized)
            .answers(413, "exceeds the limit of 1048576 bytes"),
        BadRequest::new("an unknown content type", "/v1/traces", "text/plain", &valid)
            .answers(415, "expected Content-Type application/x-protobuf or application/json"),
        BadRequest::new("an unknown content encoding", "/v1/traces", PROTOBUF, &valid)
            .encoded("br")
            .answers(415, "Content-Encoding"),
    ];
    for BadRequest {
        what,
        path,
        headers,
        body,
        status,
        message,
    } in &cases
    {
        let response = post(
            &agent,
            path,
            &headers
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
            body,
        );
        assert_eq!(response.status, *status, "{what}: {}", response.text());
        let text = match response.header("content-type") {
            Some(PROTOBUF) => {
                let decoded =
                    RpcStatus::decode(response.body.as_slice()).expect("a google.rpc.Status body");
                assert_eq!(decoded.code, 3, "{what}: INVALID_ARGUMENT");
                decoded.message
            }
            Some(JSON) => {
                let value: serde_json::Value =
                    serde_json::from_slice(&response.body).expect("a JSON status");
                value["message"].as_str().unwrap_or_default().to_string()
            }
            _ => response.text(),
        };
        assert!(
            text.contains(message),
            "{what}: expected {message:?} in {text:?}"
        );
    }

    let wrong_method = http_request(agent.otlp_http, "GET", "/v1/traces", &[], b"").unwrap();
    assert_eq!(wrong_method.status, 405);

    let empty = post(&agent, "/v1/traces", &[("content-type", PROTOBUF)], b"");
    assert_eq!(empty.status, 200, "an empty request is a success");
    let ok = post(&agent, "/v1/traces", &[("content-type", PROTOBUF)], &valid);
    assert_eq!(ok.status, 200, "still serving: {}", ok.text());
    assert_eq!(ok.header("content-type"), Some(PROTOBUF));
    assert_eq!(
        wait_for_spans(&output, 1),
        ["valid"],
        "only the valid span entered the pipeline"
    );
    assert_eq!(agent.get("/health").0, 200);

    let refused = |reason: &str| {
        agent.metric(&format!(
            "tributary_receiver_refused_requests_total{{receiver=\"otlp\",signal=\"traces\",transport=\"http\",reason=\"{reason}\"}}"
        ))
    };
    assert_eq!(refused("malformed"), Some(5.0));
    assert_eq!(refused("too_large"), Some(2.0));
    assert_eq!(refused("unsupported_media_type"), Some(1.0));
    assert_eq!(refused("unsupported_encoding"), Some(1.0));
}

#[test]
fn the_otlp_json_mapping_is_accepted_as_the_specification_writes_it() {
    let output = output_file("json-mapping");
    let agent = Agent::start("json-mapping", &config(&output));
    // Upper-case hex ids, an enum as an integer, 64-bit integers as a string and as a number,
    // and a field this agent does not know.
    let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
        "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"ABABABABABABABABABABABABABABABAB","spanId":"CDCDCDCDCDCDCDCD",
        "name":"mapped","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000000500000000,
        "attributes":[{"key":"retries","value":{"intValue":"3"}}],"futureField":{"x":1}}]}]}]}"#;
    let response = post(
        &agent,
        "/v1/traces",
        &[("content-type", "application/json; charset=utf-8")],
        body,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some(JSON));
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert!(
        answer.get("partialSuccess").is_none_or(|p| p.is_null()),
        "{answer}"
    );

    assert_eq!(wait_for_spans(&output, 1), ["mapped"]);
    let line = std::fs::read_to_string(&output).unwrap();
    let written: ExportTraceServiceRequest = serde_json::from_str(line.trim()).unwrap();
    let span = &written.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id, vec![0xab; 16]);
    assert_eq!(span.span_id, vec![0xcd; 8]);
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_500_000_000);
    assert_eq!(span.attributes[0].key, "retries");
}

fn grpc_call(agent: &Agent, method: &str, body: &[u8], extra: &[&str]) -> serde_json::Value {
    let target = format!("127.0.0.1:{}", agent.otlp_grpc);
    let body_file =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("grpc-body-{}", body.len()));
    std::fs::write(&body_file, body).unwrap();
    let body_path = body_file.to_str().unwrap();
    let mut args = vec![
        "--target",
        &target,
        "--method",
        method,
        "--body-file",
        body_path,
    ];
    args.extend_from_slice(extra);
    let output = run_client("grpc_call.py", &args);
    serde_json::from_slice(&output.stdout).expect("grpc_call.py prints JSON")
}

const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[test]
fn bad_grpc_requests_get_their_status_and_the_agent_keeps_serving() {
    let output = output_file("bad-grpc");
    let agent = Agent::start("bad-grpc", &config(&output));
    let garbage = grpc_call(&agent, TRACE_EXPORT, b"\xff\xff\xff not protobuf", &[]);
    assert_eq!(garbage["code"], "INVALID_ARGUMENT", "{garbage}");
    assert!(
        garbage["details"]
            .as_str()
            .unwrap()
            .contains("did not decode"),
        "{garbage}"
    );

    let bad_id = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 3],
                    ..span("short id")
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let malformed = grpc_call(&agent, TRACE_EXPORT, &bad_id.encode_to_vec(), &[]);
    assert_eq!(malformed["code"], "INVALID_ARGUMENT", "{malformed}");
    assert!(
        malformed["details"]
            .as_str()
            .unwrap()
            .contains("spans[0].traceId"),
        "{malformed}"
    );

    let oversized = traces(&"x".repeat(2 * 1024 * 1024)).encode_to_vec();
    let too_large = grpc_call(&agent, TRACE_EXPORT, &oversized, &[]);
    assert_eq!(too_large["code"], "RESOURCE_EXHAUSTED", "{too_large}");

    let unknown = grpc_call(
        &agent,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
        b"",
        &[],
    );
    assert_eq!(unknown["code"], "UNIMPLEMENTED", "{unknown}");
    let no_pipeline = grpc_call(
        &agent,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        &[],
        &[],
    );
    assert_eq!(
        no_pipeline["code"], "OK",
        "an empty request is a success: {no_pipeline}"
    );

    let ok = grpc_call(
        &agent,
        TRACE_EXPORT,
        &gzip_free(traces("valid over grpc")),
        &["--gzip"],
    );
    assert_eq!(ok["code"], "OK", "{ok}");
    assert_eq!(wait_for_spans(&output, 1), ["valid over grpc"]);
}

fn gzip_free(request: ExportTraceServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}
