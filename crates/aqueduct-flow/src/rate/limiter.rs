//! The shared (unkeyed) rate limiter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::clock::TimeBase;
use super::gcra::{Gcra, QuotaCell, Reservation};
use super::{Clock, Quota, RateLimitError};

pub(crate) struct Shared {
    gcra: Gcra,
    quota: QuotaCell,
    clock: TimeBase,
}

/// A GCRA rate limiter, cheap to clone (clones share one limit).
///
/// See the [module docs](crate::rate) for the algorithm, the FIFO waiting
/// and the give-back rule of cancelled waiters.
///
/// ```
/// use aqueduct_flow::{Quota, RateLimiter};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = RateLimiter::new(Quota::per_second(10).burst(2));
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_err()); // burst spent
///
/// let start = tokio::time::Instant::now();
/// limiter.acquire().await; // sleeps until the next cell: 100 ms
/// assert_eq!(start.elapsed().as_millis(), 100);
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    shared: Arc<Shared>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota())
            .field("clock", &self.shared.clock)
            .finish_non_exhaustive()
    }
}

/// A point-in-time view of a [`RateLimiter`].
///
/// ```
/// use aqueduct_flow::{Quota, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_second(3));
/// limiter.try_acquire().unwrap();
/// let s = limiter.snapshot();
/// assert_eq!(s.available, 2);
/// assert_eq!(s.quota.max_burst(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateSnapshot {
    /// The quota in force.
    pub quota: Quota,
    /// Cells that would be admitted right now.
    pub available: u32,
    /// Time until the limiter is full again (zero when it is full).
    pub full_in: Duration,
    /// How far reservations reach past a full limiter: time until a new
    /// waiter would be served (zero when a cell is available).
    pub next_in: Duration,
}

impl RateLimiter {
    /// A limiter on tokio's clock ([`Clock::Tokio`]), full at creation.
    ///
    /// ```
    /// let limiter = aqueduct_flow::RateLimiter::new(aqueduct_flow::Quota::per_second(1));
    /// assert!(limiter.try_acquire().is_ok());
    /// ```
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, Clock::Tokio)
    }

    /// A limiter on the given clock, full at creation.
    ///
    /// ```
    /// use aqueduct_flow::{Clock, ManualClock, Quota, RateLimiter};
    /// let limiter = RateLimiter::with_clock(Quota::per_second(1), Clock::Manual(ManualClock::new()));
    /// assert!(limiter.try_acquire().is_ok());
    /// ```
    #[must_use]
    pub fn with_clock(quota: Quota, clock: Clock) -> Self {
        Self {
            shared: Arc::new(Shared {
                gcra: Gcra::new(),
                quota: QuotaCell::new(quota.params()),
                clock: TimeBase::new(clock),
            }),
        }
    }

    /// Takes one cell now, or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`RateLimitError::RateLimited`] with the time until a cell conforms.
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter, RateLimitError};
    /// let limiter = RateLimiter::new(Quota::per_second(1));
    /// limiter.try_acquire().unwrap();
    /// assert!(matches!(limiter.try_acquire(), Err(RateLimitError::RateLimited { .. })));
    /// ```
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<(), RateLimitError> {
        let p = self.shared.quota.load();
        let now = self.shared.clock.now();
        // One cell always fits: the burst is at least 1.
        match self.shared.gcra.check(now, p.interval, p.tolerance) {
            Ok(()) => Ok(()),
            Err(at) => Err(limited(at, now)),
        }
    }

    /// Takes one cell now, if it conforms now, as a reservation that can be
    /// given back with [`give_back`](Self::give_back).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn try_reserve(&self) -> Option<Reservation> {
        let p = self.shared.quota.load();
        let now = self.shared.clock.now();
        self.shared
            .gcra
            .reserve(now, p.interval, p.tolerance, now)
            .ok()
    }

    /// Gives a reservation back by the give-back rule.
    #[cfg(feature = "tower")]
    pub(crate) fn give_back(&self, r: Reservation) {
        self.shared.gcra.give_back(r);
    }

    /// Takes `n` cells at once now, or none and fails without waiting.
    /// Zero cells always succeed and take nothing (see [zero
    /// cells](crate::rate#zero-cells)).
    ///
    /// # Errors
    ///
    /// [`RateLimitError::InsufficientCapacity`] when `n` exceeds the burst
    /// (it never could conform), [`RateLimitError::RateLimited`] when the
    /// cells are not available yet.
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_second(10));
    /// assert!(limiter.try_acquire_n(7).is_ok());
    /// assert!(limiter.try_acquire_n(7).is_err());
    /// assert!(limiter.try_acquire_n(3).is_ok());
    /// assert!(limiter.try_acquire_n(0).is_ok()); // nothing left, nothing asked
    /// ```
    #[inline(always)]
    pub fn try_acquire_n(&self, n: u32) -> Result<(), RateLimitError> {
        if n == 0 {
            return Ok(());
        }
        let p = self.shared.quota.load();
        let cost = p.cost(n);
        if cost > p.tolerance {
            return Err(insufficient(n, p.burst()));
        }
        let now = self.shared.clock.now();
        match self.shared.gcra.check(now, cost, p.tolerance) {
            Ok(()) => Ok(()),
            Err(at) => Err(limited(at, now)),
        }
    }

    /// Reserves one cell now and returns a future that sleeps exactly until
    /// that cell conforms.
    ///
    /// The reservation happens in this call, not at the first poll, so
    /// waiters are served in call order.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes gives the cell back if no
    /// later reservation depends on it (see the [give-back
    /// rule](crate::rate#waiting)); the limit is never exceeded either way.
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(2).burst(1));
    /// let t = tokio::time::Instant::now();
    /// for _ in 0..3 {
    ///     limiter.acquire().await;
    /// }
    /// assert_eq!(t.elapsed().as_millis(), 1000);
    /// # }
    /// ```
    pub fn acquire(&self) -> Acquire {
        let p = self.shared.quota.load();
        // One cell never exceeds the burst (the burst is at least 1).
        let now = self.shared.clock.now();
        let r = self
            .shared
            .gcra
            .reserve(now, p.interval, p.tolerance, u64::MAX)
            .unwrap_or(Reservation {
                prev: 0,
                new: 0,
                ready_at: now,
            });
        Acquire::new(&self.shared, r, now)
    }

    /// Reserves `n` cells now and returns a future that sleeps exactly until
    /// they conform, or fails at once when `n` exceeds the burst. Zero
    /// cells reserve nothing and are ready at once, even behind queued
    /// waiters (see [zero cells](crate::rate#zero-cells)).
    ///
    /// # Errors
    ///
    /// The future resolves to [`RateLimitError::InsufficientCapacity`] at
    /// once, without reserving, when `n` exceeds the burst.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter, RateLimitError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(10));
    /// limiter.acquire_n(10).await.unwrap();
    /// let t = tokio::time::Instant::now();
    /// limiter.acquire_n(5).await.unwrap(); // half a second of refill
    /// assert_eq!(t.elapsed().as_millis(), 500);
    /// limiter.acquire_n(0).await.unwrap(); // no wait for nothing
    /// assert_eq!(t.elapsed().as_millis(), 500);
    /// assert!(matches!(
    ///     limiter.acquire_n(11).await,
    ///     Err(RateLimitError::InsufficientCapacity { requested: 11, burst: 10 })
    /// ));
    /// # }
    /// ```
    pub fn acquire_n(&self, n: u32) -> AcquireN {
        self.reserve_n(n, None)
    }

    /// Reserves one cell if it conforms by `deadline`; fails at once,
    /// reserving nothing, when the predicted wait passes the deadline. A
    /// cell free right now is granted even when the deadline has passed (as
    /// `tokio::time::timeout` polls its future once).
    ///
    /// # Errors
    ///
    /// [`RateLimitError::DeadlineExceeded`] with the predicted wait.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter, RateLimitError};
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(1));
    /// limiter.try_acquire().unwrap();
    /// let soon = Instant::now() + Duration::from_millis(100);
    /// assert!(matches!(
    ///     limiter.acquire_by(soon).await,
    ///     Err(RateLimitError::DeadlineExceeded { .. })
    /// ));
    /// let later = Instant::now() + Duration::from_secs(1);
    /// limiter.acquire_by(later).await.unwrap();
    /// # }
    /// ```
    pub fn acquire_by(&self, deadline: Instant) -> AcquireN {
        self.reserve_n(1, Some(deadline))
    }

    /// [`acquire_n`](Self::acquire_n) with a deadline, as
    /// [`acquire_by`](Self::acquire_by). Zero cells succeed at once, whatever
    /// the deadline.
    ///
    /// # Errors
    ///
    /// [`RateLimitError::InsufficientCapacity`] or
    /// [`RateLimitError::DeadlineExceeded`], at once.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(4));
    /// let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    /// limiter.acquire_n_by(4, deadline).await.unwrap();
    /// limiter.acquire_n_by(4, deadline).await.unwrap(); // conforms exactly at the deadline
    /// assert!(limiter.acquire_n_by(1, deadline).await.is_err());
    /// # }
    /// ```
    pub fn acquire_n_by(&self, n: u32, deadline: Instant) -> AcquireN {
        self.reserve_n(n, Some(deadline))
    }

    fn reserve_n(&self, n: u32, deadline: Option<Instant>) -> AcquireN {
        // Nothing to take, so nothing to wait for: not even the reservations
        // queued ahead, whose times a zero-cost reservation would share.
        if n == 0 {
            return AcquireN::ready();
        }
        let p = self.shared.quota.load();
        let cost = p.cost(n);
        if cost > p.tolerance {
            return AcquireN::failed(insufficient(n, p.burst()));
        }
        let now = self.shared.clock.now();
        // A cell free now is granted even past the deadline, as
        // `tokio::time::timeout` polls its future once.
        let latest = deadline.map_or(u64::MAX, |d| self.shared.clock.position_of(d, now).max(now));
        match self.shared.gcra.reserve(now, cost, p.tolerance, latest) {
            Ok(r) => AcquireN::waiting(Acquire::new(&self.shared, r, now)),
            Err(ready_at) => AcquireN::failed(RateLimitError::DeadlineExceeded {
                wait: Duration::from_nanos(ready_at - now),
                budget: Duration::from_nanos(latest.saturating_sub(now)),
            }),
        }
    }

    /// Replaces the quota. Takes effect for the next call; the TAT is kept,
    /// so cells already spent stay spent (a stricter quota may deny until
    /// they have drained), and reservations keep their times.
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_second(1));
    /// limiter.set_quota(Quota::per_second(100));
    /// assert_eq!(limiter.quota(), Quota::per_second(100));
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        self.shared.quota.store(quota.params());
        #[cfg(feature = "tracing")]
        tracing::debug!(?quota, "rate limiter quota changed");
    }

    /// The quota in force, as the limiter keeps it (a quota slower than
    /// the limiter's time line has a [shorter interval](Quota)).
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// assert_eq!(RateLimiter::new(Quota::per_minute(6)).quota(), Quota::per_minute(6));
    /// ```
    #[must_use]
    pub fn quota(&self) -> Quota {
        Quota::from_params(self.shared.quota.load())
    }

    /// A point-in-time view: one clock read and two atomic loads.
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_second(2));
    /// assert_eq!(limiter.snapshot().available, 2);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> RateSnapshot {
        let p = self.shared.quota.load();
        let now = self.shared.clock.now();
        let tat = self.shared.gcra.tat();
        let ahead = tat.saturating_sub(now);
        let free = p.tolerance.saturating_sub(ahead);
        RateSnapshot {
            quota: Quota::from_params(p),
            available: u32::try_from(free / p.interval).unwrap_or(u32::MAX),
            full_in: Duration::from_nanos(ahead),
            next_in: Duration::from_nanos(
                ahead.saturating_add(p.interval).saturating_sub(p.tolerance),
            ),
        }
    }
}

#[cold]
#[inline(never)]
fn limited(at: u64, now: u64) -> RateLimitError {
    RateLimitError::RateLimited {
        retry_after: Duration::from_nanos(at - now),
    }
}

#[cold]
#[inline(never)]
fn insufficient(requested: u32, burst: u32) -> RateLimitError {
    RateLimitError::InsufficientCapacity { requested, burst }
}

pin_project_lite::pin_project! {
    /// The future of [`RateLimiter::acquire`]: a reserved slot and a sleep
    /// until it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = aqueduct_flow::RateLimiter::new(aqueduct_flow::Quota::per_second(1));
    /// let permit: aqueduct_flow::Acquire = limiter.acquire();
    /// permit.await;
    /// # }
    /// ```
    #[must_use = "the reservation is given back if the future is dropped"]
    pub struct Acquire {
        shared: Arc<Shared>,
        reservation: Reservation,
        done: bool,
        // Created on the first poll that has to wait.
        #[pin]
        sleep: Option<Sleep>,
        ready_now: bool,
        now: u64,
    }

    impl PinnedDrop for Acquire {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                this.shared.gcra.give_back(*this.reservation);
            }
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("ready_at_nanos", &self.reservation.ready_at)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Acquire {
    fn new(shared: &Arc<Shared>, reservation: Reservation, now: u64) -> Self {
        Self {
            shared: Arc::clone(shared),
            ready_now: reservation.ready_at <= now,
            reservation,
            done: false,
            sleep: None,
            now,
        }
    }

    /// The slot this future reserved.
    #[cfg(feature = "tower")]
    pub(crate) fn reservation(&self) -> Reservation {
        self.reservation
    }

    /// How long after the call that made it this reservation conforms.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use aqueduct_flow::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    /// let a = limiter.acquire();
    /// let b = limiter.acquire();
    /// assert!(a.wait().is_zero());
    /// assert_eq!(b.wait(), std::time::Duration::from_millis(100));
    /// # }
    /// ```
    #[must_use]
    pub fn wait(&self) -> Duration {
        Duration::from_nanos(self.reservation.ready_at.saturating_sub(self.now))
    }
}

impl Future for Acquire {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        if !*this.ready_now {
            if this.sleep.is_none() {
                let at = this.shared.clock.instant_at_now(this.reservation.ready_at);
                this.sleep.set(Some(tokio::time::sleep_until(at)));
            }
            if let Some(sleep) = this.sleep.as_pin_mut() {
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        }
        *this.done = true;
        Poll::Ready(())
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RateLimiter::acquire_n`] and the `acquire_*_by`
    /// methods: fails at once or waits like [`Acquire`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = aqueduct_flow::RateLimiter::new(aqueduct_flow::Quota::per_second(3));
    /// let fut: aqueduct_flow::AcquireN = limiter.acquire_n(3);
    /// fut.await.unwrap();
    /// # }
    /// ```
    #[must_use = "the reservation is given back if the future is dropped"]
    pub struct AcquireN {
        error: Option<RateLimitError>,
        #[pin]
        wait: Option<Acquire>,
    }
}

impl fmt::Debug for AcquireN {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireN")
            .field("error", &self.error)
            .field("wait", &self.wait)
            .finish()
    }
}

impl AcquireN {
    fn ready() -> Self {
        Self {
            error: None,
            wait: None,
        }
    }

    fn failed(e: RateLimitError) -> Self {
        Self {
            error: Some(e),
            wait: None,
        }
    }

    fn waiting(a: Acquire) -> Self {
        Self {
            error: None,
            wait: Some(a),
        }
    }
}

impl Future for AcquireN {
    type Output = Result<(), RateLimitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        match this.wait.as_pin_mut() {
            Some(a) => a.poll(cx).map(Ok),
            None => Poll::Ready(Ok(())),
        }
    }
}
