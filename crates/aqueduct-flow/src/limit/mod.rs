//! Concurrency limits: a fixed, resizable [`ConcurrencyLimit`] and an
//! [`AdaptiveLimit`] that finds its own size (AIMD).

mod adaptive;
mod concurrency;

pub use adaptive::{AdaptiveLimit, AdaptiveLimitBuilder, AdaptivePermit, AdaptiveSnapshot};
pub use concurrency::{ConcurrencyLimit, ConcurrencyPermit, ConcurrencySnapshot};

/// Why a concurrency limit did not give a permit.
///
/// ```
/// use aqueduct_flow::{ConcurrencyLimit, LimitError};
/// let limit = ConcurrencyLimit::new(1);
/// let _held = limit.try_acquire().unwrap();
/// assert!(matches!(limit.try_acquire(), Err(LimitError::Full { limit: 1 })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// Every permit is in use (fail-fast calls only).
    #[error("concurrency limit of {limit} reached")]
    Full {
        /// The limit in force.
        limit: usize,
    },
    /// The limit was closed with [`ConcurrencyLimit::close`].
    #[error("concurrency limit closed")]
    Closed,
}
