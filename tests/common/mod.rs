//! Shared parts of the end-to-end tests: the real broker, the agent as a child process, the
//! Python SDK clients and a real Kafka consumer.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tributary::pipeline::batch::{Payload, Signal};

pub fn kafka_brokers() -> String {
    std::env::var("TRIBUTARY_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Fails, never skips, when no broker answers.
pub fn require_kafka() -> String {
    let brokers = kafka_brokers();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("creating a Kafka client");
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(15)) {
        panic!(
            "no Kafka broker answers at {brokers} ({e}). Start one with `scripts/kafka-local start` \
             (the test command `scripts/test` starts it for you), or point TRIBUTARY_TEST_KAFKA at one."
        );
    }
    brokers
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's virtualenv with the OpenTelemetry SDK; `scripts/py-env` creates it.
pub fn python() -> PathBuf {
    let python = project_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/py-env` (the test command `scripts/test` does)",
        python.display()
    );
    python
}

/// A port nothing listens on now, and that no other test of this process was given: the
/// kernel may hand a port it just freed to the next `bind(0)`, and tests run in parallel.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no port that was not given out already");
}

pub fn unique_topic(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("tributary-test.{test}.{}.{nanos}", std::process::id())
}

/// `tributary run` as a child process with its own config and ports; SIGTERM on drop.
pub struct Agent {
    child: Option<Child>,
    pub otlp_http: u16,
    pub otlp_grpc: u16,
    pub telemetry: u16,
    pub config_path: PathBuf,
    listening: Vec<u16>,
}

impl Agent {
    /// `config` may use `{otlp_http}`, `{otlp_grpc}`, `{telemetry}`, `{brokers}` and `{tmp}`;
    /// they are filled in here.
    pub fn start(name: &str, config: &str) -> Agent {
        Agent::start_limited(name, config, None)
    }

    /// As `start`, with the agent's open-file limit (`ulimit -n`) at `limit`.
    pub fn start_with_open_files_limit(name: &str, config: &str, limit: u32) -> Agent {
        Agent::start_limited(name, config, Some(limit))
    }

    fn start_limited(name: &str, config: &str, open_files: Option<u32>) -> Agent {
        let otlp_http = free_port();
        let otlp_grpc = free_port();
        let telemetry = free_port();
        let listening = [("{otlp_http}", otlp_http), ("{otlp_grpc}", otlp_grpc)]
            .into_iter()
            .filter(|(placeholder, _)| config.contains(placeholder))
            .map(|(_, port)| port)
            .collect();
        let config_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.yaml"));
        std::fs::write(&config_path, fill(config, otlp_http, otlp_grpc, telemetry)).unwrap();
        let mut command = match open_files {
            None => Command::new(env!("CARGO_BIN_EXE_tributary")),
            Some(limit) => {
                // The shell execs the agent: the child's pid is the agent's.
                let mut shell = Command::new("bash");
                shell
                    .args(["-c", r#"ulimit -n "$0" && exec "$@""#])
                    .arg(limit.to_string())
                    .arg(env!("CARGO_BIN_EXE_tributary"));
                shell
            }
        };
        let child = command
            .args(["run", "--config"])
            .arg(&config_path)
            .env(
                "RUST_LOG",
                std::env::var("TEST_AGENT_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting tributary");
        let mut agent = Agent {
            child: Some(child),
            otlp_http,
            otlp_grpc,
            telemetry,
            config_path,
            listening,
        };
        agent.wait_until_serving();
        agent
    }

    /// Replaces the config file (placeholders filled as at start) and sends SIGHUP.
    pub fn reload(&self, config: &str) {
        let text = fill(config, self.otlp_http, self.otlp_grpc, self.telemetry);
        std::fs::write(&self.config_path, text).unwrap();
        signal(self.child.as_ref().expect("running"), "HUP");
    }

    fn wait_until_serving(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tributary exited during start-up with {status}");
            }
            let serving = http_get(self.telemetry, "/health")
                .is_ok_and(|(status, _)| status == 200)
                && self
                    .listening
                    .iter()
                    .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if serving {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tributary did not serve /health within 30 s");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The most resident memory the agent has used so far (VmHWM), in bytes.
    pub fn peak_resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            * 1024
    }

    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_http)
    }

    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_grpc)
    }

    /// The value of one sample line of `/metrics`, such as
    /// `tributary_receiver_accepted_items_total{receiver="otlp",signal="traces",transport="http"}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    /// The accounting invariant after quiescence: everything received is delivered,
    /// dead-lettered, refused, dropped, failed or undrained, except what the disk queues hold.
    /// Waits up to `timeout` for the pipelines to go quiet.
    pub fn assert_accounted(&self, timeout: Duration) {
        let started = Instant::now();
        loop {
            let queued = self.metric("tributary_accounting_queued_items");
            let on_disk = self.metric("tributary_accounting_queued_on_disk_items");
            if queued.is_some() && queued == on_disk {
                return;
            }
            if started.elapsed() > timeout {
                let (_, metrics) = self.get("/metrics");
                let ledger: Vec<&str> = metrics
                    .lines()
                    .filter(|line| line.starts_with("tributary_accounting"))
                    .collect();
                panic!(
                    "the accounting invariant does not hold: {queued:?} items unaccounted for, \
                     {on_disk:?} on disk\n{}",
                    ledger.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.telemetry, path).expect("the telemetry endpoint answers")
    }

    /// Polls `/ready` until it answers `expected` or the timeout passes; returns the last answer.
    pub fn wait_for_ready(&self, expected: u16, timeout: Duration) -> (u16, String) {
        let started = Instant::now();
        loop {
            let answer = self.get("/ready");
            if answer.0 == expected || started.elapsed() > timeout {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL: no shutdown, no flush, as in a crash.
    pub fn kill_hard(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("sending SIGKILL");
        child.wait().expect("reaping the killed agent");
    }

    /// SIGTERM, then the exit status; fails the test if it takes longer than `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(&child, "TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                panic!("tributary did not stop within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn fill(config: &str, otlp_http: u16, otlp_grpc: u16, telemetry: u16) -> String {
    config
        .replace("{otlp_http}", &otlp_http.to_string())
        .replace("{otlp_grpc}", &otlp_grpc.to_string())
        .replace("{telemetry}", &telemetry.to_string())
        .replace("{brokers}", &kafka_brokers())
        .replace("{tmp}", env!("CARGO_TARGET_TMPDIR"))
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let response = http_request(port, "GET", path, &[], b"")?;
    Ok((
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    ))
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain HTTP/1.1 request with `Connection: close`, for sending what no SDK would send.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    // The server may answer (413) and close before taking the whole body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A POST that, like an OTLP client, waits and retries while the agent answers 429 or 503.
pub fn post_retrying(port: u16, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
    let started = Instant::now();
    loop {
        let response = http_request(port, "POST", path, &[("content-type", content_type)], body)
            .expect("the receiver answers");
        let retryable = matches!(response.status, 429 | 503);
        if !retryable || started.elapsed() > Duration::from_secs(30) {
            return response;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Runs one of the Python clients in `tests/clients` with the project's virtualenv, whatever
/// its exit status.
pub fn run_client_unchecked(script: &str, args: &[&str]) -> Output {
    Command::new(python())
        .arg(project_root().join("tests/clients").join(script))
        .args(args)
        .output()
        .expect("running the Python client")
}

/// Runs one of the Python clients and fails the test if it fails.
pub fn run_client(script: &str, args: &[&str]) -> Output {
    let output = run_client_unchecked(script, args);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub struct Record {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub partition: i32,
}

/// Reads `topic` from the beginning until `done` says so or the timeout passes.
pub fn consume(topic: &str, timeout: Duration, done: impl FnMut(&[Record]) -> bool) -> Vec<Record> {
    consume_topics(&[topic], timeout, done)
}

/// As `consume`, from several topics at once; `Record::topic` tells them apart. Partitions are
/// assigned, not subscribed: no group rebalance can drop or repeat what was fetched, and a topic
/// the agent creates later joins the assignment at once.
pub fn consume_topics(
    topics: &[&str],
    timeout: Duration,
    done: impl FnMut(&[Record]) -> bool,
) -> Vec<Record> {
    consume_topics_from(&kafka_brokers(), topics, timeout, done)
}

/// As `consume_topics`, from the broker(s) at `bootstrap` instead of the shared test broker.
pub fn consume_topics_from(
    bootstrap: &str,
    topics: &[&str],
    timeout: Duration,
    mut done: impl FnMut(&[Record]) -> bool,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{}.reader", topics.join(",")))
        .set("enable.auto.commit", "false")
        .create()
        .expect("creating the test consumer");
    let mut assigned = Vec::new();
    let mut records = Vec::new();
    let started = Instant::now();
    let mut last_lookup: Option<Instant> = None;
    while started.elapsed() < timeout && !done(&records) {
        if last_lookup.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
            last_lookup = Some(Instant::now());
            let new = new_partitions(&consumer, topics, &mut assigned);
            if new.count() > 0 {
                consumer
                    .incremental_assign(&new)
                    .expect("assigning partitions");
            }
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                eprintln!("consumer: {e}");
                continue;
            }
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        records.push(Record {
            topic: message.topic().to_string(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().unwrap_or_default().to_vec(),
            headers,
            partition: message.partition(),
        });
    }
    records
}

/// Every partition of `topics` that exists now and is not yet in `assigned`, to be read from the
/// beginning; they are added to `assigned`.
fn new_partitions(
    consumer: &BaseConsumer,
    topics: &[&str],
    assigned: &mut Vec<(String, i32)>,
) -> TopicPartitionList {
    let mut new = TopicPartitionList::new();
    for topic in topics {
        let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
            continue;
        };
        for found in metadata.topics().iter().filter(|t| t.error().is_none()) {
            for partition in found.partitions() {
                let key = (found.name().to_string(), partition.id());
                if !assigned.contains(&key) {
                    new.add_partition_offset(found.name(), partition.id(), Offset::Beginning)
                        .expect("a valid offset");
                    assigned.push(key);
                }
            }
        }
    }
    new
}

/// An OTLP/protobuf trace request of `count` spans named `{prefix}{request}-{i}`, each with a
/// `padding` attribute of `padding` bytes when that is not 0; span ids are unique per request.
pub fn numbered_spans(prefix: &str, request: usize, count: usize, padding: usize) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let attributes = if padding == 0 {
        Vec::new()
    } else {
        vec![KeyValue {
            key: "padding".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("x".repeat(padding))),
            }),
            ..Default::default()
        }]
    };
    let spans = (0..count)
        .map(|i| Span {
            trace_id: vec![9; 16],
            span_id: ((request * count + i) as u64 + 1).to_be_bytes().to_vec(),
            name: format!("{prefix}{request}-{i}"),
            attributes: attributes.clone(),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// POSTs an OTLP/protobuf trace request to the agent's HTTP receiver.
pub fn post_traces(agent: &Agent, body: &[u8]) -> HttpResponse {
    http_request(
        agent.otlp_http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .expect("the receiver answers")
}

/// A Kafka produce quota on one client id, so that the broker takes less than the agent sends;
/// lifted when dropped, however the test ends.
pub struct ProduceQuota(String);

impl ProduceQuota {
    pub fn set(client: &str, bytes_per_second: &str) -> ProduceQuota {
        let status = Command::new(project_root().join("scripts/kafka-local"))
            .args(["produce-quota", client, bytes_per_second])
            .env("KAFKA_PORT", kafka_brokers().rsplit(':').next().unwrap())
            .status()
            .expect("running scripts/kafka-local produce-quota");
        assert!(status.success(), "setting the produce quota for {client}");
        ProduceQuota(client.to_string())
    }

    pub fn lift(self) {}
}

impl Drop for ProduceQuota {
    fn drop(&mut self) {
        let _ = Command::new(project_root().join("scripts/kafka-local"))
            .args(["produce-quota", &self.0, "none"])
            .env("KAFKA_PORT", kafka_brokers().rsplit(':').next().unwrap())
            .status();
    }
}

/// What a client recorded with `--record`: one protobuf request per line, in hex.
pub fn recorded_requests(path: &std::path::Path, signal: Signal) -> Vec<Payload> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|line| {
            let bytes: Vec<u8> = (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex"))
                .collect();
            decode_payload(signal, &bytes)
        })
        .collect()
}

pub fn decode_payload(signal: Signal, bytes: &[u8]) -> Payload {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    match signal {
        Signal::Traces => {
            Payload::Traces(ExportTraceServiceRequest::decode(bytes).expect("a trace request"))
        }
        Signal::Metrics => {
            Payload::Metrics(ExportMetricsServiceRequest::decode(bytes).expect("a metrics request"))
        }
        Signal::Logs => {
            Payload::Logs(ExportLogsServiceRequest::decode(bytes).expect("a logs request"))
        }
    }
}

/// Every item of `payloads` as its own single-item request, encoded and sorted: two lists are
/// equal when the same items, field by field, arrived, however they were batched.
pub fn items(payloads: impl IntoIterator<Item = Payload>) -> Vec<Vec<u8>> {
    let mut items: Vec<Vec<u8>> = payloads
        .into_iter()
        .flat_map(Payload::into_items)
        .map(|item| item.encode_protobuf())
        .collect();
    items.sort();
    items
}

/// The items in Kafka records written with the `otlp_proto` encoding.
pub fn record_items(records: &[Record], signal: Signal) -> Vec<Vec<u8>> {
    items(records.iter().map(|r| decode_payload(signal, &r.value)))
}

impl Record {
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses OTLP/JSON requests with protobuf's reference JSON parser (Python `json_format`,
/// strict; see tests/clients/otlp_json_reference.py), in one run for all of them: for each
/// request, the message it parsed to as protobuf, or why it was refused.
pub fn reference_parse(requests: &[(Signal, String)], name: &str) -> Vec<Result<Vec<u8>, String>> {
    use std::fmt::Write as _;
    let mut lines = String::new();
    for (signal, json) in requests {
        assert!(!json.contains('\n'), "one request a line: {json}");
        writeln!(lines, "{signal}\t{json}").expect("a String takes writes");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let input = dir.join(format!("{name}.reference.tsv"));
    let output = dir.join(format!("{name}.reference.out"));
    std::fs::write(&input, &lines).expect("writing the requests");
    run_client(
        "otlp_json_reference.py",
        &[
            "--input",
            input.to_str().expect("a UTF-8 path"),
            "--output",
            output.to_str().expect("a UTF-8 path"),
        ],
    );
    let verdicts = std::fs::read_to_string(&output).expect("the verdicts");
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    let verdicts: Vec<Result<Vec<u8>, String>> = verdicts
        .lines()
        .map(|verdict| match verdict.strip_prefix("ok ") {
            Some(hex) => Ok((0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect()),
            None => Err(verdict.to_string()),
        })
        .collect();
    assert_eq!(verdicts.len(), requests.len(), "one verdict a request");
    verdicts
}

/// A self-signed certificate for `localhost` and 127.0.0.1 and its key, made by openssl in `dir`.
pub fn self_signed_certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    (cert, key)
}
