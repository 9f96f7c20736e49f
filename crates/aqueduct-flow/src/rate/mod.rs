//! GCRA rate limiters: one shared [`RateLimiter`] and a [`KeyedRateLimiter`]
//! with one limit per key.
//!
//! # How it works
//!
//! The generic cell rate algorithm keeps one number per limit, the
//! *theoretical arrival time* (TAT): the instant at which the limiter is
//! back to full. A [`Quota`] of `burst` cells with one cell every `interval`
//! admits a request for `n` cells at `now` when
//! `max(tat, now) + n * interval - burst * interval <= now`, and then moves
//! the TAT to `max(tat, now) + n * interval`. There is no refill task: the
//! refill is `now` moving past the TAT. The TAT lives in one `AtomicU64`
//! (nanoseconds since the limiter's creation on its [`Clock`]), updated with
//! one compare-and-swap, so a check takes no lock and allocates nothing.
//!
//! # Waiting
//!
//! [`RateLimiter::acquire`] reserves its slot when it is *called*, with the
//! same compare-and-swap, moving the TAT past the cells it takes even when
//! they conform only later; the returned future then sleeps exactly until
//! that slot. Waiters are therefore served in the order they called
//! (FIFO by reservation), and none polls or retries.
//!
//! **Give-back rule.** A waiter dropped before it completes gives its cells
//! back only if no later reservation depends on it: it moves the TAT back
//! to the value it found, with a compare-and-swap that succeeds only if the
//! TAT is still the value it set. If someone reserved after it, the TAT has
//! moved on and the cancelled slot stays spent (it is not reused by anyone;
//! the later waiters keep their times). Either way no waiter is ever served
//! earlier than its reservation promised, and the rate is never exceeded.
//!
//! # Zero cells
//!
//! A request for zero cells takes nothing, so it always succeeds, at once:
//! [`RateLimiter::try_acquire_n`], [`RateLimiter::acquire_n`],
//! [`RateLimiter::acquire_n_by`] (whatever the deadline) and
//! [`KeyedRateLimiter::try_acquire_n`] with `n = 0` neither wait behind
//! queued reservations nor fail on a spent limit, and change nothing: no
//! cell is reserved, no key is stored. A request for zero cells is not a
//! way to ask whether a cell is free; [`RateLimiter::snapshot`] is.
//!
//! ```
//! use aqueduct_flow::{Quota, RateLimiter};
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter = RateLimiter::new(Quota::per_second(10));
//! limiter.try_acquire_n(10).unwrap();
//! let queued = limiter.acquire_n(10); // ready in a second
//! let t = tokio::time::Instant::now();
//! limiter.acquire_n(0).await.unwrap();
//! assert!(t.elapsed().is_zero());
//! queued.await.unwrap();
//! # }
//! ```

mod clock;
pub(crate) mod gcra;
mod keyed;
mod limiter;

use std::time::Duration;

pub use clock::{Clock, ManualClock};
pub use keyed::{KeyedAcquire, KeyedRateLimiter, KeyedSnapshot};
pub use limiter::{Acquire, AcquireN, RateLimiter, RateSnapshot};

use gcra::Params;

/// The longest burst period (`burst * interval`) a limiter keeps: 2^62 ns,
/// about 146 years. A limiter's time line is 64-bit nanoseconds; below this
/// bound its arithmetic never saturates.
const HORIZON_NANOS: u64 = 1 << 62;

/// How many cells a limiter admits: one every [`interval`](Quota::interval),
/// and up to [`max_burst`](Quota::max_burst) at once when it has been idle.
///
/// ```
/// use aqueduct_flow::Quota;
/// use std::time::Duration;
///
/// let q = Quota::per_second(100).burst(10);
/// assert_eq!(q.interval(), Duration::from_millis(10));
/// assert_eq!(q.max_burst(), 10);
/// ```
///
/// A limiter counts time in nanoseconds on a 64-bit time line, so it keeps
/// a quota's burst period (`burst * interval`) within about 146 years: a
/// quota slower than that (`Quota::with_period(Duration::MAX)`, say, for a
/// budget that never refills) keeps its burst, and its interval is
/// shortened until the burst period fits. The next cell after the burst
/// still comes only years later.
///
/// ```
/// use aqueduct_flow::{Quota, RateLimiter};
/// use std::time::Duration;
///
/// // Three cells, then practically never another.
/// let limiter = RateLimiter::new(Quota::with_period(Duration::MAX).burst(3));
/// assert!(limiter.try_acquire_n(3).is_ok());
/// assert!(limiter.try_acquire().is_err());
/// assert_eq!(limiter.quota().max_burst(), 3);
/// assert!(limiter.quota().interval() > Duration::from_secs(365 * 24 * 3600));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    interval: Duration,
    burst: u32,
}

impl Quota {
    /// `n` cells per second, with a burst of `n`.
    ///
    /// The interval is whole nanoseconds, rounded down, so the rate kept is
    /// `1e9 / floor(1e9 / n)` per second: within 0.1% of `n` up to a million
    /// a second, but 1e9 for any `n` from 500 million up. For byte rates in
    /// the hundreds of megabytes a second, count cells in KiB.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    ///
    /// ```
    /// let q = aqueduct_flow::Quota::per_second(4);
    /// assert_eq!(q.interval().as_millis(), 250);
    /// assert_eq!(q.max_burst(), 4);
    /// // 3 ns rather than 3.33: a tenth faster than asked.
    /// assert_eq!(aqueduct_flow::Quota::per_second(300_000_000).interval().as_nanos(), 3);
    /// ```
    #[must_use]
    pub fn per_second(n: u32) -> Self {
        assert!(n > 0, "Quota::per_second(0): the rate must be positive");
        Self {
            interval: Duration::from_secs(1) / n,
            burst: n,
        }
    }

    /// `n` cells per minute, with a burst of `n`.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    ///
    /// ```
    /// let q = aqueduct_flow::Quota::per_minute(60);
    /// assert_eq!(q.interval().as_secs(), 1);
    /// ```
    #[must_use]
    pub fn per_minute(n: u32) -> Self {
        assert!(n > 0, "Quota::per_minute(0): the rate must be positive");
        Self {
            interval: Duration::from_secs(60) / n,
            burst: n,
        }
    }

    /// One cell every `period`, with a burst of 1.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = aqueduct_flow::Quota::with_period(Duration::from_millis(20));
    /// assert_eq!(q.max_burst(), 1);
    /// ```
    #[must_use]
    pub fn with_period(period: Duration) -> Self {
        assert!(
            !period.is_zero(),
            "Quota::with_period: the period must be positive"
        );
        Self {
            interval: period,
            burst: 1,
        }
    }

    /// The same rate with a burst of `burst` cells.
    ///
    /// # Panics
    ///
    /// If `burst` is zero.
    ///
    /// ```
    /// let q = aqueduct_flow::Quota::per_second(1000).burst(1);
    /// assert_eq!(q.max_burst(), 1);
    /// ```
    #[must_use]
    pub fn burst(self, burst: u32) -> Self {
        assert!(burst > 0, "Quota::burst(0): the burst must be at least 1");
        Self { burst, ..self }
    }

    /// The time one cell costs.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::Quota::per_second(2).interval().as_millis(), 500);
    /// ```
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The most cells admitted at once.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::Quota::per_minute(5).max_burst(), 5);
    /// ```
    #[must_use]
    pub fn max_burst(&self) -> u32 {
        self.burst
    }

    pub(crate) fn params(self) -> Params {
        let burst = u64::from(self.burst);
        // The whole burst must fit the horizon, so that the TAT arithmetic
        // never saturates into admitting everything: shorten the interval,
        // keep the burst.
        let interval = clock::saturating_nanos(self.interval).clamp(1, HORIZON_NANOS / burst);
        Params {
            interval,
            tolerance: interval * burst,
        }
    }

    pub(crate) fn from_params(p: Params) -> Self {
        Self {
            interval: Duration::from_nanos(p.interval),
            burst: p.burst(),
        }
    }
}

/// Why a rate limiter did not admit a request.
///
/// ```
/// use aqueduct_flow::{Quota, RateLimitError, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_second(5));
/// match limiter.try_acquire_n(6) {
///     Err(RateLimitError::InsufficientCapacity { requested: 6, burst: 5 }) => {}
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// Not now; the request would conform after `retry_after`.
    #[error("rate limited: the request conforms in {retry_after:?}")]
    RateLimited {
        /// How long until the request would conform.
        retry_after: Duration,
    },
    /// More cells were requested than the burst: this can never conform.
    #[error("{requested} cells requested but the burst is {burst}")]
    InsufficientCapacity {
        /// Cells requested.
        requested: u32,
        /// The quota's burst.
        burst: u32,
    },
    /// The predicted wait passes the deadline, so nothing was reserved.
    #[error("the wait of {wait:?} passes the deadline, {budget:?} away")]
    DeadlineExceeded {
        /// The wait the request would have had.
        wait: Duration,
        /// The time left until the deadline.
        budget: Duration,
    },
}
