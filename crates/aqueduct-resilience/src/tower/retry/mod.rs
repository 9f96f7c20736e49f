//! Retries as tower middleware.
//!
//! [`RetryLayer`] retries failed calls with a [`Retry`](crate::Retry)
//! policy. A retry sends the request again, so the service needs a copy of
//! it for every attempt:
//!
//! * by default the request type must be `Clone` ([`ByClone`]): one copy
//!   is made per attempt, the original is kept until the call ends;
//! * for a request that cannot be cloned (a streaming body, say), give
//!   [`RetryLayer::clone_request`] a function `Fn(&Req) -> Option<Req>`;
//!   `None` means "this request cannot be sent again": it gets one attempt,
//!   and its error comes back as [`RetryError::Stopped`](crate::RetryError::Stopped).
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
