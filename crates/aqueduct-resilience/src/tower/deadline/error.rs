use crate::deadline::DeadlineExceeded;

/// The error of [`DeadlineService`](super::DeadlineService).
///
/// ```
/// use aqueduct_resilience::tower::deadline::DeadlineError;
/// let e: DeadlineError<std::io::Error> = DeadlineError::Inner(std::io::ErrorKind::Other.into());
/// assert_eq!(e.to_string(), "call failed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadlineError<E> {
    /// The deadline passed before the call finished (or before it started).
    #[error("deadline exceeded")]
    Exceeded(#[source] DeadlineExceeded),
    /// The call failed.
    #[error("call failed")]
    Inner(#[source] E),
}
