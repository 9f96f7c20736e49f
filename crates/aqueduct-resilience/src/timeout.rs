//! A timeout with a typed error that names the limit.
//!
//! [`timeout`] is `tokio::time::timeout` plus two things: the error,
//! [`Elapsed`], carries the duration that was exceeded, and the wait is
//! clamped to the task's current [`Deadline`], so a
//! 5 s timeout inside a scope with 200 ms left gives up after 200 ms.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::deadline::Deadline;

/// The error of [`timeout`]: the operation did not finish in time.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::timeout;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let err = timeout(Duration::from_millis(50), std::future::pending::<()>())
///     .await
///     .unwrap_err();
/// assert_eq!(err.timeout(), Duration::from_millis(50));
/// assert!(!err.by_deadline());
/// assert_eq!(err.to_string(), "operation timed out after 50ms");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("operation timed out after {timeout:?}{}", if *.by_deadline { " (cut short by the deadline)" } else { "" })]
pub struct Elapsed {
    timeout: Duration,
    by_deadline: bool,
}

impl Elapsed {
    /// Builds the error for a wait of `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = aqueduct_resilience::Elapsed::new(Duration::from_secs(1));
    /// assert_eq!(e.timeout(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            by_deadline: false,
        }
    }

    /// The timeout that was asked for.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(aqueduct_resilience::Elapsed::new(Duration::from_secs(2)).timeout(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `true` if the task's deadline was nearer than the timeout and ended
    /// the wait first.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert!(!aqueduct_resilience::Elapsed::new(Duration::from_secs(2)).by_deadline());
    /// ```
    #[must_use]
    pub const fn by_deadline(&self) -> bool {
        self.by_deadline
    }
}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `fut` for at most `d`, or less if the task's current
/// [`Deadline`] comes first.
///
/// The clock starts at the first poll (read once), and the task's deadline
/// is looked up then too, so `Deadline::scope(dl, timeout(d, fut))` is
/// clamped by `dl`.
///
/// # Errors
///
/// [`Elapsed`] (carrying `d`) if `fut` did not finish in time; `fut` is
/// dropped then.
///
/// # Cancel safety
///
/// The returned future is as cancel safe as `fut`; on timeout `fut` is
/// dropped at its current `.await`, so only use it around operations that
/// lose nothing when dropped.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::timeout;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
/// let slow = tokio::time::sleep(Duration::from_secs(2));
/// assert!(timeout(Duration::from_secs(1), slow).await.is_err());
/// # }
/// ```
pub fn timeout<F: Future>(d: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: None,
        err: Elapsed {
            timeout: d,
            by_deadline: false,
        },
    }
}

/// When a wait of `d` starting now ends, clamped to the task's deadline,
/// and whether the deadline is what ends it.
pub(crate) fn wait_until(d: Duration) -> (Instant, bool) {
    let now = Instant::now();
    match (now.checked_add(d), Deadline::current()) {
        (Some(own), Some(dl)) if dl.instant() < own => (dl.instant(), true),
        (Some(own), _) => (own, false),
        (None, Some(dl)) => (dl.instant(), true),
        (None, None) => (far_future(now), false),
    }
}

/// An instant about thirty years ahead, what tokio uses for "never".
pub(crate) fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86_400 * 365 * 30)
}

pin_project! {
    /// The future returned by [`timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let t: aqueduct_resilience::timeout::Timeout<_> =
    ///     aqueduct_resilience::timeout(Duration::from_secs(1), async { 1 });
    /// assert_eq!(t.await, Ok(1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        #[pin]
        sleep: Option<Sleep>,
        err: Elapsed,
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("timeout", &self.err.timeout)
            .field("deadline", &self.sleep.as_ref().map(Sleep::deadline))
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if this.sleep.is_none() {
            let (at, by_deadline) = wait_until(this.err.timeout);
            this.err.by_deadline = by_deadline;
            this.sleep.set(Some(sleep_until(at)));
        }
        let Some(sleep) = this.sleep.as_pin_mut() else {
            unreachable!("the sleep was set above")
        };
        match sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(*this.err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_at_the_timeout_not_before() {
        let start = Instant::now();
        let err = timeout(Duration::from_millis(300), std::future::pending::<()>())
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        assert_eq!(err, Elapsed::new(Duration::from_millis(300)));
    }

    #[tokio::test(start_paused = true)]
    async fn clamped_by_the_scope_deadline() {
        let start = Instant::now();
        let dl = Deadline::after(Duration::from_millis(100));
        let err = Deadline::scope(
            dl,
            timeout(Duration::from_secs(5), std::future::pending::<()>()),
        )
        .await
        .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert!(err.by_deadline());
        assert_eq!(err.timeout(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn huge_timeout_does_not_overflow() {
        assert_eq!(timeout(Duration::MAX, async { 3 }).await, Ok(3));
    }
}
