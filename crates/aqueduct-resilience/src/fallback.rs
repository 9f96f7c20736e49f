//! Fallbacks: a value or another computation when an operation fails or
//! takes too long.

use std::future::Future;
use std::time::Duration;

use crate::timeout::{Elapsed, timeout};

/// Why a fallback was used.
///
/// ```
/// use aqueduct_resilience::fallback::Cause;
/// let c: Cause<&str> = Cause::Error("refused");
/// assert_eq!(c.error(), Some(&"refused"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause<E> {
    /// The operation failed.
    Error(E),
    /// The operation did not finish in time.
    Timeout(Elapsed),
}

impl<E> Cause<E> {
    /// The operation's error, if that is the cause.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Elapsed, fallback::Cause};
    /// assert_eq!(Cause::<()>::Timeout(Elapsed::new(Duration::from_secs(1))).error(), None);
    /// ```
    #[must_use]
    pub fn error(&self) -> Option<&E> {
        match self {
            Self::Error(e) => Some(e),
            Self::Timeout(_) => None,
        }
    }
}

/// Awaits `fut`; on error, returns `value` instead.
///
/// # Cancel safety
///
/// As cancel safe as `fut`.
///
/// ```
/// use aqueduct_resilience::fallback;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let v = fallback(async { Err::<u32, _>("cache down") }, 0).await;
/// assert_eq!(v, 0);
/// # }
/// ```
pub async fn fallback<F, T, E>(fut: F, value: T) -> T
where
    F: Future<Output = Result<T, E>>,
{
    fut.await.unwrap_or(value)
}

/// Awaits `fut`; on error, awaits `f(error)` instead.
///
/// # Cancel safety
///
/// As cancel safe as `fut` and the future `f` returns.
///
/// ```
/// use aqueduct_resilience::fallback::fallback_with;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let v = fallback_with(async { Err::<String, _>("primary down") }, |e| async move {
///     format!("from the replica ({e})")
/// })
/// .await;
/// assert_eq!(v, "from the replica (primary down)");
/// # }
/// ```
pub async fn fallback_with<F, T, E, G, GFut>(fut: F, f: G) -> T
where
    F: Future<Output = Result<T, E>>,
    G: FnOnce(E) -> GFut,
    GFut: Future<Output = T>,
{
    match fut.await {
        Ok(v) => v,
        Err(e) => f(e).await,
    }
}

/// Runs `fut` for at most `d` (clamped to the task's deadline); on error or
/// timeout, returns `value` instead.
///
/// # Cancel safety
///
/// As cancel safe as `fut`, which is dropped on timeout.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::fallback::timeout_or;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, ()>("fresh")
/// };
/// assert_eq!(timeout_or(Duration::from_millis(100), slow, "cached").await, "cached");
/// # }
/// ```
pub async fn timeout_or<F, T, E>(d: Duration, fut: F, value: T) -> T
where
    F: Future<Output = Result<T, E>>,
{
    match timeout(d, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(_)) | Err(_) => value,
    }
}

/// Runs `fut` for at most `d` (clamped to the task's deadline); on error or
/// timeout, awaits `f(cause)` instead.
///
/// # Cancel safety
///
/// As cancel safe as `fut` (dropped on timeout) and the future `f` returns.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::fallback::{Cause, timeout_or_else};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let v = timeout_or_else(Duration::from_millis(50), std::future::pending::<Result<u8, ()>>(), |cause| async move {
///     assert!(matches!(cause, Cause::Timeout(_)));
///     7
/// })
/// .await;
/// assert_eq!(v, 7);
/// # }
/// ```
pub async fn timeout_or_else<F, T, E, G, GFut>(d: Duration, fut: F, f: G) -> T
where
    F: Future<Output = Result<T, E>>,
    G: FnOnce(Cause<E>) -> GFut,
    GFut: Future<Output = T>,
{
    match timeout(d, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => f(Cause::Error(e)).await,
        Err(elapsed) => f(Cause::Timeout(elapsed)).await,
    }
}
