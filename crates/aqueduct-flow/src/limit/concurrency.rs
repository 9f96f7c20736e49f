//! A resizable concurrency limit with stats.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::LimitError;

struct Shared {
    sem: Arc<Semaphore>,
    /// The limit in force.
    limit: AtomicUsize,
    /// Permits to retire as they come back, after a shrink below the
    /// permits in use.
    debt: AtomicUsize,
    waiting: AtomicUsize,
    peak: AtomicUsize,
    resize: Mutex<()>,
}

/// At most `limit` operations at a time, on tokio's fair semaphore, with a
/// limit that can grow and shrink at runtime and cheap stats. Cheap to clone
/// (clones share the limit).
///
/// ```
/// use aqueduct_flow::ConcurrencyLimit;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limit = ConcurrencyLimit::new(2);
/// let v = limit.run(async { 40 + 2 }).await.unwrap();
/// assert_eq!(v, 42);
/// assert_eq!(limit.snapshot().in_flight, 0);
/// # }
/// ```
#[derive(Clone)]
pub struct ConcurrencyLimit {
    shared: Arc<Shared>,
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

/// A point-in-time view of a [`ConcurrencyLimit`].
///
/// ```
/// let limit = aqueduct_flow::ConcurrencyLimit::new(3);
/// let _p = limit.try_acquire().unwrap();
/// let s = limit.snapshot();
/// assert_eq!((s.limit, s.in_flight, s.peak), (3, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConcurrencySnapshot {
    /// The limit in force.
    pub limit: usize,
    /// Permits held now.
    pub in_flight: usize,
    /// Callers waiting for a permit now.
    pub waiting: usize,
    /// The most permits held at once since creation.
    pub peak: usize,
}

/// A held permit; gives its slot back when dropped (synchronously).
///
/// ```
/// let limit = aqueduct_flow::ConcurrencyLimit::new(1);
/// let p = limit.try_acquire().unwrap();
/// assert!(limit.try_acquire().is_err());
/// drop(p);
/// assert!(limit.try_acquire().is_ok());
/// ```
#[must_use = "the slot is given back when the permit is dropped"]
pub struct ConcurrencyPermit {
    permit: Option<OwnedSemaphorePermit>,
    shared: Arc<Shared>,
}

impl fmt::Debug for ConcurrencyPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyPermit").finish_non_exhaustive()
    }
}

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            // A pending shrink retires this permit instead of returning it.
            let retire = self
                .shared
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |d| d.checked_sub(1))
                .is_ok();
            if retire {
                p.forget();
            }
        }
    }
}

/// Decrements `waiting` when a wait ends, however it ends.
struct WaitGuard<'a>(&'a AtomicUsize);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConcurrencyLimit {
    /// A limit of `limit` permits (0 is allowed: everyone waits until it
    /// grows). A limit is at most tokio's
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS)
    /// (`usize::MAX >> 3`); a larger one, here or in a resize, is capped at
    /// it, so `ConcurrencyLimit::new(usize::MAX)` is "no limit in practice".
    ///
    /// ```
    /// use aqueduct_flow::ConcurrencyLimit;
    /// assert_eq!(ConcurrencyLimit::new(8).limit(), 8);
    /// assert_eq!(ConcurrencyLimit::new(usize::MAX).limit(), tokio::sync::Semaphore::MAX_PERMITS);
    /// ```
    #[must_use]
    pub fn new(limit: usize) -> Self {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Self {
            shared: Arc::new(Shared {
                sem: Arc::new(Semaphore::new(limit)),
                limit: AtomicUsize::new(limit),
                debt: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                resize: Mutex::new(()),
            }),
        }
    }

    fn wrap(&self, permit: OwnedSemaphorePermit) -> ConcurrencyPermit {
        let s = &self.shared;
        let in_flight = self.in_flight();
        if in_flight > s.peak.load(Ordering::Relaxed) {
            s.peak.fetch_max(in_flight, Ordering::Relaxed);
        }
        ConcurrencyPermit {
            permit: Some(permit),
            shared: Arc::clone(s),
        }
    }

    fn in_flight(&self) -> usize {
        let s = &self.shared;
        (s.limit.load(Ordering::Relaxed) + s.debt.load(Ordering::Relaxed))
            .saturating_sub(s.sem.available_permits())
    }

    /// Waits for a permit (FIFO).
    ///
    /// # Errors
    ///
    /// [`LimitError::Closed`] once the limit is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue and
    /// takes no permit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(1);
    /// let p = limit.acquire().await.unwrap();
    /// drop(p);
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<ConcurrencyPermit, LimitError> {
        if let Ok(p) = self.try_acquire() {
            return Ok(p);
        }
        let s = &self.shared;
        s.waiting.fetch_add(1, Ordering::Relaxed);
        let _guard = WaitGuard(&s.waiting);
        match Arc::clone(&s.sem).acquire_owned().await {
            Ok(p) => Ok(self.wrap(p)),
            Err(_) => Err(LimitError::Closed),
        }
    }

    /// Takes a permit now, or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`LimitError::Full`] when none is free, [`LimitError::Closed`] once
    /// closed.
    ///
    /// ```
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(0);
    /// assert!(limit.try_acquire().is_err());
    /// ```
    pub fn try_acquire(&self) -> Result<ConcurrencyPermit, LimitError> {
        match Arc::clone(&self.shared.sem).try_acquire_owned() {
            Ok(p) => Ok(self.wrap(p)),
            Err(TryAcquireError::NoPermits) => Err(LimitError::Full {
                limit: self.limit(),
            }),
            Err(TryAcquireError::Closed) => Err(LimitError::Closed),
        }
    }

    /// Runs `fut` once a permit is free, holding it until `fut` completes.
    ///
    /// # Errors
    ///
    /// [`LimitError::Closed`] once the limit is closed (then `fut` is not
    /// run).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `fut` and gives the permit back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(1);
    /// assert_eq!(limit.run(async { 7 }).await, Ok(7));
    /// # }
    /// ```
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, LimitError> {
        let _permit = self.acquire().await?;
        Ok(fut.await)
    }

    /// Runs `fut` if a permit is free now; fails fast otherwise (then `fut`
    /// is dropped unpolled).
    ///
    /// # Errors
    ///
    /// [`LimitError::Full`] or [`LimitError::Closed`], at once.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `fut` and gives the permit back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use aqueduct_flow::{ConcurrencyLimit, LimitError};
    /// let limit = ConcurrencyLimit::new(1);
    /// let _held = limit.try_acquire().unwrap();
    /// assert_eq!(limit.try_run(async { 1 }).await, Err(LimitError::Full { limit: 1 }));
    /// # }
    /// ```
    pub async fn try_run<F: Future>(&self, fut: F) -> Result<F::Output, LimitError> {
        let _permit = self.try_acquire()?;
        Ok(fut.await)
    }

    /// The limit in force.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::ConcurrencyLimit::new(2).limit(), 2);
    /// ```
    #[must_use]
    pub fn limit(&self) -> usize {
        self.shared.limit.load(Ordering::Relaxed)
    }

    /// Sets the limit. Growing frees waiters at once; shrinking below the
    /// permits in use retires permits as they come back, so the new limit
    /// holds once enough holders finish (no holder is interrupted). A limit
    /// above [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS)
    /// is capped at it.
    ///
    /// ```
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(1);
    /// let a = limit.try_acquire().unwrap();
    /// limit.set_limit(2);
    /// let b = limit.try_acquire().unwrap();
    /// limit.set_limit(1);
    /// drop(a); // retired, not returned
    /// assert!(limit.try_acquire().is_err());
    /// drop(b);
    /// assert!(limit.try_acquire().is_ok());
    /// ```
    pub fn set_limit(&self, limit: usize) {
        self.resize_with(|_| limit);
    }

    /// Grows the limit by `n` (not above
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS)).
    ///
    /// ```
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(1);
    /// limit.grow(2);
    /// assert_eq!(limit.limit(), 3);
    /// ```
    pub fn grow(&self, n: usize) {
        let _ = self.resize_with(|l| l.saturating_add(n));
    }

    /// Shrinks the limit by `n` (not below 0).
    ///
    /// ```
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(3);
    /// limit.shrink(2);
    /// assert_eq!(limit.limit(), 1);
    /// ```
    pub fn shrink(&self, n: usize) {
        let _ = self.resize_with(|l| l.saturating_sub(n));
    }

    /// Applies `f` to the limit under the resize lock; returns the new limit.
    pub(crate) fn resize_with(&self, f: impl FnOnce(usize) -> usize) -> usize {
        let s = &self.shared;
        let _serial = s.resize.lock().unwrap_or_else(PoisonError::into_inner);
        let old = s.limit.load(Ordering::Relaxed);
        let limit = f(old).min(Semaphore::MAX_PERMITS);
        s.limit.store(limit, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        if limit != old {
            tracing::debug!(old, new = limit, "concurrency limit resized");
        }
        if limit > old {
            let mut add = limit - old;
            // Cancel retirements still pending before adding permits.
            while add > 0 {
                let d = s.debt.load(Ordering::Relaxed);
                if d == 0 {
                    break;
                }
                let pay = d.min(add);
                if s.debt
                    .compare_exchange(d, d - pay, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    add -= pay;
                }
            }
            s.sem.add_permits(add);
        } else if limit < old {
            let cut = old - limit;
            let forgotten = s.sem.forget_permits(cut);
            s.debt.fetch_add(cut - forgotten, Ordering::AcqRel);
        }
        limit
    }

    /// Closes the limit: waiters and later calls fail with
    /// [`LimitError::Closed`]; permits held stay valid.
    ///
    /// ```
    /// let limit = aqueduct_flow::ConcurrencyLimit::new(1);
    /// limit.close();
    /// assert_eq!(limit.try_acquire().unwrap_err(), aqueduct_flow::LimitError::Closed);
    /// ```
    pub fn close(&self) {
        self.shared.sem.close();
    }

    /// A point-in-time view (a few atomic loads, no lock).
    ///
    /// ```
    /// let s = aqueduct_flow::ConcurrencyLimit::new(4).snapshot();
    /// assert_eq!((s.limit, s.in_flight, s.waiting), (4, 0, 0));
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> ConcurrencySnapshot {
        let s = &self.shared;
        ConcurrencySnapshot {
            limit: s.limit.load(Ordering::Relaxed),
            in_flight: self.in_flight(),
            waiting: s.waiting.load(Ordering::Relaxed),
            peak: s.peak.load(Ordering::Relaxed),
        }
    }
}
