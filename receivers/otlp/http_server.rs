//! The OTLP/HTTP server's accept loop and connections, with the limits `axum::serve` does not
//! have: at most `max_connections` open at once (one more is closed as soon as it is accepted,
//! so the agent keeps file descriptors to answer with), and per connection the deadlines of
//! `connection` plus HTTP/2's stream and header limits. A closed connection frees its place at
//! once; the shutdown token stops accepting and lets each connection finish gracefully.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::{Activity, Deadlines, Expired, Tracked, Watched};
use super::HttpConfig;
use crate::config::ComponentId;
use crate::model::names;

/// The default connection cap, unless the open-file limit is lower.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// At most one warning per this, with the count of what happened since.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// After a failed accept (such as "too many open files"): a pause rather than a busy loop.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

#[cfg(feature = "tls")]
pub type Acceptor = tokio_rustls::TlsAcceptor;
/// Without the `tls` feature no acceptor can exist.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub enum Acceptor {}

pub struct Server {
    pub id: ComponentId,
    pub listener: TcpListener,
    pub router: axum::Router,
    pub tls: Option<Acceptor>,
    pub shutdown: CancellationToken,
}

pub fn max_connections(config: &HttpConfig) -> usize {
    config
        .max_connections
        .unwrap_or_else(|| match open_files_limit() {
            Some(limit) => DEFAULT_MAX_CONNECTIONS.min((limit / 2).max(1)),
            None => DEFAULT_MAX_CONNECTIONS,
        })
}

fn open_files_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY)
        .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

fn builder(config: &HttpConfig) -> auto::Builder<TokioExecutor> {
    let header_limit = usize::try_from(config.max_header_list_size.as_u64()).unwrap_or(usize::MAX);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(header_limit);
    builder
        .http2()
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(u32::try_from(header_limit).unwrap_or(u32::MAX));
    builder
}

impl Server {
    pub async fn run(self, config: &HttpConfig) {
        let Server {
            id,
            listener,
            router,
            tls,
            shutdown,
        } = self;
        let limit = max_connections(config);
        let places = Arc::new(Semaphore::new(limit));
        let builder = Arc::new(builder(config));
        let deadlines = Deadlines {
            read_header_timeout: config.read_header_timeout,
            idle_timeout: config.idle_timeout,
        };
        let refused_counter = metrics::counter!(
            names::RECEIVER_HTTP_CONNECTIONS_REFUSED,
            "receiver" => id.to_string()
        );
        let mut refused = Warning::new();
        let mut failed_accepts = Warning::new();
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if let Some(since) = failed_accepts.due() {
                        tracing::warn!(receiver = %id, error = %e, failed_since_last_warning = since, "OTLP/HTTP cannot accept connections");
                    }
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let Ok(place) = places.clone().try_acquire_owned() else {
                drop(tcp);
                refused_counter.increment(1);
                if let Some(since) = refused.due() {
                    tracing::warn!(receiver = %id, %peer, max_connections = limit, refused_since_last_warning = since, "OTLP/HTTP connection refused: too many open");
                }
                continue;
            };
            connections.spawn(serve(
                tcp,
                place,
                tls.clone(),
                router.clone(),
                builder.clone(),
                deadlines,
                shutdown.clone(),
            ));
        }
        drop(listener);
        // Each connection saw the token too: it finishes its requests and closes.
        while connections.join_next().await.is_some() {}
    }
}

async fn serve(
    tcp: TcpStream,
    _place: OwnedSemaphorePermit,
    tls: Option<Acceptor>,
    router: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    deadlines: Deadlines,
    shutdown: CancellationToken,
) {
    let activity = Activity::new();
    match tls {
        None => serve_http(tcp, activity, router, &builder, deadlines, shutdown).await,
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            // The handshake counts as part of the first request's head.
            let deadline = deadlines.read_header_timeout;
            let handshake = tokio::time::timeout(deadline, acceptor.accept(tcp));
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::debug!("TLS handshake timed out"),
                },
            };
            serve_http(stream, activity, router, &builder, deadlines, shutdown).await
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
    }
}

async fn serve_http<I>(
    io: I,
    activity: Arc<Activity>,
    router: axum::Router,
    builder: &auto::Builder<TokioExecutor>,
    deadlines: Deadlines,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    let connection = builder.serve_connection(io, Tracked::new(router, activity.clone()));
    tokio::pin!(connection);
    // A phase can change without waking this task (a request ends, a head begins): look again
    // at least this often, so that no deadline is missed by more than it.
    let recheck = (deadlines.read_header_timeout).min(deadlines.idle_timeout) / 2;
    let mut graceful = false;
    // Once an idle connection was asked to close: how long it may take.
    let mut hard_stop: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if hard_stop.is_some_and(|stop| stop <= now) {
            return;
        }
        let mut wake = hard_stop.map_or(now + recheck, |stop| stop.min(now + recheck));
        match activity.deadline(&deadlines) {
            Some((deadline, expired)) if deadline <= now => match expired {
                Expired::Head => return tracing::debug!("request head timed out"),
                Expired::Idle if graceful => return,
                Expired::Idle => {
                    connection.as_mut().graceful_shutdown();
                    graceful = true;
                    hard_stop = Some(now + deadlines.read_header_timeout);
                    continue;
                }
            },
            Some((deadline, _)) => wake = wake.min(deadline),
            None => {}
        }
        tokio::select! {
            done = connection.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "OTLP/HTTP connection ended with an error");
                }
                return;
            }
            // In-flight requests end within their own bounds (read_timeout, ack_timeout), idle
            // connections at once; the runtime's shutdown deadline bounds the rest.
            _ = shutdown.cancelled(), if !graceful => {
                connection.as_mut().graceful_shutdown();
                graceful = true;
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// A warning at most every `WARN_EVERY`, with how many times it was due since the last one.
struct Warning {
    last: Option<Instant>,
    since: u64,
}

impl Warning {
    fn new() -> Warning {
        Warning {
            last: None,
            since: 0,
        }
    }

    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|last| now < last + WARN_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}
