//! The breaker's settings and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::state::StateChange;
use super::{AllErrors, CircuitBreaker};
use crate::retry::Backoff;

/// How the breaker decides to trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// Trip after `n` failures in a row.
    Consecutive(u32),
    /// Failure rate over the last `n` calls.
    Count(u32),
    /// Failure rate over the calls of the last `window`, in `buckets`.
    Time { window: Duration, buckets: u32 },
}

/// How long the breaker stays open.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OpenFor {
    Fixed(Duration),
    Growing(Backoff),
}

pub(crate) type Listener = Arc<dyn Fn(StateChange) + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) mode: Mode,
    pub(crate) failure_rate: f64,
    pub(crate) minimum_calls: u32,
    pub(crate) slow_call: Option<(Duration, f64)>,
    pub(crate) open_for: OpenFor,
    pub(crate) probes: u32,
    pub(crate) listener: Option<Listener>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("failure_rate", &self.failure_rate)
            .field("minimum_calls", &self.minimum_calls)
            .field("slow_call", &self.slow_call)
            .field("open_for", &self.open_for)
            .field("probes", &self.probes)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Consecutive(5),
            failure_rate: 0.5,
            minimum_calls: 10,
            slow_call: None,
            open_for: OpenFor::Fixed(Duration::from_secs(30)),
            probes: 1,
            listener: None,
        }
    }
}

/// Builds a [`CircuitBreaker`]. From [`CircuitBreaker::builder`].
///
/// Defaults: trips after 5 consecutive failures, stays open 30 s, admits
/// 1 probe in half-open and closes after 1 success; every error counts as
/// a failure; for the rate-based windows, a 50% failure rate over at least
/// 10 calls trips it.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Backoff, CircuitBreaker};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder()
///     .count_window(100)
///     .failure_rate(0.25)
///     .minimum_calls(20)
///     .slow_calls(Duration::from_millis(500), 0.5)
///     .open_backoff(Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(60)))
///     .half_open_probes(3)
///     .classify(|e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound)
///     .on_state_change(|change| println!("breaker: {change}"))
///     .build();
/// # let _ = breaker;
/// # }
/// ```
pub struct Builder<C = AllErrors> {
    config: Config,
    classifier: C,
}

impl<C> fmt::Debug for Builder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Builder {
    pub(crate) fn new() -> Self {
        Self {
            config: Config::default(),
            classifier: AllErrors,
        }
    }
}

impl<C> Builder<C> {
    /// Trips after `n` failures in a row (at least 1). The cheapest mode: a
    /// success with no failure before it touches no shared memory at all.
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().consecutive_failures(3).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.config.mode = Mode::Consecutive(n.clamp(1, 1_000_000));
        self
    }

    /// Trips on the failure (or slow-call) rate of the last `size` calls.
    /// A window smaller than [`minimum_calls`](Builder::minimum_calls)
    /// counts its rates once it is full.
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().count_window(50).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn count_window(mut self, size: u32) -> Self {
        self.config.mode = Mode::Count(size.clamp(1, 1 << 20));
        self
    }

    /// Trips on the failure (or slow-call) rate of the calls of the last
    /// `window`, kept in `buckets` buckets (1 to 1024) that expire one at
    /// a time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aqueduct_resilience::CircuitBreaker::builder()
    ///     .time_window(Duration::from_secs(60), 12)
    ///     .build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn time_window(mut self, window: Duration, buckets: u32) -> Self {
        self.config.mode = Mode::Time {
            window: window.max(Duration::from_millis(1)),
            buckets: buckets.clamp(1, 1024),
        };
        self
    }

    /// The failure rate (0 to 1) at or above which a window trips
    /// (default 0.5).
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().count_window(10).failure_rate(0.2).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.config.failure_rate = if rate.is_nan() {
            0.5
        } else {
            rate.clamp(0.0, 1.0)
        };
        self
    }

    /// The fewest calls a window must hold before its rates count
    /// (default 10; for a count window, at most its size, so that a
    /// window of 5 calls does count once it holds 5).
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().count_window(100).minimum_calls(50).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.config.minimum_calls = n.max(1);
        self
    }

    /// Calls taking `threshold` or longer are slow; a window trips when the
    /// slow-call rate reaches `rate`. In consecutive-failures mode a slow
    /// call counts as a failure, a half-open probe's too. Tracking slow
    /// calls costs two clock reads per call.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aqueduct_resilience::CircuitBreaker::builder()
    ///     .count_window(20)
    ///     .slow_calls(Duration::from_secs(1), 0.8)
    ///     .build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn slow_calls(mut self, threshold: Duration, rate: f64) -> Self {
        let rate = if rate.is_nan() {
            1.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.config.slow_call = Some((threshold, rate));
        self
    }

    /// Stays open for `d` after every trip (default 30 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aqueduct_resilience::CircuitBreaker::builder().open_duration(Duration::from_secs(5)).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn open_duration(mut self, d: Duration) -> Self {
        self.config.open_for = OpenFor::Fixed(d);
        self
    }

    /// Stays open for the backoff's `n`-th delay after the `n`-th trip in a
    /// row (a trip from half-open counts as one more; closing resets it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, CircuitBreaker};
    /// let b = CircuitBreaker::builder()
    ///     .open_backoff(Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(30)))
    ///     .build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn open_backoff(mut self, backoff: Backoff) -> Self {
        self.config.open_for = OpenFor::Growing(backoff);
        self
    }

    /// Half-open admits at most `n` probes at a time and closes after `n`
    /// of them succeeded (default 1).
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().half_open_probes(3).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn half_open_probes(mut self, n: u32) -> Self {
        self.config.probes = n.clamp(1, 1 << 19);
        self
    }

    /// Chooses which errors count as failures (default: all). An error that
    /// does not count is recorded as a success.
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder()
    ///     .classify(|status: &u16| *status >= 500)
    ///     .build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn classify<C2>(self, classifier: C2) -> Builder<C2> {
        Builder {
            config: self.config,
            classifier,
        }
    }

    /// Calls `listener` on every transition, on the thread that caused it.
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder()
    ///     .on_state_change(|change| eprintln!("{change}"))
    ///     .build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn on_state_change<L>(mut self, listener: L) -> Self
    where
        L: Fn(StateChange) + Send + Sync + 'static,
    {
        self.config.listener = Some(Arc::new(listener));
        self
    }

    /// Builds the breaker, closed.
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// assert_eq!(b.state(), aqueduct_resilience::breaker::State::Closed);
    /// ```
    #[must_use]
    pub fn build(mut self) -> CircuitBreaker<C> {
        // A count window never holds more calls than its size: a larger
        // minimum would keep the breaker from ever tripping.
        if let Mode::Count(size) = self.config.mode {
            self.config.minimum_calls = self.config.minimum_calls.min(size);
        }
        CircuitBreaker::from_parts(self.config, self.classifier)
    }
}
