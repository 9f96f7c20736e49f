//! [`TcpManager`]: pooled TCP connections that notice a peer that went away.
//!
//! A pooled connection can die while it sits idle: the server restarts, a
//! load balancer drops it. Writing to it may still succeed, and the caller
//! learns only at the next read. `TcpManager` checks without blocking:
//!
//! - on return ([`Manager::is_broken`]): a non-blocking peek using the
//!   readiness the runtime already knows; end of stream, an error or stray
//!   bytes mark the connection broken;
//! - at checkout ([`Manager::recycle`]): the same peek as a system call on
//!   the socket, so a close that arrived while the connection was idle is
//!   seen even before the runtime has reported it; then a write of no bytes
//!   (it sends nothing), which fails on a connection whose write side its
//!   holder shut down (`AsyncWriteExt::shutdown`): the next caller could
//!   send nothing on it. Before both, a connection made on a runtime that
//!   has shut down since (a pool kept from one runtime to the next) is
//!   replaced: every read and write on it would fail.
//!
//! A request/response protocol leaves nothing unread on an idle connection,
//! so bytes waiting there mean it is out of step and it is dropped too. So
//! is a connection whose holder panicked while using it
//! ([`Meta::is_dirty`]): the reply to its last request may still be on the
//! way, and the next caller would read it as the reply to its own. (Only
//! our pool tells: on deadpool, through `deadpool::Adapter`, a connection
//! whose holder panicked comes back as clean.)
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use aqueduct_pool::Pool;
//! use aqueduct_pool::tcp::TcpManager;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let manager = TcpManager::new("127.0.0.1:7000".parse()?)
//!     .connect_timeout(Duration::from_secs(1));
//! let pool = Pool::builder(manager).max_size(8).build().await?;
//! let mut conn = pool.get().await?;
//! conn.write_all(b"ping\n").await?;
//! let mut buf = [0; 5];
//! conn.read_exact(&mut buf).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What the checks cannot see
//!
//! - A connection checked out with [`Pool::try_get`](crate::Pool::try_get),
//!   which runs no `recycle`: it is handed out as it was when it came back.
//!   A close, or bytes, that arrived while it was idle go unnoticed. Check
//!   connections out with [`Pool::get`](crate::Pool::get).
//! - A reply still on its way. A holder that gives up on a request before
//!   its reply is read (a timeout around the request, a future dropped
//!   halfway) gives back a connection that is out of step, and if the reply
//!   arrives only after the next checkout's check, the next caller reads it
//!   as the reply to its own request. Such a connection must not go back:
//!   [`discard`](crate::Pooled::discard) it. (A future dropped halfway
//!   drops its connection without a word, and the pool takes it back: keep
//!   requests that may be cancelled off pooled connections, or make them
//!   discard the connection when they are cut short.)
//! - Bytes the holder's own buffer read past the end of a reply (a
//!   `BufReader` around the connection, dropped before the guard): they are
//!   gone from the socket, and the connection looks clean. If such a
//!   buffer still holds bytes once the reply is read, discard the
//!   connection.
//! - A connection made on a current-thread runtime that is still there but
//!   no longer driven (its `block_on` returned): its reads and writes wait
//!   until that runtime runs again, if ever. Use connections on the runtime
//!   that made them, or make them on a multi-thread runtime, which drives
//!   them for as long as it lives.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use aqueduct_pool::Pool;
//! use aqueduct_pool::tcp::TcpManager;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::TcpListener;
//!
//! // A server that is slow to answer.
//! let server = TcpListener::bind("127.0.0.1:0").await?;
//! let pool = Pool::builder(TcpManager::new(server.local_addr()?)).build_lazy()?;
//! let mut conn = pool.get().await?;
//! let (_accepted, _) = server.accept().await?;
//!
//! conn.write_all(b"ping\n").await?;
//! let mut reply = [0; 5];
//! match tokio::time::timeout(Duration::from_secs(1), conn.read_exact(&mut reply)).await {
//!     Ok(read) => drop(read?),
//!     // The reply may still come: this connection is out of step for good.
//!     Err(_elapsed) => conn.discard(),
//! }
//! assert_eq!(pool.status().discarded, 1);
//! # Ok(())
//! # }
//! ```

use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;

use crate::manager::Manager;
use crate::object::Meta;

/// Why a connection could not be made or kept.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_pool::tcp::TcpError;
/// let e = TcpError::ConnectTimeout { addr: "127.0.0.1:1".parse().unwrap(), timeout: Duration::from_secs(1) };
/// assert!(e.to_string().contains("127.0.0.1:1"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// Connecting failed, or setting up the new connection did (turning
    /// on `TCP_NODELAY`).
    #[error("connecting to {addr} failed")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {addr} took longer than {timeout:?}")]
    ConnectTimeout {
        /// The address dialled.
        addr: SocketAddr,
        /// The configured connect timeout.
        timeout: Duration,
    },
    /// The peer closed the connection while it was idle.
    #[error("the peer {addr} closed the connection")]
    PeerClosed {
        /// The peer.
        addr: SocketAddr,
    },
    /// Unread bytes were waiting on an idle connection.
    #[error("{addr} sent bytes to an idle connection")]
    StrayData {
        /// The peer.
        addr: SocketAddr,
    },
    /// The connection's write side was shut down (by a holder, with
    /// `AsyncWriteExt::shutdown`): nothing can be sent on it any more.
    #[error("the connection to {addr} can no longer send: its write side was shut down")]
    WriteClosed {
        /// The peer.
        addr: SocketAddr,
    },
    /// The connection's last holder panicked while using it
    /// ([`Meta::is_dirty`]): where it stands in the protocol is unknown.
    #[error("the last holder of the connection to {addr} panicked while using it")]
    Abandoned {
        /// The peer.
        addr: SocketAddr,
    },
    /// The connection was made on a tokio runtime that has shut down since:
    /// a connection belongs to the runtime it was made on, whose I/O driver
    /// reports its readiness, and once that runtime is gone every read and
    /// write on it fails.
    #[error("the connection to {addr} was made on a runtime that has shut down")]
    RuntimeGone {
        /// The peer.
        addr: SocketAddr,
    },
    /// Checking the connection failed.
    #[error("checking the connection to {addr} failed")]
    Io {
        /// The peer.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Makes TCP connections to one address and drops those whose peer is gone.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_pool::tcp::TcpManager;
/// let m = TcpManager::new("127.0.0.1:7000".parse().unwrap())
///     .connect_timeout(Duration::from_millis(500))
///     .nodelay(true);
/// assert_eq!(m.addr().port(), 7000);
/// ```
#[derive(Debug, Clone)]
pub struct TcpManager {
    addr: SocketAddr,
    connect_timeout: Duration,
    nodelay: bool,
}

impl TcpManager {
    /// Connections to `addr`, with a 5 s connect timeout and `TCP_NODELAY` on.
    ///
    /// ```
    /// let m = aqueduct_pool::tcp::TcpManager::new("[::1]:80".parse().unwrap());
    /// assert!(m.addr().is_ipv6());
    /// ```
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connect_timeout: Duration::from_secs(5),
            nodelay: true,
        }
    }

    /// How long one connect may take (default 5 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let m = aqueduct_pool::tcp::TcpManager::new("127.0.0.1:1".parse().unwrap())
    ///     .connect_timeout(Duration::from_secs(1));
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whether to set `TCP_NODELAY` on new connections (default `true`).
    ///
    /// ```
    /// let m = aqueduct_pool::tcp::TcpManager::new("127.0.0.1:1".parse().unwrap()).nodelay(false);
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// The address connected to.
    ///
    /// ```
    /// let m = aqueduct_pool::tcp::TcpManager::new("127.0.0.1:9".parse().unwrap());
    /// assert_eq!(m.addr().port(), 9);
    /// ```
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What a peek on an idle connection found.
enum Health {
    Idle,
    Closed,
    Stray,
    Failed(io::Error),
}

fn health_of(peeked: io::Result<usize>) -> Health {
    match peeked {
        Ok(0) => Health::Closed,
        Ok(_) => Health::Stray,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Health::Idle,
        Err(e) => Health::Failed(e),
    }
}

/// A non-blocking peek on the socket itself: a real system call,
/// independent of the readiness the runtime has seen so far. It borrows the
/// socket's handle rather than duplicating it, so it needs no spare file
/// descriptor: a process that ran out of them must not take that for a
/// broken connection.
fn probe(stream: &TcpStream) -> Health {
    // The stream is non-blocking, so the peek returns at once.
    health_of(SockRef::from(stream).peek(&mut [MaybeUninit::uninit()]))
}

/// Polls `f` once, with a waker that does nothing (nothing waits on the
/// answer), and outside the task's cooperative budget: tokio's readiness
/// checks spend it, and with none left they answer `Pending` without
/// looking. So a holder that used its budget up just before giving a
/// connection back would have a dead one kept.
fn look_now<T>(f: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(tokio::task::unconstrained(poll_fn(f))).poll(&mut cx)
}

/// Whether the runtime the connection was made on has shut down: its I/O
/// driver then answers every readiness check with an error. A look at the
/// readiness on record, with no system call.
fn runtime_gone(stream: &TcpStream) -> bool {
    matches!(
        look_now(|cx| stream.poll_read_ready(cx)),
        Poll::Ready(Err(_))
    )
}

/// Whether the connection can still send: a write of no bytes sends
/// nothing on a healthy connection, and fails (`EPIPE`) on one whose write
/// side was shut down. It goes through the stream's own write, as the
/// caller's writes do, so it raises no `SIGPIPE` where they raise none.
/// Without write readiness on record, tokio makes no system call and the
/// answer is `WouldBlock`: taken as healthy.
fn can_send(stream: &TcpStream) -> io::Result<()> {
    match stream.try_write(&[]) {
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
        _ => Ok(()),
    }
}

impl Manager for TcpManager {
    type Object = TcpStream;
    type Error = TcpError;

    async fn create(&self) -> Result<TcpStream, TcpError> {
        let addr = self.addr;
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| TcpError::ConnectTimeout {
                addr,
                timeout: self.connect_timeout,
            })?
            .map_err(|source| TcpError::Connect { addr, source })?;
        if self.nodelay {
            stream
                .set_nodelay(true)
                .map_err(|source| TcpError::Connect { addr, source })?;
        }
        Ok(stream)
    }

    async fn recycle(&self, stream: &mut TcpStream, meta: &Meta) -> Result<(), TcpError> {
        let addr = self.addr;
        if meta.is_dirty() {
            return Err(TcpError::Abandoned { addr });
        }
        if runtime_gone(stream) {
            return Err(TcpError::RuntimeGone { addr });
        }
        match probe(stream) {
            Health::Idle => {}
            Health::Closed => return Err(TcpError::PeerClosed { addr }),
            Health::Stray => return Err(TcpError::StrayData { addr }),
            Health::Failed(source) => return Err(TcpError::Io { addr, source }),
        }
        match can_send(stream) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(TcpError::WriteClosed { addr }),
            Err(source) => Err(TcpError::Io { addr, source }),
        }
    }

    fn is_broken(&self, stream: &TcpStream) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        match look_now(|cx| stream.poll_peek(cx, &mut buf)) {
            Poll::Pending => false,
            Poll::Ready(r) => !matches!(health_of(r), Health::Idle),
        }
    }
}
