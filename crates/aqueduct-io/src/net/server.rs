//! [`Server`]: accept loop, connection limit, idle timeout, graceful shutdown.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::connection::Activity;
use super::{Connection, Listener, NetError, Socket};
use crate::{Shutdown, ShutdownReport};

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
    /// Handlers that returned an error.
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

    /// Closes a connection that has sent nothing for `timeout` (default
    /// 5 minutes). The handler is dropped at its current `.await`.
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
/// - **Idle timeout**: a connection that sends nothing for
///   [`idle_timeout`](ServerBuilder::idle_timeout) is closed, whatever its
///   handler is awaiting. It costs one timer per connection and a clock read
///   per read that returns data; no background task.
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
    /// for each connection. A handler's `Err` is counted in
    /// [`ServerStats::failed`] and ends that connection only.
    ///
    /// Dropping the returned handle stops accepting and signals the
    /// handlers, without waiting; call [`ServerHandle::shutdown`] to wait.
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
        let shutdown = Shutdown::new();
        let grace = self.config.shutdown_grace;
        let counters = Arc::new(Counters::default());
        let acceptor = tokio::spawn(accept_loop(
            self,
            handler,
            shutdown.clone(),
            Arc::clone(&counters),
        ));
        ServerHandle {
            local_addr,
            counters,
            shutdown,
            acceptor: Mutex::new(Some(acceptor)),
            grace,
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Holds the connection's slot and counts it active while alive.
struct Slot {
    counters: Arc<Counters>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counters.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop<L, H, F, E>(
    server: Server<L>,
    handler: H,
    shutdown: Shutdown,
    counters: Arc<Counters>,
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
    let token = shutdown.token();
    let mut backoff = BACKOFF_MIN;
    loop {
        // Under `Wait`, take the slot first so excess connections stay in
        // the backlog instead of being accepted and parked.
        let reserved = if config.on_limit == LimitPolicy::Wait {
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                p = Arc::clone(&limit).acquire_owned() => match p {
                    Ok(p) => Some(p),
                    Err(_) => return,
                },
            }
        } else {
            None
        };
        let accepted = tokio::select! {
            biased;
            () = token.cancelled() => return,
            r = poll_fn(|cx| listener.poll_accept(cx)) => r,
        };
        let (io, peer) = match accepted {
            Ok(pair) => {
                backoff = BACKOFF_MIN;
                pair
            }
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "tracing")]
                tracing::warn!(error = %e, backoff = ?backoff, "accept failed; backing off");
                let _ = e;
                tokio::select! {
                    biased;
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let permit = match reserved {
            Some(p) => p,
            None => match Arc::clone(&limit).try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    #[cfg(feature = "tracing")]
                    tracing::debug!(?peer, "connection refused at the limit");
                    if let LimitPolicy::Refuse(reply) = &config.on_limit {
                        if !reply.is_empty() {
                            let _ = io.try_write(reply);
                        }
                    }
                    continue;
                }
            },
        };
        let active = counters.active.fetch_add(1, Ordering::Relaxed) + 1;
        counters.peak_active.fetch_max(active, Ordering::Relaxed);
        let slot = Slot {
            counters: Arc::clone(&counters),
            _permit: permit,
        };
        let activity = config.idle_timeout.map(|_| Arc::new(Activity::new()));
        let conn = Connection::new(io, peer, token.clone(), activity.clone());
        let fut = handler(conn);
        shutdown.spawn(run_connection(fut, slot, config.idle_timeout, activity));
    }
}

/// One connection's task: the handler, raced against its idle deadline.
async fn run_connection<F, E>(
    fut: F,
    slot: Slot,
    idle: Option<Duration>,
    activity: Option<Arc<Activity>>,
) where
    F: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    let result = match (idle, activity) {
        (Some(idle), Some(activity)) => {
            tokio::pin!(fut);
            let sleep = tokio::time::sleep_until(activity.base + idle);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    biased;
                    r = &mut fut => break Some(r),
                    () = &mut sleep => {
                        let deadline = activity.last() + idle;
                        if deadline <= tokio::time::Instant::now() {
                            break None;
                        }
                        sleep.as_mut().reset(deadline);
                    }
                }
            }
        }
        _ => Some(fut.await),
    };
    match result {
        None => {
            slot.counters.closed_idle.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "tracing")]
            tracing::debug!("connection closed after idle timeout");
        }
        Some(Err(e)) => {
            slot.counters.failed.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "tracing")]
            tracing::debug!(error = %e, "connection handler failed");
            let _ = e;
        }
        Some(Ok(())) => {}
    }
    drop(slot);
}

/// Controls a running [`Server`]: its address, counters and shutdown.
pub struct ServerHandle<A> {
    local_addr: A,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    acceptor: Mutex<Option<JoinHandle<()>>>,
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
        let c = &self.counters;
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
        self.shutdown.token()
    }

    /// Shuts down gracefully: stops accepting (the listener is closed when
    /// this returns), signals every handler's token, waits up to the
    /// configured grace period for the connections in flight, drops those
    /// still running, and reports how many finished and how many were
    /// aborted.
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
        self.shutdown.trigger();
        let acceptor = self
            .acceptor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(acceptor) = acceptor {
            let _ = acceptor.await;
        }
        self.shutdown.shutdown(self.grace).await
    }
}

impl<A> Drop for ServerHandle<A> {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
