use std::io;
use std::time::Duration;

/// An error of the [`net`](crate::net) module, naming the address and, for
/// timeouts, the limit.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_io::net::{tcp, NetError};
/// // Nothing listens on port 1 of loopback: the connection is refused.
/// let err = tcp::connect("127.0.0.1:1", Duration::from_secs(1)).await.unwrap_err();
/// assert!(matches!(err, NetError::Connect { ref addr, .. } if addr == "127.0.0.1:1"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Binding a listener or socket failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address (or socket path).
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address (or socket path).
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Connecting took longer than the timeout.
    #[error("connecting to {addr} took longer than {timeout:?}")]
    ConnectTimeout {
        /// The address (or socket path).
        addr: String,
        /// The limit.
        timeout: Duration,
    },
    /// No reply came within the timeout.
    #[error("no reply from {addr} within {timeout:?}")]
    ReplyTimeout {
        /// The peer.
        addr: String,
        /// The limit.
        timeout: Duration,
    },
    /// A datagram is larger than the limit.
    #[error("datagram of {len} bytes exceeds the maximum of {max}")]
    DatagramTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Sending or receiving failed.
    #[error("i/o with {addr} failed: {source}")]
    Io {
        /// The peer or local address.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
