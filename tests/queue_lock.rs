//! One agent per disk-queue directory: a second agent on a directory the first one holds
//! fails to start, naming the first one's pid, and the first keeps running.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http_request, Agent};

fn config(queue: &str, http: &str, telemetry: &str) -> String {
    format!(
        r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
exporters:
  debug: {{ sending_queue: {{ storage: disk, directory: "{queue}" }} }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{telemetry}" }} }}
  shutdown_timeout: 2s
"#
    )
}

#[test]
fn a_second_agent_on_a_held_queue_directory_fails_naming_the_first() {
    let queue = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("queue-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&queue);
    let queue = queue.to_str().unwrap().to_string();
    let mut first = Agent::start(
        "queue-lock-first",
        &config(&queue, "{otlp_http}", "{telemetry}"),
    );

    let second_config =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("queue-lock-second.yaml");
    std::fs::write(
        &second_config,
        config(&queue, &free_port().to_string(), &free_port().to_string()),
    )
    .unwrap();
    let mut second = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["run", "--config"])
        .arg(&second_config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = second.kill();
            panic!("the second agent did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = second.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "the second agent started:\n{said}");
    let expected = format!(
        "the queue directory {queue} is locked by another agent, process {}",
        first.pid()
    );
    assert!(said.contains(&expected), "{expected:?} in:\n{said}");

    assert_eq!(first.get("/health").0, 200, "the first agent keeps running");
    let exit = first.terminate(Duration::from_secs(15));
    assert!(exit.success(), "{exit}");
}

const SPAN: &[u8] = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;

fn sent(agent: &Agent, exporter: &str) -> f64 {
    agent
        .metric(&format!(
            "tributary_exporter_sent_items_total{{exporter=\"{exporter}\"}}"
        ))
        .unwrap_or(0.0)
}

/// Posts a span until `done` holds (the receiver may be between configs meanwhile).
fn post_until(agent: &Agent, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} within 30 s"
        );
        let _ = http_request(
            agent.otlp_http,
            "POST",
            "/v1/traces",
            &[("content-type", "application/json")],
            SPAN,
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_reload_reopens_the_queue_its_previous_instance_held() {
    let queue = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("queue-lock-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&queue);
    let queue = queue.to_str().unwrap().to_string();
    let before = config(&queue, "{otlp_http}", "{telemetry}");
    let agent = Agent::start("queue-lock-reload", &before);
    post_until(&agent, "the queued exporter delivers", || {
        sent(&agent, "debug") >= 1.0
    });

    // The same queued exporter, and one more whose delivery says the new config runs.
    let after = before
        .replace(
            "exporters:\n",
            "exporters:\n  debug/extra: { verbosity: basic }\n",
        )
        .replace("exporters: [debug]", "exporters: [debug, debug/extra]");
    agent.reload(&after);
    post_until(&agent, "the reloaded config delivers", || {
        sent(&agent, "debug/extra") >= 1.0
    });
    let delivered_before = sent(&agent, "debug");
    post_until(&agent, "the reopened queue delivers", || {
        sent(&agent, "debug") > delivered_before
    });
    let holder = std::fs::read_to_string(std::path::Path::new(&queue).join("lock")).unwrap();
    assert_eq!(holder.trim(), agent.pid().to_string());
}
