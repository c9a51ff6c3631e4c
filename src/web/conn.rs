//! Serving HTTP/1.1 to clients that may be hostile: the accept loop of the dashboard and of
//! head office.
//!
//! - Timeouts: a client has [`ConnLimits::header_timeout`] to send a request's headers,
//!   from its first byte or from the end of its previous request (so an idle keep-alive
//!   connection closes too), and [`ConnLimits::handshake_timeout`] for a TLS handshake.
//! - A cap on connections, derived from the process's descriptor limit so that the
//!   station's own work (store, evidence images, status file, serial ports) always keeps
//!   [`ConnLimits::fd_reserve`] descriptors no client can take.
//! - At the cap, a connection is closed to make room: first the oldest that has not sent a
//!   byte (a real client sends its request as soon as it connects), else the one quiet
//!   longest (no bytes either way for a moment, or no request head after a couple of
//!   seconds). So a flood of idle connections, even one that reconnects as fast as it can,
//!   cannot keep a real request out; when every connection is busy, a newcomer gets a plain
//!   `503` and is closed at once.
//! - Each request carries the peer address as [`ConnectInfo`], and [`Tls`] says whether
//!   the connection is encrypted.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Descriptors the station keeps for itself whatever clients do.
pub const FD_RESERVE: u64 = 256;

/// How connections are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most client connections at once (lowered to fit the descriptor limit).
    pub max_connections: usize,
    /// Time to send a request's headers (and the longest a connection may sit idle).
    pub header_timeout: Duration,
    /// Time for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Descriptors never given to clients.
    pub fd_reserve: u64,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            fd_reserve: FD_RESERVE,
        }
    }
}

/// Whether a request came over TLS (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls(pub bool);

/// Connection counters, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Newcomers answered 503 because every connection was busy.
    pub refused: AtomicU64,
    /// Quiet connections closed to make room for a newcomer.
    pub evicted: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits` (Linux).
pub fn nofile_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// The connection cap for a descriptor limit: the configured one, lowered so that
/// `reserve` descriptors stay with the station (and never under 8).
pub fn connection_cap(configured: usize, nofile: Option<u64>, reserve: u64) -> usize {
    let by_fds = nofile.map_or(u64::MAX, |n| n.saturating_sub(reserve));
    let cap = u64::try_from(configured).unwrap_or(u64::MAX).min(by_fds);
    usize::try_from(cap).unwrap_or(usize::MAX).max(8)
}

/// What the table knows of one connection.
struct Slot {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_ms: AtomicU64,
    /// Requests whose head arrived.
    requests: AtomicU64,
    /// Whether the client has sent anything.
    spoke: std::sync::atomic::AtomicBool,
    evict: Notify,
}

impl Slot {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A connection with no bytes either way for this long may be closed to make room.
const QUIET: Duration = Duration::from_millis(250);
/// A connection that has not finished a request's headers in this long may be too.
const SLOW_START: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Table {
    next: u64,
    slots: HashMap<u64, Arc<Slot>>,
}

impl Table {
    /// The connection to close to make room at `now`, if any: the oldest that never sent
    /// a byte, else the one quiet longest.
    fn victim(&self, now: Instant) -> Option<u64> {
        let silent = self
            .slots
            .iter()
            .filter(|(_, s)| !s.spoke.load(Ordering::Relaxed))
            .min_by_key(|(_, s)| s.opened);
        if let Some((id, _)) = silent {
            return Some(*id);
        }
        self.slots
            .iter()
            .filter(|(_, s)| {
                let last = s.last();
                now.saturating_duration_since(last) >= QUIET
                    || (s.requests.load(Ordering::Relaxed) == 0
                        && now.saturating_duration_since(s.opened) >= SLOW_START)
            })
            .min_by_key(|(_, s)| s.last())
            .map(|(id, _)| *id)
    }
}

/// Bytes in and out mark the connection as active.
struct Tracked<T> {
    inner: T,
    slot: Arc<Slot>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.slot.touch();
            self.slot.spoke.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.slot.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 5\r\n\
connection: close\r\n\
content-length: 75\r\n\r\n\
{\"error\":\"the server has too many connections open; try again in a moment\"}";

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish (for a few seconds at most).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let nofile = nofile_limit();
    let cap = connection_cap(limits.max_connections, nofile, limits.fd_reserve);
    if cap < limits.max_connections {
        tracing::warn!(
            max_connections = cap,
            nofile = nofile.unwrap_or(0),
            reserve = limits.fd_reserve,
            "the descriptor limit is low, so fewer client connections are allowed; raise LimitNOFILE"
        );
    }
    let table = Arc::new(Mutex::new(Table::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let service = TowerToHyperService::new(router);
    let mut accept_error_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or an aborted handshake: wait a
                    // moment rather than spin.
                    if !accept_error_logged {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        accept_error_logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        accept_error_logged = false;
        let now = Instant::now();
        let slot = {
            let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
            if t.slots.len() >= cap {
                match t.victim(now) {
                    Some(id) => {
                        if let Some(s) = t.slots.remove(&id) {
                            s.evict.notify_one();
                        }
                        stats.evicted.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        drop(t);
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        if tls.is_none() {
                            // A fresh socket's send buffer takes this without blocking.
                            let _ = stream.try_write(BUSY);
                        }
                        tracing::debug!(%peer, "connection refused: all busy");
                        continue;
                    }
                }
            }
            let slot = Arc::new(Slot {
                opened: now,
                last_ms: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                spoke: std::sync::atomic::AtomicBool::new(false),
                evict: Notify::new(),
            });
            t.next += 1;
            let id = t.next;
            t.slots.insert(id, slot.clone());
            (id, slot)
        };
        let (id, slot) = slot;
        let _ = stream.set_nodelay(true);
        let io = Tracked {
            inner: stream,
            slot: slot.clone(),
        };
        let conn = Connection {
            service: service.clone(),
            peer,
            slot,
            limits,
            stop: stop_rx.clone(),
        };
        let table = table.clone();
        let stats = stats.clone();
        let tls = tls.clone();
        stats.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            match tls {
                None => conn.drive(io, false).await,
                Some(acceptor) => {
                    let slot = conn.slot.clone();
                    let hs = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(io));
                    let stream = tokio::select! {
                        r = hs => r.ok().and_then(Result::ok),
                        () = slot.evict.notified() => None,
                    };
                    if let Some(s) = stream {
                        conn.drive(s, true).await;
                    }
                }
            }
            table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .slots
                .remove(&id);
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.open.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Connection {
    service: TowerToHyperService<Router>,
    peer: SocketAddr,
    slot: Arc<Slot>,
    limits: ConnLimits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn drive<I>(mut self, io: I, tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (peer, slot, service) = (self.peer, self.slot.clone(), self.service.clone());
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            slot.requests.fetch_add(1, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(Tls(tls));
            hyper::service::Service::call(&service, req)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(64 * 1024)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(io), svc);
        let mut conn = std::pin::pin!(conn);
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                () = self.slot.evict.notified() => break,
                r = self.stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    if r.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve() {
        assert_eq!(connection_cap(128, Some(1024), 256), 128);
        assert_eq!(connection_cap(1000, Some(1024), 256), 768);
        assert_eq!(connection_cap(1000, Some(200), 256), 8);
        assert_eq!(connection_cap(128, None, 256), 128);
        assert_eq!(connection_cap(128, Some(u64::MAX), 256), 128);
    }

    #[test]
    fn this_process_has_a_descriptor_limit() {
        assert!(nofile_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn the_victim_is_the_quietest_idle_connection() {
        let now = Instant::now();
        let slot = |opened_ago: u64, last_after_open: u64, requests: u64| {
            Arc::new(Slot {
                opened: now - Duration::from_millis(opened_ago),
                last_ms: AtomicU64::new(last_after_open),
                requests: AtomicU64::new(requests),
                spoke: std::sync::atomic::AtomicBool::new(last_after_open > 0),
                evict: Notify::new(),
            })
        };
        let mut t = Table::default();
        // Busy: bytes 100 ms ago.
        t.slots.insert(1, slot(5_000, 4_900, 3));
        assert_eq!(t.victim(now), None);
        // Silent ones go first, oldest first, however young.
        t.slots.insert(2, slot(100, 0, 0));
        t.slots.insert(6, slot(50, 0, 0));
        assert_eq!(t.victim(now), Some(2));
        t.slots.remove(&2);
        t.slots.remove(&6);
        // Quiet for a second after its requests.
        t.slots.insert(3, slot(5_000, 4_000, 1));
        // Quiet for three seconds.
        t.slots.insert(4, slot(5_000, 2_000, 1));
        assert_eq!(t.victim(now), Some(4));
        // Trickling bytes but no request head in 3 s (slowloris).
        let mut t = Table::default();
        t.slots.insert(5, slot(3_000, 2_950, 0));
        assert_eq!(t.victim(now), Some(5));
    }
}
