//! A bulkhead: at most N calls at once, at most M waiting, each waiting at
//! most T.
//!
//! Isolating a dependency behind a bulkhead keeps it from taking every task
//! of the service with it when it slows down: the calls beyond
//! `max_concurrent` wait in a bounded FIFO queue, and once `max_queue` are
//! waiting the next caller is turned away at once with
//! [`BulkheadError::Full`] instead of piling up.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError};

use crate::timeout::wait_until;

/// Why the bulkhead turned a call away.
///
/// ```
/// use aqueduct_resilience::{Bulkhead, bulkhead::BulkheadError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = Bulkhead::builder().max_concurrent(1).max_queue(0).build();
/// let _held = b.acquire().await.unwrap();
/// assert_eq!(b.acquire().await.unwrap_err(), BulkheadError::Full { max_concurrent: 1, max_queue: 0 });
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkheadError {
    /// Every slot is busy and the queue is full.
    #[error("bulkhead full: {max_concurrent} calls running and {max_queue} waiting")]
    Full {
        /// Calls allowed at once.
        max_concurrent: usize,
        /// Callers allowed to wait.
        max_queue: usize,
    },
    /// Waited `max_wait` without getting a slot.
    #[error("no bulkhead slot within {max_wait:?}")]
    Timeout {
        /// The wait allowed.
        max_wait: Duration,
    },
    /// The task's deadline passed while waiting.
    #[error("deadline exceeded while waiting for a bulkhead slot")]
    DeadlineExceeded,
}

/// The error of [`Bulkhead::call`].
///
/// ```
/// use aqueduct_resilience::{Bulkhead, bulkhead::CallError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = Bulkhead::builder().build();
/// let r = b.call(|| async { Err::<(), _>("no") }).await;
/// assert!(matches!(r, Err(CallError::Inner("no"))));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError<E> {
    /// The bulkhead turned the call away.
    #[error("call rejected by the bulkhead")]
    Rejected(#[source] BulkheadError),
    /// The call ran and failed.
    #[error("call failed")]
    Inner(#[source] E),
}

struct Inner {
    sem: Arc<Semaphore>,
    queued: AtomicUsize,
    max_concurrent: usize,
    max_queue: usize,
    max_wait: Option<Duration>,
}

/// A bulkhead. Cheap to clone: clones share the slots.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::Bulkhead;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let bulkhead = Bulkhead::builder()
///     .max_concurrent(10)
///     .max_queue(100)
///     .max_wait(Duration::from_millis(50))
///     .build();
/// let v = bulkhead.call(|| async { Ok::<_, std::io::Error>(1) }).await.unwrap();
/// assert_eq!(v, 1);
/// assert_eq!(bulkhead.available(), 10);
/// # }
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("max_queue", &self.inner.max_queue)
            .field("max_wait", &self.inner.max_wait)
            .field("available", &self.available())
            .field("queued", &self.queued())
            .finish()
    }
}

/// Builds a [`Bulkhead`]. Defaults: 10 at once, 10 waiting, no wait limit
/// beyond the task's deadline.
///
/// ```
/// let b = aqueduct_resilience::Bulkhead::builder().max_concurrent(4).build();
/// assert_eq!(b.available(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadBuilder {
    max_concurrent: usize,
    max_queue: usize,
    max_wait: Option<Duration>,
}

impl BulkheadBuilder {
    /// Calls allowed at once (at least 1).
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().max_concurrent(0).build();
    /// assert_eq!(b.available(), 1);
    /// ```
    #[must_use]
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// Callers allowed to wait for a slot (0: reject as soon as all slots
    /// are busy).
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().max_queue(0).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = n;
        self
    }

    /// The longest a caller waits for a slot.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aqueduct_resilience::Bulkhead::builder().max_wait(Duration::from_millis(10)).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Builds the bulkhead.
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn build(self) -> Bulkhead {
        Bulkhead {
            inner: Arc::new(Inner {
                sem: Arc::new(Semaphore::new(self.max_concurrent)),
                queued: AtomicUsize::new(0),
                max_concurrent: self.max_concurrent,
                max_queue: self.max_queue,
                max_wait: self.max_wait,
            }),
        }
    }
}

/// Gives back a queue place when dropped, so a cancelled wait leaks none.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Bulkhead {
    /// Starts a [`BulkheadBuilder`].
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder {
            max_concurrent: 10,
            max_queue: 10,
            max_wait: None,
        }
    }

    /// Free slots now.
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().max_concurrent(3).build();
    /// assert_eq!(b.available(), 3);
    /// ```
    #[must_use]
    pub fn available(&self) -> usize {
        self.inner.sem.available_permits()
    }

    /// Callers waiting now.
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().build();
    /// assert_eq!(b.queued(), 0);
    /// ```
    #[must_use]
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Acquire)
    }

    fn full(&self) -> BulkheadError {
        crate::trace_event!(max_concurrent = self.inner.max_concurrent, "bulkhead full");
        BulkheadError::Full {
            max_concurrent: self.inner.max_concurrent,
            max_queue: self.inner.max_queue,
        }
    }

    /// Callers allowed to wait.
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().max_queue(3).build();
    /// assert_eq!(b.max_queue(), 3);
    /// ```
    #[must_use]
    pub fn max_queue(&self) -> usize {
        self.inner.max_queue
    }

    /// Like [`try_acquire`](Bulkhead::try_acquire), with a permit that
    /// owns a handle on the bulkhead.
    ///
    /// # Errors
    ///
    /// [`BulkheadError::Full`] if every slot is busy.
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().max_concurrent(1).build();
    /// let p = b.try_acquire_owned().unwrap();
    /// assert!(b.try_acquire_owned().is_err());
    /// drop(p);
    /// ```
    pub fn try_acquire_owned(&self) -> Result<OwnedSemaphorePermit, BulkheadError> {
        Arc::clone(&self.inner.sem)
            .try_acquire_owned()
            .map_err(|_| self.full())
    }

    /// Takes a slot if one is free now.
    ///
    /// # Errors
    ///
    /// [`BulkheadError::Full`] if every slot is busy.
    ///
    /// ```
    /// let b = aqueduct_resilience::Bulkhead::builder().max_concurrent(1).build();
    /// let p = b.try_acquire().unwrap();
    /// assert!(b.try_acquire().is_err());
    /// drop(p);
    /// assert!(b.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, BulkheadError> {
        self.inner.sem.try_acquire().map_err(|_| self.full())
    }

    /// Takes a slot, waiting in FIFO order if none is free.
    ///
    /// # Errors
    ///
    /// [`BulkheadError::Full`] at once if `max_queue` callers already wait;
    /// [`BulkheadError::Timeout`] after `max_wait`;
    /// [`BulkheadError::DeadlineExceeded`] when the task's deadline passes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait gives back its queue place and loses its
    /// turn, nothing else.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = aqueduct_resilience::Bulkhead::builder().build();
    /// let _permit = b.acquire().await.unwrap();
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, BulkheadError> {
        match self.inner.sem.try_acquire() {
            Ok(p) => return Ok(p),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {}
        }
        let _place = self.enqueue()?;
        self.wait(self.inner.sem.acquire()).await
    }

    /// Like [`acquire`](Bulkhead::acquire), with a permit that owns a
    /// handle on the bulkhead.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Bulkhead::acquire).
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Bulkhead::acquire).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = aqueduct_resilience::Bulkhead::builder().build();
    /// let permit = b.acquire_owned().await.unwrap();
    /// tokio::spawn(async move { drop(permit) }).await.unwrap();
    /// # }
    /// ```
    pub async fn acquire_owned(&self) -> Result<OwnedSemaphorePermit, BulkheadError> {
        if let Ok(p) = Arc::clone(&self.inner.sem).try_acquire_owned() {
            return Ok(p);
        }
        let _place = self.enqueue()?;
        self.wait(Arc::clone(&self.inner.sem).acquire_owned()).await
    }

    fn enqueue(&self) -> Result<QueuePlace<'_>, BulkheadError> {
        let queued = &self.inner.queued;
        let mut cur = queued.load(Ordering::Acquire);
        loop {
            if cur >= self.inner.max_queue {
                return Err(self.full());
            }
            match queued.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(QueuePlace(queued)),
                Err(actual) => cur = actual,
            }
        }
    }

    async fn wait<P, Fut>(&self, acquire: Fut) -> Result<P, BulkheadError>
    where
        Fut: Future<Output = Result<P, tokio::sync::AcquireError>>,
    {
        let (until, by_deadline) = match self.inner.max_wait {
            Some(d) => wait_until(d),
            None => match crate::Deadline::current() {
                Some(dl) => (dl.instant(), true),
                None => return acquire.await.map_err(|_| self.full()),
            },
        };
        match tokio::time::timeout_at(until, acquire).await {
            Ok(r) => r.map_err(|_| self.full()),
            Err(_) if by_deadline => Err(BulkheadError::DeadlineExceeded),
            Err(_) => Err(BulkheadError::Timeout {
                max_wait: self.inner.max_wait.unwrap_or_default(),
            }),
        }
    }

    /// Runs `f` in a slot.
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] as [`acquire`](Bulkhead::acquire) fails;
    /// [`CallError::Inner`] with the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it frees the slot or the queue place.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = aqueduct_resilience::Bulkhead::builder().build();
    /// assert_eq!(b.call(|| async { Ok::<_, ()>(2) }).await.unwrap(), 2);
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let _permit = self.acquire().await.map_err(CallError::Rejected)?;
        f().await.map_err(CallError::Inner)
    }
}
