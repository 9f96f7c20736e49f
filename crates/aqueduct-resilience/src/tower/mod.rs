//! Tower middleware: `Layer` + `Service` for the circuit breaker, retry,
//! deadline, bulkhead and hedge, each in its own module laid out as tower's
//! own `timeout` module is (`layer.rs`, `service.rs`, `future.rs`).
//!
//! They compose in a `tower::ServiceBuilder` (outermost first):
//!
//! ```
//! use std::time::Duration;
//! use aqueduct_resilience::tower::{BreakerLayer, BulkheadLayer, DeadlineLayer, RetryLayer};
//! use aqueduct_resilience::{Bulkhead, CircuitBreaker, Retry};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut svc = ServiceBuilder::new()
//!     .layer(DeadlineLayer::new(Duration::from_secs(1)))
//!     .layer(BulkheadLayer::new(Bulkhead::builder().max_concurrent(8).build()))
//!     .layer(RetryLayer::new(Retry::new().max_attempts(3)))
//!     .layer(BreakerLayer::new(CircuitBreaker::builder().build()))
//!     .service_fn(|req: u32| async move { Ok::<_, std::io::Error>(req * 2) });
//! let reply = svc.ready().await.unwrap().call(21).await.unwrap();
//! assert_eq!(reply, 42);
//! # }
//! ```
//!
//! Every rejection (open breaker, full bulkhead, passed deadline) comes
//! from the future `call` returns, never from `poll_ready`: a service that
//! is not ready stalls its callers, while a rejection is an answer.
//!
//! The breaker and deadline services allocate nothing per call. The retry
//! and hedge services box their future (one allocation per call), and the
//! bulkhead boxes only a call that has to queue for a slot.

pub mod breaker;
pub mod bulkhead;
pub mod deadline;
pub mod hedge;
pub mod retry;

pub use breaker::BreakerLayer;
pub use bulkhead::BulkheadLayer;
pub use deadline::DeadlineLayer;
pub use hedge::HedgeLayer;
pub use retry::RetryLayer;

use std::future::poll_fn;

use tower_service::Service;

/// The services for the attempts of one call: first `ready`, the one
/// `poll_ready` made ready, so that what it reserved (a concurrency slot, a
/// buffer place) is spent on an attempt rather than held, unused, for the
/// whole call (with a limit of one, every attempt would wait on it); then a
/// fresh clone for each further attempt, made ready in turn by
/// [`ready_call`].
pub(crate) fn attempts<S: Clone>(ready: S) -> impl FnMut() -> S {
    let template = ready.clone();
    let mut ready = Some(ready);
    move || ready.take().unwrap_or_else(|| template.clone())
}

/// Waits for `svc` to be ready, then calls it.
pub(crate) async fn ready_call<S, Req>(mut svc: S, req: Req) -> Result<S::Response, S::Error>
where
    S: Service<Req>,
{
    poll_fn(|cx| svc.poll_ready(cx)).await?;
    svc.call(req).await
}
