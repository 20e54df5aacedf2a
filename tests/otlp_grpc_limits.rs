//! OTLP/gRPC under hostile clients: streams beyond the HTTP/2 limit, thousands of streams that
//! declare large messages and stall, a declared length over the limit, connections beyond the
//! cap, and a call arriving while the agent is at its memory limit. The attackers are real
//! HTTP/2 clients on loopback (the `h2` crate, or frames written by hand where a well-behaved
//! client would not misbehave).

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{run_client, Agent};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

fn config(output: &Path, grpc_extra: &str, service_extra: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{{otlp_grpc}}"{grpc_extra} }}
exporters:
  file: {{ path: "{}", flush_interval: 10ms }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
  {service_extra}
"#,
        output.display()
    )
}

fn output_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.jsonl"));
    let _ = std::fs::remove_file(&path);
    path
}

fn one_span_request(name: &str) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    name: name.into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_500_000_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// One export with the real grpcio client, as an SDK would make it.
fn export_with_grpcio(agent: &Agent, name: &str) -> serde_json::Value {
    let body_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.bin"));
    std::fs::write(&body_file, one_span_request(name)).unwrap();
    let target = format!("127.0.0.1:{}", agent.otlp_grpc);
    let output = run_client(
        "grpc_call.py",
        &[
            "--target",
            &target,
            "--method",
            TRACE_EXPORT,
            "--body-file",
            body_file.to_str().unwrap(),
        ],
    );
    serde_json::from_slice(&output.stdout).expect("grpc_call.py prints JSON")
}

fn wait_for_line_containing(path: &Path, text: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if std::fs::read_to_string(path).is_ok_and(|lines| lines.contains(text)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn refused_requests(agent: &Agent, reason: &str) -> f64 {
    agent
        .metric(&format!(
            "tributary_receiver_refused_requests_total{{receiver=\"otlp\",signal=\"traces\",transport=\"grpc\",reason=\"{reason}\"}}"
        ))
        .unwrap_or(0.0)
}

/// A gRPC frame header: not compressed, `declared` bytes follow.
fn grpc_frame_header(declared: u32) -> [u8; 5] {
    let length = declared.to_be_bytes();
    [0, length[0], length[1], length[2], length[3]]
}

fn export_request(port: u16) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://127.0.0.1:{port}{TRACE_EXPORT}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn h2_connection(
    port: u16,
) -> (
    h2::client::SendRequest<Bytes>,
    h2::PingPong,
    tokio::task::JoinHandle<()>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (send, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let ping_pong = connection.ping_pong().expect("the first ping_pong");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (send, ping_pong, driver)
}

/// Once a pong is back, the server has read every frame sent before the ping.
async fn round_trip(ping_pong: &mut h2::PingPong) {
    tokio::time::timeout(Duration::from_secs(30), ping_pong.ping(h2::Ping::opaque()))
        .await
        .expect("a pong within 30 s")
        .expect("a pong");
}

/// How many of the calls have no answer yet.
fn count_pending(calls: &mut [(h2::client::ResponseFuture, h2::SendStream<Bytes>)]) -> usize {
    let mut context = Context::from_waker(Waker::noop());
    let mut pending = 0;
    for (response, _) in calls {
        pending += usize::from(Pin::new(response).poll(&mut context).is_pending());
    }
    pending
}

#[test]
fn thousands_of_stalled_streams_cost_what_they_sent_and_exports_still_succeed() {
    const CONNECTIONS: usize = 30;
    const STREAMS_PER_CONNECTION: usize = 100;
    const DECLARED: u32 = 20 << 20;
    const SENT: usize = 4096;
    let output = output_file("grpc-stalled-streams");
    let agent = Agent::start(
        "grpc-stalled-streams",
        &config(&output, ", request_timeout: 5m", ""),
    );
    let warm_up = export_with_grpcio(&agent, "before the attack");
    assert_eq!(warm_up["code"], "OK", "{warm_up}");
    assert!(wait_for_line_containing(&output, "before the attack"));
    let before = resident_bytes(agent.pid());

    let runtime = runtime();
    let port = agent.otlp_grpc;
    let (mut held, _connections) = runtime.block_on(async move {
        let mut held = Vec::new();
        let mut connections = Vec::new();
        for _ in 0..CONNECTIONS {
            let (mut send, mut ping_pong, driver) = h2_connection(port).await;
            for _ in 0..STREAMS_PER_CONNECTION {
                send = send.ready().await.expect("room for a stream");
                let (response, mut stream) =
                    send.send_request(export_request(port), false).unwrap();
                let mut data = grpc_frame_header(DECLARED).to_vec();
                data.extend_from_slice(&[0x0a; SENT]);
                stream.send_data(Bytes::from(data), false).unwrap();
                held.push((response, stream));
            }
            round_trip(&mut ping_pong).await;
            connections.push((send, ping_pong, driver));
        }
        (held, connections)
    });
    // The server has the frames; give its handlers a moment to read them into their buffers.
    std::thread::sleep(Duration::from_secs(2));
    let during = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            resident_bytes(agent.pid())
        })
        .max()
        .unwrap();
    let growth = during.saturating_sub(before);
    eprintln!(
        "{} stalled streams (each declaring {DECLARED} bytes, sending {SENT}): resident memory {before} -> {during} bytes, +{} MiB",
        CONNECTIONS * STREAMS_PER_CONNECTION,
        growth >> 20
    );
    let still_held = {
        let _inside = runtime.enter();
        count_pending(&mut held)
    };
    assert_eq!(
        still_held,
        CONNECTIONS * STREAMS_PER_CONNECTION,
        "every stalled stream is still open (none was refused, which would make the bound trivial)"
    );
    assert!(
        growth < 256 << 20,
        "{} stalled streams grew the agent by {growth} bytes",
        CONNECTIONS * STREAMS_PER_CONNECTION
    );

    let during_attack = export_with_grpcio(&agent, "during the attack");
    assert_eq!(during_attack["code"], "OK", "{during_attack}");
    assert!(wait_for_line_containing(&output, "during the attack"));
    drop(held);
}

#[test]
fn a_declared_length_over_the_limit_is_refused_before_the_message_is_sent() {
    let output = output_file("grpc-declared-too-large");
    let agent = Agent::start(
        "grpc-declared-too-large",
        &config(&output, ", max_recv_msg_size: 1MiB", ""),
    );
    let port = agent.otlp_grpc;
    let response = runtime().block_on(async move {
        let (send, _ping_pong, _driver) = h2_connection(port).await;
        let mut send = send.ready().await.unwrap();
        let (response, mut stream) = send.send_request(export_request(port), false).unwrap();
        // Only the header: the 64 MiB it declares never comes.
        stream
            .send_data(Bytes::copy_from_slice(&grpc_frame_header(64 << 20)), false)
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("an answer without the message")
            .expect("a response");
        drop(stream);
        response
    });
    let headers = response.headers();
    assert_eq!(
        headers.get("grpc-status").map(|v| v.to_str().unwrap()),
        Some("8"),
        "RESOURCE_EXHAUSTED: {headers:?}"
    );
    let message = headers.get("grpc-message").unwrap().to_str().unwrap();
    assert!(
        message.contains("67108864") && message.contains("1048576"),
        "the message names the declared length and the limit: {message}"
    );
    assert_eq!(refused_requests(&agent, "too_large"), 1.0);
}

#[test]
fn the_memory_limit_refuses_a_call_before_its_message_is_read() {
    let output = output_file("grpc-memory-limit");
    // Below what the agent needs to start: every call meets the limit.
    let agent = Agent::start(
        "grpc-memory-limit",
        &config(&output, ", request_timeout: 5m", "memory_limit: 4MiB"),
    );
    // Headers only, the message never sent: only a refusal before reading answers this.
    let port = agent.otlp_grpc;
    let status = runtime().block_on(async move {
        let (send, _ping_pong, _driver) = h2_connection(port).await;
        let mut send = send.ready().await.unwrap();
        let (response, stream) = send.send_request(export_request(port), false).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), response)
            .await
            .expect("an answer before the message")
            .expect("a response");
        drop(stream);
        response.headers().get("grpc-status").cloned()
    });
    assert_eq!(
        status.as_ref().map(|v| v.to_str().unwrap()),
        Some("14"),
        "UNAVAILABLE"
    );
    let answer = export_with_grpcio(&agent, "over the limit");
    assert_eq!(answer["code"], "UNAVAILABLE", "{answer}");
    assert_eq!(answer["retry_delay_seconds"], 1, "{answer}");
    assert!(
        answer["details"].as_str().unwrap().contains("memory limit"),
        "{answer}"
    );
    assert_eq!(refused_requests(&agent, "memory_limit"), 2.0);
}

/// HTTP/2 frames written by hand: a client that opens more streams than the server allows,
/// which the `h2` client would never do.
mod raw {
    use super::*;

    pub const SETTINGS: u8 = 0x4;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const GOAWAY: u8 = 0x7;
    pub const END_HEADERS: u8 = 0x4;
    pub const ACK: u8 = 0x1;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const REFUSED_STREAM: u32 = 0x7;

    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    pub fn write(tcp: &mut TcpStream, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let length = (payload.len() as u32).to_be_bytes();
        let mut frame = vec![length[1], length[2], length[3], kind, flags];
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        tcp.write_all(&frame).unwrap();
    }

    pub fn read(tcp: &mut TcpStream) -> std::io::Result<Frame> {
        let mut header = [0u8; 9];
        tcp.read_exact(&mut header)?;
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        tcp.read_exact(&mut payload)?;
        Ok(Frame {
            kind: header[3],
            flags: header[4],
            stream: u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// HPACK literals without indexing, names and values not Huffman-coded (all under 127
    /// bytes, so each length is one byte).
    pub fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, value) in headers {
            block.push(0x00);
            for text in [name, value] {
                assert!(text.len() < 127);
                block.push(text.len() as u8);
                block.extend_from_slice(text.as_bytes());
            }
        }
        block
    }

    /// Connects until the server answers with its settings (a place under `max_connections`),
    /// within 10 s.
    pub fn connect_when_room(port: u16) -> Option<TcpStream> {
        for _ in 0..100 {
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            write(&mut tcp, SETTINGS, 0, 0, &[]);
            if read(&mut tcp).is_ok_and(|frame| frame.kind == SETTINGS) {
                return Some(tcp);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Connects and exchanges settings; returns the server's.
    pub fn connect(port: u16) -> (TcpStream, Vec<(u16, u32)>) {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
        write(&mut tcp, SETTINGS, 0, 0, &[]);
        for _ in 0..20 {
            let frame = read(&mut tcp).expect("the server's settings");
            if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                let settings = frame
                    .payload
                    .chunks(6)
                    .map(|s| {
                        (
                            u16::from_be_bytes([s[0], s[1]]),
                            u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
                        )
                    })
                    .collect();
                write(&mut tcp, SETTINGS, ACK, 0, &[]);
                return (tcp, settings);
            }
        }
        panic!("no SETTINGS frame among the server's first 20 frames");
    }
}

#[test]
fn streams_beyond_max_concurrent_streams_are_refused() {
    const LIMIT: u32 = 4;
    const OPENED: u32 = 7;
    let output = output_file("grpc-stream-limit");
    let agent = Agent::start(
        "grpc-stream-limit",
        &config(&output, &format!(", max_concurrent_streams: {LIMIT}"), ""),
    );
    let (mut tcp, settings) = raw::connect(agent.otlp_grpc);
    assert!(
        settings.contains(&(raw::MAX_CONCURRENT_STREAMS, LIMIT)),
        "the server advertises the limit: {settings:?}"
    );
    let authority = format!("127.0.0.1:{}", agent.otlp_grpc);
    let block = raw::header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", TRACE_EXPORT),
        (":authority", &authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    // Streams 1, 3, 5 ...: headers only, no END_STREAM, so each stays open.
    let streams: Vec<u32> = (0..OPENED).map(|i| 2 * i + 1).collect();
    for stream in &streams {
        raw::write(&mut tcp, raw::HEADERS, raw::END_HEADERS, *stream, &block);
    }
    let mut reset = Vec::new();
    for _ in 0..200 {
        if reset.len() == (OPENED - LIMIT) as usize {
            break;
        }
        let frame = raw::read(&mut tcp).expect("a frame within 10 s");
        assert_ne!(frame.kind, raw::GOAWAY, "the connection stays up");
        if frame.kind == raw::RST_STREAM {
            let code = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
            reset.push((frame.stream, code));
        }
    }
    let refused: Vec<(u32, u32)> = streams[LIMIT as usize..]
        .iter()
        .map(|stream| (*stream, raw::REFUSED_STREAM))
        .collect();
    assert_eq!(
        reset, refused,
        "the streams beyond the first {LIMIT} are refused, the first {LIMIT} are not"
    );

    // The refused ones cost nothing: the agent still serves.
    let answer = export_with_grpcio(&agent, "after refused streams");
    assert_eq!(answer["code"], "OK", "{answer}");
}

#[test]
fn connections_beyond_max_connections_are_closed_and_a_freed_place_is_reused() {
    let output = output_file("grpc-connection-cap");
    let agent = Agent::start(
        "grpc-connection-cap",
        &config(&output, ", max_connections: 2", ""),
    );
    let port = agent.otlp_grpc;
    // The agent's start-up probe connected too; its place comes back once the server sees it
    // closed.
    let first = raw::connect_when_room(port).expect("a place for the first connection");
    let _second = raw::connect_when_room(port).expect("a place for the second connection");
    let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = third.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let mut byte = [0u8; 1];
    let read = third.read(&mut byte);
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the third connection is closed without a frame: {read:?}"
    );

    drop(first);
    let reused = raw::connect_when_room(port).is_some();
    assert!(reused, "a closed connection gives its place back");
}

#[test]
fn a_stream_that_stops_sending_is_let_go_at_the_request_timeout() {
    let output = output_file("grpc-request-timeout");
    let agent = Agent::start(
        "grpc-request-timeout",
        &config(&output, ", request_timeout: 1s", ""),
    );
    let port = agent.otlp_grpc;
    let (status, after) = runtime().block_on(async move {
        let (send, _ping_pong, _driver) = h2_connection(port).await;
        let mut send = send.ready().await.unwrap();
        let (response, mut stream) = send.send_request(export_request(port), false).unwrap();
        let mut data = grpc_frame_header(1000).to_vec();
        data.extend_from_slice(&[0x0a; 10]);
        stream.send_data(Bytes::from(data), false).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(20), response)
            .await
            .expect("an answer once the timeout passed")
            .expect("a response");
        let status = response.headers().get("grpc-status").cloned();
        // The connection still takes calls.
        let mut send = send.ready().await.unwrap();
        let (response, mut stream) = send.send_request(export_request(port), false).unwrap();
        let message = one_span_request("after a timeout");
        let mut data = grpc_frame_header(message.len() as u32).to_vec();
        data.extend_from_slice(&message);
        stream.send_data(Bytes::from(data), true).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(20), response)
            .await
            .expect("an answer")
            .expect("a response");
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            chunk.unwrap();
        }
        let trailers = body.trailers().await.unwrap().unwrap_or_default();
        (status, trailers.get("grpc-status").cloned())
    });
    assert_eq!(
        status.as_ref().map(|v| v.to_str().unwrap()),
        Some("1"),
        "CANCELLED"
    );
    assert_eq!(after.as_ref().map(|v| v.to_str().unwrap()), Some("0"), "OK");
    assert!(wait_for_line_containing(&output, "after a timeout"));
}

#[test]
fn headers_over_max_header_list_size_are_refused() {
    let output = output_file("grpc-header-list");
    let agent = Agent::start(
        "grpc-header-list",
        &config(&output, ", max_header_list_size: 4KiB", ""),
    );
    let port = agent.otlp_grpc;
    let answer = runtime().block_on(async move {
        let (send, _ping_pong, _driver) = h2_connection(port).await;
        let mut send = send.ready().await.unwrap();
        let mut request = export_request(port);
        request
            .headers_mut()
            .insert("x-padding", "p".repeat(16 * 1024).parse().unwrap());
        let (response, _stream) = send.send_request(request, true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("an answer within 10 s")
    });
    match answer {
        Ok(response) => assert_eq!(
            response.status(),
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{response:?}"
        ),
        Err(e) => assert!(e.is_reset() || e.is_go_away(), "{e}"),
    }
    let answer = export_with_grpcio(&agent, "small headers");
    assert_eq!(answer["code"], "OK", "{answer}");
}

#[test]
fn requests_beyond_the_per_connection_limit_are_refused_at_once() {
    const LIMIT: usize = 2;
    let output = output_file("grpc-request-limit");
    let agent = Agent::start(
        "grpc-request-limit",
        &config(
            &output,
            &format!(", max_concurrent_requests_per_connection: {LIMIT}"),
            "",
        ),
    );
    let port = agent.otlp_grpc;
    // Which of the calls is refused depends on the order the server's tasks run in; exactly
    // one of LIMIT + 1 is, at once, while the others are held waiting for their message.
    let (first_answer, others) = runtime().block_on(async move {
        let (mut send, _ping_pong, _driver) = h2_connection(port).await;
        let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
        let mut streams = Vec::new();
        for _ in 0..=LIMIT {
            send = send.ready().await.unwrap();
            let (response, mut stream) = send.send_request(export_request(port), false).unwrap();
            stream
                .send_data(Bytes::copy_from_slice(&grpc_frame_header(1000)), false)
                .unwrap();
            streams.push(stream);
            let answers = answers.clone();
            tokio::spawn(async move {
                let status = response
                    .await
                    .ok()
                    .and_then(|r| r.headers().get("grpc-status").cloned());
                let _ = answers.send(status);
            });
        }
        let first = tokio::time::timeout(Duration::from_secs(30), answered.recv())
            .await
            .expect("one call answered while the others are held")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut others = 0;
        while answered.try_recv().is_ok() {
            others += 1;
        }
        drop(streams);
        (first, others)
    });
    assert_eq!(
        first_answer.as_ref().map(|v| v.to_str().unwrap()),
        Some("8"),
        "RESOURCE_EXHAUSTED"
    );
    assert_eq!(others, 0, "the other {LIMIT} calls are still being served");
}
