//! Broker outage under steady load: the Python SDK sends spans the whole time, the Kafka broker is
//! stopped for 30 s and started again on the same data, and every span the agent accepted (200)
//! is read back from Kafka at least once afterwards.
//!
//! The shared test broker (127.0.0.1:9092) is used by other tests in parallel, so this test runs
//! a private one with `scripts/kafka-local` on ports 19092 (PLAINTEXT), 19093 (controller) and
//! 19094 (SASL), with its data under `target/tmp`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    consume_topics_from, decode_payload, items, project_root, recorded_requests,
    run_client_unchecked, unique_topic, Agent,
};
use tributary::pipeline::batch::Signal;

const BROKER_PORT: u16 = 19092;
const CONTROLLER_PORT: u16 = 19093;
const SASL_PORT: u16 = 19094;
const OUTAGE: Duration = Duration::from_secs(30);
/// Spans per run of the SDK client: below the BatchSpanProcessor's queue (2048), so the SDK
/// drops none of them before export while the agent takes them.
const SPANS_PER_RUN: usize = 2000;
/// Each span's padding: about 1.2 KB a span, so that during the outage the exporter's 64 MiB of
/// records awaiting delivery fills up and the receiver refuses (429) for a while, as it would at
/// a higher rate; without it the SDK's few MB/s only reach a third of that in 30 s.
const SPAN_PADDING: &str = "1024";

const ACCEPTED: &str =
    "tributary_receiver_accepted_items_total{receiver=\"otlp\",signal=\"traces\",transport=\"http\"}";
const EXPORTER_SENT: &str = "tributary_exporter_sent_items_total{exporter=\"kafka\"}";
const EXPORTER_FAILED: &str = "tributary_exporter_failed_items_total{exporter=\"kafka\"}";
const EXPORTER_UNDRAINED: &str = "tributary_exporter_undrained_items_total{exporter=\"kafka\"}";
const EXPORTER_DEAD_LETTERED: &str =
    "tributary_exporter_dead_lettered_items_total{exporter=\"kafka\"}";

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A broker of this test's own, run with `scripts/kafka-local`; stopped on drop, also when the
/// test panics.
struct PrivateBroker {
    data_dir: PathBuf,
}

impl PrivateBroker {
    /// A fresh broker: whatever an earlier run left on these ports (if `scripts/kafka-local`
    /// started it) is stopped and its data deleted first.
    fn start_fresh(data_dir: PathBuf) -> PrivateBroker {
        let broker = PrivateBroker { data_dir };
        broker.run("wipe");
        for port in [BROKER_PORT, CONTROLLER_PORT, SASL_PORT] {
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "something not started by scripts/kafka-local listens on 127.0.0.1:{port}; \
                 this test needs ports {BROKER_PORT}-{SASL_PORT} for its private broker"
            );
        }
        broker.start();
        broker
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{BROKER_PORT}")
    }

    fn start(&self) {
        self.run("start");
    }

    fn stop(&self) {
        self.run("stop");
    }

    fn run(&self, command: &str) {
        let output = self
            .command(command)
            .output()
            .expect("running scripts/kafka-local");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("[broker] kafka-local {command}: {}", text.trim());
        assert!(
            output.status.success(),
            "scripts/kafka-local {command} failed ({}); its log: .cache/kafka/broker-{BROKER_PORT}.log",
            output.status
        );
    }

    fn command(&self, command: &str) -> Command {
        let mut script = Command::new(project_root().join("scripts/kafka-local"));
        script
            .arg(command)
            .env("KAFKA_PORT", BROKER_PORT.to_string())
            .env("KAFKA_CONTROLLER_PORT", CONTROLLER_PORT.to_string())
            .env("KAFKA_SASL_PORT", SASL_PORT.to_string())
            .env("KAFKA_DATA_DIR", &self.data_dir);
        script
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // Not `run`: no assertion may panic while the test is already unwinding.
        match self.command("stop").output() {
            Ok(output) => eprintln!(
                "[broker] kafka-local stop: {}",
                String::from_utf8_lossy(&output.stdout).trim()
            ),
            Err(e) => eprintln!("[broker] could not run kafka-local stop: {e}"),
        }
    }
}

fn config(topic: &str, brokers: &str, dead_letter_file: &Path) -> String {
    // Both layers of waiting are set explicitly, so that a record can wait out the outage and the
    // exporter's own retry is exercised too: librdkafka gives up on a record after
    // `message.timeout.ms` (10 s, well inside the 30 s outage), and the exporter then produces it
    // again with `retry_on_failure` backoff (at most 2 s between attempts, so it comes back soon
    // after the restart) for up to 3 min before it would be dead-lettered. Dead letters would go
    // to a file of this test's own, which must stay empty.
    r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{otlp_http}" } } }
processors:
  batch: { send_batch_size: 200, timeout: 50ms }
exporters:
  kafka:
    brokers: ["BROKERS"]
    topic: TOPIC
    dead_letter_file: DEAD_LETTERS
    retry_on_failure: { initial_interval: 500ms, max_interval: 2s, max_elapsed_time: 3m }
    producer: { linger.ms: 5, message.timeout.ms: 10000 }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [kafka] }
  telemetry: { metrics: { address: "127.0.0.1:{telemetry}" } }
  shutdown_timeout: 20s
"#
    .replace("BROKERS", brokers)
    .replace("TOPIC", topic)
    .replace("DEAD_LETTERS", dead_letter_file.to_str().unwrap())
}

/// One run of the SDK client and what it had accepted.
struct Run {
    index: usize,
    started: Instant,
    ended: Instant,
    accepted: Vec<Fingerprint>,
    summary: String,
}

/// An item's encoding, hashed to 128 bits: the test holds a few hundred thousand items twice
/// (sent and consumed), and two equal fingerprints mean the same item, field by field.
type Fingerprint = u128;

fn fingerprint(item: &[u8]) -> Fingerprint {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let half = |seed: u8| {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        item.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

fn fingerprints(
    payloads: impl IntoIterator<Item = tributary::pipeline::batch::Payload>,
) -> Vec<Fingerprint> {
    items(payloads)
        .iter()
        .map(|item| fingerprint(item))
        .collect()
}

/// Runs the SDK client again and again until `stop` is set: steady load, each run recording what
/// the agent accepted. A run may end with failed exports (the SDK gave up retrying a 429/503 or a
/// refused connection); only what it recorded counts.
fn steady_load(agent: &Agent, stop: &AtomicBool) -> Vec<Run> {
    let endpoint = agent.otlp_http_endpoint();
    let mut runs = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let index = runs.len();
        let record = tmp(&format!("fault-broker-outage.run-{index}.sent"));
        let _ = std::fs::remove_file(&record);
        let started = Instant::now();
        let output = run_client_unchecked(
            "otlp_send.py",
            &[
                "--signal",
                "traces",
                "--endpoint",
                &endpoint,
                "--count",
                &SPANS_PER_RUN.to_string(),
                "--batch-size",
                "200",
                "--attribute-bytes",
                SPAN_PADDING,
                "--record",
                record.to_str().unwrap(),
            ],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The client prints `exports=N failures=M` whenever it got as far as the end; anything
        // else is the client itself breaking, not the agent refusing.
        let summary = stdout
            .lines()
            .find(|l| l.starts_with("exports="))
            .unwrap_or_else(|| panic!("the SDK client broke ({}):\n{stderr}", output.status))
            .to_string();
        let accepted = fingerprints(recorded_requests(&record, Signal::Traces));
        // A few MB each, dozens of runs: only the fingerprints are kept.
        let _ = std::fs::remove_file(&record);
        eprintln!(
            "[load] run {index}: {summary}, {} spans accepted",
            accepted.len()
        );
        runs.push(Run {
            index,
            started,
            ended: Instant::now(),
            accepted,
            summary,
        });
    }
    runs
}

fn value(agent: &Agent, series: &str) -> f64 {
    agent.metric(series).unwrap_or(0.0)
}

/// Polls `series` until it reaches `at_least`; panics (with what it saw) after `timeout`.
fn wait_for_metric(agent: &Agent, series: &str, at_least: f64, timeout: Duration) -> f64 {
    let started = Instant::now();
    loop {
        let now = value(agent, series);
        if now >= at_least {
            return now;
        }
        assert!(
            started.elapsed() < timeout,
            "{series} stayed at {now}, below {at_least}, for {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn series_lines(agent: &Agent, prefixes: &[&str]) -> String {
    let (_, metrics) = agent.get("/metrics");
    metrics
        .lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_broker_outage_under_load_loses_no_accepted_span() {
    let broker = PrivateBroker::start_fresh(tmp("fault-broker-outage.kafka"));
    let brokers = broker.bootstrap();
    let topic = unique_topic("broker-outage");
    let dead_letters = tmp("fault-broker-outage.dead-letters.jsonl");
    let _ = std::fs::remove_file(&dead_letters);
    let mut agent = Agent::start(
        "fault-broker-outage",
        &config(&topic, &brokers, &dead_letters),
    );
    let (ready, why) = agent.wait_for_ready(200, Duration::from_secs(30));
    assert_eq!(ready, 200, "the agent reaches the private broker: {why}");

    let stop_load = AtomicBool::new(false);
    let mut outage = (Instant::now(), Instant::now());
    let mut accepted_at = [0.0; 4];
    let runs = std::thread::scope(|scope| {
        let load = scope.spawn(|| steady_load(&agent, &stop_load));
        let stop_load_on_panic = StopOnDrop(&stop_load);

        // Load flows and reaches Kafka (the topic exists on the broker) before the outage.
        let spans_of_runs = |n: usize| (n * SPANS_PER_RUN) as f64;
        wait_for_metric(&agent, ACCEPTED, spans_of_runs(3), Duration::from_secs(60));
        wait_for_metric(
            &agent,
            EXPORTER_SENT,
            spans_of_runs(2),
            Duration::from_secs(60),
        );

        accepted_at[0] = value(&agent, ACCEPTED);
        broker.stop();
        outage.0 = Instant::now();
        accepted_at[1] = value(&agent, ACCEPTED);
        std::thread::sleep(OUTAGE / 2);
        let (status, body) = agent.get("/ready");
        eprintln!(
            "[test] /ready in the middle of the outage: {status} {}",
            body.trim()
        );
        std::thread::sleep(OUTAGE / 2);
        accepted_at[2] = value(&agent, ACCEPTED);
        broker.start();
        outage.1 = Instant::now();
        accepted_at[3] = value(&agent, ACCEPTED);

        // Load goes on after the restart, until it has been accepted again for a while.
        wait_for_metric(
            &agent,
            ACCEPTED,
            accepted_at[3] + spans_of_runs(3),
            Duration::from_secs(60),
        );
        drop(stop_load_on_panic);
        load.join().expect("the load thread")
    });
    eprintln!(
        "[test] accepted by the agent: {} before stopping the broker, {} while it stopped, {} \
         during the {OUTAGE:?} outage, {} while it started, {} when the load ended",
        accepted_at[0],
        accepted_at[1] - accepted_at[0],
        accepted_at[2] - accepted_at[1],
        accepted_at[3] - accepted_at[2],
        value(&agent, ACCEPTED),
    );
    eprintln!(
        "[test] requests the receiver refused (the SDK retries them):\n{}",
        series_lines(&agent, &["tributary_receiver_refused_requests_total"])
    );

    let phase = |run: &Run| {
        if run.ended < outage.0 {
            "before the outage"
        } else if run.started > outage.1 {
            "after the restart"
        } else {
            "overlapping the outage"
        }
    };
    let mut sent: Vec<(Fingerprint, usize)> = Vec::new();
    for run in &runs {
        sent.extend(run.accepted.iter().map(|item| (*item, run.index)));
    }
    let count_in = |wanted: &str| -> usize {
        runs.iter()
            .filter(|r| phase(r) == wanted)
            .map(|r| r.accepted.len())
            .sum()
    };
    let (before, during, after) = (
        count_in("before the outage"),
        count_in("overlapping the outage"),
        count_in("after the restart"),
    );
    eprintln!(
        "[test] {} runs of the SDK client; spans it had accepted: {before} in runs before the \
         outage, {during} in runs overlapping it, {after} in runs after the restart",
        runs.len()
    );
    assert!(
        before > 0 && after > 0,
        "spans were accepted both before the outage ({before}) and after the restart ({after})"
    );
    assert!(
        accepted_at[2] > accepted_at[1],
        "the agent went on accepting spans while the broker was down"
    );
    let expected: BTreeSet<Fingerprint> = sent.iter().map(|(item, _)| *item).collect();
    assert_eq!(
        expected.len(),
        sent.len(),
        "every span the SDK sent is distinct (its own span id)"
    );

    // Read the topic back until every accepted span is there; records are decoded as they come.
    let mut decoded = 0;
    let mut found = 0;
    let mut consumed: BTreeMap<Fingerprint, usize> = BTreeMap::new();
    let records = consume_topics_from(&brokers, &[&topic], Duration::from_secs(60), |records| {
        for record in &records[decoded..] {
            for item in fingerprints([decode_payload(Signal::Traces, &record.value)]) {
                if expected.contains(&item) && !consumed.contains_key(&item) {
                    found += 1;
                }
                *consumed.entry(item).or_insert(0) += 1;
            }
        }
        decoded = records.len();
        found == expected.len()
    });

    let duplicated: usize = consumed.values().filter(|&&n| n > 1).count();
    let extra_copies: usize = consumed.values().map(|&n| n.saturating_sub(1)).sum();
    let unrecorded = consumed
        .keys()
        .filter(|item| !expected.contains(item))
        .count();
    eprintln!(
        "[test] consumed {} records holding {} distinct spans; {duplicated} spans arrived more \
         than once ({extra_copies} extra copies); {unrecorded} spans arrived that the SDK had not \
         recorded as accepted (it gave up waiting while the agent took them, or retried them)",
        records.len(),
        consumed.len()
    );
    let missing: Vec<(usize, &'static str)> = sent
        .iter()
        .filter(|(item, _)| !consumed.contains_key(item))
        .map(|(_, run)| (*run, phase(&runs[*run])))
        .collect();
    if !missing.is_empty() {
        let mut per_run: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        for key in &missing {
            *per_run.entry(*key).or_insert(0) += 1;
        }
        eprintln!(
            "[test] {} of {} accepted spans are missing from Kafka; per run of the client: {per_run:?}",
            missing.len(),
            sent.len()
        );
        for run in &runs {
            eprintln!(
                "[test]   run {} ({}): {}",
                run.index,
                phase(run),
                run.summary
            );
        }
        eprintln!(
            "[test] the agent's counters:\n{}",
            series_lines(&agent, &["tributary_"])
        );
    }
    assert!(
        missing.is_empty(),
        "every span the agent accepted is in Kafka after the outage: {} of {} are missing",
        missing.len(),
        sent.len()
    );

    // The agent agrees: what it accepted was all delivered, nothing failed or went to the dead
    // letter. (Spans the agent accepted but the SDK did not record may still be in delivery.)
    // Undrained items are only counted at shutdown; with everything accepted sent, none is left
    // to be, and the agent then stops cleanly.
    let accepted = value(&agent, ACCEPTED);
    let delivered = wait_for_metric(&agent, EXPORTER_SENT, accepted, Duration::from_secs(30));
    eprintln!(
        "[test] the agent's counters:\n{}",
        series_lines(
            &agent,
            &[
                "tributary_receiver_",
                "tributary_exporter_sent",
                "tributary_exporter_received",
                "tributary_exporter_failed",
                "tributary_exporter_undrained",
                "tributary_exporter_dead_lettered",
                "tributary_accounting",
            ]
        )
    );
    assert_eq!(delivered, accepted, "the exporter sent what was accepted");
    assert_eq!(value(&agent, EXPORTER_FAILED), 0.0, "no item failed");
    assert_eq!(value(&agent, EXPORTER_UNDRAINED), 0.0, "no item undrained");
    assert_eq!(
        value(&agent, EXPORTER_DEAD_LETTERED),
        0.0,
        "no item was dead-lettered"
    );
    agent.assert_accounted(Duration::from_secs(10));
    let status = agent.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "a clean exit, every record acknowledged: {status}"
    );
    let dead = std::fs::read_to_string(&dead_letters).unwrap_or_default();
    assert!(
        dead.is_empty(),
        "nothing went to the dead-letter file {}:\n{}",
        dead_letters.display(),
        dead.lines().take(3).collect::<Vec<_>>().join("\n")
    );
}

/// Sets the flag when dropped: a failed wait in the test stops the load thread, so the scope
/// can end and the panic surface.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
