//! Jitter: spreading retries so that clients that failed together do not
//! retry together.

use std::time::Duration;

use rand::Rng;

/// How a [`Backoff`](crate::Backoff) randomises its delays, by the formulas
/// of the AWS Architecture Blog's "Exponential Backoff And Jitter", where
/// `temp` is the un-jittered delay already capped at `max_delay`:
///
/// | variant | delay |
/// |---|---|
/// | `None` | `temp` |
/// | `Full` | `random_between(0, temp)` |
/// | `Equal` | `temp / 2 + random_between(0, temp / 2)` |
/// | `Decorrelated` | `min(cap, random_between(base, previous * 3))` |
///
/// `Full` spreads load best; `Equal` keeps a floor of half the delay;
/// `Decorrelated` ignores the growth policy and grows from the previous
/// delay instead.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Backoff, Jitter};
///
/// let delays: Vec<_> = Backoff::exponential(Duration::from_millis(100))
///     .jitter(Jitter::Equal)
///     .seed(7)
///     .iter()
///     .take(3)
///     .collect();
/// assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
/// assert!(delays[2] >= Duration::from_millis(200) && delays[2] <= Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness.
    #[default]
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[delay / 2, delay]`.
    Equal,
    /// Uniform in `[base, previous * 3]`, capped.
    Decorrelated,
}

/// A uniform float in `[0, 1)` from 53 random bits.
pub(crate) fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let x = (rng.next_u64() >> 11) as f64;
    x * (1.0 / 9_007_199_254_740_992.0)
}

/// A uniform duration in `[lo, hi]` (`lo` if `hi <= lo`).
pub(crate) fn between<R: Rng + ?Sized>(rng: &mut R, lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    let span = hi - lo;
    lo + span.mul_f64(unit(rng))
}
