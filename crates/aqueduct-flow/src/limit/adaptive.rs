//! An AIMD concurrency limit.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{ConcurrencyLimit, ConcurrencyPermit, LimitError};

#[derive(Debug)]
struct Config {
    min: usize,
    max: usize,
    latency_threshold: Option<Duration>,
    decrease_factor: f64,
}

#[derive(Debug)]
struct State {
    config: Config,
    /// Successes counted towards the next increase.
    successes: AtomicUsize,
    /// Bumped by every decrease; a permit taken before a decrease cannot
    /// cause another one (one decrease per congestion episode).
    epoch: AtomicU64,
    increases: AtomicU64,
    decreases: AtomicU64,
}

/// A concurrency limit that sizes itself by AIMD: it grows by one after a
/// full limit's worth of successes (additive increase) and shrinks by a
/// factor on a failure or a response slower than the latency threshold
/// (multiplicative decrease), always between a minimum and a maximum.
///
/// Failures from operations that started before the last decrease do not
/// decrease it again, so one burst of errors costs one decrease, as in TCP.
///
/// ```
/// use aqueduct_flow::AdaptiveLimit;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limit = AdaptiveLimit::builder().initial(10).min(2).max(50).build();
/// let r: Result<Result<(), &str>, _> = limit.run(async { Err("overloaded") }).await;
/// assert!(r.unwrap().is_err());
/// assert_eq!(limit.limit(), 5); // halved
/// # }
/// ```
#[derive(Clone)]
pub struct AdaptiveLimit {
    limit: ConcurrencyLimit,
    state: Arc<State>,
}

impl fmt::Debug for AdaptiveLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

/// Builds an [`AdaptiveLimit`].
///
/// ```
/// use std::time::Duration;
/// let limit = aqueduct_flow::AdaptiveLimit::builder()
///     .initial(4)
///     .min(1)
///     .max(64)
///     .latency_threshold(Duration::from_millis(250))
///     .decrease_factor(0.7)
///     .build();
/// assert_eq!(limit.limit(), 4);
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveLimitBuilder {
    initial: usize,
    min: usize,
    max: usize,
    latency_threshold: Option<Duration>,
    decrease_factor: f64,
}

/// A point-in-time view of an [`AdaptiveLimit`].
///
/// ```
/// let s = aqueduct_flow::AdaptiveLimit::builder().initial(3).build().snapshot();
/// assert_eq!(s.limit.limit, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptiveSnapshot {
    /// The underlying limit's view.
    pub limit: super::ConcurrencySnapshot,
    /// Additive increases so far.
    pub increases: u64,
    /// Multiplicative decreases so far.
    pub decreases: u64,
}

/// A permit of an [`AdaptiveLimit`]; report how the operation went with
/// [`success`](Self::success) or [`failure`](Self::failure). Dropping it
/// without a report (a cancelled operation) leaves the limit unchanged.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limit = aqueduct_flow::AdaptiveLimit::builder().initial(1).build();
/// let p = limit.acquire().await.unwrap();
/// p.success();
/// assert_eq!(limit.limit(), 2);
/// # }
/// ```
#[must_use = "report the outcome with success() or failure()"]
pub struct AdaptivePermit {
    _permit: ConcurrencyPermit,
    owner: AdaptiveLimit,
    epoch: u64,
    started: Option<Instant>,
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl AdaptivePermit {
    /// The operation succeeded (a slow success counts as congestion when a
    /// latency threshold is set).
    ///
    /// ```
    /// let limit = aqueduct_flow::AdaptiveLimit::builder().initial(1).build();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// limit.acquire().await.unwrap().success();
    /// # });
    /// assert_eq!(limit.limit(), 2);
    /// ```
    pub fn success(self) {
        let slow = match (self.started, self.owner.state.config.latency_threshold) {
            (Some(t), Some(max)) => t.elapsed() > max,
            _ => false,
        };
        if slow {
            self.owner.decrease(self.epoch);
        } else {
            self.owner.increase();
        }
    }

    /// The operation failed in a way that signals overload.
    ///
    /// ```
    /// let limit = aqueduct_flow::AdaptiveLimit::builder().initial(8).build();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// limit.acquire().await.unwrap().failure();
    /// # });
    /// assert_eq!(limit.limit(), 4);
    /// ```
    pub fn failure(self) {
        self.owner.decrease(self.epoch);
    }
}

impl Default for AdaptiveLimitBuilder {
    fn default() -> Self {
        Self {
            initial: 10,
            min: 1,
            max: 1000,
            latency_threshold: None,
            decrease_factor: 0.5,
        }
    }
}

impl AdaptiveLimitBuilder {
    /// The starting limit (default 10), clamped into `[min, max]`.
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().initial(7).build();
    /// assert_eq!(l.limit(), 7);
    /// ```
    #[must_use]
    pub fn initial(mut self, n: usize) -> Self {
        self.initial = n;
        self
    }

    /// The floor (default 1, at least 1).
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().initial(1).min(3).build();
    /// assert_eq!(l.limit(), 3);
    /// ```
    #[must_use]
    pub fn min(mut self, n: usize) -> Self {
        self.min = n.max(1);
        self
    }

    /// The ceiling (default 1000).
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().initial(50).max(20).build();
    /// assert_eq!(l.limit(), 20);
    /// ```
    #[must_use]
    pub fn max(mut self, n: usize) -> Self {
        self.max = n;
        self
    }

    /// Successes slower than this count as congestion (default: none, only
    /// failures decrease).
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder()
    ///     .latency_threshold(std::time::Duration::from_millis(100))
    ///     .build();
    /// # let _ = l;
    /// ```
    #[must_use]
    pub fn latency_threshold(mut self, d: Duration) -> Self {
        self.latency_threshold = Some(d);
        self
    }

    /// The factor a decrease multiplies the limit by (default 0.5, clamped
    /// into `[0.1, 0.95]`).
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().decrease_factor(0.9).build();
    /// # let _ = l;
    /// ```
    #[must_use]
    pub fn decrease_factor(mut self, f: f64) -> Self {
        self.decrease_factor = if f.is_nan() { 0.5 } else { f.clamp(0.1, 0.95) };
        self
    }

    /// Builds the limit.
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().build();
    /// assert_eq!(l.limit(), 10);
    /// ```
    #[must_use]
    pub fn build(self) -> AdaptiveLimit {
        let max = self.max.max(self.min);
        AdaptiveLimit {
            limit: ConcurrencyLimit::new(self.initial.clamp(self.min, max)),
            state: Arc::new(State {
                config: Config {
                    min: self.min,
                    max,
                    latency_threshold: self.latency_threshold,
                    decrease_factor: self.decrease_factor,
                },
                successes: AtomicUsize::new(0),
                epoch: AtomicU64::new(0),
                increases: AtomicU64::new(0),
                decreases: AtomicU64::new(0),
            }),
        }
    }
}

impl AdaptiveLimit {
    /// A builder with the defaults (initial 10, min 1, max 1000, factor 0.5).
    ///
    /// ```
    /// let _ = aqueduct_flow::AdaptiveLimit::builder();
    /// ```
    #[must_use]
    pub fn builder() -> AdaptiveLimitBuilder {
        AdaptiveLimitBuilder::default()
    }

    /// Waits for a permit.
    ///
    /// # Errors
    ///
    /// [`LimitError::Closed`] once closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future takes no permit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let l = aqueduct_flow::AdaptiveLimit::builder().build();
    /// l.acquire().await.unwrap().success();
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<AdaptivePermit, LimitError> {
        let permit = self.limit.acquire().await?;
        Ok(self.wrap(permit))
    }

    /// Takes a permit now or fails fast.
    ///
    /// # Errors
    ///
    /// [`LimitError::Full`] or [`LimitError::Closed`].
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().initial(1).build();
    /// let _p = l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_err());
    /// ```
    pub fn try_acquire(&self) -> Result<AdaptivePermit, LimitError> {
        let permit = self.limit.try_acquire()?;
        Ok(self.wrap(permit))
    }

    fn wrap(&self, permit: ConcurrencyPermit) -> AdaptivePermit {
        AdaptivePermit {
            _permit: permit,
            owner: self.clone(),
            epoch: self.state.epoch.load(Ordering::Acquire),
            started: self.state.config.latency_threshold.map(|_| Instant::now()),
        }
    }

    /// Runs `fut` under a permit; `Ok` counts as a success (or as
    /// congestion when slower than the threshold), `Err` as a failure.
    ///
    /// # Errors
    ///
    /// The outer error is [`LimitError::Closed`] once closed (`fut` is not
    /// run); the inner result is `fut`'s.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `fut` and gives the permit back without
    /// changing the limit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let l = aqueduct_flow::AdaptiveLimit::builder().initial(1).build();
    /// let r = l.run(async { Ok::<_, ()>(5) }).await;
    /// assert_eq!(r, Ok(Ok(5)));
    /// assert_eq!(l.limit(), 2);
    /// # }
    /// ```
    pub async fn run<T, E, F>(&self, fut: F) -> Result<Result<T, E>, LimitError>
    where
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.acquire().await?;
        let out = fut.await;
        if out.is_ok() {
            permit.success();
        } else {
            permit.failure();
        }
        Ok(out)
    }

    fn increase(&self) {
        let s = &self.state;
        let limit = self.limit.limit();
        if limit >= s.config.max {
            return;
        }
        let n = s.successes.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= limit
            && s.successes
                .compare_exchange(n, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let max = s.config.max;
            self.limit.resize_with(|l| (l + 1).min(max));
            s.increases.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn decrease(&self, epoch: u64) {
        let s = &self.state;
        if s.epoch
            .compare_exchange(epoch, epoch + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // this episode already decreased the limit
        }
        s.successes.store(0, Ordering::Relaxed);
        let (min, factor) = (s.config.min, s.config.decrease_factor);
        self.limit.resize_with(|l| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let scaled = (l as f64 * factor).floor() as usize;
            scaled.max(min)
        });
        s.decreases.fetch_add(1, Ordering::Relaxed);
    }

    /// The limit in force.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::AdaptiveLimit::builder().initial(2).build().limit(), 2);
    /// ```
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit.limit()
    }

    /// Closes the limit (see [`ConcurrencyLimit::close`]).
    ///
    /// ```
    /// let l = aqueduct_flow::AdaptiveLimit::builder().build();
    /// l.close();
    /// assert!(l.try_acquire().is_err());
    /// ```
    pub fn close(&self) {
        self.limit.close();
    }

    /// A point-in-time view.
    ///
    /// ```
    /// let s = aqueduct_flow::AdaptiveLimit::builder().build().snapshot();
    /// assert_eq!(s.decreases, 0);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> AdaptiveSnapshot {
        AdaptiveSnapshot {
            limit: self.limit.snapshot(),
            increases: self.state.increases.load(Ordering::Relaxed),
            decreases: self.state.decreases.load(Ordering::Relaxed),
        }
    }
}
