//! # aqueduct
//!
//! Production-grade building blocks for async I/O on Tokio. Each part is its
//! own crate, re-exported here as a module behind a feature of the same name
//! (all on by default):
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
//! (`tower`, `tracing`, `deadpool`, `tcp`).
//!
//! ```
//! // Every module is one path away.
//! use aqueduct::{flow, framing, io, pool, resilience};
//! # let _ = (stringify!(flow), stringify!(framing), stringify!(io), stringify!(pool), stringify!(resilience));
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

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
