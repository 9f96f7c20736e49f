//! Deciding, per error, whether to retry.

use std::time::Duration;

/// What to do after a failed attempt.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::retry::Action;
///
/// fn classify(status: &u16) -> Action {
///     match *status {
///         429 => Action::RetryAfter(Duration::from_secs(1)),
///         500..=599 => Action::Retry,
///         _ => Action::Stop,
///     }
/// }
/// assert_eq!(classify(&404), Action::Stop);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Retry after the backoff's next delay.
    Retry,
    /// Retry after exactly this delay (a server's `Retry-After`, say),
    /// still within the deadline and `max_elapsed`.
    RetryAfter(Duration),
    /// Do not retry: the error is permanent.
    Stop,
}

/// Decides, per error, whether to retry. Implemented by every
/// `Fn(&E) -> Action` and by [`RetryAll`].
///
/// ```
/// use aqueduct_resilience::retry::{Action, Classify};
/// let c = |e: &std::io::Error| if e.kind() == std::io::ErrorKind::NotFound { Action::Stop } else { Action::Retry };
/// assert_eq!(c.classify(&std::io::ErrorKind::NotFound.into()), Action::Stop);
/// ```
pub trait Classify<E> {
    /// What to do after `error`.
    fn classify(&self, error: &E) -> Action;
}

/// The default classifier: every error is retried.
///
/// ```
/// use aqueduct_resilience::retry::{Action, Classify, RetryAll};
/// assert_eq!(RetryAll.classify(&"any error"), Action::Retry);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryAll;

impl<E> Classify<E> for RetryAll {
    #[inline]
    fn classify(&self, _: &E) -> Action {
        Action::Retry
    }
}

impl<E, F: Fn(&E) -> Action> Classify<E> for F {
    #[inline]
    fn classify(&self, error: &E) -> Action {
        self(error)
    }
}

/// Called before each retry with the number of the attempt that failed
/// (1-based), its error and the delay about to be slept. Implemented by
/// every `Fn(u32, &E, Duration)` and by [`NoHook`].
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::retry::OnRetry;
/// let hook = |attempt: u32, e: &&str, delay: Duration| println!("attempt {attempt} failed: {e}; retry in {delay:?}");
/// hook.on_retry(1, &"refused", Duration::from_millis(100));
/// ```
pub trait OnRetry<E> {
    /// Called before the sleep that precedes a retry.
    fn on_retry(&self, attempt: u32, error: &E, delay: Duration);
}

/// The default hook: does nothing.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::retry::{NoHook, OnRetry};
/// NoHook.on_retry(1, &(), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoHook;

impl<E> OnRetry<E> for NoHook {
    #[inline]
    fn on_retry(&self, _: u32, _: &E, _: Duration) {}
}

impl<E, F: Fn(u32, &E, Duration)> OnRetry<E> for F {
    #[inline]
    fn on_retry(&self, attempt: u32, error: &E, delay: Duration) {
        self(attempt, error, delay);
    }
}
