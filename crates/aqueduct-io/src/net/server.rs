//! [`Server`]: accept loop, connection limit, idle timeout, graceful shutdown.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::connection::{Clock, ConnShared};
use super::signal::{ABORT, IDLE};
use super::{Connection, Listener, NetError, Socket};
use crate::ShutdownReport;
use crate::shutdown::Drain;

/// What the server does with a connection beyond
/// [`max_connections`](ServerBuilder::max_connections).
///
/// ```
/// use aqueduct_io::net::LimitPolicy;
/// let busy = LimitPolicy::Refuse(bytes::Bytes::from_static(b"503 busy\r\n"));
/// assert_ne!(busy, LimitPolicy::Wait);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LimitPolicy {
    /// Stop accepting until a slot frees up: new connections wait in the
    /// kernel's listen backlog. The default.
    #[default]
    Wait,
    /// Accept, write this reply if the socket takes it at once (an empty
    /// reply writes nothing), and close.
    Refuse(Bytes),
}

/// Counters of a running [`Server`], from [`ServerHandle::stats`].
///
/// ```
/// let s = aqueduct_io::net::ServerStats::default();
/// assert_eq!(s.active, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections accepted (including refused ones).
    pub accepted: u64,
    /// Connections whose handler is running now.
    pub active: u64,
    /// The most connections active at once.
    pub peak_active: u64,
    /// Connections refused at the limit ([`LimitPolicy::Refuse`]).
    pub refused: u64,
    /// Connections closed by the idle timeout.
    pub closed_idle: u64,
    /// Handlers that returned an error or panicked (making their future or
    /// running it).
    pub failed: u64,
    /// Accept errors (such as `EMFILE`) after which the server backed off.
    pub accept_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    active: AtomicU64,
    peak_active: AtomicU64,
    refused: AtomicU64,
    closed_idle: AtomicU64,
    failed: AtomicU64,
    accept_errors: AtomicU64,
}

/// Configures a [`Server`]; made by [`Server::builder`].
///
/// ```
/// use std::time::Duration;
/// let builder = aqueduct_io::net::Server::builder()
///     .max_connections(10_000)
///     .idle_timeout(Duration::from_secs(60))
///     .shutdown_grace(Duration::from_secs(10));
/// assert_eq!(builder.get_max_connections(), 10_000);
/// ```
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    max_connections: usize,
    on_limit: LimitPolicy,
    idle_timeout: Option<Duration>,
    shutdown_grace: Duration,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            on_limit: LimitPolicy::Wait,
            idle_timeout: Some(Duration::from_secs(300)),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ServerBuilder {
    /// The most connections handled at once (default 10,000; at least 1).
    ///
    /// ```
    /// let b = aqueduct_io::net::Server::builder().max_connections(0);
    /// assert_eq!(b.get_max_connections(), 1);
    /// ```
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// The configured connection limit.
    ///
    /// ```
    /// assert_eq!(aqueduct_io::net::Server::builder().get_max_connections(), 10_000);
    /// ```
    #[must_use]
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// What happens to connections beyond the limit (default
    /// [`LimitPolicy::Wait`]).
    ///
    /// ```
    /// use aqueduct_io::net::{LimitPolicy, Server};
    /// let b = Server::builder().on_limit(LimitPolicy::Refuse("busy\n".into()));
    /// # drop(b);
    /// ```
    #[must_use]
    pub fn on_limit(mut self, policy: LimitPolicy) -> Self {
        self.on_limit = policy;
        self
    }

    /// Closes a connection on which no bytes have moved for `timeout`
    /// (default 5 minutes): none read from the peer and none written to it
    /// through its [`Connection`]. It is closed between `timeout` and
    /// `timeout * 17/16` after its last byte either way, since the accept
    /// loop checks all connections every `timeout / 16`. The handler is
    /// dropped at its current `.await`.
    ///
    /// So a handler that streams a long response to a peer that sends
    /// nothing (a download) is not idle while its writes go through; one
    /// whose write waits because the peer stopped reading is.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = aqueduct_io::net::Server::builder().idle_timeout(Duration::from_secs(30));
    /// # drop(b);
    /// ```
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Never closes a connection for being idle.
    ///
    /// ```
    /// let b = aqueduct_io::net::Server::builder().no_idle_timeout();
    /// # drop(b);
    /// ```
    #[must_use]
    pub fn no_idle_timeout(mut self) -> Self {
        self.idle_timeout = None;
        self
    }

    /// How long [`ServerHandle::shutdown`] waits for in-flight connections
    /// before dropping them (default 30 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = aqueduct_io::net::Server::builder().shutdown_grace(Duration::from_secs(5));
    /// # drop(b);
    /// ```
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Binds a TCP listener.
    ///
    /// # Errors
    ///
    /// [`NetError::Bind`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = aqueduct_io::net::Server::builder().bind("127.0.0.1:0").await.unwrap();
    /// assert!(server.local_addr().unwrap().port() > 0);
    /// # }
    /// ```
    pub async fn bind<A: ToSocketAddrs + fmt::Debug>(
        self,
        addr: A,
    ) -> Result<Server<TcpListener>, NetError> {
        let name = format!("{addr:?}").trim_matches('"').to_owned();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| NetError::Bind { addr: name, source })?;
        Ok(self.listener(listener))
    }

    /// Binds a Unix socket listener at `path`.
    ///
    /// # Errors
    ///
    /// [`NetError::Bind`] (for instance if the path exists).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let dir = tempfile::tempdir().unwrap();
    /// let server = aqueduct_io::net::Server::builder().bind_unix(dir.path().join("s.sock")).unwrap();
    /// # drop(server);
    /// # }
    /// ```
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn bind_unix(
        self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<Server<tokio::net::UnixListener>, NetError> {
        let path = path.as_ref();
        let listener = tokio::net::UnixListener::bind(path).map_err(|source| NetError::Bind {
            addr: path.display().to_string(),
            source,
        })?;
        Ok(self.listener(listener))
    }

    /// Serves on an existing listener.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server = aqueduct_io::net::Server::builder().listener(l);
    /// # drop(server);
    /// # }
    /// ```
    pub fn listener<L: Listener>(self, listener: L) -> Server<L> {
        Server {
            config: self,
            listener,
        }
    }
}

/// A server for TCP or Unix sockets: a bounded, observable accept loop that
/// runs one async handler per connection and shuts down gracefully.
///
/// - **Limit**: at most [`max_connections`](ServerBuilder::max_connections)
///   handlers run at once; beyond that the server waits (connections queue
///   in the listen backlog) or refuses with a reply ([`LimitPolicy`]).
/// - **Idle timeout**: a connection on which no bytes move, either way, for
///   [`idle_timeout`](ServerBuilder::idle_timeout) is closed, whatever its
///   handler is awaiting. No timer per connection and no extra task: the
///   accept loop sweeps the connections every `idle_timeout / 16`, and a
///   read that returns data or a write the socket takes costs two relaxed
///   atomic operations.
/// - **Accept errors** such as `EMFILE` (out of file descriptors) back off
///   (5 ms doubling to 1 s) and the loop continues; aborted handshakes are
///   skipped at once.
/// - **Shutdown**: [`ServerHandle::shutdown`] stops accepting, signals each
///   handler's [`shutdown_token`](Connection::shutdown_token), waits up to
///   [`shutdown_grace`](ServerBuilder::shutdown_grace), drops the rest and
///   reports.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_io::net::{self, Server};
///
/// let handle = Server::builder().bind("127.0.0.1:0").await.unwrap().serve(net::echo);
/// let _client = net::tcp::connect(handle.local_addr(), Duration::from_secs(1)).await.unwrap();
/// while handle.stats().active == 0 { tokio::task::yield_now().await }
/// // The idle echo connection ends as soon as shutdown is signalled.
/// let report = handle.shutdown().await;
/// assert_eq!((report.in_flight, report.finished, report.aborted), (1, 1, 0));
/// # }
/// ```
#[derive(Debug)]
pub struct Server<L> {
    config: ServerBuilder,
    listener: L,
}

impl Server<TcpListener> {
    /// A builder with the defaults: 10,000 connections, wait at the limit,
    /// 5 minutes idle timeout, 30 s shutdown grace.
    ///
    /// ```
    /// let b = aqueduct_io::net::Server::builder();
    /// assert_eq!(b.get_max_connections(), 10_000);
    /// ```
    #[must_use]
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

impl<L: Listener> Server<L> {
    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = aqueduct_io::net::Server::builder().bind("127.0.0.1:0").await.unwrap();
    /// assert!(server.local_addr().unwrap().ip().is_loopback());
    /// # }
    /// ```
    pub fn local_addr(&self) -> io::Result<L::Addr> {
        self.listener.local_addr()
    }

    /// Starts serving: spawns the accept loop, which spawns `handler(conn)`
    /// for each connection. A handler's `Err` or panic is counted in
    /// [`ServerStats::failed`] and ends that connection only.
    ///
    /// Dropping the returned handle stops accepting and signals the
    /// handlers, without waiting (the idle timeout keeps closing silent
    /// connections until none is left); call [`ServerHandle::shutdown`] to
    /// wait.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, or if the listener has no local address.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use aqueduct_io::net::{Connection, Server};
    /// use tokio::io::AsyncWriteExt;
    /// let handle = Server::builder().bind("127.0.0.1:0").await.unwrap().serve(
    ///     |mut conn: Connection<tokio::net::TcpStream>| async move { conn.write_all(b"hello\n").await },
    /// );
    /// # drop(handle);
    /// # }
    /// ```
    pub fn serve<H, F, E>(self, handler: H) -> ServerHandle<L::Addr>
    where
        H: Fn(Connection<L::Io>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        #[allow(clippy::expect_used)]
        let local_addr = self
            .listener
            .local_addr()
            .expect("the listener has a local address");
        let grace = self.config.shutdown_grace;
        let shared = Arc::new(Shared::new());
        // Dropped when the accept loop ends (or its task is dropped unrun).
        let stopped = shared.stopped.clone().drop_guard();
        tokio::spawn(accept_loop(self, handler, Arc::clone(&shared), stopped));
        ServerHandle {
            local_addr,
            shared,
            grace,
        }
    }
}

/// State shared by the accept loop, the connection tasks and the handle.
#[derive(Debug)]
struct Shared {
    counters: Counters,
    clock: Arc<Clock>,
    /// Every live connection, so the server can close idle ones, wake them
    /// all at shutdown, and drop the rest after the grace period. Locked on
    /// accept, on each idle sweep and at shutdown; never by a connection.
    conns: Mutex<Vec<Weak<ConnShared>>>,
    token: CancellationToken,
    /// Cancelled once the accept loop has ended and closed its listener.
    stopped: CancellationToken,
    drain: Drain,
    /// Set when the handle is dropped without a shutdown: no grace period
    /// will end the connections, so the accept loop, its listener closed,
    /// keeps closing idle ones until none is left.
    detached: AtomicBool,
}

impl Shared {
    fn new() -> Self {
        Self {
            counters: Counters::default(),
            clock: Arc::new(Clock::default()),
            conns: Mutex::new(Vec::new()),
            token: CancellationToken::new(),
            stopped: CancellationToken::new(),
            drain: Drain::new(),
            detached: AtomicBool::new(false),
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<Weak<ConnShared>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn for_each_live(&self, mut f: impl FnMut(&ConnShared)) {
        self.conns().retain(|weak| match weak.upgrade() {
            Some(conn) => {
                f(&conn);
                true
            }
            None => false,
        });
    }
}

/// The idle timeout is checked this many times per timeout period: a
/// connection is closed between `idle_timeout` and `idle_timeout * 17/16`
/// after its last byte read or written.
const IDLE_TICKS: u32 = 16;

/// An accept error that belongs to one pending connection, not to the
/// listener: accepting again at once is right. Besides an aborted or reset
/// handshake, accept(2) on Linux passes on the network errors of the
/// connection it dequeued (`ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`,
/// `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`) and asks callers to
/// treat them as `EAGAIN`.
fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted
            | K::ConnectionReset
            | K::Interrupted
            | K::NetworkDown
            | K::NetworkUnreachable
            | K::HostUnreachable
    ) {
        return true;
    }
    // The ones with no `ErrorKind` of their own: EPROTO, ENOPROTOOPT,
    // EHOSTDOWN, ENONET, EOPNOTSUPP.
    cfg!(target_os = "linux") && matches!(e.raw_os_error(), Some(71 | 92 | 112 | 64 | 95))
}

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Holds the connection's slot and counts it active while alive.
struct Slot {
    server: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
    /// Set once the task has counted how it ended; a task that ends
    /// otherwise (aborted by the shutdown, panicked, or dropped by the
    /// runtime) counts as aborted here if a shutdown is under way.
    ended: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.server.counters.active.fetch_sub(1, Ordering::Relaxed);
        if !self.ended && self.server.token.is_cancelled() {
            self.server.drain.count_aborted();
        }
    }
}

/// One idle-sweep tick: advance the clock, flag connections silent for more
/// than `IDLE_TICKS` ticks, forget closed ones.
fn sweep(shared: &Shared) {
    let epoch = shared.clock.epoch.fetch_add(1, Ordering::Relaxed) + 1;
    shared.for_each_live(|conn| {
        let silent = epoch.saturating_sub(conn.last_epoch.load(Ordering::Relaxed));
        if silent > u64::from(IDLE_TICKS) && conn.signal.raised() == 0 {
            conn.signal.raise(IDLE);
        }
    });
}

async fn accept_loop<L, H, F, E>(
    server: Server<L>,
    handler: H,
    shared: Arc<Shared>,
    _stopped: DropGuard,
) where
    L: Listener,
    H: Fn(Connection<L::Io>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let Server {
        config,
        mut listener,
    } = server;
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let token = shared.token.clone();
    let tick = config
        .idle_timeout
        .map(|d| (d / IDLE_TICKS).max(Duration::from_millis(1)));
    let mut sweeper = tokio::time::interval(tick.unwrap_or(Duration::from_secs(3600)));
    sweeper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweeper.reset();
    let idle = tick.is_some();
    let mut backoff = BACKOFF_MIN;
    let mut reserved: Option<OwnedSemaphorePermit> = None;
    loop {
        // Under `Wait`, take the slot first so excess connections stay in
        // the backlog instead of being accepted and parked.
        if config.on_limit == LimitPolicy::Wait && reserved.is_none() {
            tokio::select! {
                biased;
                () = token.cancelled() => break,
                _ = sweeper.tick(), if idle => {
                    sweep(&shared);
                    continue;
                }
                p = Arc::clone(&limit).acquire_owned() => match p {
                    Ok(p) => reserved = Some(p),
                    Err(_) => break,
                },
            }
        }
        let accepted = tokio::select! {
            biased;
            () = token.cancelled() => break,
            _ = sweeper.tick(), if idle => {
                sweep(&shared);
                continue;
            }
            r = poll_fn(|cx| listener.poll_accept(cx)) => r,
        };
        let io = match accepted {
            Ok((io, _peer)) => {
                backoff = BACKOFF_MIN;
                io
            }
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                shared
                    .counters
                    .accept_errors
                    .fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "tracing")]
                tracing::warn!(error = %e, backoff = ?backoff, "accept failed; backing off");
                let _ = e;
                tokio::select! {
                    biased;
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let permit = match reserved.take() {
            Some(p) => p,
            None => {
                if let Ok(p) = Arc::clone(&limit).try_acquire_owned() {
                    p
                } else {
                    shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                    #[cfg(feature = "tracing")]
                    tracing::debug!("connection refused at the limit");
                    if let LimitPolicy::Refuse(reply) = &config.on_limit {
                        if !reply.is_empty() {
                            let _ = io.try_write(reply);
                        }
                    }
                    // Read what already arrived: closing a socket with unread
                    // input resets it, and the peer could lose the reply.
                    let mut sink = [0u8; 1024];
                    let _ = io.try_read(&mut sink);
                    continue;
                }
            }
        };
        let active = shared.counters.active.fetch_add(1, Ordering::Relaxed) + 1;
        shared
            .counters
            .peak_active
            .fetch_max(active, Ordering::Relaxed);
        let conn_shared = Arc::new(ConnShared::new(Arc::clone(&shared.clock)));
        {
            let mut conns = shared.conns();
            if conns.len() == conns.capacity() {
                conns.retain(|w| w.strong_count() > 0);
            }
            conns.push(Arc::downgrade(&conn_shared));
        }
        let conn = Connection::new(io, token.clone(), idle.then(|| Arc::clone(&conn_shared)));
        let mut slot = Slot {
            server: Arc::clone(&shared),
            _permit: permit,
            ended: false,
        };
        // A handler that panics before returning its future fails this
        // connection only: the accept loop goes on serving the others.
        let Ok(handler) = std::panic::catch_unwind(AssertUnwindSafe(|| handler(conn))) else {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            slot.ended = true;
            continue;
        };
        shared.drain.tracker.spawn(ConnTask {
            handler,
            conn: conn_shared,
            slot,
        });
    }
    drop(listener);
    if idle && shared.detached.load(Ordering::Acquire) {
        drop(reserved);
        loop {
            sweeper.tick().await;
            sweep(&shared);
            if shared.conns().is_empty() {
                return;
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// One connection's task: the handler, closed early if the server flags
    /// it idle or aborted. Hand-written so the handler future is stored once,
    /// inline, next to two pointers and a permit: no timer, no waiter.
    struct ConnTask<F> {
        #[pin]
        handler: F,
        conn: Arc<ConnShared>,
        slot: Slot,
    }
}

impl<F, E> Future for ConnTask<F>
where
    F: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let slot = this.slot;
        let server = &slot.server;
        // Registers the waker, then reads the flags: a flag raised after
        // the read wakes this task.
        let flags = this.conn.signal.poll_flags(cx);
        if flags & ABORT != 0 {
            // Raised only during a shutdown: the slot counts it aborted.
            return Poll::Ready(());
        }
        if flags & IDLE != 0 {
            server.counters.closed_idle.fetch_add(1, Ordering::Relaxed);
            if server.token.is_cancelled() {
                server.drain.count_finished();
            }
            #[cfg(feature = "tracing")]
            tracing::debug!("connection closed after idle timeout");
            slot.ended = true;
            return Poll::Ready(());
        }
        // A panic (already reported by the panic hook) ends this connection
        // as a failure, counted like an error, and the task with it.
        let handler = this.handler;
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => {}
            Ok(Poll::Ready(Err(e))) => {
                server.counters.failed.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "tracing")]
                tracing::debug!(error = %e, "connection handler failed");
                let _ = e;
            }
            Err(_) => {
                server.counters.failed.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "tracing")]
                tracing::debug!("connection handler panicked");
                // Cut short: during a shutdown the slot counts it aborted.
                return Poll::Ready(());
            }
        }
        if server.token.is_cancelled() {
            server.drain.count_finished();
        }
        slot.ended = true;
        Poll::Ready(())
    }
}

/// Controls a running [`Server`]: its address, counters and shutdown.
pub struct ServerHandle<A> {
    local_addr: A,
    shared: Arc<Shared>,
    grace: Duration,
}

impl<A: fmt::Debug> fmt::Debug for ServerHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<A: Clone> ServerHandle<A> {
    /// The address the server listens on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let h = aqueduct_io::net::Server::builder().bind("127.0.0.1:0").await.unwrap().serve(aqueduct_io::net::echo);
    /// assert!(h.local_addr().port() > 0);
    /// # }
    /// ```
    pub fn local_addr(&self) -> A {
        self.local_addr.clone()
    }
}

impl<A> ServerHandle<A> {
    /// A snapshot of the counters (a few relaxed atomic loads).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let h = aqueduct_io::net::Server::builder().bind("127.0.0.1:0").await.unwrap().serve(aqueduct_io::net::echo);
    /// assert_eq!(h.stats().accepted, 0);
    /// # }
    /// ```
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        ServerStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            active: c.active.load(Ordering::Relaxed),
            peak_active: c.peak_active.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            closed_idle: c.closed_idle.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            accept_errors: c.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// The token handlers see as [`Connection::shutdown_token`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let h = aqueduct_io::net::Server::builder().bind("127.0.0.1:0").await.unwrap().serve(aqueduct_io::net::echo);
    /// assert!(!h.shutdown_token().is_cancelled());
    /// # }
    /// ```
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Shuts down gracefully: stops accepting (the listener is closed when
    /// this returns), signals every handler's token and polls each
    /// connection once (so handlers such as [`echo`](super::echo) that are
    /// idle end at once), waits up to the configured grace period for the
    /// connections in flight, drops those still running, and reports how
    /// many finished and how many were aborted.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the server stopped-accepting and signalled;
    /// calling `shutdown` again waits for the rest.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let h = aqueduct_io::net::Server::builder().bind("127.0.0.1:0").await.unwrap().serve(aqueduct_io::net::echo);
    /// let report = h.shutdown().await;
    /// assert_eq!(report.in_flight, 0);
    /// # }
    /// ```
    pub async fn shutdown(&self) -> ShutdownReport {
        let start = Instant::now();
        let shared = &self.shared;
        shared.token.cancel();
        // Every call waits here, also one after an earlier call was
        // dropped while it waited.
        shared.stopped.cancelled().await;
        shared.for_each_live(|conn| conn.signal.wake());
        shared
            .drain
            .run(self.grace, start, || {
                shared.for_each_live(|conn| conn.signal.raise(ABORT));
            })
            .await
    }
}

impl<A> Drop for ServerHandle<A> {
    /// Stops accepting and signals the handlers, polling each connection
    /// once as [`shutdown`](Self::shutdown) does (so idle
    /// [`echo`](super::echo) connections end at once); the others carry on
    /// until they end, and the idle timeout still closes silent ones.
    fn drop(&mut self) {
        self.shared.detached.store(true, Ordering::Release);
        self.shared.token.cancel();
        // A task first polled after the cancel sees it; one polled before
        // was registered before it was spawned, so it is in the list now.
        self.shared.for_each_live(|conn| conn.signal.wake());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_of_one_connection_are_retried_at_once() {
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::NetworkDown,
            io::ErrorKind::HostUnreachable,
        ] {
            assert!(is_transient(&io::Error::from(kind)), "{kind:?}");
        }
        // EMFILE and ENOBUFS concern the process or the host: back off.
        for errno in [24, 105] {
            assert!(
                !is_transient(&io::Error::from_raw_os_error(errno)),
                "{errno}"
            );
        }
        // EPROTO: a handshake that went wrong.
        assert_eq!(
            is_transient(&io::Error::from_raw_os_error(71)),
            cfg!(target_os = "linux")
        );
    }

    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let (s, _) = l.accept().await.unwrap();
        let shared = Arc::new(Shared::new());
        let conn_shared = Arc::new(ConnShared::new(Arc::clone(&shared.clock)));
        let conn = Connection::new(s, shared.token.clone(), Some(Arc::clone(&conn_shared)));
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let task = ConnTask {
            handler: super::super::echo(conn),
            conn: conn_shared,
            slot: Slot {
                server: shared,
                _permit: permit,
                ended: false,
            },
        };
        // An idle echo connection's whole task state; the 8 KiB burst buffer
        // lives on the stack only while data moves.
        assert!(
            std::mem::size_of_val(&task) <= 160,
            "{}",
            std::mem::size_of_val(&task)
        );
        drop(client);
    }
}
