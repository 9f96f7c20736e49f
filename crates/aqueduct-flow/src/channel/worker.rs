use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle};

use crate::panic::CatchUnwind;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Debug, Default)]
struct Counters {
    busy: AtomicUsize,
    completed: AtomicU64,
    panicked: AtomicU64,
}

/// `N` tasks running jobs from one bounded queue.
///
/// [`submit`](Self::submit) waits while the queue is full (backpressure on
/// the producer), [`try_submit`](Self::try_submit) fails fast. Each job has a
/// [`JobHandle`] to await its result. A job that panics is reported through
/// its handle and in the stats; its worker goes on with the next job.
/// [`close`](Self::close) stops intake, lets the workers drain the queue,
/// and aborts what is left after a grace period.
///
/// ```
/// use aqueduct_flow::channel::WorkerPool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = WorkerPool::new(4, 16);
/// let h = pool.submit(async { 6 * 7 }).await.unwrap();
/// assert_eq!(h.await.unwrap(), 42);
/// let report = pool.close(std::time::Duration::from_secs(1)).await;
/// assert_eq!(report.aborted, 0);
/// # }
/// ```
pub struct WorkerPool {
    tx: RwLock<Option<mpsc::Sender<Job>>>,
    capacity: usize,
    worker_count: usize,
    /// Taken by `close`, which joins them.
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Every worker, for `Drop`, even after a `close` that was cancelled.
    aborts: Box<[AbortHandle]>,
    counters: Arc<Counters>,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Figures of a [`WorkerPool`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = aqueduct_flow::channel::WorkerPool::new(2, 4);
/// assert_eq!(pool.stats().workers, 2);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerPoolStats {
    /// Worker tasks started.
    pub workers: usize,
    /// Workers running a job now.
    pub busy: usize,
    /// Jobs waiting in the queue.
    pub queued: usize,
    /// The queue's bound.
    pub capacity: usize,
    /// Jobs finished (including those that panicked).
    pub completed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
}

/// What [`WorkerPool::close`] did.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = aqueduct_flow::channel::WorkerPool::new(1, 1);
/// let r = pool.close(std::time::Duration::from_millis(10)).await;
/// assert_eq!((r.completed, r.aborted), (0, 0));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// Jobs completed over the pool's life.
    pub completed: u64,
    /// Workers still busy at the end of the grace period, aborted.
    pub aborted: usize,
}

/// Why a job gave no result.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_flow::channel::{JobError, WorkerPool};
/// let pool = WorkerPool::new(1, 1);
/// let h = pool.submit(async { panic!("boom") }).await.unwrap();
/// assert_eq!(h.await.unwrap_err(), JobError::Panicked { message: "boom".into() });
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked; the worker went on.
    #[error("job panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The job was dropped before finishing (the pool closed and the grace
    /// period ran out, or the pool was dropped).
    #[error("job cancelled before it finished")]
    Cancelled,
}

/// Why a job was not queued.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_flow::channel::{SubmitError, WorkerPool};
/// let pool = WorkerPool::new(1, 1);
/// pool.close(std::time::Duration::ZERO).await;
/// assert!(matches!(pool.try_submit(async {}), Err(SubmitError::Closed)));
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The queue holds `capacity` jobs (fail-fast submit only).
    #[error("worker pool queue full ({capacity} jobs)")]
    Full {
        /// The queue's bound.
        capacity: usize,
    },
    /// The pool is closed.
    #[error("worker pool closed")]
    Closed,
}

/// The result of one job; a future. Dropping it does not cancel the job.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = aqueduct_flow::channel::WorkerPool::new(1, 1);
/// let h: aqueduct_flow::channel::JobHandle<&str> = pool.submit(async { "done" }).await.unwrap();
/// assert_eq!(h.await, Ok("done"));
/// # }
/// ```
pub struct JobHandle<T> {
    rx: oneshot::Receiver<Result<T, String>>,
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").finish_non_exhaustive()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(JobError::Panicked { message }),
            Err(_) => Err(JobError::Cancelled),
        })
    }
}

impl WorkerPool {
    /// Spawns `workers` tasks (at least 1) on the current runtime over a
    /// queue of `capacity` jobs (at least 1, and at most tokio's
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS)).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = aqueduct_flow::channel::WorkerPool::new(3, 10);
    /// assert_eq!(pool.stats().capacity, 10);
    /// # }
    /// ```
    #[must_use]
    pub fn new(workers: usize, capacity: usize) -> Self {
        let capacity = super::capped(capacity.max(1));
        let (tx, rx) = mpsc::channel::<Job>(capacity);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let counters = Arc::new(Counters::default());
        let worker_count = workers.max(1);
        let handles = (0..worker_count)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let counters = Arc::clone(&counters);
                tokio::spawn(async move {
                    loop {
                        // One worker waits on the queue at a time; the
                        // others wait for the lock.
                        let job = rx.lock().await.recv().await;
                        let Some(job) = job else { break };
                        // Counted busy until the job ends or is dropped
                        // (an aborted worker drops it mid-way).
                        let busy = Busy::new(&counters);
                        job.await;
                        drop(busy);
                        counters.completed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect::<Vec<JoinHandle<()>>>();
        Self {
            tx: RwLock::new(Some(tx)),
            capacity,
            worker_count,
            aborts: handles.iter().map(JoinHandle::abort_handle).collect(),
            workers: Mutex::new(handles),
            counters,
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Job>> {
        self.tx
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn wrap<F>(&self, fut: F) -> (Job, JobHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        let counters = Arc::clone(&self.counters);
        let job = Box::pin(async move {
            let r = CatchUnwind::new(fut).await;
            if let Err(_message) = &r {
                counters.panicked.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "tracing")]
                tracing::warn!(message = %_message, "worker pool job panicked");
            }
            let _ = done.send(r);
        });
        (job, JobHandle { rx })
    }

    /// Queues a job, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] once the pool is closing.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if dropped while waiting, the job is not queued (and is
    /// dropped unpolled).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = aqueduct_flow::channel::WorkerPool::new(1, 1);
    /// let h = pool.submit(async { 1 }).await.unwrap();
    /// assert_eq!(h.await, Ok(1));
    /// # }
    /// ```
    pub async fn submit<F>(&self, job: F) -> Result<JobHandle<F::Output>, SubmitError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tx = self.sender().ok_or(SubmitError::Closed)?;
        let permit = tx.reserve().await.map_err(|_| SubmitError::Closed)?;
        // A submit that waited holds a sender of its own, which `close`
        // cannot take: look again, and queue under the same lock `close`
        // takes to stop intake, so no job lands after it began.
        let open = self.tx.read().unwrap_or_else(PoisonError::into_inner);
        if open.is_none() {
            return Err(SubmitError::Closed);
        }
        let (job, handle) = self.wrap(job);
        permit.send(job);
        drop(open);
        Ok(handle)
    }

    /// Queues a job now or fails fast.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = aqueduct_flow::channel::WorkerPool::new(1, 1);
    /// let h = pool.try_submit(async { 2 }).unwrap();
    /// assert_eq!(h.await, Ok(2));
    /// # }
    /// ```
    pub fn try_submit<F>(&self, job: F) -> Result<JobHandle<F::Output>, SubmitError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Queued under the lock `close` takes to stop intake.
        let open = self.tx.read().unwrap_or_else(PoisonError::into_inner);
        let tx = open.as_ref().ok_or(SubmitError::Closed)?;
        let permit = tx.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => SubmitError::Full {
                capacity: self.capacity,
            },
            mpsc::error::TrySendError::Closed(()) => SubmitError::Closed,
        })?;
        let (job, handle) = self.wrap(job);
        permit.send(job);
        Ok(handle)
    }

    /// Stops intake, waits up to `grace` for the workers to drain the queue,
    /// then aborts the workers still running (their jobs' handles resolve to
    /// [`JobError::Cancelled`]).
    ///
    /// # Cancel safety
    ///
    /// Intake stays stopped; if dropped during the grace period, the workers
    /// keep draining in the background and are not aborted, until the pool
    /// is dropped (which aborts them, as always).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = aqueduct_flow::channel::WorkerPool::new(1, 4);
    /// let slow = pool.submit(tokio::time::sleep(Duration::from_secs(10))).await.unwrap();
    /// let report = pool.close(Duration::from_secs(1)).await;
    /// assert_eq!(report.aborted, 1);
    /// assert!(slow.await.is_err());
    /// # }
    /// ```
    pub async fn close(&self, grace: Duration) -> CloseReport {
        drop(
            self.tx
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let handles =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        let deadline = tokio::time::Instant::now() + grace;
        let mut aborted = 0;
        for mut h in handles {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                h.abort();
                aborted += 1;
                // Wait for the abort to land, so the jobs are dropped and
                // their handles resolve before this returns.
                let _ = h.await;
            }
        }
        CloseReport {
            completed: self.counters.completed.load(Ordering::Relaxed),
            aborted,
        }
    }

    /// The pool's figures (atomic loads and a brief read lock).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = aqueduct_flow::channel::WorkerPool::new(2, 8);
    /// assert_eq!(pool.stats().queued, 0);
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> WorkerPoolStats {
        let queued = self
            .sender()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity());
        WorkerPoolStats {
            workers: self.worker_count,
            busy: self.counters.busy.load(Ordering::Relaxed),
            queued,
            capacity: self.capacity,
            completed: self.counters.completed.load(Ordering::Relaxed),
            panicked: self.counters.panicked.load(Ordering::Relaxed),
        }
    }
}

/// Counts a worker busy while it lives.
struct Busy<'a>(&'a Counters);

impl<'a> Busy<'a> {
    fn new(counters: &'a Counters) -> Self {
        counters.busy.fetch_add(1, Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        // Owned tasks: stop them (abort is synchronous and never blocks,
        // and does nothing to a worker that has already finished).
        for h in &self.aborts {
            h.abort();
        }
    }
}
