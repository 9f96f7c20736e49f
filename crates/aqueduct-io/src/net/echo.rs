//! The echo handler: no buffer while idle.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Connection, Socket};

/// Stack buffer for one read and its write-back. It lives only inside
/// `Echo::poll`, never across a suspension, and is not zeroed.
const BURST: usize = 8 * 1024;
/// Reads per poll before yielding, so one flooding peer cannot starve the
/// other connections on its worker.
const READS_PER_POLL: usize = 16;

/// Echoes every byte back until the peer closes, or until the server shuts
/// down while the connection is idle. Use it as a [`Server`](super::Server)
/// handler for TCP or Unix sockets.
///
/// While waiting for data it holds no buffer at all: each poll reads into an
/// 8 KiB stack buffer and writes the bytes straight back, and the buffer is
/// gone when the poll returns. Bytes a slow peer does not take at once are
/// kept in a heap buffer until written, then freed. The whole future is
/// about a hundred bytes; an idle connection costs its task and socket
/// registration only.
///
/// It notices a shutdown when polled: under a [`Server`](super::Server)
/// (or [`Shutdown::spawn`](crate::Shutdown::spawn)) every connection is
/// polled once when the shutdown is signalled, so idle echo connections end
/// at once. Elsewhere it ends when the peer closes.
///
/// # Errors
///
/// The socket's errors (a reset peer, say).
///
/// # Cancel safety
///
/// Dropping it loses no data already read except bytes the peer has not
/// yet taken because it stopped reading.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::net::{echo, Connection};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
/// let task = tokio::spawn(echo(Connection::from_socket(a, Default::default())));
/// b.write_all(b"marco").await.unwrap();
/// let mut reply = [0; 5];
/// b.read_exact(&mut reply).await.unwrap();
/// assert_eq!(&reply, b"marco");
/// drop(b);
/// task.await.unwrap().unwrap();
/// # }
/// ```
pub fn echo<S: Socket>(conn: Connection<S>) -> Echo<S> {
    Echo {
        conn,
        pending: Vec::new(),
        written: 0,
    }
}

/// The future returned by [`echo`].
#[must_use = "futures do nothing unless polled"]
pub struct Echo<S: Socket> {
    conn: Connection<S>,
    pending: Vec<u8>,
    written: usize,
}

impl<S: Socket + std::fmt::Debug> std::fmt::Debug for Echo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Echo")
            .field("conn", &self.conn)
            .field("pending", &(self.pending.len() - self.written))
            .finish()
    }
}

impl<S: Socket> Echo<S> {
    /// Writes out what a slow peer left behind, then frees the buffer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.conn).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.written = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Socket> Future for Echo<S> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        for _ in 0..READS_PER_POLL {
            ready!(this.poll_pending(cx))?;
            let mut storage = [MaybeUninit::<u8>::uninit(); BURST];
            let mut buf = ReadBuf::uninit(&mut storage);
            match Pin::new(&mut this.conn).poll_read(cx, &mut buf) {
                Poll::Pending if this.conn.is_shutting_down() => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result?,
            }
            let data = buf.filled();
            if data.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let mut off = 0;
            while off < data.len() {
                match Pin::new(&mut this.conn).poll_write(cx, &data[off..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => off += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // The peer reads slower than it writes: keep the rest
                        // until the socket takes it.
                        this.pending.extend_from_slice(&data[off..]);
                        break;
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
