use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tributary::config::{ComponentConfig, Kind};
use tributary::exporters::ExporterConfig;
use tributary::pipeline::ledger::Ledger;
use tributary::pipeline::memory;
use tributary::processors::ProcessorConfig;
use tributary::receivers::ReceiverConfig;
use tributary::runtime::{Config, ReloadError, Service};
use tributary::telemetry::{self, Health};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the agent with a config file. SIGTERM or SIGINT stops it; SIGHUP reloads the file.
    Run {
        #[arg(
            long,
            short,
            env = "TRIBUTARY_CONFIG",
            default_value = "collector.yaml"
        )]
        config: PathBuf,
        /// Write the process id here, for `tributary reload`.
        #[arg(long)]
        pid_file: Option<PathBuf>,
    },
    /// Check a config file without starting anything; exit 1 with every error if it is invalid.
    Validate {
        #[arg(long, short, default_value = "collector.yaml")]
        config: PathBuf,
    },
    /// Ask a running agent to reload its config (sends it SIGHUP).
    Reload {
        /// The file `run --pid-file` wrote.
        #[arg(long, default_value = "tributary.pid")]
        pid_file: PathBuf,
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
            let types = |kind: Kind| match kind {
                Kind::Receiver => ReceiverConfig::TYPES,
                Kind::Processor => ProcessorConfig::TYPES,
                Kind::Exporter => ExporterConfig::TYPES,
            };
            for kind in Kind::ALL {
                println!("{}: {}", kind.section(), types(kind).join(", "));
            }
            ExitCode::SUCCESS
        }
        Command::Reload { pid_file } => match send_reload(&pid_file) {
            Ok(pid) => {
                println!("asked process {pid} to reload its config");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tributary reload: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config, pid_file } => {
            let loaded = match Config::load(&config) {
                Ok(loaded) => loaded,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            };
            match run(loaded, config, pid_file) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tributary: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn send_reload(pid_file: &Path) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string(pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?;
    let pid: u32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} holds no process id", pid_file.display()))?;
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .context("running kill")?;
    anyhow::ensure!(status.success(), "no process {pid} to signal");
    Ok(pid)
}

// Tokio's default: one worker a core (TOKIO_WORKER_THREADS overrides). Measured on one core, a
// second worker lowered p99 latency a little at half load but cost 15-25 % of the maximum rate
// and let receivers outrun the exporter into full queues (three times the memory).
#[tokio::main]
async fn run(mut config: Config, path: PathBuf, pid_file: Option<PathBuf>) -> anyhow::Result<()> {
    telemetry::init_logging(&config.telemetry.logs)?;
    let prometheus = telemetry::install_metrics_recorder()?;
    let health = Health::default();
    let ledger = Ledger::new();
    let telemetry_stop = CancellationToken::new();
    let telemetry_server = telemetry::serve(
        config.telemetry.metrics.address,
        prometheus,
        health.clone(),
        ledger.clone(),
        telemetry_stop.clone(),
    )
    .await?;
    if let Some(pid_file) = &pid_file {
        std::fs::write(pid_file, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", pid_file.display()))?;
    }
    memory::watch(telemetry_stop.clone());
    memory::set_limit(config.memory_limit.map_or(0, |b| b.as_u64()));
    let mut service = Service::start(&config, &health, ledger.clone())
        .await
        .context("starting the pipelines")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), pipelines = %config.summary(), "tributary is running");

    let mut signals = Signals::install()?;
    while signals.next().await == Next::Reload {
        let new = match Config::load(&path) {
            Ok(new) => new,
            Err(errors) => {
                tracing::error!("reload refused; the running config stays:\n{errors}");
                continue;
            }
        };
        if new.telemetry != config.telemetry {
            tracing::warn!("service.telemetry changes take effect at the next start");
        }
        // Unchanged components keep running; what the replaced ones accepted drains first.
        tracing::info!("reloading {}", path.display());
        match service.reload(&new, &health, config.shutdown_timeout).await {
            Ok(()) => {
                config = new;
                memory::set_limit(config.memory_limit.map_or(0, |b| b.as_u64()));
                tracing::info!(pipelines = %config.summary(), "reloaded");
            }
            Err(e @ ReloadError::NotStarted(_)) => {
                tracing::error!(error = %e, "the new config did not start");
            }
            Err(ReloadError::PartlyApplied(e)) => {
                tracing::error!(error = %e, "the new config did not start; going back to the previous one");
                service.shutdown(config.shutdown_timeout).await;
                health.clear();
                service = Service::start(&config, &health, ledger.clone())
                    .await
                    .context("restarting the previous pipelines")?;
            }
        }
    }
    service.shutdown(config.shutdown_timeout).await;
    telemetry_stop.cancel();
    let _ = telemetry_server.await;
    if let Some(pid_file) = &pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    Stop,
    Reload,
}

struct Signals {
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            hangup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> Next {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT received");
                Next::Stop
            }
            _ = self.terminate.recv() => {
                tracing::info!("SIGTERM received");
                Next::Stop
            }
            _ = self.hangup.recv() => {
                tracing::info!("SIGHUP received");
                Next::Reload
            }
        }
    }
}
