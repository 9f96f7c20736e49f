//! Hedged requests as tower middleware.
//!
//! [`HedgeLayer`] sends the request to the service `poll_ready` made ready
//! and, after the [`Hedge`](crate::Hedge)'s delay, a copy of it to a clone
//! of the inner service, and answers with the first success; the other
//! attempts are dropped. Requests must be
//! `Clone` and the service `Clone`; only hedge idempotent requests. The
//! future is boxed: one allocation per call.

mod layer;
mod service;

pub use self::layer::HedgeLayer;
pub use self::service::HedgeService;
