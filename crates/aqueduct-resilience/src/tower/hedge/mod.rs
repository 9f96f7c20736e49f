//! Hedged requests as tower middleware.
//!
//! [`HedgeLayer`] sends a copy of a slow request to a clone of the inner
//! service after the [`Hedge`](crate::Hedge)'s delay and answers with the
//! first success; the other attempts are dropped. Requests must be
//! `Clone` and the service `Clone`; only hedge idempotent requests. The
//! future is boxed: one allocation per call.

mod layer;
mod service;

pub use self::layer::HedgeLayer;
pub use self::service::HedgeService;
