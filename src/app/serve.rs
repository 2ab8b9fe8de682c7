//! Serving HTTP/1.1 connections with hyper directly (in place of `axum::serve`), so that slow
//! or idle clients cannot hold sockets and memory for ever:
//!
//! - the request headers must arrive within `HEADER_TIMEOUT` of their first byte (else the
//!   connection is closed);
//! - a request body must arrive whole within `BODY_TIMEOUT` of its headers (else `408` and the
//!   connection is closed);
//! - a connection with nothing to do for `IDLE_TIMEOUT` is closed (an idle keep-alive
//!   connection at once; one stuck mid-request, nothing read or written, by force);
//! - at most `max_connections` are open at once: past that a new connection is closed as soon
//!   as it is accepted, and one line says so in the log (not one per refused connection).
//!
//! A WebSocket is an upgraded connection: once upgraded it leaves hyper and these timers (the
//! WebSocket handler pings and drops silent clients itself), but it keeps its connection slot
//! until it closes. Every accepted socket gets TCP_NODELAY; graceful shutdown stops accepting,
//! lets requests in flight finish and closes idle connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower_service::Service as _;

/// The request headers must arrive within this long of their first byte.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body must arrive whole within this long of its headers.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with nothing read or written for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The connection cap when `KEFU_MAX_CONNECTIONS` is not set (less when the file-descriptor
/// limit is lower).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// File descriptors kept for everything that is not a client connection (the database, its
/// WAL, media files, outgoing HTTPS to WeChat, logs).
const RESERVED_FDS: u64 = 128;

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: Option<usize>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = connection_cap(max_connections);
    let slots = Arc::new(Semaphore::new(max));
    let at_limit = AtomicBool::new(false);
    let mut accept_failing = false;
    // `signal` tells connections to finish; `closed` is held by each until it ends.
    let (signal_tx, signal_rx) = watch::channel(());
    let (closed_tx, closed_rx) = watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    // kefu's own timers below replace hyper's header timeout (which would also cut idle
    // keep-alive connections at the header deadline)
    http.header_read_timeout(None);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    accept_failing = false;
                    a
                }
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin
                    if !accept_failing {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        accept_failing = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if !at_limit.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    limit = max,
                    "the connection limit is reached: new connections are closed at once until \
                     some end (KEFU_MAX_CONNECTIONS)"
                );
            }
            drop(stream);
            continue;
        };
        if at_limit.swap(false, Ordering::Relaxed) {
            tracing::info!(limit = max, "below the connection limit again");
        }
        // no Nagle delay: live updates are small frames that must leave at once (with it,
        // a frame could wait for the client's delayed ACK, ~40 ms)
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
            _slot: permit,
        });
        let service = ConnService {
            app: app.clone(),
            peer,
            activity: activity.clone(),
        };
        let http = http.clone();
        let mut signal = signal_rx.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let conn = http.serve_connection(io, service).with_upgrades();
            tokio::pin!(conn);
            let mut draining = false;
            let mut check = Box::pin(tokio::time::sleep(HEADER_TIMEOUT));
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, client = %peer, "connection ended with an error");
                        }
                        break;
                    }
                    changed = signal.changed(), if !draining => {
                        let _ = changed;
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    () = activity.started_head.notified() => {
                        check.as_mut().reset(activity.next_check());
                    }
                    () = &mut check => match activity.verdict() {
                        Verdict::Wait(at) => check.as_mut().reset(at),
                        Verdict::Idle if !draining => {
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                            // an idle connection closes at once; give it a moment, then force
                            check.as_mut().reset(Instant::now() + Duration::from_secs(1));
                        }
                        Verdict::Idle | Verdict::Close => {
                            tracing::debug!(client = %peer, "closing a stalled connection");
                            break;
                        }
                    },
                }
            }
            drop(closed);
        });
    }
    drop(listener);
    let _ = signal_tx.send(());
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

/// `configured`, or the default; either bounded by the file descriptors the process may open
/// (whose soft limit is first raised to the hard limit where it is lower).
fn connection_cap(configured: Option<usize>) -> usize {
    let wanted = configured.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let fds = raise_fd_limit(wanted as u64 + RESERVED_FDS);
    let bound = fds.map_or(usize::MAX, |n| {
        n.saturating_sub(RESERVED_FDS).max(16) as usize
    });
    let cap = wanted.min(bound);
    if cap < wanted {
        tracing::warn!(
            wanted,
            cap,
            "the file-descriptor limit (ulimit -n) allows fewer connections than wanted; \
             raise LimitNOFILE to serve more"
        );
    }
    cap
}

/// Raises the soft limit on open files towards `wanted` (up to the hard limit); the soft
/// limit after that, if known.
fn raise_fd_limit(wanted: u64) -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        let soft = limit.current?;
        if soft < wanted {
            let target = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
            if target > soft {
                limit.current = Some(target);
                if setrlimit(Resource::Nofile, limit).is_ok() {
                    return Some(target);
                }
            }
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    {
        let _ = wanted;
        None
    }
}

/// What a connection has been doing, for its timers: kept by its socket (reads and writes)
/// and its service (requests in flight).
struct Activity {
    epoch: Instant,
    /// milliseconds after `epoch` of the last byte read or written
    last_io: AtomicU64,
    /// milliseconds after `epoch` (plus one, so 0 means none) of the first byte of request
    /// headers not yet complete
    head_since: AtomicU64,
    in_flight: AtomicUsize,
    /// woken when a request's first byte arrives, so that its header deadline is watched
    started_head: Notify,
}

enum Verdict {
    /// nothing to do until then
    Wait(Instant),
    /// idle for too long: close gracefully
    Idle,
    /// stalled mid-request or mid-headers: close now
    Close,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            last_io: AtomicU64::new(0),
            // a new connection owes its first request's headers from the start
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            started_head: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(now + 1, Ordering::Relaxed);
            self.started_head.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn request_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    fn next_check(&self) -> Instant {
        match self.verdict() {
            Verdict::Wait(at) => at,
            _ => Instant::now(),
        }
    }

    fn verdict(&self) -> Verdict {
        let now = self.now();
        let head = HEADER_TIMEOUT.as_millis() as u64;
        let idle = IDLE_TIMEOUT.as_millis() as u64;
        let last_io = self.last_io.load(Ordering::Relaxed);
        let idle_until = last_io + idle;
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return if now >= idle_until {
                Verdict::Close
            } else {
                Verdict::Wait(self.at(idle_until))
            };
        }
        match self.head_since.load(Ordering::Relaxed) {
            0 if now >= idle_until => Verdict::Idle,
            0 => Verdict::Wait(self.at(idle_until)),
            since if now + 1 >= since + head => Verdict::Close,
            since => Verdict::Wait(self.at(since - 1 + head)),
        }
    }
}

/// The socket, noting each read and write, and holding the connection's slot until dropped
/// (after an upgrade, by the WebSocket).
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One connection's hyper service: the router, with the peer's address (`ConnectInfo`), the
/// body deadline, and the activity bookkeeping.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = InFlight::new(self.activity.clone());
        let expired = Arc::new(AtomicBool::new(false));
        let mut req = req.map(|inner| {
            Body::new(TimedBody {
                inner,
                deadline: Instant::now() + BODY_TIMEOUT,
                sleep: None,
                expired: expired.clone(),
            })
        });
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // a Router is always ready: no poll_ready needed
        let response = self.app.clone().call(req);
        Box::pin(async move {
            let _guard = guard;
            let response = match response.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if expired.load(Ordering::Relaxed) {
                return Ok(body_too_slow());
            }
            Ok(response)
        })
    }
}

/// `408`, closing the connection: what is left of the body is not worth waiting for.
fn body_too_slow() -> Response<Body> {
    let mut response = Response::new(Body::from(
        "the request body did not arrive within 10 seconds\n",
    ));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Counts a request in flight from its headers until its response is handed to hyper.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} seconds", BODY_TIMEOUT.as_secs())]
struct BodyTimeout;

/// A request body that fails once its deadline passes (and says so in `expired`).
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    /// made on the first wait only: most bodies arrive with their headers
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
