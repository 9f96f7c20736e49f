//! UDP: an echo server loop and a request/reply client with a timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::NetError;

/// The receive buffer: 64 KiB, room for any UDP datagram. The largest
/// payload that can be sent is smaller: 65,507 bytes over IPv4, 65,527
/// over IPv6 ([`Client::max_payload`]).
pub const MAX_DATAGRAM: usize = 65_536;

/// The largest UDP payload over IPv4: 65,535 bytes less the IP and UDP
/// headers.
const MAX_PAYLOAD_V4: usize = 65_507;
/// The largest UDP payload over IPv6 (without jumbograms): 65,535 bytes
/// less the UDP header.
const MAX_PAYLOAD_V6: usize = 65_527;

/// Sends every datagram back to its sender until `stop` is signalled, and
/// returns how many it echoed. One 64 KiB buffer for the whole loop.
///
/// `stop` ends the loop whether it is waiting to receive or waiting to send
/// (a full send buffer): a datagram whose reply is still waiting for the
/// socket when `stop` is signalled is dropped and not counted. A reply the
/// socket takes at once is sent even if `stop` came meanwhile.
///
/// # Errors
///
/// [`NetError::Io`] on a receive error other than a transient one (a
/// `ConnectionRefused` left by an earlier send to a closed port is skipped).
/// A failed send drops that reply and the loop goes on.
///
/// # Cancel safety
///
/// Cancel safe: a datagram is received and sent back within one poll or not
/// at all... except when the send would block, then it may be lost (UDP
/// makes no promise either).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_io::net::udp;
/// use tokio_util::sync::CancellationToken;
///
/// let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// let addr = socket.local_addr().unwrap();
/// let stop = CancellationToken::new();
/// let server = tokio::spawn(udp::echo(socket, stop.clone()));
///
/// let client = udp::Client::connect(addr, Duration::from_secs(1)).await.unwrap();
/// assert_eq!(&client.request(b"ping").await.unwrap()[..], b"ping");
/// stop.cancel();
/// assert_eq!(server.await.unwrap().unwrap(), 1);
/// # }
/// ```
pub async fn echo(socket: UdpSocket, stop: CancellationToken) -> Result<u64, NetError> {
    echo_on(&socket, &stop).await
}

/// What [`echo`] needs of a datagram socket. The loop is written against
/// this rather than `UdpSocket` so that a send that blocks, which a
/// loopback socket never does (the kernel frees a loopback datagram's send
/// buffer space as it hands it over), can be tested.
trait Datagrams {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize>;
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Datagrams for UdpSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        Self::recv_from(self, buf).await
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        Self::send_to(self, buf, target).await
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Self::local_addr(self)
    }
}

async fn echo_on<D: Datagrams>(socket: &D, stop: &CancellationToken) -> Result<u64, NetError> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut echoed = 0u64;
    let local = || {
        socket
            .local_addr()
            .map_or_else(|_| "udp socket".to_owned(), |a| a.to_string())
    };
    loop {
        let (n, peer) = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(echoed),
            r = socket.recv_from(&mut buf) => match r {
                Ok(pair) => pair,
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted) => continue,
                Err(source) => return Err(NetError::Io { addr: local(), source }),
            },
        };
        // The send first, so a reply the socket takes at once goes out; the
        // stop only while the send waits for room.
        let sent = tokio::select! {
            biased;
            r = socket.send_to(&buf[..n], peer) => r,
            () = stop.cancelled() => return Ok(echoed),
        };
        // A failed send to one peer must not stop the server.
        if sent.is_ok() {
            echoed += 1;
        }
    }
}

/// A UDP client bound to one server: [`request`](Client::request) sends a
/// datagram and waits for the reply, up to a timeout.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::net::udp;
/// use std::time::Duration;
/// use tokio_util::sync::CancellationToken;
///
/// let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// let addr = socket.local_addr().unwrap();
/// let stop = CancellationToken::new();
/// let server = tokio::spawn(udp::echo(socket, stop.clone()));
///
/// let client = udp::Client::connect(addr, Duration::from_secs(1)).await.unwrap();
/// assert_eq!(&client.request(b"ping").await.unwrap()[..], b"ping");
/// stop.cancel();
/// assert_eq!(server.await.unwrap().unwrap(), 1); // datagrams echoed
/// # }
/// ```
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    peer: SocketAddr,
    timeout: Duration,
}

impl Client {
    /// Binds an ephemeral local port (same address family and loopback-ness
    /// as `peer`) and connects it to `peer`, so only `peer`'s datagrams are
    /// received. `timeout` bounds each request.
    ///
    /// # Errors
    ///
    /// [`NetError::Bind`] or [`NetError::Connect`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let c = aqueduct_io::net::udp::Client::connect("127.0.0.1:9".parse().unwrap(), Duration::from_millis(50)).await.unwrap();
    /// assert_eq!(c.peer(), "127.0.0.1:9".parse().unwrap());
    /// # }
    /// ```
    pub async fn connect(peer: SocketAddr, timeout: Duration) -> Result<Self, NetError> {
        let local: SocketAddr = match (peer.is_ipv4(), peer.ip().is_loopback()) {
            (true, true) => ([127, 0, 0, 1], 0).into(),
            (true, false) => ([0, 0, 0, 0], 0).into(),
            (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
            (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|source| NetError::Bind {
                addr: local.to_string(),
                source,
            })?;
        socket
            .connect(peer)
            .await
            .map_err(|source| NetError::Connect {
                addr: peer.to_string(),
                source,
            })?;
        Ok(Self {
            socket,
            peer,
            timeout,
        })
    }

    /// The server's address.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// let c = aqueduct_io::net::udp::Client::connect("127.0.0.1:9".parse().unwrap(), Duration::from_millis(50)).await.unwrap();
    /// assert_eq!(c.peer().port(), 9);
    /// # }
    /// ```
    #[must_use]
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The largest payload [`request`](Self::request) can send to this peer:
    /// 65,507 bytes over IPv4 (IPv4-mapped IPv6 addresses included), 65,527
    /// over IPv6.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// let c = aqueduct_io::net::udp::Client::connect("127.0.0.1:9".parse().unwrap(), Duration::from_millis(50)).await.unwrap();
    /// assert_eq!(c.max_payload(), 65_507);
    /// # }
    /// ```
    #[must_use]
    pub fn max_payload(&self) -> usize {
        match self.peer {
            // An IPv4-mapped IPv6 peer is reached over IPv4.
            SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_none() => MAX_PAYLOAD_V6,
            _ => MAX_PAYLOAD_V4,
        }
    }

    /// Sends `payload` and returns the first datagram that comes back, in a
    /// buffer of its own size.
    ///
    /// # Errors
    ///
    /// [`NetError::DatagramTooLarge`] (over [`max_payload`](Self::max_payload);
    /// nothing is sent), [`NetError::ReplyTimeout`] (no reply
    /// within the timeout: UDP may drop either datagram; retry if the
    /// request is idempotent) or [`NetError::Io`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; a reply arriving after cancellation may be returned by
    /// the next request, so match replies to requests if you cancel.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use aqueduct_io::net::{udp, NetError};
    /// // A socket that never answers.
    /// let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// let c = udp::Client::connect(silent.local_addr().unwrap(), Duration::from_millis(200)).await.unwrap();
    /// let err = c.request(b"anyone?").await.unwrap_err();
    /// assert!(matches!(err, NetError::ReplyTimeout { .. }));
    /// # }
    /// ```
    pub async fn request(&self, payload: &[u8]) -> Result<Bytes, NetError> {
        let max = self.max_payload();
        if payload.len() > max {
            return Err(NetError::DatagramTooLarge {
                len: payload.len(),
                max,
            });
        }
        let io = |source| NetError::Io {
            addr: self.peer.to_string(),
            source,
        };
        self.socket.send(payload).await.map_err(io)?;
        // Received into spare capacity (not zeroed), then copied out: the
        // reply owns its own bytes, not the whole 64 KiB buffer.
        let mut buf = Vec::with_capacity(MAX_DATAGRAM);
        match tokio::time::timeout(self.timeout, self.socket.recv_buf(&mut buf)).await {
            Err(_) => Err(NetError::ReplyTimeout {
                addr: self.peer.to_string(),
                timeout: self.timeout,
            }),
            Ok(Err(source)) => Err(io(source)),
            Ok(Ok(_)) => Ok(Bytes::copy_from_slice(&buf)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A socket that receives one datagram, then nothing, and whose sends
    /// never find room: the send buffer of a socket whose link is stuck.
    #[derive(Default)]
    struct FullSendBuffer {
        received: AtomicUsize,
        sends: AtomicUsize,
    }

    impl Datagrams for FullSendBuffer {
        async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
            if self.received.fetch_add(1, Ordering::SeqCst) == 0 {
                buf[..4].copy_from_slice(b"ping");
                return Ok((4, ([127, 0, 0, 1], 9).into()));
            }
            std::future::pending().await
        }
        async fn send_to(&self, _: &[u8], _: SocketAddr) -> io::Result<usize> {
            self.sends.fetch_add(1, Ordering::SeqCst);
            std::future::pending().await
        }
        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(([127, 0, 0, 1], 7).into())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_waiting_for_room_gives_way_to_stop() {
        let socket = FullSendBuffer::default();
        let stop = CancellationToken::new();
        let mut echo = std::pin::pin!(echo_on(&socket, &stop));
        // An hour later the echo is still waiting to send its one reply.
        let hour = Duration::from_secs(3600);
        assert!(tokio::time::timeout(hour, echo.as_mut()).await.is_err());
        assert_eq!(socket.received.load(Ordering::SeqCst), 1);
        assert_eq!(socket.sends.load(Ordering::SeqCst), 1);
        // Stopped, it ends at once, the waiting reply dropped and not counted.
        stop.cancel();
        let start = tokio::time::Instant::now();
        let echoed = tokio::time::timeout(hour, echo)
            .await
            .expect("the stop waited on a blocked send")
            .unwrap();
        assert_eq!(echoed, 0);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
