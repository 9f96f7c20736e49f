//! [`PoolError`]: why a checkout failed.

use std::sync::Arc;
use std::time::Duration;

/// Why [`Pool::get`](crate::Pool::get) or [`Pool::try_get`](crate::Pool::try_get)
/// returned no object.
///
/// `E` is the manager's error type.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_pool::{Manager, Pool, PoolError};
/// # struct Unit;
/// # impl Manager for Unit { type Object = (); type Error = ();
/// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
/// let pool = Pool::builder(Unit)
///     .max_size(1)
///     .wait_timeout(Duration::from_millis(50))
///     .build_lazy()
///     .unwrap();
/// let held = pool.get().await.unwrap();
/// match pool.get().await {
///     Err(PoolError::Timeout { waited, .. }) => assert_eq!(waited, Duration::from_millis(50)),
///     _ => unreachable!(),
/// }
/// # drop(held);
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E> {
    /// No object became available within `wait_timeout`.
    ///
    /// A `get` whose own [`Manager::create`](crate::Manager::create) fails
    /// gets [`PoolError::Create`] at once; `last_create_error` is the most
    /// recent create failure that no caller received (a top-up to
    /// `min_idle`), so a backend that is failing is named, not hidden behind
    /// the timeout.
    #[error("no object within the wait timeout ({waited:?})")]
    Timeout {
        /// How long the caller waited.
        waited: Duration,
        /// The most recent create failure no caller received (a top-up),
        /// if any. It is kept until the next such failure, so it may
        /// predate the wait: it names a backend that has been failing, not
        /// the cause of this timeout. Only errors the manager returned are
        /// kept: a top-up that ran past `create_timeout` has none to keep.
        #[source]
        last_create_error: Option<Arc<E>>,
    },
    /// [`Manager::create`](crate::Manager::create) failed.
    #[error("creating an object failed")]
    Create(#[source] E),
    /// [`Manager::create`](crate::Manager::create) took longer than
    /// `create_timeout`.
    #[error("creating an object took longer than the create timeout ({timeout:?})")]
    CreateTimeout {
        /// The configured `create_timeout`.
        timeout: Duration,
    },
    /// [`Pool::try_get`](crate::Pool::try_get) found no clean idle object
    /// to hand out at once. It never creates one, so a pool with room left
    /// but nothing idle says this too; nor does it go ahead of callers
    /// queued in `get`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool, PoolError};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(4).build_lazy().unwrap();
    /// let err = pool.try_get().unwrap_err(); // room for 4, none made yet
    /// assert!(matches!(err, PoolError::Exhausted { in_use: 0, max_size: 4 }));
    /// drop(pool.get().await.unwrap()); // `get` creates one
    /// assert!(pool.try_get().is_ok());
    /// # }
    /// ```
    #[error("no idle object ({in_use} of {max_size} in use)")]
    Exhausted {
        /// Objects checked out or being made.
        in_use: usize,
        /// The pool's `max_size`.
        max_size: usize,
    },
    /// The pool was closed.
    #[error("the pool is closed")]
    Closed,
    /// [`Pool::close`](crate::Pool::close) gave up waiting for borrowed
    /// objects.
    #[error("{outstanding} object(s) still borrowed after the close timeout ({waited:?})")]
    CloseTimeout {
        /// Objects still checked out when the wait ended.
        outstanding: usize,
        /// The configured `close_timeout`.
        waited: Duration,
    },
}

impl<E> PoolError<E> {
    /// `true` for the two timeouts a caller may retry: waiting and creating.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_pool::PoolError;
    /// let e: PoolError<()> = PoolError::CreateTimeout { timeout: Duration::from_secs(1) };
    /// assert!(e.is_timeout());
    /// assert!(!PoolError::<()>::Closed.is_timeout());
    /// ```
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::CreateTimeout { .. })
    }
}
