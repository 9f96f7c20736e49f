//! A circuit breaker as tower middleware.
//!
//! [`BreakerLayer`] wraps a service in [`BreakerService`]: each call asks
//! the shared [`CircuitBreaker`](crate::CircuitBreaker) for a permit; a
//! rejected call fails at once with
//! [`BreakerError::Rejected`](crate::breaker::BreakerError::Rejected)
//! without reaching the inner service; an admitted call's outcome is
//! recorded when its future completes (and a dropped future records
//! nothing). No lock, no allocation per call.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::BreakerLayer;
pub use self::service::BreakerService;
