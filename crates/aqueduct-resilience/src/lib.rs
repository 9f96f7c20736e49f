//! Timeouts, deadlines, retries, a lock-free circuit breaker, bulkheads,
//! hedging and a pipeline composing them, for Tokio.
//!
//! | pattern | item | what it does |
//! |---|---|---|
//! | timeout | [`timeout()`] | bounds one operation; typed [`Elapsed`] naming the limit |
//! | deadline | [`Deadline`] | one instant shared by every operation of a request; task-local scope; `grpc-timeout` header |
//! | backoff | [`Backoff`], [`Jitter`] | constant, linear, exponential, fibonacci; AWS jitter; seedable |
//! | retry | [`Retry`], [`RetryBudget`] | classifier, hook, per-attempt timeout, shared budget, deadline-aware |
//! | circuit breaker | [`CircuitBreaker`] | consecutive, count- and time-window modes, slow calls, bounded half-open |
//! | bulkhead | [`Bulkhead`] | at most N at once, M waiting, each for at most T |
//! | fallback | [`fallback()`], [`fallback::timeout_or`] | a value or another computation on error or timeout |
//! | hedging | [`Hedge`] | a second attempt after a fixed delay or a latency percentile |
//! | pipeline | [`Pipeline`] | all of the above in the right order, one [`pipeline::Error`] |
//! | methods | [`ResilienceFutureExt`] | `.timeout(d)`, `.within(deadline)`, `.in_scope(deadline)`, `.or_value(v)` on any future |
//!
//! Every wait in this crate (timeouts, retry sleeps, bulkhead queueing,
//! hedges) is clamped to the task's current [`Deadline`]. All time goes
//! through `tokio::time`, so everything here runs under paused time in
//! tests. Nothing spawns a background task: the breaker's transitions and
//! the budget's expiry happen lazily on the next call.
//!
//! # Feature flags
//!
//! | feature | enables |
//! |---|---|
//! | `tower` | `Layer` + `Service` for the breaker, retry, deadline, bulkhead and hedge, in the `tower` module |
//! | `tracing` | `tracing` events on breaker state changes, retries and rejections |
//!
//! ```
//! use std::time::Duration;
//! use aqueduct_resilience::{Backoff, CircuitBreaker, Deadline, Retry};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder().consecutive_failures(5).build();
//! let retry = Retry::new()
//!     .max_attempts(3)
//!     .backoff(Backoff::exponential(Duration::from_millis(20)));
//!
//! let answer = Deadline::after(Duration::from_secs(1))
//!     .run(retry.run(|| breaker.call(|| async { Ok::<_, std::io::Error>(42) })))
//!     .await;
//! assert_eq!(answer.unwrap().unwrap(), 42);
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is this workspace's model-checking build, not a user's choice.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]

macro_rules! trace_event {
    ($($t:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::debug!(target: "aqueduct_resilience", $($t)*);
        }
    };
}
pub(crate) use trace_event;

pub mod breaker;
pub mod bulkhead;
pub mod deadline;
mod ext;
pub mod fallback;
pub mod hedge;
pub mod pipeline;
pub mod retry;
mod sync;
pub mod timeout;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use breaker::CircuitBreaker;
pub use bulkhead::Bulkhead;
pub use deadline::Deadline;
pub use ext::ResilienceFutureExt;
pub use fallback::fallback;
pub use hedge::Hedge;
pub use pipeline::Pipeline;
pub use retry::{Backoff, Jitter, Retry, RetryBudget, RetryError};
pub use timeout::{Elapsed, timeout};

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
