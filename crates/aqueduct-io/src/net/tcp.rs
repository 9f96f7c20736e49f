//! TCP: connect with a timeout, and the echo handler.

use std::fmt;
use std::time::Duration;

use tokio::net::{TcpStream, ToSocketAddrs};

use super::NetError;

pub use super::echo::echo;

/// Connects to `addr`, giving up after `timeout`, and turns Nagle's
/// algorithm off (request/response traffic wants small writes sent at once).
///
/// # Errors
///
/// [`NetError::Connect`] or [`NetError::ConnectTimeout`], naming `addr`.
///
/// # Cancel safety
///
/// Cancel safe: a half-open attempt is closed when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let stream = aqueduct_io::net::tcp::connect(addr, Duration::from_secs(1)).await.unwrap();
/// assert!(stream.nodelay().unwrap());
/// # }
/// ```
pub async fn connect<A: ToSocketAddrs + fmt::Debug>(
    addr: A,
    timeout: Duration,
) -> Result<TcpStream, NetError> {
    let name = || format!("{addr:?}").trim_matches('"').to_owned();
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Err(_) => {
            return Err(NetError::ConnectTimeout {
                addr: name(),
                timeout,
            });
        }
        Ok(Err(source)) => {
            return Err(NetError::Connect {
                addr: name(),
                source,
            });
        }
        Ok(Ok(s)) => s,
    };
    stream
        .set_nodelay(true)
        .map_err(|source| NetError::Connect {
            addr: name(),
            source,
        })?;
    Ok(stream)
}
