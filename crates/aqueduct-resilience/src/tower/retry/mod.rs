//! Retries as tower middleware.
//!
//! [`RetryLayer`] retries failed calls with a [`Retry`](crate::Retry)
//! policy. A retry sends the request again, so the service needs a copy of
//! it for every attempt but one:
//!
//! * by default the request type must be `Clone` ([`ByClone`]). Every
//!   attempt but the last the policy allows sends a copy: the first
//!   attempt's is made as the call starts, a retry's once the retry is
//!   decided (the classifier, the budget, `max_elapsed` and the deadline
//!   have all let it through), before the hook and the backoff's sleep.
//!   The last attempt sends the original, so a call allowed one attempt
//!   makes no copy, and a call allowed `n` makes at most `n - 1`;
//! * for a request that cannot be cloned (a streaming body, say), give
//!   [`RetryLayer::clone_request`] a function `Fn(&Req) -> Option<Req>`;
//!   `None` means "this request cannot be sent again": it gets one attempt
//!   (which sends the original), and an error the policy would retry comes
//!   back as [`RetryError::Stopped`](crate::RetryError::Stopped); a `None`
//!   for a later copy stops the retries there, the same way. The budget
//!   gets back the retry it withdrew, and the hook is not called. Such a
//!   call is still one of the policy's: it deposits in the budget, and
//!   starts no attempt with less than `min_remaining` before the deadline.
//!
//! No copy is asked for a retry that is not made: once the policy's
//! attempts are used up, or when the budget, `max_elapsed` or the deadline
//! refuses the retry, the function is not called and the error says why
//! ([`Exhausted`](crate::RetryError::Exhausted),
//! [`BudgetExhausted`](crate::RetryError::BudgetExhausted),
//! [`DeadlineExceeded`](crate::RetryError::DeadlineExceeded)). Under
//! overload, with the budget spent, a failing call costs no copy. A copy
//! is dropped unsent only if the deadline, checked again after the
//! backoff's sleep, has come too close meanwhile.
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
