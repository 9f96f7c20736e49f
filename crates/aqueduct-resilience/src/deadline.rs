//! Deadlines: one point in time shared by every operation of a request.
//!
//! A [`Deadline`] is an instant, not a duration: ten sequential calls under
//! a 1 s deadline share that second instead of getting a second each.
//! [`Deadline::scope`] makes a deadline the task's current one, and every
//! wrapper of this crate ([`timeout`](crate::timeout()), [`Retry`](crate::Retry),
//! [`Bulkhead`](crate::Bulkhead), [`Hedge`](crate::Hedge), ...) clamps its
//! waits to it. A nested scope can only tighten the deadline, never extend it.
//!
//! To carry the remaining time to another process, encode it as a
//! `grpc-timeout` header value with [`Deadline::to_header_value`] and decode
//! it on the other side with [`Deadline::from_header_value`]: at most eight
//! ASCII digits followed by a unit, `H` (hours), `M` (minutes), `S`
//! (seconds), `m` (milliseconds), `u` (microseconds) or `n` (nanoseconds):
//!
//! | remaining | header value |
//! |---|---|
//! | 250 ms | `250m` |
//! | 3 s | `3S` |
//! | 1.5 s | `1500m` |
//! | 2 h | `2H` |
//! | 1 ns | `1n` |

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

thread_local! {
    // The deadline of the task being polled on this thread. `Scope` puts
    // its deadline here for the length of each poll of its future and puts
    // the previous value back after, so it follows the task from thread to
    // thread. A `Cell` of a `Copy` value, const-initialised: reading it is
    // a plain load.
    static CURRENT: Cell<Option<Deadline>> = const { Cell::new(None) };
}

/// Puts the previous deadline back when a poll ends, even by a panic.
struct Restore(Option<Deadline>);

impl Drop for Restore {
    fn drop(&mut self) {
        let prev = self.0;
        let _ = CURRENT.try_with(|c| c.set(prev));
    }
}

pin_project! {
    /// The future of [`Deadline::scope`]: `fut` with a deadline in scope.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Deadline;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = Deadline::after(Duration::from_secs(1));
    /// let scoped: aqueduct_resilience::deadline::Scope<_> = Deadline::scope(dl, async { Deadline::current() });
    /// assert_eq!(scoped.await, Some(dl));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Scope<F> {
        #[pin]
        fut: F,
        deadline: Deadline,
        // Tightened against the enclosing deadline on the first poll.
        resolved: bool,
    }
}

impl<F> fmt::Debug for Scope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Scope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = Deadline::current();
        if !*this.resolved {
            if let Some(outer) = outer {
                *this.deadline = outer.min(*this.deadline);
            }
            *this.resolved = true;
        }
        let dl = *this.deadline;
        let _restore = Restore(outer);
        CURRENT.with(|c| c.set(Some(dl)));
        this.fut.poll(cx)
    }
}

/// A point in time by which work must be done.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::Deadline;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let dl = Deadline::after(Duration::from_millis(500));
/// tokio::time::sleep(Duration::from_millis(200)).await;
/// assert_eq!(dl.remaining(), Duration::from_millis(300));
/// assert!(!dl.is_expired());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

/// The error of [`Deadline::run`]: the deadline passed first.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::Deadline;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let dl = Deadline::after(Duration::from_millis(10));
/// let err = dl.run(std::future::pending::<()>()).await.unwrap_err();
/// assert_eq!(err.deadline, dl);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline exceeded")]
#[non_exhaustive]
pub struct DeadlineExceeded {
    /// The deadline that passed.
    pub deadline: Deadline,
}

/// The error of [`Deadline::from_header_value`] and [`decode_timeout`].
///
/// ```
/// use aqueduct_resilience::deadline::{decode_timeout, HeaderError};
/// assert_eq!(decode_timeout("12x"), Err(HeaderError::InvalidUnit { unit: 'x' }));
/// assert_eq!(decode_timeout("123456789S"), Err(HeaderError::TooManyDigits { len: 9, max: 8 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value had no digits before the unit (or was empty).
    #[error("timeout header value has no digits")]
    Empty,
    /// More digits than the format allows.
    #[error("timeout header value has {len} digits, at most {max} are allowed")]
    TooManyDigits {
        /// Digits found.
        len: usize,
        /// Digits allowed (8).
        max: usize,
    },
    /// A character that is not an ASCII digit before the unit.
    #[error("timeout header value has a non-digit {found:?}")]
    InvalidDigit {
        /// The offending character.
        found: char,
    },
    /// The last character is not one of `H M S m u n`.
    #[error("timeout header value has unknown unit {unit:?} (expected one of H M S m u n)")]
    InvalidUnit {
        /// The offending unit.
        unit: char,
    },
}

const MAX_DIGITS: usize = 8;
const MAX_VALUE: u128 = 99_999_999;
/// Units from the coarsest to the finest, with their length in nanoseconds.
const UNITS: [(char, u128); 6] = [
    ('H', 3_600_000_000_000),
    ('M', 60_000_000_000),
    ('S', 1_000_000_000),
    ('m', 1_000_000),
    ('u', 1_000),
    ('n', 1),
];

impl Deadline {
    /// The deadline `d` from now (saturating far in the future).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = aqueduct_resilience::Deadline::after(Duration::from_secs(1));
    /// assert_eq!(dl.remaining(), Duration::from_secs(1));
    /// # }
    /// ```
    #[must_use]
    pub fn after(d: Duration) -> Self {
        let now = Instant::now();
        Self {
            at: now
                .checked_add(d)
                .unwrap_or_else(|| crate::timeout::far_future(now)),
        }
    }

    /// The deadline at instant `at`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let at = Instant::now() + Duration::from_secs(2);
    /// assert_eq!(aqueduct_resilience::Deadline::at(at).instant(), at);
    /// # }
    /// ```
    #[must_use]
    pub const fn at(at: Instant) -> Self {
        Self { at }
    }

    /// The instant of this deadline.
    ///
    /// ```
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let now = Instant::now();
    /// assert_eq!(aqueduct_resilience::Deadline::at(now).instant(), now);
    /// # }
    /// ```
    #[must_use]
    pub const fn instant(&self) -> Instant {
        self.at
    }

    /// Time left, zero once expired. Reads the clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = aqueduct_resilience::Deadline::after(Duration::from_millis(100));
    /// tokio::time::sleep(Duration::from_millis(150)).await;
    /// assert_eq!(dl.remaining(), Duration::ZERO);
    /// # }
    /// ```
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// `true` once the deadline has passed (at the deadline itself too).
    /// Reads the clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = aqueduct_resilience::Deadline::after(Duration::from_millis(100));
    /// assert!(!dl.is_expired());
    /// tokio::time::sleep(Duration::from_millis(100)).await;
    /// assert!(dl.is_expired());
    /// # }
    /// ```
    #[must_use]
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The earlier of `self` and `other`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Deadline;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let a = Deadline::after(Duration::from_secs(1));
    /// let b = Deadline::after(Duration::from_secs(2));
    /// assert_eq!(a.min(b), a);
    /// # }
    /// ```
    #[must_use]
    pub fn min(self, other: Self) -> Self {
        if other.at < self.at { other } else { self }
    }

    /// The task's current deadline, if it runs inside [`Deadline::scope`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Deadline;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// assert_eq!(Deadline::current(), None);
    /// let dl = Deadline::after(Duration::from_secs(1));
    /// Deadline::scope(dl, async move {
    ///     assert_eq!(Deadline::current(), Some(dl));
    /// })
    /// .await;
    /// # }
    /// ```
    #[must_use]
    #[inline]
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Cell::get).ok().flatten()
    }

    /// Runs `fut` with `deadline` as the task's current deadline, or the
    /// enclosing one (where the returned future is first polled) if that is
    /// earlier: a nested scope only tightens. A task spawned inside does not
    /// inherit the scope; pass the deadline on.
    ///
    /// The deadline is *not* enforced on `fut` itself (use
    /// [`Deadline::run`] for that); it is what the wrappers inside read.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `fut`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Deadline;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let outer = Deadline::after(Duration::from_secs(1));
    /// Deadline::scope(outer, async move {
    ///     // Asking for more time inside gives nothing more.
    ///     Deadline::scope(Deadline::after(Duration::from_secs(10)), async move {
    ///         assert_eq!(Deadline::current(), Some(outer));
    ///     })
    ///     .await;
    /// })
    /// .await;
    /// # }
    /// ```
    pub fn scope<F: Future>(deadline: Deadline, fut: F) -> Scope<F> {
        Scope {
            fut,
            deadline,
            resolved: false,
        }
    }

    /// Runs `fut` inside [`Deadline::scope`] and gives up when the
    /// (effective) deadline passes.
    ///
    /// # Errors
    ///
    /// [`DeadlineExceeded`] if the deadline passed before `fut` finished;
    /// `fut` is dropped then.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `fut`, which is dropped at its current `.await`
    /// when the deadline passes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Deadline;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = Deadline::after(Duration::from_millis(100));
    /// assert_eq!(dl.run(async { 5 }).await, Ok(5));
    /// assert!(dl.run(tokio::time::sleep(Duration::from_secs(1))).await.is_err());
    /// # }
    /// ```
    pub async fn run<F: Future>(self, fut: F) -> Result<F::Output, DeadlineExceeded> {
        let effective = match Self::current() {
            Some(outer) => outer.min(self),
            None => self,
        };
        let guarded = async move {
            tokio::select! {
                biased;
                v = fut => Ok(v),
                () = tokio::time::sleep_until(effective.at) => Err(DeadlineExceeded { deadline: effective }),
            }
        };
        Self::scope(effective, guarded).await
    }

    /// The remaining time as a `grpc-timeout` header value (see the
    /// [module docs](self)). Reads the clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let dl = aqueduct_resilience::Deadline::after(Duration::from_millis(250));
    /// assert_eq!(dl.to_header_value(), "250m");
    /// # }
    /// ```
    #[must_use]
    pub fn to_header_value(&self) -> String {
        encode_timeout(self.remaining())
    }

    /// The deadline a `grpc-timeout` header value names, counted from now.
    ///
    /// # Errors
    ///
    /// [`HeaderError`] naming what is malformed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Deadline;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), aqueduct_resilience::deadline::HeaderError> {
    /// let dl = Deadline::from_header_value("3S")?;
    /// assert_eq!(dl.remaining(), Duration::from_secs(3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_header_value(value: &str) -> Result<Self, HeaderError> {
        decode_timeout(value).map(Self::after)
    }
}

/// Encodes `d` as a `grpc-timeout` header value: the coarsest unit that
/// represents `d` exactly in at most eight digits, or else the finest unit
/// that fits, rounded down (so the receiver never waits longer than the
/// sender). Durations beyond `99999999H` are capped there.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::deadline::encode_timeout;
/// assert_eq!(encode_timeout(Duration::from_millis(250)), "250m");
/// assert_eq!(encode_timeout(Duration::from_secs(3)), "3S");
/// assert_eq!(encode_timeout(Duration::from_secs(7200)), "2H");
/// assert_eq!(encode_timeout(Duration::new(1, 1)), "1000000u"); // rounded down
/// assert_eq!(encode_timeout(Duration::ZERO), "0n");
/// ```
#[must_use]
pub fn encode_timeout(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0n".to_owned();
    }
    for (unit, len) in UNITS {
        if nanos % len == 0 && nanos / len <= MAX_VALUE {
            return format!("{}{unit}", nanos / len);
        }
    }
    for (unit, len) in UNITS.iter().rev() {
        if nanos / len <= MAX_VALUE {
            return format!("{}{unit}", nanos / len);
        }
    }
    format!("{MAX_VALUE}H")
}

/// Decodes a `grpc-timeout` header value.
///
/// # Errors
///
/// [`HeaderError`] if the value is empty, has more than eight digits, a
/// non-digit, or an unknown unit.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::deadline::decode_timeout;
/// assert_eq!(decode_timeout("250m"), Ok(Duration::from_millis(250)));
/// assert_eq!(decode_timeout("2M"), Ok(Duration::from_secs(120)));
/// ```
pub fn decode_timeout(value: &str) -> Result<Duration, HeaderError> {
    let unit = value.chars().next_back().ok_or(HeaderError::Empty)?;
    let digits = &value[..value.len() - unit.len_utf8()];
    let nanos_per = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, n)| *n)
        .ok_or(HeaderError::InvalidUnit { unit })?;
    if digits.is_empty() {
        return Err(HeaderError::Empty);
    }
    if let Some(found) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(HeaderError::InvalidDigit { found });
    }
    if digits.len() > MAX_DIGITS {
        return Err(HeaderError::TooManyDigits {
            len: digits.len(),
            max: MAX_DIGITS,
        });
    }
    let n: u128 = digits
        .bytes()
        .fold(0, |acc, b| acc * 10 + u128::from(b - b'0'));
    let nanos = n * nanos_per;
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        for d in [
            Duration::from_nanos(1),
            Duration::from_micros(17),
            Duration::from_millis(250),
            Duration::from_millis(1500),
            Duration::from_secs(3),
            Duration::from_secs(59 * 60),
            Duration::from_secs(5 * 3600),
            Duration::from_nanos(99_999_999),
        ] {
            assert_eq!(decode_timeout(&encode_timeout(d)), Ok(d), "{d:?}");
        }
    }

    #[test]
    fn encode_never_rounds_up_and_fits_eight_digits() {
        for nanos in [123_456_789_123u64, 999_999_999_999, 1_000_000_001, u64::MAX] {
            let d = Duration::from_nanos(nanos);
            let enc = encode_timeout(d);
            assert!(enc.len() <= 9, "{enc}");
            let back = decode_timeout(&enc).unwrap();
            assert!(back <= d, "{enc} decodes to {back:?} > {d:?}");
        }
    }

    #[test]
    fn decode_rejects_garbage() {
        assert_eq!(decode_timeout(""), Err(HeaderError::Empty));
        assert_eq!(decode_timeout("S"), Err(HeaderError::Empty));
        assert_eq!(
            decode_timeout("1-S"),
            Err(HeaderError::InvalidDigit { found: '-' })
        );
        assert_eq!(
            decode_timeout("10é"),
            Err(HeaderError::InvalidUnit { unit: 'é' })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nested_scope_only_tightens() {
        let outer = Deadline::after(Duration::from_secs(1));
        let inner = Deadline::after(Duration::from_millis(100));
        Deadline::scope(outer, async move {
            Deadline::scope(inner, async move {
                assert_eq!(Deadline::current(), Some(inner));
            })
            .await;
            assert_eq!(Deadline::current(), Some(outer));
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn run_enforces_the_outer_deadline_if_earlier() {
        let start = Instant::now();
        let outer = Deadline::after(Duration::from_millis(50));
        let r = Deadline::scope(outer, async {
            Deadline::after(Duration::from_secs(5))
                .run(std::future::pending::<()>())
                .await
        })
        .await;
        assert_eq!(r, Err(DeadlineExceeded { deadline: outer }));
        assert_eq!(start.elapsed(), Duration::from_millis(50));
    }
}
