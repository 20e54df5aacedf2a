//! Load generator: replays pre-encoded OTLP requests (so that the generator is not the
//! bottleneck) over OTLP/HTTP (protobuf or JSON) or OTLP/gRPC, on N connections, unthrottled or
//! at a target rate, and reports what was accepted and refused and the acknowledgement latency
//! percentiles. Every send is stamped with a sequence number and the send time (resource
//! attributes, see `tributary::workload`) for `tributary-kafka-bench count`.
//!
//!     tributary-loadgen --endpoint 127.0.0.1:4318 --signal logs --connections 4 --duration 10s

mod grpc;
mod http;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tributary::pipeline::batch::Signal;
use tributary::workload::{self, Stamped, WireEncoding};

#[derive(Parser, Debug)]
#[command(about = "Replays OTLP requests against an agent")]
struct Args {
    /// host:port of the OTLP receiver (HTTP or gRPC, as --protocol says).
    #[arg(long, default_value = "127.0.0.1:4318")]
    endpoint: String,
    #[arg(long, value_enum, default_value = "http")]
    protocol: Protocol,
    /// The body encoding for OTLP/HTTP; gRPC is always protobuf.
    #[arg(long, value_enum, default_value = "proto")]
    encoding: Encoding,
    #[arg(long, value_enum, default_value = "traces")]
    signal: SignalArg,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Spans, log records or metric points in each request.
    #[arg(long, alias = "spans-per-request", default_value_t = 100)]
    items_per_request: usize,
    /// Items per second in all; 0 sends as fast as the agent answers.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long a connection waits after a refusal before it sends again, as an SDK waits
    /// before a retry (the refused request is counted, not sent again).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    refused_backoff: Duration,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Protocol {
    Http,
    Grpc,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Encoding {
    Proto,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SignalArg {
    Traces,
    Logs,
    Metrics,
}

impl SignalArg {
    fn signal(self) -> Signal {
        match self {
            SignalArg::Traces => Signal::Traces,
            SignalArg::Logs => Signal::Logs,
            SignalArg::Metrics => Signal::Metrics,
        }
    }

    fn http_path(self) -> &'static str {
        match self {
            SignalArg::Traces => "/v1/traces",
            SignalArg::Logs => "/v1/logs",
            SignalArg::Metrics => "/v1/metrics",
        }
    }

    fn grpc_path(self) -> &'static str {
        match self {
            SignalArg::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            SignalArg::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            SignalArg::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }
}

/// What became of one request.
pub enum Outcome {
    Accepted,
    /// 429/503 or RESOURCE_EXHAUSTED/UNAVAILABLE: the agent asked for a retry later.
    Refused,
    Failed,
    Unreachable,
}

enum Sender {
    Http(http::HttpSender),
    Grpc(Box<grpc::GrpcSender>),
}

impl Sender {
    fn new(args: &Args) -> Sender {
        match args.protocol {
            Protocol::Http => Sender::Http(http::HttpSender::new(
                &args.endpoint,
                args.signal.http_path(),
                match args.encoding {
                    Encoding::Proto => "application/x-protobuf",
                    Encoding::Json => "application/json",
                },
            )),
            Protocol::Grpc => Sender::Grpc(Box::new(grpc::GrpcSender::new(
                &args.endpoint,
                args.signal.grpc_path(),
            ))),
        }
    }

    async fn send(&mut self, body: &[u8]) -> Outcome {
        match self {
            Sender::Http(sender) => sender.send(body).await,
            Sender::Grpc(sender) => sender.send(body).await,
        }
    }
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    refused: u64,
    errors: u64,
    latencies: Vec<Duration>,
}

/// A sequence number is run (seconds since the epoch, last 7 digits), connection index (3
/// digits) and send count (9 digits): sends never share one, across connections or across runs
/// against the same topic.
const SEQUENCES_PER_CONNECTION: u64 = 1_000_000_000;
const MAX_CONNECTIONS: usize = 999;
const SEQUENCES_PER_RUN: u64 = SEQUENCES_PER_CONNECTION * (MAX_CONNECTIONS as u64 + 1);

async fn connection(
    args: Arc<Args>,
    first_sequence: u64,
    mut bodies: Vec<Stamped>,
    stop_at: Instant,
    interval: Option<Duration>,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = Sender::new(&args);
    let mut next = Instant::now();
    let mut sequence = first_sequence;
    while Instant::now() < stop_at {
        if let Some(interval) = interval {
            next += interval;
            tokio::time::sleep_until(next.into()).await;
        }
        sequence += 1;
        let slot = sequence as usize % bodies.len();
        let body = bodies[slot].stamp(sequence);
        let sent = Instant::now();
        match sender.send(body).await {
            Outcome::Accepted => {
                tally.accepted += 1;
                tally.latencies.push(sent.elapsed());
            }
            Outcome::Refused => {
                tally.refused += 1;
                tokio::time::sleep(args.refused_backoff).await;
            }
            Outcome::Failed => tally.errors += 1,
            Outcome::Unreachable => {
                tally.errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tally
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
    if args.connections > MAX_CONNECTIONS {
        eprintln!(
            "tributary-loadgen: --connections: expected at most {MAX_CONNECTIONS}, found {}",
            args.connections
        );
        std::process::exit(2);
    }
    let run = workload::unix_nanos() / 1_000_000_000 % 10_000_000;
    let encoding = match (args.protocol, args.encoding) {
        (Protocol::Http, Encoding::Json) => WireEncoding::Json,
        _ => WireEncoding::Protobuf,
    };
    let bodies: Vec<Stamped> = (1..=16)
        .map(|seed| {
            let bytes = workload::request_encoded(
                args.signal.signal(),
                seed,
                args.items_per_request,
                encoding,
            );
            Stamped::new(bytes).expect("the workload's requests carry stamp placeholders")
        })
        .collect();
    let interval = (args.rate > 0).then(|| {
        let requests_per_second =
            args.rate as f64 / args.items_per_request as f64 / args.connections as f64;
        Duration::from_secs_f64(1.0 / requests_per_second)
    });
    let started = Instant::now();
    let stop_at = started + args.duration;
    let args = Arc::new(args);
    let tasks: Vec<_> = (0..args.connections)
        .map(|index| {
            tokio::spawn(connection(
                args.clone(),
                run * SEQUENCES_PER_RUN + (index as u64 + 1) * SEQUENCES_PER_CONNECTION,
                bodies.clone(),
                stop_at,
                interval,
            ))
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
    let items = args.items_per_request as u64;
    let (p50, p99, p999) = (
        percentile(&total.latencies, 0.50),
        percentile(&total.latencies, 0.99),
        percentile(&total.latencies, 0.999),
    );
    let accepted_items = total.accepted * items;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "seconds": elapsed, "accepted_requests": total.accepted, "accepted_items": accepted_items,
                "refused_requests": total.refused, "errors": total.errors,
                "items_per_second": accepted_items as f64 / elapsed,
                "ack_latency_ms": { "p50": p50, "p99": p99, "p99.9": p999 },
            })
        );
    } else {
        println!(
            "sent {:?} over {:?} for {elapsed:.1}s on {} connections, {items} items a request",
            args.signal, args.protocol, args.connections
        );
        println!(
            "accepted  {accepted_items} items ({} requests), {:.0} items/s",
            total.accepted,
            accepted_items as f64 / elapsed
        );
        println!(
            "refused   {} requests (429/503, RESOURCE_EXHAUSTED/UNAVAILABLE); errors {}",
            total.refused, total.errors
        );
        println!("ack latency ms: p50 {p50:.2}  p99 {p99:.2}  p99.9 {p999:.2}");
    }
}
