use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tributary::config::{Config, Kind};
use tributary::pipeline::Service;
use tributary::telemetry::{self, Health};

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "A telemetry agent: OTLP in, pipelines, Kafka out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent with a config file.
    Run {
        #[arg(
            long,
            short,
            env = "TRIBUTARY_CONFIG",
            default_value = "collector.yaml"
        )]
        config: PathBuf,
    },
    /// Check a config file without starting anything; exit 1 with every error if it is invalid.
    Validate {
        #[arg(long, short, default_value = "collector.yaml")]
        config: PathBuf,
    },
    /// List the receiver, processor and exporter types built in.
    Components,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Validate { config } => match Config::load(&config) {
            Ok(loaded) => {
                println!("{}: valid; {}", config.display(), loaded.summary());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Components => {
            for kind in Kind::ALL {
                println!("{}: {}", kind.section(), kind.types().join(", "));
            }
            ExitCode::SUCCESS
        }
        Command::Run { config } => {
            let loaded = match Config::load(&config) {
                Ok(loaded) => loaded,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            };
            match run(loaded) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tributary: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[tokio::main]
async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init_logging(&config.telemetry.logs)?;
    let prometheus = telemetry::install_metrics_recorder()?;
    let health = Health::default();
    let telemetry_stop = CancellationToken::new();
    let telemetry_server = telemetry::serve(
        config.telemetry.metrics.address,
        prometheus,
        health.clone(),
        telemetry_stop.clone(),
    )
    .await?;
    let service = Service::start(&config, &health)
        .await
        .context("starting the pipelines")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), pipelines = %config.summary(), "tributary is running");

    wait_for_stop_signal().await?;
    service.shutdown(config.shutdown_timeout).await;
    telemetry_stop.cancel();
    let _ = telemetry_server.await;
    Ok(())
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
    Ok(())
}
