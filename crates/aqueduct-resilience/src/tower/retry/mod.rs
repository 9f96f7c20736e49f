//! Retries as tower middleware.
//!
//! [`RetryLayer`] retries failed calls with a [`Retry`](crate::Retry)
//! policy. A retry sends the request again, so the service needs a copy of
//! it for every attempt but one:
//!
//! * by default the request type must be `Clone` ([`ByClone`]). Every
//!   attempt but the last the policy allows sends a copy, made as the call
//!   starts (for the first) or as the attempt before it fails with an
//!   error to retry; the last sends the original, so a call allowed one
//!   attempt makes no copy;
//! * for a request that cannot be cloned (a streaming body, say), give
//!   [`RetryLayer::clone_request`] a function `Fn(&Req) -> Option<Req>`;
//!   `None` means "this request cannot be sent again": it gets one attempt,
//!   and its error comes back as [`RetryError::Stopped`](crate::RetryError::Stopped)
//!   (a `None` for a later copy stops the retries there, the same way).
//!   It is not asked for a copy no attempt could send: once the policy's
//!   attempts are used up, the error is
//!   [`RetryError::Exhausted`](crate::RetryError::Exhausted).
//!
//! A copy is made before the budget, `max_elapsed` and the deadline are
//! asked about the retry it is for; if one of them refuses it, the copy is
//! dropped unsent.
//!
//! The inner service must be `Clone`: the first attempt calls the service
//! `poll_ready` made ready (so whatever it reserved, such as a concurrency
//! slot, is spent on it), and each retry calls a clone, made ready first.
//! The future is boxed: one allocation per call.
//! For a per-attempt timeout, put a timeout layer (or a
//! [`DeadlineLayer`](super::DeadlineLayer)) under this one.

mod layer;
mod service;

pub use self::layer::{ByClone, CloneRequest, RetryLayer};
pub use self::service::RetryService;
