//! Unix domain sockets: connect with a timeout, and the echo handler. Serve
//! with [`ServerBuilder::bind_unix`](super::ServerBuilder::bind_unix).

use std::path::Path;
use std::time::Duration;

use tokio::net::UnixStream;

use super::NetError;

pub use super::echo::echo;

/// Connects to the Unix socket at `path`, giving up after `timeout`.
///
/// # Errors
///
/// [`NetError::Connect`] or [`NetError::ConnectTimeout`], naming the path.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_io::net::{unix, Server};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("echo.sock");
/// let handle = Server::builder().bind_unix(&path).unwrap().serve(unix::echo);
/// let mut client = unix::connect(&path, Duration::from_secs(1)).await.unwrap();
/// client.write_all(b"over unix").await.unwrap();
/// let mut reply = [0; 9];
/// client.read_exact(&mut reply).await.unwrap();
/// assert_eq!(&reply, b"over unix");
/// # drop(handle);
/// # }
/// ```
pub async fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<UnixStream, NetError> {
    let path = path.as_ref();
    match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
        Err(_) => Err(NetError::ConnectTimeout {
            addr: path.display().to_string(),
            timeout,
        }),
        Ok(Err(source)) => Err(NetError::Connect {
            addr: path.display().to_string(),
            source,
        }),
        Ok(Ok(s)) => Ok(s),
    }
}
