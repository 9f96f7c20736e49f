//! [`Shutdown`]: one token to signal, one tracker to wait on, a grace period
//! and a report.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// What a graceful shutdown achieved.
///
/// ```
/// let r = aqueduct_io::ShutdownReport { in_flight: 3, finished: 2, aborted: 1, elapsed: Default::default() };
/// assert!(!r.is_clean());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Tasks still running when the shutdown was triggered
    /// (`finished + aborted`).
    pub in_flight: usize,
    /// Tasks that completed during the grace period.
    pub finished: u64,
    /// Tasks dropped when the grace period ran out (or that panicked).
    pub aborted: u64,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// `true` if nothing had to be aborted.
    ///
    /// ```
    /// assert!(aqueduct_io::ShutdownReport::default().is_clean());
    /// ```
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.aborted == 0
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in flight: {} finished, {} aborted in {:?}",
            self.in_flight, self.finished, self.aborted, self.elapsed
        )
    }
}

/// Tracked tasks and how those still running when a shutdown began ended:
/// the part of a graceful shutdown [`Shutdown`] and the server share.
#[derive(Debug)]
pub(crate) struct Drain {
    pub(crate) tracker: TaskTracker,
    finished: AtomicU64,
    aborted: AtomicU64,
}

impl Drain {
    pub(crate) fn new() -> Self {
        Self {
            tracker: TaskTracker::new(),
            finished: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
        }
    }

    /// Counts a task that ended on its own during the grace period.
    pub(crate) fn count_finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a task dropped when the grace period ran out.
    pub(crate) fn count_aborted(&self) {
        self.aborted.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the tracker and waits up to `grace` for its tasks; if some
    /// still run then, calls `abort` and waits for them to go. The report
    /// counts from `start`, when the shutdown began.
    pub(crate) async fn run(
        &self,
        grace: Duration,
        start: Instant,
        abort: impl FnOnce(),
    ) -> ShutdownReport {
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            abort();
            self.tracker.wait().await;
        }
        let finished = self.finished.load(Ordering::Relaxed);
        let aborted = self.aborted.load(Ordering::Relaxed);
        ShutdownReport {
            in_flight: usize::try_from(finished + aborted).unwrap_or(usize::MAX),
            finished,
            aborted,
            elapsed: start.elapsed(),
        }
    }
}

struct Inner {
    token: CancellationToken,
    hard: CancellationToken,
    drain: Drain,
}

/// Coordinates a graceful shutdown: a [`CancellationToken`] that tells tasks
/// to wind down, a [`TaskTracker`] of the tasks spawned through
/// [`spawn`](Shutdown::spawn), and [`shutdown`](Shutdown::shutdown), which
/// signals, waits up to a grace period, then drops whatever is left and
/// reports how many tasks finished and how many were aborted.
///
/// Cloning is cheap; clones share the same state.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_io::Shutdown;
///
/// let shutdown = Shutdown::new();
/// // A well-behaved worker: stops when told.
/// let token = shutdown.token();
/// shutdown.spawn(async move { token.cancelled().await });
/// // A stubborn one.
/// shutdown.spawn(tokio::time::sleep(Duration::from_secs(3600)));
///
/// let report = shutdown.shutdown(Duration::from_secs(5)).await;
/// assert_eq!((report.in_flight, report.finished, report.aborted), (2, 1, 1));
/// assert_eq!(report.elapsed, Duration::from_secs(5));
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .field("tasks", &self.inner.drain.tracker.len())
            .finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

pin_project_lite::pin_project! {
    /// A tracked task: its future, raced (biased towards the task) against
    /// the end of the grace period. It holds a single waiter: on the shutdown
    /// token first (when that fires the task is polled once more, so it can
    /// notice), then on the end of the grace period. Written by hand rather
    /// than with `select!` so the task stays as small as its future allows.
    pub(crate) struct Tracked<F> {
        #[pin]
        task: F,
        #[pin]
        wait: WaitForCancellationFutureOwned,
        graceful: bool,
        outcome: Outcome,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Poll::Ready(out) = this.task.as_mut().poll(cx) {
                this.outcome.done = true;
                return Poll::Ready(Some(out));
            }
            match this.wait.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if *this.graceful => {
                    // Shutdown signalled: poll the task again (above), then
                    // wait for the end of the grace period.
                    *this.graceful = false;
                    this.wait
                        .set(this.outcome.inner.hard.clone().cancelled_owned());
                }
                Poll::Ready(()) => return Poll::Ready(None),
            }
        }
    }
}

/// Counts a tracked task as finished or aborted when it ends.
struct Outcome {
    inner: Arc<Inner>,
    done: bool,
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if self.done {
            if self.inner.token.is_cancelled() {
                self.inner.drain.count_finished();
            }
        } else if self.inner.token.is_cancelled() {
            self.inner.drain.count_aborted();
        }
    }
}

impl Shutdown {
    /// A new coordinator, not triggered.
    ///
    /// ```
    /// assert!(!aqueduct_io::Shutdown::new().is_triggered());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                token: CancellationToken::new(),
                hard: CancellationToken::new(),
                drain: Drain::new(),
            }),
        }
    }

    /// The token tasks watch to know they should wind down.
    ///
    /// ```
    /// let s = aqueduct_io::Shutdown::new();
    /// let t = s.token();
    /// s.trigger();
    /// assert!(t.is_cancelled());
    /// ```
    #[must_use]
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Signals the token without waiting for anything.
    ///
    /// ```
    /// let s = aqueduct_io::Shutdown::new();
    /// s.trigger();
    /// assert!(s.is_triggered());
    /// ```
    pub fn trigger(&self) {
        self.inner.token.cancel();
    }

    /// `true` once the token is signalled.
    ///
    /// ```
    /// assert!(!aqueduct_io::Shutdown::new().is_triggered());
    /// ```
    #[must_use]
    pub fn is_triggered(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Waits until the shutdown is triggered.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = aqueduct_io::Shutdown::new();
    /// s.trigger();
    /// s.triggered().await;
    /// # }
    /// ```
    pub async fn triggered(&self) {
        self.inner.token.cancelled().await;
    }

    /// The number of tracked tasks still running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = aqueduct_io::Shutdown::new();
    /// let t = s.token();
    /// s.spawn(async move { t.cancelled().await });
    /// assert_eq!(s.tasks(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn tasks(&self) -> usize {
        self.inner.drain.tracker.len()
    }

    /// Spawns `task` on the current runtime, tracked: [`shutdown`](Self::shutdown)
    /// waits for it and, after the grace period, drops it. The handle yields
    /// `Some(output)`, or `None` if the task was aborted.
    ///
    /// When the shutdown is triggered, every tracked task is polled once
    /// more, so a hand-written future can check [`is_triggered`](Self::is_triggered)
    /// (or its token's `is_cancelled`) in `poll` without holding a waiter of
    /// its own.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = aqueduct_io::Shutdown::new();
    /// assert_eq!(s.spawn(async { 7 }).await.unwrap(), Some(7));
    /// # }
    /// ```
    pub fn spawn<F>(&self, task: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.drain.tracker.spawn(self.wrap(task))
    }

    /// The future [`spawn`](Self::spawn) runs: `task`, dropped at the end of
    /// the grace period, with its outcome counted.
    pub(crate) fn wrap<F: Future>(&self, task: F) -> Tracked<F> {
        Tracked {
            task,
            wait: self.inner.token.clone().cancelled_owned(),
            graceful: true,
            outcome: Outcome {
                inner: Arc::clone(&self.inner),
                done: false,
            },
        }
    }

    /// Spawns an (untracked) task that triggers the shutdown on Ctrl-C
    /// (SIGINT). It ends by itself once the shutdown is triggered by any
    /// means.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = aqueduct_io::Shutdown::new();
    /// let hook = s.listen_ctrl_c();
    /// s.trigger();
    /// hook.await.unwrap();
    /// # }
    /// ```
    pub fn listen_ctrl_c(&self) -> JoinHandle<()> {
        let token = self.inner.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_ok() {
                        token.cancel();
                    }
                }
                () = token.cancelled() => {}
            }
        })
    }

    /// Shuts down: signals the token, waits up to `grace` for the tracked
    /// tasks, then drops those still running (at their next `.await`) and
    /// reports. A task spawned while this runs is tracked and waited for
    /// like the others. Once a grace period has run out with tasks still
    /// running, a task spawned later is dropped as soon as it has to wait.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the token signalled but aborts nothing;
    /// calling `shutdown` again resumes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let s = aqueduct_io::Shutdown::new();
    /// let t = s.token();
    /// s.spawn(async move {
    ///     t.cancelled().await;
    ///     tokio::time::sleep(Duration::from_millis(200)).await; // flush, say goodbye
    /// });
    /// let report = s.shutdown(Duration::from_secs(1)).await;
    /// assert_eq!((report.finished, report.aborted), (1, 0));
    /// assert_eq!(report.elapsed, Duration::from_millis(200));
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let start = Instant::now();
        let inner = &self.inner;
        inner.token.cancel();
        inner.drain.run(grace, start, || inner.hard.cancel()).await
    }
}
