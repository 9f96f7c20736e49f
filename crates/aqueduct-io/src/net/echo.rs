//! The echo handler: no buffer while idle.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::{Connection, Socket};

/// Stack buffer used for one burst of reads and writes. It lives only inside
/// [`pump`], never across an `.await`.
const BURST: usize = 8 * 1024;
/// Reads per burst before going back to the scheduler.
const READS_PER_BURST: usize = 16;

enum Pump {
    /// Drained everything; wait for readability.
    Idle,
    /// Read budget used up; more may be waiting.
    Busy,
    /// The peer closed its side.
    Eof,
}

/// Reads what is ready and writes it back, using a stack buffer that is gone
/// by the time this returns. Bytes the socket would not take are moved to
/// `pending` (which stays empty, unallocated, unless the peer reads slowly).
fn pump<S: Socket>(conn: &Connection<S>, pending: &mut Vec<u8>) -> io::Result<Pump> {
    let mut buf = [0u8; BURST];
    for _ in 0..READS_PER_BURST {
        let n = match conn.try_read(&mut buf) {
            Ok(0) => return Ok(Pump::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Pump::Idle),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut off = 0;
        while off < n {
            match conn.try_write(&buf[off..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => off += w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pending.extend_from_slice(&buf[off..n]);
                    return Ok(Pump::Busy);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(Pump::Busy)
}

/// Echoes every byte back until the peer closes, or until the server shuts
/// down while the connection is idle. Use it as a [`Server`](super::Server)
/// handler for TCP or Unix sockets.
///
/// While waiting for data it holds no buffer at all: it waits for
/// readiness, then reads and writes through an 8 KiB stack buffer that is
/// released before the next wait. Bytes the peer is too slow to take are
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

impl<S: Socket> Future for Echo<S> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A budget of bursts per poll keeps one flooding peer from starving
        // the other connections on this worker.
        for _ in 0..4 {
            // First write out what a slow peer left behind.
            while this.written < this.pending.len() {
                ready!(this.conn.get_ref().poll_write_ready(cx))?;
                match this.conn.try_write(&this.pending[this.written..]) {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(n) => this.written += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            if !this.pending.is_empty() {
                this.pending = Vec::new();
                this.written = 0;
            }
            match pump(&this.conn, &mut this.pending)? {
                Pump::Eof => return Poll::Ready(Ok(())),
                Pump::Busy => {}
                Pump::Idle => {
                    if this.conn.is_shutting_down() {
                        return Poll::Ready(Ok(()));
                    }
                    ready!(this.conn.get_ref().poll_read_ready(cx))?;
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
