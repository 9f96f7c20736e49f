//! Restarting a failed task: a [`RestartPolicy`] with exponential backoff and
//! a restart limit, and [`supervise`] to run a task under it.
//!
//! ```
//! use aqueduct_flow::supervisor::{Exit, RestartPolicy, supervise};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let runs = Arc::new(AtomicU32::new(0));
//! let r = Arc::clone(&runs);
//! let task = supervise(RestartPolicy::new().max_restarts(5), move || {
//!     let r = Arc::clone(&r);
//!     async move {
//!         // Fails twice, then does its work and finishes.
//!         if r.fetch_add(1, Ordering::SeqCst) < 2 { Err("not yet") } else { Ok(()) }
//!     }
//! });
//! assert!(matches!(task.join().await, Exit::Completed { restarts: 2 }));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use crate::panic::CatchUnwind;

/// When and how often to restart a supervised task.
///
/// ```
/// use aqueduct_flow::supervisor::RestartPolicy;
/// use std::time::Duration;
/// let p = RestartPolicy::new()
///     .max_restarts(3)
///     .backoff(Duration::from_millis(100), Duration::from_secs(5))
///     .reset_after(Duration::from_secs(60));
/// assert_eq!(p.delay(0), Duration::from_millis(100));
/// assert_eq!(p.delay(2), Duration::from_millis(400));
/// assert_eq!(p.delay(20), Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    max_restarts: u32,
    initial: Duration,
    max_delay: Duration,
    reset_after: Option<Duration>,
    restart_on_success: bool,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            reset_after: None,
            restart_on_success: false,
        }
    }
}

impl RestartPolicy {
    /// Restart on failure or panic, at most 5 times, after 100 ms doubling
    /// up to 30 s.
    ///
    /// ```
    /// let _ = aqueduct_flow::supervisor::RestartPolicy::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The most restarts before giving up.
    ///
    /// ```
    /// let _ = aqueduct_flow::supervisor::RestartPolicy::new().max_restarts(0); // never restart
    /// ```
    #[must_use]
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = n;
        self
    }

    /// The first delay and the cap of the doubling backoff.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = aqueduct_flow::supervisor::RestartPolicy::new()
    ///     .backoff(Duration::from_millis(10), Duration::from_millis(15));
    /// assert_eq!(p.delay(1), Duration::from_millis(15));
    /// ```
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max_delay: Duration) -> Self {
        self.initial = initial;
        self.max_delay = max_delay.max(initial);
        self
    }

    /// A run that lasted at least `healthy` resets the restart count and the
    /// backoff, so a task that fails once a day is never given up on.
    ///
    /// ```
    /// let _ = aqueduct_flow::supervisor::RestartPolicy::new()
    ///     .reset_after(std::time::Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn reset_after(mut self, healthy: Duration) -> Self {
        self.reset_after = Some(healthy);
        self
    }

    /// Also restart a task that returned `Ok` (a service loop that must
    /// always run).
    ///
    /// ```
    /// let _ = aqueduct_flow::supervisor::RestartPolicy::new().restart_on_success(true);
    /// ```
    #[must_use]
    pub fn restart_on_success(mut self, yes: bool) -> Self {
        self.restart_on_success = yes;
        self
    }

    /// The delay before restart number `attempt` (0-based).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = aqueduct_flow::supervisor::RestartPolicy::new();
    /// assert_eq!(p.delay(1), Duration::from_millis(200));
    /// ```
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Why a supervised run ended badly.
///
/// ```
/// use aqueduct_flow::supervisor::Failure;
/// let f: Failure<&str> = Failure::Error("down");
/// assert_eq!(f.to_string(), "task failed: down");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure<E> {
    /// It returned an error.
    #[error("task failed: {0}")]
    Error(#[source] E),
    /// It panicked.
    #[error("task panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
}

/// How supervision ended.
///
/// ```
/// use aqueduct_flow::supervisor::{Exit, RestartPolicy, supervise};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let t = supervise(RestartPolicy::new().max_restarts(1), || async { Err::<(), _>("no") });
/// assert!(matches!(t.join().await, Exit::GaveUp { restarts: 1, .. }));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Exit<E> {
    /// The task returned `Ok` (and the policy does not restart successes).
    Completed {
        /// Restarts it took.
        restarts: u32,
    },
    /// The restart limit was reached.
    GaveUp {
        /// Restarts made.
        restarts: u32,
        /// The last failure.
        last: Failure<E>,
    },
    /// The supervisor task was aborted or panicked itself.
    Aborted,
}

/// A supervised task. Dropping it aborts the task (it is owned).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_flow::supervisor::{RestartPolicy, supervise};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let stopped = Arc::new(AtomicBool::new(false));
/// struct SetOnDrop(Arc<AtomicBool>);
/// impl Drop for SetOnDrop {
///     fn drop(&mut self) { self.0.store(true, Ordering::SeqCst); }
/// }
/// let flag = Arc::clone(&stopped);
/// let task = supervise(RestartPolicy::new(), move || {
///     let guard = SetOnDrop(Arc::clone(&flag));
///     async move {
///         let _guard = guard;
///         std::future::pending::<Result<(), ()>>().await
///     }
/// });
/// tokio::task::yield_now().await; // the task starts
/// drop(task); // aborts it: its future, and the guard in it, are dropped
/// tokio::task::yield_now().await;
/// assert!(stopped.load(Ordering::SeqCst));
/// # }
/// ```
pub struct Supervised<E> {
    handle: AbortOnDropHandle<Exit<E>>,
    restarts: Arc<AtomicU32>,
}

impl<E> fmt::Debug for Supervised<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervised")
            .field("restarts", &self.restarts())
            .finish_non_exhaustive()
    }
}

impl<E> Supervised<E> {
    /// Restarts made so far.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use aqueduct_flow::supervisor::{RestartPolicy, supervise};
    /// let t = supervise(RestartPolicy::new(), || async { Ok::<(), ()>(()) });
    /// assert_eq!(t.restarts(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Stops the task now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use aqueduct_flow::supervisor::{Exit, RestartPolicy, supervise};
    /// let t = supervise(RestartPolicy::new(), || std::future::pending::<Result<(), ()>>());
    /// t.abort();
    /// assert!(matches!(t.join().await, Exit::Aborted));
    /// # }
    /// ```
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Waits for supervision to end.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the handle, which aborts the task.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use aqueduct_flow::supervisor::{Exit, RestartPolicy, supervise};
    /// let t = supervise(RestartPolicy::new(), || async { Ok::<(), ()>(()) });
    /// assert!(matches!(t.join().await, Exit::Completed { restarts: 0 }));
    /// # }
    /// ```
    pub async fn join(self) -> Exit<E> {
        self.handle.await.unwrap_or(Exit::Aborted)
    }
}

/// Runs the task `factory` makes on a spawned tokio task, and makes and runs
/// a new one after each failure or panic, by `policy`. A panic of `factory`
/// itself counts as a panic of the task it was making.
///
/// # Panics
///
/// Outside a tokio runtime.
///
/// ```
/// use aqueduct_flow::supervisor::{Exit, Failure, RestartPolicy, supervise};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = tokio::time::Instant::now();
/// let t = supervise(RestartPolicy::new().max_restarts(2), || async {
///     if true { panic!("bad state") }
///     Ok::<(), ()>(())
/// });
/// match t.join().await {
///     Exit::GaveUp { restarts: 2, last: Failure::Panicked { message } } => assert_eq!(message, "bad state"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(start.elapsed(), Duration::from_millis(300)); // 100 + 200 ms of backoff
/// # }
/// ```
pub fn supervise<F, Fut, E>(policy: RestartPolicy, mut factory: F) -> Supervised<E>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    let restarts = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&restarts);
    let handle = tokio::spawn(async move {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            // The factory is called inside the catch too: a factory that
            // panics is a failed run like a task that panics.
            let run = async { factory().await };
            let failure = match CatchUnwind::new(run).await {
                Ok(Ok(())) if !policy.restart_on_success => {
                    return Exit::Completed {
                        restarts: counter.load(Ordering::Relaxed),
                    };
                }
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Failure::Error(e)),
                Err(message) => Some(Failure::Panicked { message }),
            };
            if policy.reset_after.is_some_and(|h| started.elapsed() >= h) {
                attempt = 0;
            }
            if attempt >= policy.max_restarts {
                let restarts = counter.load(Ordering::Relaxed);
                return match failure {
                    Some(last) => Exit::GaveUp { restarts, last },
                    None => Exit::Completed { restarts },
                };
            }
            #[cfg(feature = "tracing")]
            tracing::warn!(attempt, "supervised task ended; restarting");
            tokio::time::sleep(policy.delay(attempt)).await;
            attempt += 1;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    Supervised {
        handle: AbortOnDropHandle::new(handle),
        restarts,
    }
}
