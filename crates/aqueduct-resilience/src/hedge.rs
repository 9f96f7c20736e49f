//! Hedged requests: when the first attempt is slow, start another and take
//! whichever succeeds first.
//!
//! Tail latency is often one slow replica or one lost packet. A hedge
//! starts a second attempt once the first has taken longer than usual (a
//! fixed delay, or a percentile of the latencies this hedge has seen), up
//! to `max_extra` extra attempts; the first success wins and the others
//! are dropped (cancelled) at once. An attempt that fails while none other
//! is in flight starts the next one right away. Only hedge idempotent
//! operations.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::deadline::Deadline;
use crate::timeout::far_future;

/// Why [`Hedge::run`] failed.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Hedge, hedge::HedgeError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let h = Hedge::fixed(Duration::from_millis(10)).max_extra(2);
/// let err = h.run(|| async { Err::<(), _>("down") }).await.unwrap_err();
/// assert!(matches!(err, HedgeError::AllFailed { attempts: 3, last: "down" }));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HedgeError<E> {
    /// Every attempt failed.
    #[error("all {attempts} hedged attempts failed")]
    AllFailed {
        /// Attempts started.
        attempts: u32,
        /// The error of the last one to fail.
        #[source]
        last: E,
    },
    /// The task's deadline passed first.
    #[error("deadline exceeded after {attempts} hedged attempts")]
    DeadlineExceeded {
        /// Attempts started.
        attempts: u32,
        /// The last error, if any attempt had failed.
        #[source]
        last: Option<E>,
    },
}

const RING: usize = 256;
const RECOMPUTE_EVERY: u64 = 16;
/// `cached_micros` before the first percentile is computed.
const NOT_YET: u64 = u64::MAX;

/// Recent latencies, in microseconds, in an atomic ring; the percentile is
/// recomputed every 16 samples, not on every call.
struct Latencies {
    ring: [AtomicU64; RING],
    count: AtomicU64,
    cached_micros: AtomicU64,
    quantile: f64,
}

impl Latencies {
    fn record(&self, d: Duration) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        #[allow(clippy::cast_possible_truncation)]
        self.ring[(n % RING as u64) as usize].store(micros, Ordering::Relaxed);
        if (n + 1) % RECOMPUTE_EVERY == 0 {
            let filled = usize::try_from(n + 1).unwrap_or(RING).min(RING);
            let mut v = [0u64; RING];
            for (dst, src) in v.iter_mut().zip(&self.ring).take(filled) {
                *dst = src.load(Ordering::Relaxed);
            }
            let v = &mut v[..filled];
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let idx = ((self.quantile * (filled - 1) as f64).round() as usize).min(filled - 1);
            let (_, p, _) = v.select_nth_unstable(idx);
            self.cached_micros
                .store((*p).min(NOT_YET - 1), Ordering::Relaxed);
        }
    }

    /// The percentile last computed; none before the first (the count of
    /// samples can pass 16 before that computation has stored anything).
    fn current(&self) -> Option<Duration> {
        let micros = self.cached_micros.load(Ordering::Relaxed);
        (micros != NOT_YET).then(|| Duration::from_micros(micros))
    }
}

#[derive(Clone)]
enum Delay {
    Fixed(Duration),
    Percentile {
        latencies: Arc<Latencies>,
        initial: Duration,
    },
}

/// A hedging policy. Cheap to clone; clones of a percentile hedge share
/// their latency record.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::Hedge;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let hedge = Hedge::fixed(Duration::from_millis(50)).max_extra(1);
/// let start = tokio::time::Instant::now();
/// let attempt = std::sync::atomic::AtomicU32::new(0);
/// let v = hedge
///     .run(|| {
///         let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         async move {
///             // The first attempt hangs; the hedge, started at 50 ms, answers in 10 ms.
///             let took = if n == 0 { 1000 } else { 10 };
///             tokio::time::sleep(Duration::from_millis(took)).await;
///             Ok::<_, ()>(n)
///         }
///     })
///     .await;
/// assert_eq!(v.unwrap(), 1);
/// assert_eq!(start.elapsed(), Duration::from_millis(60));
/// # }
/// ```
#[derive(Clone)]
pub struct Hedge {
    delay: Delay,
    max_extra: u32,
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Hedge");
        match &self.delay {
            Delay::Fixed(x) => d.field("delay", x),
            Delay::Percentile { latencies, initial } => d
                .field("quantile", &latencies.quantile)
                .field("initial", initial)
                .field("current", &latencies.current()),
        };
        d.field("max_extra", &self.max_extra).finish()
    }
}

impl Hedge {
    /// Hedges after a fixed `delay`, one extra attempt by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = aqueduct_resilience::Hedge::fixed(Duration::from_millis(20));
    /// assert_eq!(h.delay(), Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn fixed(delay: Duration) -> Self {
        Self {
            delay: Delay::Fixed(delay),
            max_extra: 1,
        }
    }

    /// Hedges after the `quantile` (0 to 1, e.g. 0.95) of the latencies of
    /// the last 256 successful attempts; `initial` until 16 were seen.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = aqueduct_resilience::Hedge::percentile(0.95, Duration::from_millis(100));
    /// assert_eq!(h.delay(), Duration::from_millis(100));
    /// ```
    #[must_use]
    pub fn percentile(quantile: f64, initial: Duration) -> Self {
        let quantile = if quantile.is_nan() {
            0.95
        } else {
            quantile.clamp(0.0, 1.0)
        };
        Self {
            delay: Delay::Percentile {
                latencies: Arc::new(Latencies {
                    ring: std::array::from_fn(|_| AtomicU64::new(0)),
                    count: AtomicU64::new(0),
                    cached_micros: AtomicU64::new(NOT_YET),
                    quantile,
                }),
                initial,
            },
            max_extra: 1,
        }
    }

    /// Extra attempts allowed beyond the first (default 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = aqueduct_resilience::Hedge::fixed(Duration::from_millis(20)).max_extra(2);
    /// # let _ = h;
    /// ```
    #[must_use]
    pub fn max_extra(mut self, n: u32) -> Self {
        self.max_extra = n;
        self
    }

    /// The delay the next call would hedge after.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = aqueduct_resilience::Hedge::fixed(Duration::from_millis(20));
    /// assert_eq!(h.delay(), Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn delay(&self) -> Duration {
        match &self.delay {
            Delay::Fixed(d) => *d,
            Delay::Percentile { latencies, initial } => latencies.current().unwrap_or(*initial),
        }
    }

    /// Extra attempts allowed beyond the first: [`Hedge::run`] calls its
    /// operation at most once more than this.
    #[cfg(feature = "tower")]
    pub(crate) fn extra_attempts(&self) -> u32 {
        self.max_extra
    }

    fn record(&self, d: Duration) {
        if let Delay::Percentile { latencies, .. } = &self.delay {
            latencies.record(d);
        }
    }

    /// Runs `f`, and again after each hedge delay while no attempt has
    /// succeeded, up to `1 + max_extra` attempts; returns the first
    /// success. Within the task's deadline.
    ///
    /// # Errors
    ///
    /// [`HedgeError::AllFailed`] if every attempt failed;
    /// [`HedgeError::DeadlineExceeded`] if the deadline passed first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it drops every attempt in flight.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let h = aqueduct_resilience::Hedge::fixed(Duration::from_millis(5));
    /// assert_eq!(h.run(|| async { Ok::<_, ()>(1) }).await.unwrap(), 1);
    /// # }
    /// ```
    pub async fn run<F, Fut, T, E>(&self, mut f: F) -> Result<T, HedgeError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let deadline = Deadline::current();
        let delay = self.delay();
        let start = Instant::now();
        let mut primary = pin!(f());
        let mut primary_live = true;
        let mut extras: Vec<(Pin<Box<Fut>>, Instant)> = Vec::new();
        let mut launched: u32 = 1;
        let mut failed: u32 = 0;
        let mut last: Option<E> = None;
        let mut timer = pin!(sleep_until(
            start
                .checked_add(delay)
                .unwrap_or_else(|| far_future(start))
        ));
        let mut limit = pin!(sleep_until(
            deadline.map_or_else(|| far_future(start), |d| d.instant())
        ));
        let outcome = poll_fn(|cx| {
            loop {
                if primary_live {
                    if let Poll::Ready(r) = primary.as_mut().poll(cx) {
                        primary_live = false;
                        match r {
                            Ok(v) => return Poll::Ready(Ok((v, start))),
                            Err(e) => {
                                failed += 1;
                                last = Some(e);
                            }
                        }
                    }
                }
                let mut i = 0;
                while i < extras.len() {
                    match extras[i].0.as_mut().poll(cx) {
                        Poll::Ready(Ok(v)) => return Poll::Ready(Ok((v, extras[i].1))),
                        Poll::Ready(Err(e)) => {
                            failed += 1;
                            last = Some(e);
                            drop(extras.swap_remove(i));
                        }
                        Poll::Pending => i += 1,
                    }
                }
                let in_flight = launched - failed;
                if launched > self.max_extra {
                    if in_flight == 0 {
                        if let Some(e) = last.take() {
                            return Poll::Ready(Err(HedgeError::AllFailed {
                                attempts: launched,
                                last: e,
                            }));
                        }
                    }
                    break;
                }
                let fire = in_flight == 0 || timer.as_mut().poll(cx).is_ready();
                if !fire {
                    break;
                }
                let now = Instant::now();
                crate::trace_event!(attempt = launched + 1, "hedging");
                extras.push((Box::pin(f()), now));
                launched += 1;
                timer
                    .as_mut()
                    .reset(now.checked_add(delay).unwrap_or_else(|| far_future(now)));
                // Loop to poll the new attempt (and maybe arm the timer).
            }
            if limit.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(HedgeError::DeadlineExceeded {
                    attempts: launched,
                    last: last.take(),
                }));
            }
            Poll::Pending
        })
        .await;
        match outcome {
            Ok((v, began)) => {
                self.record(began.elapsed());
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latencies() -> Latencies {
        let Delay::Percentile { latencies, .. } = Hedge::percentile(0.5, Duration::ZERO).delay
        else {
            unreachable!("a percentile hedge")
        };
        Arc::into_inner(latencies).unwrap()
    }

    #[test]
    fn no_percentile_is_used_before_the_first_is_computed() {
        let l = latencies();
        // Sixteen samples counted, the sixteenth not yet stored or computed
        // (another thread is between its count and its computation).
        for _ in 0..15 {
            l.record(Duration::from_millis(40));
        }
        l.count.fetch_add(1, Ordering::Relaxed);
        assert_eq!(l.current(), None);
    }

    #[test]
    fn the_percentile_is_used_once_computed() {
        let l = latencies();
        for _ in 0..16 {
            l.record(Duration::from_millis(40));
        }
        assert_eq!(l.current(), Some(Duration::from_millis(40)));
    }
}
