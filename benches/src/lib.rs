//! Shared helpers of the aqueduct benchmarks.

pub mod framing;
pub mod pool;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The baseline the io benchmarks hold our server against: a bare tokio
/// echo server, one task and one 4 KiB buffer per connection for as long as
/// the connection lives. Serves `listener` on the current runtime until the
/// runtime stops; a failed accept is skipped.
///
/// ```no_run
/// # async fn doc() {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// aqueduct_benches::spawn_tokio_echo(listener);
/// # }
/// ```
pub fn spawn_tokio_echo(listener: TcpListener) {
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
