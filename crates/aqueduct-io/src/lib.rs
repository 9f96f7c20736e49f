//! # aqueduct-io
//!
//! Files and sockets done right on Tokio:
//!
//! - [`fs`]: [`read_lines`](fs::read_lines) that reads 256 KiB chunks on one
//!   blocking thread pipelined with line splitting (several times faster than
//!   `tokio::fs` with `BufReader::lines`), [`head`](fs::head) that reads only
//!   what it needs, [`count_lines`](fs::count_lines),
//!   [`append_line`](fs::append_line), crash-safe
//!   [`write_atomic`](fs::write_atomic) and
//!   [`copy_with_progress`](fs::copy_with_progress).
//! - [`net`]: a [`Server`](net::Server) for TCP and Unix sockets with a
//!   connection limit, idle timeout, accept back-off and graceful shutdown,
//!   whose idle connections hold no read buffer (10,000 idle connections in a
//!   few MB); TCP, UDP and Unix clients and echo handlers.
//! - [`Shutdown`]: a cancellation token, a task tracker, a Ctrl-C hook and a
//!   grace period that ends in a [`ShutdownReport`].
//! - [`adapt`]: [`MapRead`](adapt::MapRead)/[`MapWrite`](adapt::MapWrite) to
//!   transform bytes in flight, [`CountingRead`](adapt::CountingRead) and
//!   [`CountingWrite`](adapt::CountingWrite).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use aqueduct_io::net::{self, Server};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let server = Server::builder().max_connections(100).bind("127.0.0.1:0").await?;
//! let handle = server.serve(net::echo);
//!
//! let mut client = net::tcp::connect(handle.local_addr(), Duration::from_secs(1)).await?;
//! client.write_all(b"ping").await?;
//! let mut reply = [0; 4];
//! client.read_exact(&mut reply).await?;
//! assert_eq!(&reply, b"ping");
//!
//! drop(client);
//! let report = handle.shutdown().await;
//! assert_eq!(report.aborted, 0);
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tracing` | off | `tracing` events for accept errors, refused, idle-closed and failed connections |
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is this workspace's model-checking build, not a user's choice.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]

pub mod adapt;
#[cfg(not(loom))]
pub mod fs;
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))]
mod shutdown;
mod sync;

#[cfg(not(loom))]
pub use shutdown::{Shutdown, ShutdownReport};

// Under `--cfg loom` tokio leaves out its `net`, `fs` and `signal` modules, so
// the crate builds only the lock-free connection signal, which the loom
// models in `tests/loom.rs` drive directly.
#[cfg(loom)]
#[doc(hidden)]
pub mod net {
    pub mod signal;
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
