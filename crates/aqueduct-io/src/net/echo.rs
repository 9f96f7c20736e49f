//! The echo handler: no buffer while idle.

use std::io;

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

/// Writes `pending` out, waiting for writability, then frees it.
async fn drain<S: Socket>(conn: &Connection<S>, pending: &mut Vec<u8>) -> io::Result<()> {
    let mut off = 0;
    while off < pending.len() {
        conn.writable().await?;
        match conn.try_write(&pending[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(w) => off += w,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    *pending = Vec::new();
    Ok(())
}

/// Echoes every byte back until the peer closes, or until the server shuts
/// down while the connection is idle. Use it as a [`Server`](super::Server)
/// handler for TCP or Unix sockets.
///
/// While waiting for data it holds no buffer at all: it awaits readiness,
/// then reads and writes through an 8 KiB stack buffer that is released
/// before the next wait. An idle connection costs its task and socket
/// registration only.
///
/// # Errors
///
/// The socket's errors (a reset peer, say).
///
/// # Cancel safety
///
/// Cancel safe at its awaits: dropping it loses no data already read, since
/// read data is written back before the next await, except bytes in a
/// partially written burst when the peer does not read.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::net::{echo, Connection};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
/// let peer = a.peer_addr().unwrap();
/// let task = tokio::spawn(echo(Connection::from_socket(a, peer, Default::default())));
/// b.write_all(b"marco").await.unwrap();
/// let mut reply = [0; 5];
/// b.read_exact(&mut reply).await.unwrap();
/// assert_eq!(&reply, b"marco");
/// drop(b);
/// task.await.unwrap().unwrap();
/// # }
/// ```
pub async fn echo<S: Socket>(conn: Connection<S>) -> io::Result<()> {
    let mut pending = Vec::new();
    // Created once: registering with the token on every wait would take its
    // lock each time.
    let stop = conn.shutdown_token().cancelled();
    tokio::pin!(stop);
    loop {
        match pump(&conn, &mut pending)? {
            Pump::Eof => return Ok(()),
            Pump::Busy => {
                if !pending.is_empty() {
                    drain(&conn, &mut pending).await?;
                }
                // Let other connections run.
                tokio::task::yield_now().await;
            }
            Pump::Idle => {
                tokio::select! {
                    biased;
                    r = conn.readable() => r?,
                    () = &mut stop => return Ok(()),
                }
            }
        }
    }
}
