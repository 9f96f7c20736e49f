//! [`ResilienceFutureExt`]: the timeout, deadline and fallback wrappers as
//! methods on any future.

use std::future::Future;
use std::time::Duration;

use crate::deadline::{Deadline, DeadlineExceeded, Scope};
use crate::fallback;
use crate::timeout::{Timeout, timeout};

/// Timeouts, deadlines and fallbacks as methods on futures.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Deadline, ResilienceFutureExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let slow = tokio::time::sleep(Duration::from_secs(5));
/// assert!(slow.timeout(Duration::from_millis(10)).await.is_err());
///
/// let dl = Deadline::after(Duration::from_millis(100));
/// assert_eq!(async { 1 }.within(dl).await, Ok(1));
///
/// let price = async { Err::<u32, &str>("feed down") }.or_value(99).await;
/// assert_eq!(price, 99);
/// # }
/// ```
pub trait ResilienceFutureExt: Future + Sized {
    /// [`timeout`](crate::timeout()) as a method: at most `d`, clamped to
    /// the task's deadline.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `self`, which is dropped on timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::ResilienceFutureExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// assert_eq!(async { 2 }.timeout(Duration::from_secs(1)).await, Ok(2));
    /// # }
    /// ```
    fn timeout(self, d: Duration) -> Timeout<Self> {
        timeout(d, self)
    }

    /// [`Deadline::run`] as a method: the deadline in scope and enforced.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `self`, which is dropped when the deadline passes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Deadline, ResilienceFutureExt};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = Deadline::after(Duration::from_millis(5));
    /// assert!(tokio::time::sleep(Duration::from_secs(1)).within(dl).await.is_err());
    /// # }
    /// ```
    fn within(
        self,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Self::Output, DeadlineExceeded>> {
        deadline.run(self)
    }

    /// [`Deadline::scope`] as a method: the deadline in scope, not enforced.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Deadline, ResilienceFutureExt};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = Deadline::after(Duration::from_secs(1));
    /// assert_eq!(async { Deadline::current() }.in_scope(dl).await, Some(dl));
    /// # }
    /// ```
    fn in_scope(self, deadline: Deadline) -> Scope<Self> {
        Deadline::scope(deadline, self)
    }

    /// [`fallback`](crate::fallback()) as a method: `value` on error.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `self`.
    ///
    /// ```
    /// use aqueduct_resilience::ResilienceFutureExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(async { Err::<u8, ()>(()) }.or_value(0).await, 0);
    /// # }
    /// ```
    fn or_value<T, E>(self, value: T) -> impl Future<Output = T>
    where
        Self: Future<Output = Result<T, E>>,
    {
        fallback::fallback(self, value)
    }

    /// [`fallback_with`](crate::fallback::fallback_with) as a method:
    /// `f(error)` on error.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `self` and the future `f` returns.
    ///
    /// ```
    /// use aqueduct_resilience::ResilienceFutureExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v = async { Err::<String, _>("primary") }.or_else_async(|e| async move { format!("replica after {e}") }).await;
    /// assert_eq!(v, "replica after primary");
    /// # }
    /// ```
    fn or_else_async<T, E, G, GFut>(self, f: G) -> impl Future<Output = T>
    where
        Self: Future<Output = Result<T, E>>,
        G: FnOnce(E) -> GFut,
        GFut: Future<Output = T>,
    {
        fallback::fallback_with(self, f)
    }
}

impl<F: Future> ResilienceFutureExt for F {}
