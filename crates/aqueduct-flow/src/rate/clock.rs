//! Where a rate limiter reads the time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The clock a rate limiter reads, chosen at construction.
///
/// - [`Clock::Tokio`] (the default) reads [`tokio::time::Instant`], so a
///   limiter follows paused and advanced time in tests
///   (`#[tokio::test(start_paused = true)]`).
/// - [`Clock::Fast`] (opt-in) reads a calibrated CPU time-stamp
///   counter, about three times cheaper than `Instant::now()`, for limiters
///   on a very hot path. It does not follow tokio's paused time.
/// - [`Clock::Manual`] reads a [`ManualClock`] that you move by hand, for
///   deterministic tests outside a runtime and for measuring the limiter
///   without any clock cost.
///
/// Waits (`acquire().await`) always sleep on tokio's timer; with a clock
/// other than `Tokio` they sleep for the time left until their slot on that
/// clock, as read when the wait starts (at the first poll).
///
/// ```
/// use aqueduct_flow::{Clock, ManualClock, Quota, RateLimiter};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let limiter = RateLimiter::with_clock(Quota::per_second(1), Clock::Manual(clock.clone()));
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_err());
/// clock.advance(Duration::from_secs(1));
/// assert!(limiter.try_acquire().is_ok());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Clock {
    /// tokio's clock (follows paused time).
    #[default]
    Tokio,
    /// A calibrated time-stamp counter (quanta); falls back to the OS
    /// monotonic clock where no stable counter exists.
    Fast,
    /// A clock moved by hand.
    Manual(ManualClock),
}

/// A clock that only moves when told to, shared by its clones.
///
/// ```
/// use aqueduct_flow::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now(), Duration::from_millis(5));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at zero.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::ManualClock::new().now(), std::time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    ///
    /// The clock counts nanoseconds in 64 bits, so it ends at
    /// `Duration::from_nanos(u64::MAX)` (about 584 years): an advance past
    /// the end stops there, and the clock never wraps round to an earlier
    /// time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = aqueduct_flow::ManualClock::new();
    /// c.advance(Duration::from_nanos(3));
    /// assert_eq!(c.now().as_nanos(), 3);
    /// c.advance(Duration::MAX);
    /// c.advance(Duration::from_secs(1));
    /// assert_eq!(c.now(), Duration::from_nanos(u64::MAX));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        // `fetch_add` would wrap; the closure never returns `None`.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `at` (time since its zero), or to its end,
    /// `Duration::from_nanos(u64::MAX)`, if `at` is past it. It may move
    /// backwards.
    ///
    /// ```
    /// let c = aqueduct_flow::ManualClock::new();
    /// c.set(std::time::Duration::from_secs(2));
    /// assert_eq!(c.now().as_secs(), 2);
    /// ```
    pub fn set(&self, at: Duration) {
        self.nanos.store(saturating_nanos(at), Ordering::Relaxed);
    }

    /// The time since its zero.
    ///
    /// ```
    /// assert!(aqueduct_flow::ManualClock::new().now().is_zero());
    /// ```
    #[must_use]
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A clock bound to a limiter's base instant: reads nanoseconds since it.
/// An explicit tag keeps the dispatch to one compare.
#[derive(Clone, Debug)]
#[repr(u8)]
pub(crate) enum TimeBase {
    Tokio(tokio::time::Instant),
    Fast { clock: quanta::Clock, base: u64 },
    Manual(ManualClock),
}

impl TimeBase {
    pub(crate) fn new(clock: Clock) -> Self {
        match clock {
            Clock::Tokio => Self::Tokio(tokio::time::Instant::now()),
            Clock::Fast => {
                let clock = quanta::Clock::new();
                let base = clock.raw();
                Self::Fast { clock, base }
            }
            Clock::Manual(m) => Self::Manual(m),
        }
    }

    /// Nanoseconds since the base. One clock read.
    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        match self {
            Self::Tokio(base) => {
                saturating_nanos(tokio::time::Instant::now().saturating_duration_since(*base))
            }
            Self::Fast { clock, base } => clock.delta_as_nanos(*base, clock.raw()),
            Self::Manual(m) => m.nanos.load(Ordering::Relaxed),
        }
    }

    /// The tokio instant at which this time line reaches `at`, given that it
    /// reads `now` at this moment.
    pub(crate) fn instant_at(&self, at: u64, now: u64) -> tokio::time::Instant {
        match self {
            Self::Tokio(base) => *base + Duration::from_nanos(at),
            _ => tokio::time::Instant::now() + Duration::from_nanos(at.saturating_sub(now)),
        }
    }

    /// The tokio instant at which this time line reaches `at`, reading this
    /// clock now if it is not tokio's (a wait that starts later than the
    /// call that predicted it must not sleep the whole prediction).
    pub(crate) fn instant_at_now(&self, at: u64) -> tokio::time::Instant {
        match self {
            Self::Tokio(base) => *base + Duration::from_nanos(at),
            _ => self.instant_at(at, self.now()),
        }
    }

    /// The position of a tokio `deadline` on this time line, given that it
    /// reads `now` at this moment.
    pub(crate) fn position_of(&self, deadline: tokio::time::Instant, now: u64) -> u64 {
        match self {
            Self::Tokio(base) => saturating_nanos(deadline.saturating_duration_since(*base)),
            _ => now.saturating_add(saturating_nanos(
                deadline.saturating_duration_since(tokio::time::Instant::now()),
            )),
        }
    }
}
