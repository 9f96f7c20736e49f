//! A bulkhead as tower middleware.
//!
//! [`BulkheadLayer`] runs each call in a slot of a shared
//! [`Bulkhead`](crate::Bulkhead). A call that finds a free slot goes
//! straight to the inner service (no allocation); one that must wait
//! queues, boxed, on a clone of the inner service; one that finds the
//! queue full fails at once with
//! [`CallError::Rejected`](crate::bulkhead::CallError::Rejected). The slot
//! is held until the response future completes or is dropped.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::BulkheadLayer;
pub use self::service::BulkheadService;
