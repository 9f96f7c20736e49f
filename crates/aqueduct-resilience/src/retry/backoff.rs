//! Backoff policies: how long to wait before retry number `n`.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::jitter::{Jitter, between};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Growth {
    Constant,
    Linear { step: Duration },
    Exponential { factor: f64 },
    Fibonacci,
}

/// A backoff policy: base delay, growth, cap and jitter. A value, cheap to
/// clone; [`Backoff::iter`] draws the delays, one per retry, as an
/// `Iterator<Item = Duration>` that never ends (bound it with `take`, or
/// let [`Retry`](crate::Retry)'s `max_attempts` do it).
///
/// | policy | delay before retry `n` (0-based) |
/// |---|---|
/// | [`constant(base)`](Backoff::constant) | `base` |
/// | [`linear(base, step)`](Backoff::linear) | `base + step * n` |
/// | [`exponential(base)`](Backoff::exponential) | `base * factor^n` (factor 2 unless [`factor`](Backoff::factor)) |
/// | [`fibonacci(base)`](Backoff::fibonacci) | `base * fib(n)`: 1, 1, 2, 3, 5, 8 ... |
///
/// Then [`Jitter`] is applied, and last [`max_delay`](Backoff::max_delay),
/// so no delay ever passes the cap.
///
/// Randomness comes from a small seedable generator: [`seed`](Backoff::seed)
/// makes every iterator of this policy draw the same sequence (for tests
/// and replays); without it each iterator is seeded afresh from the
/// process's random state. [`iter_with`](Backoff::iter_with) takes any
/// [`rand::Rng`].
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::Backoff;
///
/// let ms = Duration::from_millis;
/// let delays: Vec<_> = Backoff::exponential(ms(100))
///     .max_delay(ms(500))
///     .iter()
///     .take(5)
///     .collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    base: Duration,
    growth: Growth,
    max_delay: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Backoff {
    fn new(base: Duration, growth: Growth) -> Self {
        Self {
            base,
            growth,
            max_delay: Duration::MAX,
            jitter: Jitter::None,
            seed: None,
        }
    }

    /// The same delay every time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut it = aqueduct_resilience::Backoff::constant(Duration::from_secs(1)).iter();
    /// assert_eq!(it.nth(9), Some(Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn constant(delay: Duration) -> Self {
        Self::new(delay, Growth::Constant)
    }

    /// `base + step * n`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ms = Duration::from_millis;
    /// let d: Vec<_> = aqueduct_resilience::Backoff::linear(ms(100), ms(50)).iter().take(3).collect();
    /// assert_eq!(d, [ms(100), ms(150), ms(200)]);
    /// ```
    #[must_use]
    pub fn linear(base: Duration, step: Duration) -> Self {
        Self::new(base, Growth::Linear { step })
    }

    /// `base * 2^n` (see [`factor`](Backoff::factor)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let ms = Duration::from_millis;
    /// let d: Vec<_> = aqueduct_resilience::Backoff::exponential(ms(10)).iter().take(4).collect();
    /// assert_eq!(d, [ms(10), ms(20), ms(40), ms(80)]);
    /// ```
    #[must_use]
    pub fn exponential(base: Duration) -> Self {
        Self::new(base, Growth::Exponential { factor: 2.0 })
    }

    /// `base * fib(n)`: 1, 1, 2, 3, 5, 8 ... times `base`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ms = Duration::from_millis;
    /// let d: Vec<_> = aqueduct_resilience::Backoff::fibonacci(ms(10)).iter().take(6).collect();
    /// assert_eq!(d, [ms(10), ms(10), ms(20), ms(30), ms(50), ms(80)]);
    /// ```
    #[must_use]
    pub fn fibonacci(base: Duration) -> Self {
        Self::new(base, Growth::Fibonacci)
    }

    /// The growth factor of an exponential backoff (default 2; values below
    /// 1 are taken as 1). Has no effect on the other policies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Backoff;
    /// let ms = Duration::from_millis;
    /// let d: Vec<_> = Backoff::exponential(ms(100)).factor(1.5).iter().take(3).collect();
    /// assert_eq!(d, [ms(100), ms(150), ms(225)]);
    /// ```
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        if let Growth::Exponential { factor: f } = &mut self.growth {
            *f = if factor.is_finite() {
                factor.max(1.0)
            } else {
                1.0
            };
        }
        self
    }

    /// The cap on every delay, applied after jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, Jitter};
    /// let cap = Duration::from_secs(1);
    /// let b = Backoff::exponential(Duration::from_millis(300)).jitter(Jitter::Decorrelated).max_delay(cap);
    /// assert!(b.iter().take(50).all(|d| d <= cap));
    /// ```
    #[must_use]
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = cap;
        self
    }

    /// The jitter (default [`Jitter::None`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, Jitter};
    /// let b = Backoff::constant(Duration::from_secs(1)).jitter(Jitter::Full);
    /// assert!(b.iter().take(20).all(|d| d <= Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the random source: every iterator of this policy then draws
    /// the same delays.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Full).seed(42);
    /// let a: Vec<_> = b.iter().take(5).collect();
    /// let c: Vec<_> = b.iter().take(5).collect();
    /// assert_eq!(a, c);
    /// ```
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The base delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(aqueduct_resilience::Backoff::constant(Duration::from_secs(1)).base(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The cap ([`Duration::MAX`] unless set).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aqueduct_resilience::Backoff::constant(Duration::from_secs(1));
    /// assert_eq!(b.max_delay(Duration::from_secs(5)).cap(), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn cap(&self) -> Duration {
        self.max_delay
    }

    /// The un-jittered delay before retry `n` (0-based), capped.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = aqueduct_resilience::Backoff::exponential(Duration::from_millis(1));
    /// assert_eq!(b.nominal(10), Duration::from_millis(1024));
    /// assert_eq!(b.nominal(10_000), Duration::MAX); // saturates
    /// ```
    #[must_use]
    pub fn nominal(&self, n: u32) -> Duration {
        let raw = match self.growth {
            Growth::Constant => Some(self.base),
            Growth::Linear { step } => step.checked_mul(n).and_then(|s| s.checked_add(self.base)),
            // Zero times any factor is zero, even one that overflowed to
            // infinity (where the product would be NaN).
            Growth::Exponential { .. } if self.base.is_zero() => Some(Duration::ZERO),
            Growth::Exponential { factor } => {
                let f = factor.powi(i32::try_from(n).unwrap_or(i32::MAX));
                Duration::try_from_secs_f64(self.base.as_secs_f64() * f).ok()
            }
            Growth::Fibonacci => {
                let (mut a, mut b) = (1u64, 1u64);
                let mut overflow = false;
                for _ in 0..n {
                    let Some(c) = a.checked_add(b) else {
                        overflow = true;
                        break;
                    };
                    a = b;
                    b = c;
                }
                if overflow {
                    None
                } else {
                    u32::try_from(a).ok().and_then(|a| self.base.checked_mul(a))
                }
            }
        };
        raw.unwrap_or(Duration::MAX).min(self.max_delay)
    }

    /// Draws the delays, seeded by [`seed`](Backoff::seed) or, without one,
    /// afresh from the process's random state.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut it = aqueduct_resilience::Backoff::constant(Duration::from_millis(5)).iter();
    /// assert_eq!(it.next(), Some(Duration::from_millis(5)));
    /// ```
    #[must_use]
    pub fn iter(&self) -> BackoffIter {
        let seed = self.seed.unwrap_or_else(random_seed);
        self.iter_with(SmallRng::seed_from_u64(seed))
    }

    /// Draws the delays with `rng` as the random source.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rand::{SeedableRng, rngs::SmallRng};
    /// use aqueduct_resilience::{Backoff, Jitter};
    /// let b = Backoff::constant(Duration::from_secs(1)).jitter(Jitter::Full);
    /// let a: Vec<_> = b.iter_with(SmallRng::seed_from_u64(1)).take(3).collect();
    /// let c: Vec<_> = b.iter_with(SmallRng::seed_from_u64(1)).take(3).collect();
    /// assert_eq!(a, c);
    /// ```
    #[must_use]
    pub fn iter_with<R: Rng>(&self, rng: R) -> BackoffIter<R> {
        BackoffIter {
            policy: self.clone(),
            n: 0,
            prev: self.base,
            rng,
        }
    }
}

impl IntoIterator for &Backoff {
    type Item = Duration;
    type IntoIter = BackoffIter;

    fn into_iter(self) -> BackoffIter {
        self.iter()
    }
}

impl IntoIterator for Backoff {
    type Item = Duration;
    type IntoIter = BackoffIter;

    fn into_iter(self) -> BackoffIter {
        self.iter()
    }
}

/// A fresh seed from the process's random state (no system call after the
/// first one on a thread).
pub(crate) fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

/// The delays of a [`Backoff`], an endless iterator.
///
/// ```
/// use std::time::Duration;
/// let it: aqueduct_resilience::retry::BackoffIter =
///     aqueduct_resilience::Backoff::constant(Duration::from_secs(1)).iter();
/// assert_eq!(it.take(2).count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct BackoffIter<R = SmallRng> {
    policy: Backoff,
    n: u32,
    prev: Duration,
    rng: R,
}

impl<R: Rng> Iterator for BackoffIter<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let p = &self.policy;
        let temp = p.nominal(self.n);
        self.n = self.n.saturating_add(1);
        let d = match p.jitter {
            Jitter::None => temp,
            Jitter::Full => between(&mut self.rng, Duration::ZERO, temp),
            Jitter::Equal => {
                let half = temp / 2;
                half + between(&mut self.rng, Duration::ZERO, temp - half)
            }
            Jitter::Decorrelated => {
                let hi = self.prev.saturating_mul(3);
                let d = between(&mut self.rng, p.base, hi).min(p.max_delay);
                self.prev = d.max(p.base);
                d
            }
        };
        Some(d.min(p.max_delay))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_is_base_times_factor_pow_n_not_base_pow_n() {
        // base^n with base 3 s would be 3, 9, 27 s; the right values are 3, 6, 12 s.
        let s = Duration::from_secs;
        let d: Vec<_> = Backoff::exponential(s(3)).iter().take(3).collect();
        assert_eq!(d, [s(3), s(6), s(12)]);
    }

    #[test]
    fn a_zero_base_stays_zero_however_many_retries() {
        // base * factor^n is zero for any n; factor^n overflowing to
        // infinity must not turn it into the longest possible sleep.
        let b = Backoff::exponential(Duration::ZERO);
        assert_eq!(b.nominal(1024), Duration::ZERO);
        assert_eq!(b.iter().nth(5000), Some(Duration::ZERO));
        let steep = Backoff::exponential(Duration::ZERO).factor(1e300);
        assert_eq!(steep.nominal(2), Duration::ZERO);
    }

    #[test]
    fn fibonacci_saturates_instead_of_overflowing() {
        let b = Backoff::fibonacci(Duration::from_secs(1)).max_delay(Duration::from_secs(60));
        assert_eq!(b.nominal(200), Duration::from_secs(60));
    }

    #[test]
    fn decorrelated_stays_between_base_and_cap() {
        let base = Duration::from_millis(10);
        let cap = Duration::from_millis(400);
        let b = Backoff::constant(base)
            .jitter(Jitter::Decorrelated)
            .max_delay(cap)
            .seed(3);
        let d: Vec<_> = b.iter().take(100).collect();
        assert!(d.iter().all(|d| *d >= base && *d <= cap));
        // It grows: some delay is well above the base.
        assert!(d.iter().any(|d| *d > base * 5));
    }

    #[test]
    fn unseeded_iterators_differ() {
        let b = Backoff::constant(Duration::from_secs(10)).jitter(Jitter::Full);
        let a: Vec<_> = b.iter().take(4).collect();
        let c: Vec<_> = b.iter().take(4).collect();
        assert_ne!(a, c);
    }
}
