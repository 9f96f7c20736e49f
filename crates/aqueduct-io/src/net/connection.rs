//! The stream and listener abstractions the server runs on, and [`Connection`].

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::signal::Signal;

/// A connected stream socket: TCP or Unix. Adds buffer-free readiness to
/// `AsyncRead + AsyncWrite`, which is what lets an idle connection hold no
/// read buffer.
///
/// ```
/// fn assert_socket<S: aqueduct_io::net::Socket>() {}
/// assert_socket::<tokio::net::TcpStream>();
/// # #[cfg(unix)]
/// assert_socket::<tokio::net::UnixStream>();
/// ```
pub trait Socket: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// The peer address type.
    type Addr: Clone + fmt::Debug + Send + Sync + Unpin + 'static;

    /// Polls for read readiness (see `TcpStream::poll_read_ready`).
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads without waiting (see `TcpStream::try_read`).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no data is ready, or the socket's error.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Polls for write readiness.
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Writes without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full, or the socket's error.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The socket's error (a peer that already left, say).
    fn peer_addr(&self) -> io::Result<Self::Addr>;
}

impl Socket for tokio::net::TcpStream {
    type Addr = std::net::SocketAddr;
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_read_ready(self, cx)
    }
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Self::try_read(self, buf)
    }
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_write_ready(self, cx)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        Self::try_write(self, buf)
    }
    fn peer_addr(&self) -> io::Result<Self::Addr> {
        Self::peer_addr(self)
    }
}

#[cfg(unix)]
impl Socket for tokio::net::UnixStream {
    type Addr = tokio::net::unix::SocketAddr;
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_read_ready(self, cx)
    }
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Self::try_read(self, buf)
    }
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_write_ready(self, cx)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        Self::try_write(self, buf)
    }
    fn peer_addr(&self) -> io::Result<Self::Addr> {
        Self::peer_addr(self)
    }
}

/// A listening socket the [`Server`](super::Server) accepts from: TCP or Unix.
///
/// ```
/// fn assert_listener<L: aqueduct_io::net::Listener>() {}
/// assert_listener::<tokio::net::TcpListener>();
/// ```
pub trait Listener: Send + 'static {
    /// The accepted stream.
    type Io: Socket;
    /// The listener's own address type.
    type Addr: Clone + fmt::Debug + Send + Sync + 'static;

    /// Polls for the next connection.
    ///
    /// # Errors
    ///
    /// The accept error (`EMFILE`, `ECONNABORTED`, ...).
    #[allow(clippy::type_complexity)]
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, <Self::Io as Socket>::Addr)>>;

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, std::net::SocketAddr)>> {
        Self::poll_accept(self, cx)
    }
    fn local_addr(&self) -> io::Result<Self::Addr> {
        Self::local_addr(self)
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, Self::Addr)>> {
        Self::poll_accept(self, cx)
    }
    fn local_addr(&self) -> io::Result<Self::Addr> {
        Self::local_addr(self)
    }
}

/// Server-wide state a connection needs: the idle clock.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// Idle-sweep ticks since the server started.
    pub(crate) epoch: AtomicU64,
}

/// State shared between a connection's task, its [`Connection`] and the
/// server: when it last moved bytes, read from the peer or written to it
/// (in sweep ticks, so a read or a write costs two relaxed atomics and no
/// clock read), and the [`Signal`] through which the server closes it and
/// wakes its task.
#[derive(Debug)]
pub(crate) struct ConnShared {
    pub(crate) clock: Arc<Clock>,
    pub(crate) last_epoch: AtomicU64,
    pub(crate) signal: Signal,
}

impl ConnShared {
    pub(crate) fn new(clock: Arc<Clock>) -> Self {
        let now = clock.epoch.load(Ordering::Relaxed);
        Self {
            clock,
            last_epoch: AtomicU64::new(now),
            signal: Signal::new(),
        }
    }

    fn touch(&self) {
        self.last_epoch
            .store(self.clock.epoch.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Exempts the connection from the idle timeout: its bytes no longer
    /// pass through a [`Connection`], so the server cannot see them move.
    /// An epoch in the future reads as "never silent" to the sweep.
    fn untrack(&self) {
        self.last_epoch.store(u64::MAX, Ordering::Relaxed);
    }
}

/// One accepted connection, as a [`Server`](super::Server) handler gets it.
///
/// It reads and writes like the socket it wraps (`AsyncRead + AsyncWrite`),
/// noting for the idle timeout when bytes move either way (a read that
/// returns data, a write the socket takes), and carries the server's
/// shutdown token. Read and write through the `Connection`, not through
/// [`get_ref`](Self::get_ref) or [`get_mut`](Self::get_mut), or the server
/// will consider the connection idle.
pub struct Connection<S: Socket> {
    io: S,
    shutdown: CancellationToken,
    shared: Option<Arc<ConnShared>>,
}

impl<S: Socket + fmt::Debug> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

impl<S: Socket> Connection<S> {
    pub(crate) fn new(io: S, shutdown: CancellationToken, shared: Option<Arc<ConnShared>>) -> Self {
        Self {
            io,
            shutdown,
            shared,
        }
    }

    /// Wraps a socket outside a server (for tests and tools): no idle
    /// tracking, a token that is never signalled unless you signal it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// assert!(!conn.shutdown_token().is_cancelled());
    /// # }
    /// ```
    pub fn from_socket(io: S, shutdown: CancellationToken) -> Self {
        Self::new(io, shutdown, None)
    }

    /// The peer's address (asked of the socket: connections do not store
    /// it, to stay small).
    ///
    /// # Errors
    ///
    /// The socket's error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// assert!(conn.peer_addr().unwrap().is_unnamed());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> io::Result<S::Addr> {
        self.io.peer_addr()
    }

    /// The server's shutdown token: signalled when a graceful shutdown starts.
    /// Finish the request in hand, then return.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let token = tokio_util::sync::CancellationToken::new();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, token.clone());
    /// token.cancel();
    /// assert!(conn.is_shutting_down());
    /// # }
    /// ```
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// `true` once the server is shutting down.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// assert!(!conn.is_shutting_down());
    /// # }
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// The socket. Reading or writing through it bypasses idle tracking.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// assert!(conn.get_ref().local_addr().is_ok());
    /// # }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The socket, mutably. Reading or writing through it bypasses idle
    /// tracking.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let mut conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// let _socket: &mut tokio::net::UnixStream = conn.get_mut();
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The socket; the server stops tracking idleness for this connection:
    /// the idle timeout no longer applies to it, since its bytes no longer
    /// pass through the `Connection`. The graceful shutdown still does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// let _socket = conn.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> S {
        if let Some(shared) = &self.shared {
            shared.untrack();
        }
        self.io
    }

    /// Notes for the idle timeout that `n` bytes moved, read or written.
    fn touch(&self, n: usize) {
        if n > 0 {
            if let Some(shared) = &self.shared {
                shared.touch();
            }
        }
    }

    /// Waits until the socket is readable, holding no buffer.
    ///
    /// # Errors
    ///
    /// The socket's error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::io::AsyncWriteExt;
    /// let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// b.write_all(b"hi").await.unwrap();
    /// conn.readable().await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(conn.try_read(&mut buf).unwrap(), 2);
    /// # }
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_read_ready(cx)).await
    }

    /// Reads what is available without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if nothing is ready, or the socket's error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// let err = conn.try_read(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # }
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.io.try_read(buf)?;
        self.touch(n);
        Ok(n)
    }

    /// Waits until the socket is writable.
    ///
    /// # Errors
    ///
    /// The socket's error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// conn.writable().await.unwrap();
    /// assert_eq!(conn.try_write(b"hello").unwrap(), 5);
    /// # }
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_write_ready(cx)).await
    }

    /// Writes what fits without waiting. Bytes written count as activity
    /// for the idle timeout, as bytes read do.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full, or the socket's error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, _b) = tokio::net::UnixStream::pair().unwrap();
    /// let conn = aqueduct_io::net::Connection::from_socket(a, Default::default());
    /// assert_eq!(conn.try_write(b"x").unwrap(), 1);
    /// # }
    /// ```
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let n = self.io.try_write(buf)?;
        self.touch(n);
        Ok(n)
    }
}

impl<S: Socket> AsyncRead for Connection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            this.touch(buf.filled().len() - before);
        }
        res
    }
}

/// Writes the socket takes count as activity for the idle timeout, as reads
/// that return data do; a write still waiting (a peer that stopped reading)
/// does not.
impl<S: Socket> AsyncWrite for Connection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.touch(n);
        }
        res
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.touch(n);
        }
        res
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
