//! The agent's own telemetry: Prometheus `/metrics`, `/health`, `/ready`, and logging setup.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::config::{LogFormat, LogsTelemetry};
use crate::model::Kind;
use crate::pipeline::ledger::Ledger;

pub use crate::model::names;

/// Every component's state: whether its task runs (or is being restarted after a failure), and
/// for the exporters that can be unready (waiting for their brokers), whether they are ready.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<Kind, BTreeMap<String, ComponentState>>>>,
}

#[derive(Debug, Clone, Default)]
struct ComponentState {
    /// Why its task is not running, while a supervisor restarts it.
    failure: Option<String>,
    readiness: Option<Result<(), String>>,
}

impl ComponentState {
    fn is_ready(&self) -> bool {
        self.failure.is_none() && !matches!(self.readiness, Some(Err(_)))
    }

    fn describe(&self) -> String {
        match (&self.failure, &self.readiness) {
            (Some(failure), _) => failure.clone(),
            (None, Some(Err(reason))) => format!("not ready: {reason}"),
            (None, Some(Ok(()))) => "ready".to_string(),
            (None, None) => "running".to_string(),
        }
    }
}

impl Health {
    /// An exporter reached its destination.
    pub fn set_ready(&self, exporter: &str) {
        self.update(Kind::Exporter, exporter, |state| {
            state.readiness = Some(Ok(()))
        });
    }

    pub fn set_not_ready(&self, exporter: &str, reason: impl Into<String>) {
        let reason = reason.into();
        self.update(Kind::Exporter, exporter, |state| {
            state.readiness = Some(Err(reason))
        });
    }

    /// The component's task runs.
    pub fn set_running(&self, kind: Kind, component: &str) {
        self.update(kind, component, |state| state.failure = None);
    }

    /// The component's task failed: `/ready` answers 503 with `state` until it runs again.
    pub fn set_failed(&self, kind: Kind, component: &str, state: impl Into<String>) {
        let failure = state.into();
        self.update(kind, component, |state| state.failure = Some(failure));
    }

    fn update(&self, kind: Kind, component: &str, change: impl FnOnce(&mut ComponentState)) {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        change(
            components
                .entry(kind)
                .or_default()
                .entry(component.to_string())
                .or_default(),
        );
    }

    /// Forgets a component a reload removed.
    pub fn remove(&self, kind: Kind, component: &str) {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(of_kind) = components.get_mut(&kind) {
            of_kind.remove(component);
        }
    }

    /// Forgets every component, before a reload registers the new ones.
    pub fn clear(&self) {
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Ready when every registered component is; the components by kind, each with its state.
    pub fn report(&self) -> (bool, serde_json::Value) {
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        let ready = components
            .values()
            .flat_map(BTreeMap::values)
            .all(ComponentState::is_ready);
        let detail: serde_json::Map<String, serde_json::Value> = components
            .iter()
            .map(|(kind, of_kind)| {
                let states: serde_json::Map<String, serde_json::Value> = of_kind
                    .iter()
                    .map(|(id, state)| (id.clone(), state.describe().into()))
                    .collect();
                (kind.section().to_string(), states.into())
            })
            .collect();
        let status = if ready { "ready" } else { "not ready" };
        (
            ready,
            serde_json::json!({ "status": status, "components": detail }),
        )
    }
}

pub fn install_metrics_recorder() -> Result<PrometheusHandle, TelemetryError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| TelemetryError::Recorder(e.to_string()))?;
    Ok(handle)
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
    #[error("cannot listen on {address} for /metrics, /health and /ready: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid log level {level:?}: {reason}")]
    LogLevel { level: String, reason: String },
}

#[derive(Clone)]
struct TelemetryState {
    prometheus: PrometheusHandle,
    health: Health,
    ledger: Arc<Ledger>,
}

/// Binds now, so that a taken port fails start-up, and serves until `shutdown`.
pub async fn serve(
    address: SocketAddr,
    prometheus: PrometheusHandle,
    health: Health,
    ledger: Arc<Ledger>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, TelemetryError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| TelemetryError::Bind { address, source })?;
    let upkeep = prometheus.clone();
    let upkeep_stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = upkeep_stop.cancelled() => return,
                _ = tick.tick() => upkeep.run_upkeep(),
            }
        }
    });
    let router = Router::new()
        .route("/metrics", get(metrics_route))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready_route))
        .with_state(TelemetryState {
            prometheus,
            health,
            ledger,
        });
    tracing::info!(%address, "serving /metrics, /health and /ready");
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the telemetry server stopped");
        }
    }))
}

async fn metrics_route(State(state): State<TelemetryState>) -> impl IntoResponse {
    state.ledger.publish();
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.prometheus.render(),
    )
}

async fn ready_route(State(state): State<TelemetryState>) -> impl IntoResponse {
    let (ready, body) = state.health.report();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

/// `RUST_LOG`, when set, wins over the configured level.
pub fn init_logging(logs: &LogsTelemetry) -> Result<(), TelemetryError> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::new(from_env),
        _ => EnvFilter::try_new(&logs.level).map_err(|e| TelemetryError::LogLevel {
            level: logs.level.clone(),
            reason: e.to_string(),
        })?,
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match logs.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// One Prometheus recorder for every unit test in the process, so that a test can read the
/// counters it moved. Tests share it: each reads the counters of its own component ids.
#[cfg(test)]
pub mod test_metrics {
    use std::sync::OnceLock;

    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

    fn handle() -> &'static PrometheusHandle {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).expect("no other recorder in unit tests");
            handle
        })
    }

    /// Installs the recorder, before the code under test first touches a counter.
    pub fn install() {
        handle();
    }

    /// The counter's value for the series whose labels include `label="value"`; 0 if none.
    pub fn counter(name: &str, label: &str, value: &str) -> u64 {
        counter_with(name, &[(label, value)])
    }

    /// The sum over the series whose labels include every one given.
    pub fn counter_with(name: &str, labels: &[(&str, &str)]) -> u64 {
        let wanted: Vec<String> = labels.iter().map(|(l, v)| format!("{l}=\"{v}\"")).collect();
        let prefix = format!("{name}{{");
        handle()
            .render()
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix)?.split_once("} "))
            .filter(|(labels, _)| {
                let labels: Vec<&str> = labels.split(',').collect();
                wanted.iter().all(|w| labels.contains(&w.as_str()))
            })
            .filter_map(|(_, number)| number.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }
}
