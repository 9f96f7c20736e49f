//! Sockets: a [`Server`] for TCP and Unix listeners, clients with timeouts,
//! echo handlers, and the UDP equivalents.
//!
//! A [`Server`] accepts connections and runs an async handler for each, with
//! a connection limit ([`ServerBuilder::max_connections`]: excess connections
//! wait in the listen backlog, or are refused with a reply), an idle timeout,
//! back-off on accept errors such as `EMFILE`, and a graceful
//! [`shutdown`](ServerHandle::shutdown).
//!
//! Handlers receive a [`Connection`]. It can be used as any
//! `AsyncRead + AsyncWrite`, and it also offers [`readable`](Connection::readable)
//! and [`try_read`](Connection::try_read), which let a handler wait for data
//! without holding a buffer: [`echo`] does so, and 10,000 idle echo
//! connections cost the server under 1 KiB each.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use aqueduct_io::net::{Connection, Server};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//! use tokio::net::TcpStream;
//!
//! // A tiny request/response protocol: one line in, its length out.
//! let server = Server::builder()
//!     .max_connections(64)
//!     .idle_timeout(Duration::from_secs(30))
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let handle = server.serve(|conn: Connection<TcpStream>| async move {
//!     let mut conn = BufReader::new(conn);
//!     let mut line = String::new();
//!     while conn.read_line(&mut line).await? > 0 {
//!         conn.get_mut().write_all(format!("{}\n", line.trim_end().len()).as_bytes()).await?;
//!         line.clear();
//!     }
//!     Ok::<_, std::io::Error>(())
//! });
//!
//! let client = aqueduct_io::net::tcp::connect(handle.local_addr(), Duration::from_secs(1)).await?;
//! let mut client = BufReader::new(client);
//! client.get_mut().write_all(b"hello\n").await?;
//! let mut answer = String::new();
//! client.read_line(&mut answer).await?;
//! assert_eq!(answer, "5\n");
//! assert_eq!(handle.stats().accepted, 1);
//! # Ok(()) }
//! ```

mod connection;
mod echo;
mod error;
mod server;
mod signal;
pub mod tcp;
pub mod udp;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod unix;

pub use connection::{Connection, Listener, Socket};
pub use echo::{Echo, echo};
pub use error::NetError;
pub use server::{LimitPolicy, Server, ServerBuilder, ServerHandle, ServerStats};
