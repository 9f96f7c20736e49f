//! Hedged requests as tower middleware.
//!
//! [`HedgeLayer`] sends the request to the service `poll_ready` made ready
//! and, after the [`Hedge`](crate::Hedge)'s delay, again to a clone of the
//! inner service, and answers with the first success; the other attempts
//! are dropped. Requests must be `Clone` and the service `Clone`; only
//! hedge idempotent requests. The future is boxed: one allocation per call.
//!
//! Every attempt but the last the hedge can start (the first plus
//! `max_extra`) sends a clone of the request, the original being kept for
//! the attempts that may follow; the last sends the original. A call that
//! starts every attempt it may makes `max_extra` clones; one that does not
//! hedge makes one (none with `max_extra(0)`).

mod layer;
mod service;

pub use self::layer::HedgeLayer;
pub use self::service::HedgeService;
