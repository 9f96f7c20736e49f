//! # aqueduct
//!
//! Production-grade building blocks for async I/O on Tokio. Each part is its
//! own crate, re-exported here as a module behind a feature of the same name
//! (all on by default), so you can depend on this crate for everything or on
//! one leaf crate for one need:
//!
//! | module | crate | what it is for |
//! |---|---|---|
//! | [`io`] | `aqueduct-io` | files and sockets: fast line streams, atomic writes, servers with connection limits, idle timeouts and graceful shutdown |
//! | [`framing`] | `aqueduct-framing` | zero-copy, bounded codecs: lines, length-prefixed, delimited, fixed |
//! | [`flow`] | `aqueduct-flow` | backpressure: rate limiters, concurrency limits, instrumented channels, worker pools, stream adapters |
//! | [`pool`] | `aqueduct-pool` | a fair, cancel-safe RAII object pool (and an adapter onto deadpool) |
//! | [`resilience`] | `aqueduct-resilience` | timeouts, deadlines, retries, circuit breaker, bulkhead, hedging |
//!
//! Feature `full` turns on every module and every optional feature
//! (`tower`, `tracing`, `deadpool`, `tcp`). The [`prelude`] brings the
//! extension traits into scope.
//!
//! Every pattern below has a walkthrough: `cargo xtask demo NAME` runs it and
//! prints what it measured; `cargo xtask demo` runs the whole tour.
//!
//! # A guide through the patterns
//!
//! ## Files (walkthroughs `files`, `lines`, `buffered_io`)
//!
//! - Whole small files: `tokio::fs::read`/`write` are fine.
//! - A file that must never be seen half-written (configuration, state):
//!   [`io::fs::write_atomic`] writes a temp file beside it, syncs, renames and
//!   syncs the directory; on any failure the old content stays.
//! - Logs and journals: [`io::fs::append_line`], one write per line, so
//!   concurrent writers never interleave within a line.
//! - Large files line by line: [`io::fs::read_lines`] reads big chunks on one
//!   blocking thread while the previous chunk is split, instead of one
//!   blocking hop per small read; [`io::fs::head`] reads only the bytes the
//!   first N lines need; [`io::fs::count_lines`].
//! - Copies: [`io::fs::copy_with_progress`] reports progress, and uses the
//!   kernel's copy when you pass no callback.
//!
//! ## Sockets and servers (`tcp_echo`, `udp_echo`, `unix_echo`, `chat`, `connection_limit`)
//!
//! - [`io::net::Server`] accepts TCP or Unix connections with a
//!   `max_connections` limit (excess connections wait or are refused with a
//!   reply), an `idle_timeout`, back-off on accept errors such as EMFILE, and
//!   [`stats`](io::net::ServerHandle::stats).
//! - Clients: [`io::net::tcp::connect`] and [`io::net::unix::connect`] with a
//!   timeout, a UDP request/response client in [`io::net::udp`].
//! - Byte transforms and meters on any stream: [`io::adapt::MapRead`],
//!   [`io::adapt::MapWrite`], [`io::adapt::CountingRead`],
//!   [`io::adapt::CountingWrite`]; a bytes-per-second cap:
//!   [`flow::Throttled`].
//!
//! ## Framing (`framing`)
//!
//! Never read frames with an unbounded codec: one peer can exhaust memory.
//!
//! | wire format | codec |
//! |---|---|
//! | text lines | [`framing::LineCodec`] (`Bytes`), [`framing::Utf8LineCodec`] (validated text, no copy) |
//! | a length header, then the payload | [`framing::LengthPrefixedCodec`] (1–8 byte or varint length, any endianness, offset, adjustment) |
//! | frames ended by a byte sequence or any byte of a set | [`framing::DelimiterCodec`] |
//! | records of a fixed size | [`framing::FixedSizeCodec`] |
//! | large payloads you already hold as `Bytes` | [`framing::FrameWriter`] (header and payload in one vectored write, no copy) |
//! | a connection that answers a bad frame and goes on | [`framing::FrameReader`] (yields the frames that came with the bad one at once, where `FramedRead` waits for the next read) |
//!
//! Every codec is bounded by default and reports [`framing::FrameError`]
//! naming the limit and the value.
//!
//! ## Backpressure (`backpressure`, `streams`, `rate_limit`, `concurrency`, `workers`)
//!
//! | you need | use |
//! |---|---|
//! | N operations per second, shared by every clone | [`flow::RateLimiter`] |
//! | the same per client or key, with bounded memory | [`flow::KeyedRateLimiter`] |
//! | at most N at a time | [`flow::ConcurrencyLimit`] |
//! | a limit that finds the right concurrency itself | [`flow::AdaptiveLimit`] |
//! | a queue between producer and consumer that tells how full it got | [`flow::channel::bounded`] |
//! | a stream written as a producer function | [`flow::channel::generator`] |
//! | N workers over a bounded job queue | [`flow::channel::WorkerPool`] |
//! | a task restarted when it fails | [`flow::supervisor::supervise`] |
//! | map a stream with N in flight, batch, rate-limit it | [`flow::FlowStreamExt`] |
//!
//! ## Pooling (`pool`, `pool_tcp`)
//!
//! Implement [`pool::Manager`] (create, recycle, is-broken) and build a
//! [`pool::Pool`]: waiters are served first come, first served, a dropped
//! guard gives its object back synchronously, a cancelled `get` leaks
//! nothing, and lifetimes, idle expiry and leak reports need no background
//! task. The same manager runs on deadpool through `pool::deadpool::Adapter`
//! (feature `deadpool`); pooled TCP connections come ready-made as
//! `pool::tcp::TcpManager` (feature `tcp`).
//!
//! ## Resilience (`timeouts`, `deadlines`, `retry`, `circuit_breaker`, `hedging`)
//!
//! | failure you guard against | use |
//! |---|---|
//! | one slow call | [`resilience::timeout()`] |
//! | a request whose budget spans many calls and services | [`resilience::Deadline`] (scoped, carried in a header) |
//! | transient errors | [`resilience::Retry`] with [`resilience::Backoff`] and jitter, a classifier and a shared [`resilience::RetryBudget`] |
//! | a dependency that is down | [`resilience::CircuitBreaker`] |
//! | one dependency starving the rest | [`resilience::Bulkhead`] |
//! | a default answer when all else fails | [`resilience::fallback()`] |
//! | tail latency | [`resilience::Hedge`] |
//! | all of them, in the right order | [`resilience::Pipeline`] |
//!
//! With feature `tower`, each has a `Layer` (`resilience::tower`, and
//! `flow::tower` for rate and concurrency limits) that composes in
//! `tower::ServiceBuilder` (walkthrough `tower_stack`).
//!
//! ## Cancellation and shutdown (`cancellation`, `graceful_shutdown`)
//!
//! [`io::Shutdown`] bundles a cancellation token, a task tracker and the
//! ctrl-c hook: spawn tracked tasks, then `shutdown(grace)` signals them,
//! waits up to the grace period and reports how many finished and how many
//! were aborted. [`io::net::ServerHandle::shutdown`] does the same for a
//! server's connections.
//!
//! ## Composition and runtimes (`composition`, `runtimes`)
//!
//! `join!`, `try_join!`, `select!`, `FuturesUnordered` and the runtime
//! flavours are Tokio's and futures'; the walkthroughs time them side by
//! side, and [`flow::FlowStreamExt::map_concurrent`] is the bounded fan-out
//! that keeps order.
//!
//! ```
//! use aqueduct::prelude::*;
//! use aqueduct::flow::{Quota, RateLimiter};
//! use futures::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // 100 per second, bursts of 10, shared by every clone of the limiter.
//! let limiter = RateLimiter::new(Quota::per_second(100).burst(10));
//! let squares: Vec<u64> = futures::stream::iter(1..=20u64)
//!     .rate_limit(&limiter)
//!     .map_concurrent(4, |n| async move { n * n })
//!     .collect()
//!     .await;
//! assert_eq!(squares.len(), 20);
//! assert_eq!(squares[19], 400);
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is this workspace's model-checking build, not a user's choice.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]

#[cfg(feature = "io")]
#[cfg_attr(docsrs, doc(cfg(feature = "io")))]
#[doc(inline)]
pub use aqueduct_io as io;

#[cfg(feature = "framing")]
#[cfg_attr(docsrs, doc(cfg(feature = "framing")))]
#[doc(inline)]
pub use aqueduct_framing as framing;

#[cfg(feature = "flow")]
#[cfg_attr(docsrs, doc(cfg(feature = "flow")))]
#[doc(inline)]
pub use aqueduct_flow as flow;

#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
#[doc(inline)]
pub use aqueduct_pool as pool;

#[cfg(feature = "resilience")]
#[cfg_attr(docsrs, doc(cfg(feature = "resilience")))]
#[doc(inline)]
pub use aqueduct_resilience as resilience;

/// The extension traits, for a glob import: `use aqueduct::prelude::*;`.
///
/// ```
/// use aqueduct::prelude::*;
/// use futures::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // `map_concurrent` comes from `FlowStreamExt`: up to 4 at a time, order kept.
/// let doubled: Vec<u32> = futures::stream::iter(1..=5)
///     .map_concurrent(4, |n| async move { n * 2 })
///     .collect()
///     .await;
/// assert_eq!(doubled, [2, 4, 6, 8, 10]);
///
/// // `.timeout(d)` comes from `ResilienceFutureExt`.
/// let slow = tokio::time::sleep(std::time::Duration::from_secs(5));
/// assert!(slow.timeout(std::time::Duration::from_millis(1)).await.is_err());
/// # }
/// ```
pub mod prelude {
    #[cfg(feature = "flow")]
    #[cfg_attr(docsrs, doc(cfg(feature = "flow")))]
    pub use aqueduct_flow::FlowStreamExt;

    #[cfg(feature = "resilience")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resilience")))]
    pub use aqueduct_resilience::ResilienceFutureExt;
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
