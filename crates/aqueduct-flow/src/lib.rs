//! Backpressure for tokio: rate limiters, concurrency limits, instrumented
//! bounded channels, worker pools and stream adapters.
//!
//! | need | use |
//! |---|---|
//! | at most N operations per second, shared by every clone | [`RateLimiter`] ([`Quota`]) |
//! | the same, per client or per key, with bounded memory | [`KeyedRateLimiter`] |
//! | at most N operations at a time, resizable | [`ConcurrencyLimit`] |
//! | a limit that finds the right concurrency by itself (AIMD) | [`AdaptiveLimit`] |
//! | a bounded queue that tells how full it got and who waited | [`channel::bounded`] |
//! | a `Stream` written as a producer function | [`channel::generator`] |
//! | N workers over a bounded job queue | [`channel::WorkerPool`] |
//! | restart a failing task with backoff | [`supervisor`] |
//! | concurrency, batching and rate on a `Stream` | [`FlowStreamExt`] |
//! | a byte-rate cap on an `AsyncRead`/`AsyncWrite` | [`Throttled`] |
//! | all of it as tower middleware | `tower` (feature `tower`) |
//!
//! Every timing behaviour runs on tokio's clock, so it can be tested with
//! paused time, and every wait is cancel safe.
//!
//! ```
//! use aqueduct_flow::{Quota, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter = RateLimiter::new(Quota::per_second(100).burst(5));
//! let start = tokio::time::Instant::now();
//! for _ in 0..15 {
//!     limiter.acquire().await;
//! }
//! // 5 at once, then one every 10 ms.
//! assert_eq!(start.elapsed().as_millis(), 100);
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is this workspace's model-checking build, not a user's choice.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]

mod panic;
mod sync;

pub mod channel;

pub mod limit;
pub mod rate;
pub mod stream;
pub mod supervisor;
mod throttle;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use rate::{
    Acquire, AcquireN, Clock, KeyedAcquire, KeyedRateLimiter, KeyedSnapshot, ManualClock, Quota,
    RateLimitError, RateLimiter, RateSnapshot,
};

pub use limit::{
    AdaptiveLimit, AdaptiveLimitBuilder, AdaptivePermit, AdaptiveSnapshot, ConcurrencyLimit,
    ConcurrencyPermit, ConcurrencySnapshot, LimitError,
};

pub use stream::FlowStreamExt;
pub use throttle::Throttled;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
