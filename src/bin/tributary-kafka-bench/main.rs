//! Kafka's side of the benchmark:
//!
//!     tributary-kafka-bench create-topic --topic T      # broker-stamped record times
//!     tributary-kafka-bench count --topic T --signal traces
//!     tributary-kafka-bench produce --topic T --duration 15s
//!
//! `count` reads what an agent delivered (items, duplicates, end-to-end latency); `produce` is
//! the librdkafka produce-only ceiling for the same records. Each prints one JSON line.

mod count;
mod produce;
mod slim;
mod topic;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tributary::pipeline::batch::Signal;

#[derive(Parser, Debug)]
#[command(about = "Counts what reached Kafka, or produces to it directly")]
struct Args {
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    brokers: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Creates a topic whose records carry the broker's append time.
    CreateTopic {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 3)]
        partitions: i32,
    },
    /// Reads the topic to its current end and reports items, duplicates and latency.
    Count {
        #[arg(long)]
        topic: String,
        #[arg(long, value_enum, default_value = "traces")]
        signal: SignalArg,
        #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
    /// Produces the exporter's records for traces as fast as librdkafka takes them.
    Produce {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 100)]
        items_per_record: usize,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// A librdkafka producer property over the exporter's defaults, `key=value`.
        #[arg(short = 'X', value_parser = property)]
        property: Vec<(String, String)>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SignalArg {
    Traces,
    Logs,
    Metrics,
}

fn property(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, found {text:?}"))
}

fn main() {
    let args = Args::parse();
    let printed = match args.command {
        Command::CreateTopic { topic, partitions } => {
            topic::create(&args.brokers, &topic, partitions)
                .map(|()| serde_json::json!({"created": topic}))
        }
        Command::Count {
            topic,
            signal,
            wait,
        } => {
            let signal = match signal {
                SignalArg::Traces => Signal::Traces,
                SignalArg::Logs => Signal::Logs,
                SignalArg::Metrics => Signal::Metrics,
            };
            count::count(&args.brokers, &topic, signal, wait).map(|c| serde_json::json!(c))
        }
        Command::Produce {
            topic,
            items_per_record,
            duration,
            property,
        } => produce::produce(&args.brokers, &topic, items_per_record, duration, &property)
            .map(|p| serde_json::json!(p)),
    };
    match printed {
        Ok(json) => println!("{json}"),
        Err(problem) => {
            eprintln!("tributary-kafka-bench: {problem}");
            std::process::exit(1);
        }
    }
}
