//! tower middleware: a rate limit whose clones share one [`RateLimiter`],
//! and a concurrency limit, fixed or adaptive. Each can wait for capacity
//! ([`Mode::Wait`], backpressure through `poll_ready`) or reject at once
//! ([`Mode::Reject`], load shedding).
//!
//! Unlike tower's own `RateLimit`, where every clone of the service counts
//! its own budget, every clone here draws from the same limiter, so the
//! limit holds for the whole service however many clones the server makes.
//!
//! ```
//! use aqueduct_flow::tower::{Error, RateLimitLayer};
//! use aqueduct_flow::{Quota, RateLimiter};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter = RateLimiter::new(Quota::per_second(1));
//! let svc = RateLimitLayer::new(limiter)
//!     .reject()
//!     .layer(service_fn(|x: u32| async move { Ok::<_, std::convert::Infallible>(x + 1) }));
//! assert_eq!(svc.clone().oneshot(1).await.unwrap(), 2);
//! // A clone shares the budget: the second call is rejected.
//! assert!(matches!(svc.clone().oneshot(1).await, Err(Error::RateLimited(_))));
//! # }
//! ```

mod error;
mod future;
mod layer;
mod service;

pub use error::Error;
pub use future::ResponseFuture;
pub use layer::{ConcurrencyLimitLayer, Limit, RateLimitLayer};
pub use service::{ConcurrencyLimitService, RateLimitService};

#[cfg(doc)]
use crate::RateLimiter;

/// What a limit layer does when there is no capacity.
///
/// ```
/// assert_eq!(aqueduct_flow::tower::Mode::default(), aqueduct_flow::tower::Mode::Wait);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// `poll_ready` waits for capacity (backpressure to the caller).
    #[default]
    Wait,
    /// `call` fails at once with an [`Error`] (load shedding).
    Reject,
}
