//! Load generator: replays pre-encoded OTLP/HTTP trace requests (so that the generator is not
//! the bottleneck) over keep-alive connections, unthrottled or at a target rate, and reports
//! what was accepted and refused and the acknowledgement latency percentiles.
//!
//!     tributary-loadgen --endpoint 127.0.0.1:4318 --connections 4 --duration 10s

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Replays OTLP/HTTP trace requests against an agent")]
struct Args {
    /// host:port of the OTLP/HTTP receiver.
    #[arg(long, default_value = "127.0.0.1:4318")]
    endpoint: String,
    #[arg(long, value_enum, default_value = "proto")]
    encoding: Encoding,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[arg(long, default_value_t = 100)]
    spans_per_request: usize,
    /// Spans per second in all; 0 sends as fast as the agent answers.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Encoding {
    Proto,
    Json,
}

/// The OpenTelemetry benchmark span shape: 10 attributes of 20-character keys and values.
fn request(seed: u64, spans: usize) -> ExportTraceServiceRequest {
    let text = |i: u64, kind: &str| format!("{kind}{i:0>width$}", width = 20 - kind.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let kv = |k: String, v: String| KeyValue {
        key: k,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name".into(), "loadgen".into()),
                    kv("service.instance.id".into(), format!("loadgen-{seed}")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tributary-loadgen".into(),
                    ..Default::default()
                }),
                spans: (0..spans as u64)
                    .map(|i| Span {
                        trace_id: [seed.to_be_bytes(), i.to_be_bytes()].concat(),
                        span_id: (seed << 32 | i).max(1).to_be_bytes().to_vec(),
                        name: format!("operation-{}", i % 16),
                        kind: 2,
                        start_time_unix_nano: now,
                        end_time_unix_nano: now + 1_000_000,
                        attributes: (0..10)
                            .map(|a| kv(text(a, "key"), text(i * 10 + a, "value")))
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    refused: u64,
    errors: u64,
    latencies: Vec<Duration>,
}

async fn connection(
    args: &Args,
    bodies: &[Vec<u8>],
    content_type: &str,
    stop_at: Instant,
    interval: Option<Duration>,
) -> Tally {
    let mut tally = Tally::default();
    let mut next = Instant::now();
    let mut index = 0;
    'reconnect: while Instant::now() < stop_at {
        let Ok(stream) = TcpStream::connect(&args.endpoint).await else {
            tally.errors += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut stream = BufReader::new(stream);
        while Instant::now() < stop_at {
            if let Some(interval) = interval {
                next += interval;
                tokio::time::sleep_until(next.into()).await;
            }
            let body = &bodies[index % bodies.len()];
            index += 1;
            let head = format!(
                "POST /v1/traces HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                args.endpoint,
                body.len()
            );
            let sent = Instant::now();
            let written = async {
                stream.get_mut().write_all(head.as_bytes()).await?;
                stream.get_mut().write_all(body).await
            };
            if written.await.is_err() {
                tally.errors += 1;
                continue 'reconnect;
            }
            match read_status(&mut stream).await {
                Ok(200) => {
                    tally.accepted += 1;
                    tally.latencies.push(sent.elapsed());
                }
                Ok(429 | 503) => tally.refused += 1,
                Ok(_) => tally.errors += 1,
                Err(_) => {
                    tally.errors += 1;
                    continue 'reconnect;
                }
            }
        }
    }
    tally
}

/// Reads one response, returning its status; the body is read and dropped.
async fn read_status(stream: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::other("closed"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let requests: Vec<ExportTraceServiceRequest> = (1..=16)
        .map(|seed| request(seed, args.spans_per_request))
        .collect();
    let (bodies, content_type): (Vec<Vec<u8>>, &str) = match args.encoding {
        Encoding::Proto => (
            requests.iter().map(Message::encode_to_vec).collect(),
            "application/x-protobuf",
        ),
        Encoding::Json => (
            requests
                .iter()
                .map(|r| serde_json::to_vec(r).expect("JSON"))
                .collect(),
            "application/json",
        ),
    };
    let interval = (args.rate > 0).then(|| {
        let requests_per_second =
            args.rate as f64 / args.spans_per_request as f64 / args.connections as f64;
        Duration::from_secs_f64(1.0 / requests_per_second)
    });
    let started = Instant::now();
    let stop_at = started + args.duration;
    let args = std::sync::Arc::new(args);
    let bodies = std::sync::Arc::new(bodies);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let (args, bodies) = (args.clone(), bodies.clone());
            tokio::spawn(async move {
                connection(&args, &bodies, content_type, stop_at, interval).await
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a connection task");
        total.accepted += tally.accepted;
        total.refused += tally.refused;
        total.errors += tally.errors;
        total.latencies.extend(tally.latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies.sort();
    let spans = args.spans_per_request as u64;
    let (p50, p99, p999) = (
        percentile(&total.latencies, 0.50),
        percentile(&total.latencies, 0.99),
        percentile(&total.latencies, 0.999),
    );
    let accepted_spans = total.accepted * spans;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "seconds": elapsed, "accepted_requests": total.accepted, "accepted_spans": accepted_spans,
                "refused_requests": total.refused, "errors": total.errors,
                "spans_per_second": accepted_spans as f64 / elapsed,
                "ack_latency_ms": { "p50": p50, "p99": p99, "p99.9": p999 },
            })
        );
    } else {
        println!(
            "sent for {elapsed:.1}s over {} connections, {spans} spans a request",
            args.connections
        );
        println!(
            "accepted  {accepted_spans} spans ({} requests), {:.0} spans/s",
            total.accepted,
            accepted_spans as f64 / elapsed
        );
        println!(
            "refused   {} requests (429/503); errors {}",
            total.refused, total.errors
        );
        println!("ack latency ms: p50 {p50:.2}  p99 {p99:.2}  p99.9 {p999:.2}");
    }
}
