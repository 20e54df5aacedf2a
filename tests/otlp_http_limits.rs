//! The OTLP/HTTP server's limits against real attacking connections on loopback: slow headers,
//! slow bodies, idle keep-alive connections, more connections than allowed, and more than the
//! agent has file descriptors for. Each time the attackers are cut off and a normal client is
//! still answered.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{http_request, numbered_spans, self_signed_certificate, Agent, HttpResponse};

/// Far above every timeout configured here: only a server that never closes misses it.
const BOUND: Duration = Duration::from_secs(20);

fn config(limits: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{{otlp_http}}"{limits} }}
exporters:
  debug:
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug] }}
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{telemetry}}" }} }}
"#
    )
}

fn connect(agent: &Agent) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", agent.otlp_http)).expect("connecting");
    stream.set_nonblocking(true).unwrap();
    stream
}

/// What the server sent so far, and whether it closed the connection.
struct Peer {
    stream: TcpStream,
    received: Vec<u8>,
    closed: bool,
}

impl Peer {
    fn new(stream: TcpStream) -> Peer {
        Peer {
            stream,
            received: Vec::new(),
            closed: false,
        }
    }

    /// Reads what is there without waiting; notes an end of stream or a reset.
    fn poll(&mut self) {
        let mut buffer = [0u8; 4096];
        while !self.closed {
            match self.stream.read(&mut buffer) {
                Ok(0) => self.closed = true,
                Ok(n) => self.received.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => self.closed = true,
            }
        }
    }

    /// One more byte of a request that never ends; a write that fails means closed.
    fn trickle(&mut self, byte: u8) {
        if !self.closed && self.stream.write_all(&[byte]).is_err() {
            self.closed = true;
        }
    }
}

/// Polls every peer (trickling a byte into the `trickling` ones) until all are closed or
/// `BOUND` passes; returns how many are still open.
fn wait_until_closed(peers: &mut [Peer], trickling: usize) -> usize {
    let started = Instant::now();
    loop {
        for (index, peer) in peers.iter_mut().enumerate() {
            if index < trickling {
                peer.trickle(b'x');
            }
            peer.poll();
        }
        let open = peers.iter().filter(|p| !p.closed).count();
        if open == 0 || started.elapsed() > BOUND {
            return open;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn post_spans(agent: &Agent) -> std::io::Result<HttpResponse> {
    http_request(
        agent.otlp_http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        &numbered_spans("limits-", 0, 3, 0),
    )
}

/// A normal export, retried while the server refuses connections; the first answer it gets.
fn post_until_answered(agent: &Agent) -> HttpResponse {
    let started = Instant::now();
    loop {
        match post_spans(agent) {
            Ok(response) if response.status != 0 => return response,
            answer if started.elapsed() > BOUND => {
                panic!(
                    "no answer to a normal request within {BOUND:?}: {:?}",
                    answer.err()
                )
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn keep_alive_request(body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Blocks until one whole response with a Content-Length body is in `peer.received`.
fn read_response(peer: &mut Peer) -> String {
    let started = Instant::now();
    loop {
        peer.poll();
        let text = String::from_utf8_lossy(&peer.received).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if peer.received.len() >= head_end + 4 + length {
                peer.received.drain(..head_end + 4 + length);
                return text[..head_end].to_string();
            }
        }
        assert!(
            !peer.closed && started.elapsed() < BOUND,
            "no whole response; got {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn slow_headers_are_cut_off_after_read_header_timeout() {
    let agent = Agent::start("limits-slowloris", &config(", read_header_timeout: 1s"));
    let mut peers: Vec<Peer> = (0..40)
        .map(|_| {
            let mut stream = connect(&agent);
            stream
                .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            Peer::new(stream)
        })
        .collect();
    // Connections that never send a byte are held by a head that never starts, too.
    peers.extend((0..10).map(|_| Peer::new(connect(&agent))));
    // Half of the partial heads trickle a byte every 100 ms, the others stall.
    let open = wait_until_closed(&mut peers, 20);
    assert_eq!(
        open, 0,
        "slow-header connections still open after {BOUND:?}"
    );
    assert_eq!(post_until_answered(&agent).status, 200);
}

#[test]
fn a_body_that_trickles_past_read_timeout_gets_408_and_is_closed() {
    let agent = Agent::start("limits-slow-body", &config(", read_timeout: 1s"));
    let mut peer = Peer::new(connect(&agent));
    peer.stream
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let open = wait_until_closed(std::slice::from_mut(&mut peer), 1);
    assert_eq!(open, 0, "a trickling body still open after {BOUND:?}");
    let response = String::from_utf8_lossy(&peer.received);
    assert!(
        response.starts_with("HTTP/1.1 408"),
        "expected 408, got {response:?}"
    );
    assert!(response.contains("read_timeout"), "{response}");
    assert_eq!(post_until_answered(&agent).status, 200);
}

#[test]
fn idle_keep_alive_connections_close_after_idle_timeout_not_before() {
    let agent = Agent::start(
        "limits-idle",
        &config(", read_header_timeout: 1s, idle_timeout: 4s"),
    );
    let body = numbered_spans("idle-", 0, 2, 0);
    let mut peers: Vec<Peer> = (0..20).map(|_| Peer::new(connect(&agent))).collect();
    for peer in &mut peers {
        peer.stream.write_all(&keep_alive_request(&body)).unwrap();
        let head = read_response(peer);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // Longer than read_header_timeout: an idle connection is not a slow head.
    std::thread::sleep(Duration::from_millis(1500));
    let first = &mut peers[0];
    first.stream.write_all(&keep_alive_request(&body)).unwrap();
    let head = read_response(first);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "the second request on an idle connection: {head}"
    );
    let open = wait_until_closed(&mut peers, 0);
    assert_eq!(open, 0, "idle connections still open after {BOUND:?}");
}

#[test]
fn connections_over_max_connections_are_closed_at_once_and_counted() {
    let agent = Agent::start(
        "limits-max-connections",
        &config(", max_connections: 50, read_header_timeout: 2s"),
    );
    let mut peers: Vec<Peer> = (0..200).map(|_| Peer::new(connect(&agent))).collect();
    // The telemetry endpoint is not behind the receiver's cap.
    assert_eq!(agent.get("/health").0, 200);
    let refused_series = r#"tributary_receiver_http_connections_refused_total{receiver="otlp"}"#;
    let started = Instant::now();
    let refused = loop {
        let refused = agent.metric(refused_series).unwrap_or(0.0);
        if refused >= 150.0 || started.elapsed() > BOUND {
            break refused;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(refused >= 150.0, "refused {refused} of 150 over the cap");
    for peer in &mut peers {
        peer.poll();
    }
    let closed = peers.iter().filter(|p| p.closed).count();
    assert!(closed >= 150, "{closed} of 200 closed");
    assert_eq!(post_until_answered(&agent).status, 200);
    assert_eq!(wait_until_closed(&mut peers, 0), 0);
}

#[test]
fn with_few_file_descriptors_slow_connections_cannot_silence_the_agent() {
    let agent = Agent::start_with_open_files_limit(
        "limits-open-files",
        &config(", read_header_timeout: 2s"),
        256,
    );
    let mut peers: Vec<Peer> = (0..300)
        .map(|_| {
            let mut stream = connect(&agent);
            let _ = stream.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            Peer::new(stream)
        })
        .collect();
    assert_eq!(agent.get("/health").0, 200);
    assert_eq!(post_until_answered(&agent).status, 200);
    assert_eq!(wait_until_closed(&mut peers, 0), 0);
    assert_eq!(post_until_answered(&agent).status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_are_served_and_an_idle_http2_connection_is_closed() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let agent = Agent::start(
        "limits-http2",
        &config(", read_header_timeout: 1s, idle_timeout: 3s, max_concurrent_streams: 2"),
    );
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", agent.otlp_http))
        .await
        .unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("an HTTP/2 (prior knowledge) handshake");
    let connection = tokio::spawn(connection);
    let body = bytes::Bytes::from(numbered_spans("h2-", 0, 2, 0));
    let request = || {
        hyper::Request::post(format!("http://127.0.0.1:{}/v1/traces", agent.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(Full::new(body.clone()))
            .unwrap()
    };
    // One request first, so that the client has the server's SETTINGS (its stream limit)
    // before it opens more: streams opened before that are refused, as HTTP/2 says.
    let first = sender.clone().send_request(request()).await;
    assert_eq!(first.expect("a first response").status(), 200);
    // More at once than max_concurrent_streams: the client queues them, all are served.
    let responses = join_all(
        (0..6)
            .map(|_| {
                let mut sender = sender.clone();
                let request = request();
                tokio::spawn(async move { sender.send_request(request).await })
            })
            .collect(),
    )
    .await;
    for response in responses {
        let response = response.expect("an HTTP/2 response");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    // Longer than read_header_timeout: between requests HTTP/2 waits for idle_timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = sender.clone().send_request(request()).await;
    assert_eq!(response.expect("a second response").status(), 200);
    let ended = tokio::time::timeout(BOUND, connection).await;
    assert!(
        ended.is_ok(),
        "the idle HTTP/2 connection is still open after {BOUND:?}"
    );
}

async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[cfg(feature = "tls")]
#[test]
fn tls_handshakes_that_never_finish_are_cut_off_and_do_not_hold_up_others() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("limits-tls");
    let (cert, key) = self_signed_certificate(&dir);
    let limits = format!(
        ", read_header_timeout: 1s, max_connections: 20, tls: {{ cert_file: \"{}\", key_file: \"{}\" }}",
        cert.display(),
        key.display()
    );
    let agent = Agent::start("limits-tls", &config(&limits));
    // Silent ones, and ones that start a ClientHello and stop.
    let mut peers: Vec<Peer> = (0..20)
        .map(|index| {
            let mut stream = connect(&agent);
            if index % 2 == 0 {
                stream
                    .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                    .unwrap();
            }
            Peer::new(stream)
        })
        .collect();
    assert_eq!(wait_until_closed(&mut peers, 0), 0);
    // A real handshake gets through once they are gone.
    let started = Instant::now();
    let answered = loop {
        let curl = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&cert)
            .args([
                "-X",
                "POST",
                "-H",
                "content-type: application/x-protobuf",
                "--data-binary",
                "",
            ])
            .arg(format!("https://localhost:{}/v1/traces", agent.otlp_http))
            .output()
            .expect("curl");
        let code = String::from_utf8_lossy(&curl.stdout).into_owned();
        if code == "200" || started.elapsed() > BOUND {
            break code;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(answered, "200");
}
