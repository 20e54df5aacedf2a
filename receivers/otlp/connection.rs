//! What one OTLP/HTTP connection is doing, for the deadlines `http_server` enforces: reading a
//! request head (bounded by `read_header_timeout`), handling requests (the body by
//! `read_timeout`, in the handler), or idle between requests (bounded by `idle_timeout`).
//!
//! hyper's own header timer is not used: it also runs while a keep-alive connection waits for
//! its next request, which would make every idle connection close after `read_header_timeout`.
//! Here the head's deadline starts with the first byte of a request (or the connection's
//! accept), so a client that trickles a header one byte at a time is cut off on time while a
//! quiet keep-alive connection waits `idle_timeout`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Set in `Activity::mark` while a request head is being read.
const READING_HEAD: u64 = 1 << 63;

#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub read_header_timeout: Duration,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A request head took too long: the connection is dropped at once.
    Head,
    /// Nothing came for `idle_timeout`: the connection is shut down gracefully.
    Idle,
}

pub struct Activity {
    opened: Instant,
    in_flight: AtomicU32,
    /// While no request is in flight: milliseconds since `opened` of when the connection went
    /// idle, or with `READING_HEAD` of when the current request's first byte came.
    mark: AtomicU64,
    first_read: AtomicBool,
    /// HTTP/2 (its preface came first): frames such as PING arrive between requests, so bytes
    /// alone do not start a request head after the first one.
    multiplexed: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            // The first request's head (or the TLS handshake) is due from the accept on.
            mark: AtomicU64::new(READING_HEAD),
            first_read: AtomicBool::new(true),
            multiplexed: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(READING_HEAD - 1)
    }

    fn on_read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.first_read.swap(false, Ordering::Relaxed) && bytes.starts_with(b"PRI ") {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.mark.load(Ordering::Relaxed) & READING_HEAD == 0
            && !self.multiplexed.load(Ordering::Relaxed)
        {
            self.mark
                .store(self.now() | READING_HEAD, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.mark.store(self.now(), Ordering::Relaxed);
        }
    }

    /// When the connection's current wait runs out; none while a request is in flight.
    pub fn deadline(&self, limits: &Deadlines) -> Option<(Instant, Expired)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let mark = self.mark.load(Ordering::Relaxed);
        let since = self.opened + Duration::from_millis(mark & !READING_HEAD);
        Some(if mark & READING_HEAD != 0 {
            (since + limits.read_header_timeout, Expired::Head)
        } else {
            (since + limits.idle_timeout, Expired::Idle)
        })
    }
}

pin_project_lite::pin_project! {
    /// The connection's IO, telling `Activity` when bytes arrive.
    pub struct Watched<T> {
        #[pin]
        io: T,
        activity: Arc<Activity>,
    }
}

impl<T> Watched<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Watched<T> {
        Watched { io, activity }
    }
}

impl<T: AsyncRead> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.io.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.activity.on_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The router as a hyper service that counts the connection's requests in flight.
#[derive(Clone)]
pub struct Tracked {
    router: axum::Router,
    activity: Arc<Activity>,
}

impl Tracked {
    pub fn new(router: axum::Router, activity: Arc<Activity>) -> Tracked {
        Tracked { router, activity }
    }
}

type RouterFuture = <axum::Router as tower::Service<axum::extract::Request>>::Future;

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = TrackedFuture;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> TrackedFuture {
        self.activity.request_started();
        let request = request.map(axum::body::Body::new);
        TrackedFuture {
            inner: tower::Service::call(&mut self.router.clone(), request),
            _in_flight: InFlight(self.activity.clone()),
        }
    }
}

/// Ends the request's count however its future ends (completed or dropped with the connection).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

pin_project_lite::pin_project! {
    pub struct TrackedFuture {
        #[pin]
        inner: RouterFuture,
        _in_flight: InFlight,
    }
}

impl Future for TrackedFuture {
    type Output = Result<axum::response::Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Deadlines = Deadlines {
        read_header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn the_head_is_due_from_the_accept_then_idle_then_from_the_next_first_byte() {
        let activity = Activity::new();
        let opened = activity.opened;
        assert_eq!(
            activity.deadline(&LIMITS),
            Some((opened + LIMITS.read_header_timeout, Expired::Head))
        );
        activity.on_read(b"POST / HTTP/1.1\r\n");
        activity.request_started();
        assert_eq!(activity.deadline(&LIMITS), None);
        tokio::time::advance(Duration::from_secs(3)).await;
        activity.request_finished();
        let idle = opened + Duration::from_secs(3);
        assert_eq!(
            activity.deadline(&LIMITS),
            Some((idle + LIMITS.idle_timeout, Expired::Idle))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        activity.on_read(b"P");
        activity.on_read(b"O");
        let head = idle + Duration::from_secs(5);
        assert_eq!(
            activity.deadline(&LIMITS),
            Some((head + LIMITS.read_header_timeout, Expired::Head))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http2_frames_between_requests_do_not_start_a_head() {
        let activity = Activity::new();
        activity.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        activity.request_started();
        activity.request_finished();
        activity.on_read(b"a PING frame");
        assert!(matches!(
            activity.deadline(&LIMITS),
            Some((_, Expired::Idle))
        ));
    }
}
