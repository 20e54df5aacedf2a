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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
    pub telemetry: u16,
    pub config_path: PathBuf,
}

impl Agent {
    /// `config` may use `{otlp_http}`, `{telemetry}` and `{brokers}`; they are filled in here.
    pub fn start(name: &str, config: &str) -> Agent {
        let otlp_http = free_port();
        let telemetry = free_port();
        let config = config
            .replace("{otlp_http}", &otlp_http.to_string())
            .replace("{telemetry}", &telemetry.to_string())
            .replace("{brokers}", &kafka_brokers());
        let config_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.yaml"));
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting tributary");
        let mut agent = Agent {
            child: Some(child),
            otlp_http,
            telemetry,
            config_path,
        };
        agent.wait_until_serving();
        agent
    }

    fn wait_until_serving(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tributary exited during start-up with {status}");
            }
            let serving = http_get(self.telemetry, "/health")
                .is_ok_and(|(status, _)| status == 200)
                && TcpStream::connect(("127.0.0.1", self.otlp_http)).is_ok();
            if serving {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tributary did not serve /health within 30 s");
    }

    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_http)
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

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs one of the Python clients in `tests/clients` with the project's virtualenv.
pub fn run_client(script: &str, args: &[&str]) -> Output {
    let output = Command::new(python())
        .arg(project_root().join("tests/clients").join(script))
        .args(args)
        .output()
        .expect("running the Python client");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub partition: i32,
}

/// Reads `topic` from the beginning with a fresh consumer group until `done` says so or the
/// timeout passes.
pub fn consume(
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[Record]) -> bool,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set("group.id", format!("{topic}.reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "true")
        .create()
        .expect("creating the test consumer");
    consumer.subscribe(&[topic]).expect("subscribing");
    let mut records = Vec::new();
    let started = Instant::now();
    while started.elapsed() < timeout && !done(&records) {
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
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().unwrap_or_default().to_vec(),
            headers,
            partition: message.partition(),
        });
    }
    records
}

impl Record {
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}
