//! A deadline as tower middleware.
//!
//! [`DeadlineLayer`] gives every call a deadline `d` from its start
//! (tightened by the deadline already in scope, if nearer), runs the inner
//! future inside [`Deadline::scope`](crate::Deadline::scope) so that every
//! wrapper below clamps to it, and fails the call with
//! [`DeadlineError::Exceeded`] when it passes. A call whose deadline has
//! already passed does not reach the inner service. No allocation per call.

mod error;
mod future;
mod layer;
mod service;

pub use self::error::DeadlineError;
pub use self::future::ResponseFuture;
pub use self::layer::DeadlineLayer;
pub use self::service::DeadlineService;
