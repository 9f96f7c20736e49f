use crate::{LimitError, RateLimitError};

/// The error of the limit services: a rejection, or the inner service's
/// error.
///
/// ```
/// use aqueduct_flow::tower::Error;
/// let e: Error<std::io::Error> = Error::Inner(std::io::Error::other("down"));
/// assert_eq!(e.to_string(), "inner service failed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// Rejected by the rate limit ([`Mode::Reject`](super::Mode::Reject)).
    #[error("rejected by the rate limit")]
    RateLimited(#[source] RateLimitError),
    /// Rejected by the concurrency limit, or the limit is closed.
    #[error("rejected by the concurrency limit")]
    Overloaded(#[source] LimitError),
    /// The inner service failed.
    #[error("inner service failed")]
    Inner(#[source] E),
}
