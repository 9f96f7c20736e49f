//! A retry budget shared between calls: retries may be at most a fraction
//! of recent calls, plus a small floor.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{AtomicU64, Ordering};

/// Fixed-point scale: one retry costs this many units; a call deposits
/// `ratio * SCALE`, so fractional ratios are exact to 0.1%.
const SCALE: i64 = 1000;
const SLOTS: usize = 10;
const TAG_BITS: u32 = 24;
const VALUE_BITS: u32 = 64 - TAG_BITS;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const VALUE_MAX: i64 = (1 << (VALUE_BITS - 1)) - 1;

/// A budget for retries, shared by every call through it (clone it; clones
/// share the balance).
///
/// The semantics are those of Finagle's and tower's `TpsBudget`: each call
/// [deposits](RetryBudget::deposit) `retry_ratio` of a retry, each retry
/// [withdraws](RetryBudget::withdraw) one, deposits expire after `ttl`, and
/// `min_per_sec` retries per second are always allowed on top. Unlike
/// tower's, fractional ratios are exact: with a ratio of 0.6, 100 calls buy
/// 60 retries (tower rounds the cost of a retry down to whole calls, so
/// 0.6 behaves as 1.0).
///
/// The balance lives in ten time slots of `ttl / 10` each, every slot a
/// single atomic word tagged with its epoch, so deposits and withdrawals
/// take no lock and old slots expire lazily. Under contention a withdrawal
/// may overdraw by at most the number of concurrent withdrawals.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::RetryBudget;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5);
/// for _ in 0..4 {
///     budget.deposit();
/// }
/// assert!(budget.withdraw());
/// assert!(budget.withdraw());
/// assert!(!budget.withdraw()); // 4 calls * 0.5 = 2 retries
/// # }
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    slot_nanos: u64,
    slots: [AtomicU64; SLOTS],
    deposit: i64,
    reserve: i64,
    ttl: Duration,
    ratio: f32,
    min_per_sec: u32,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ttl", &self.inner.ttl)
            .field("min_per_sec", &self.inner.min_per_sec)
            .field("retry_ratio", &self.inner.ratio)
            .finish_non_exhaustive()
    }
}

impl Default for RetryBudget {
    /// A 10 s window, 10 retries per second, 20% of calls.
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 10, 0.2)
    }
}

fn decode(w: u64) -> (u64, i64) {
    #[allow(clippy::cast_possible_wrap)]
    let v = ((w << TAG_BITS) as i64) >> TAG_BITS;
    (w >> VALUE_BITS, v)
}

#[allow(clippy::cast_sign_loss)]
fn encode(tag: u64, v: i64) -> u64 {
    ((tag & TAG_MASK) << VALUE_BITS) | (v as u64 & VALUE_MASK)
}

impl RetryBudget {
    /// A budget whose deposits live for `ttl` (at least 10 ms), that always
    /// allows `min_per_sec` retries per second, and on top of that
    /// `retry_ratio` retries per call (clamped to `0.0..=1000.0`).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let budget = aqueduct_resilience::RetryBudget::new(Duration::from_secs(1), 3, 0.0);
    /// assert!((0..3).all(|_| budget.withdraw())); // the floor: 3/s for 1 s
    /// assert!(!budget.withdraw());
    /// # }
    /// ```
    #[must_use]
    pub fn new(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Self {
        let ttl = ttl.max(Duration::from_millis(10));
        let ratio = if retry_ratio.is_nan() {
            0.0
        } else {
            retry_ratio.clamp(0.0, 1000.0)
        };
        #[allow(clippy::cast_possible_truncation)]
        let deposit = (f64::from(ratio) * 1000.0).round() as i64;
        let reserve_f = f64::from(min_per_sec) * ttl.as_secs_f64() * 1000.0;
        #[allow(clippy::cast_possible_truncation)]
        let reserve = reserve_f.min(1e15) as i64;
        let slot_nanos = u64::try_from(ttl.as_nanos() / SLOTS as u128).unwrap_or(u64::MAX);
        Self {
            inner: Arc::new(Inner {
                start: Instant::now(),
                slot_nanos,
                slots: std::array::from_fn(|_| AtomicU64::new(encode(TAG_MASK, 0))),
                deposit,
                reserve,
                ttl,
                ratio,
                min_per_sec,
            }),
        }
    }

    fn epoch(&self) -> u64 {
        let nanos = u64::try_from(self.inner.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        nanos / self.inner.slot_nanos
    }

    fn add(&self, epoch: u64, delta: i64) {
        let tag = epoch & TAG_MASK;
        #[allow(clippy::cast_possible_truncation)]
        let slot = &self.inner.slots[(epoch % SLOTS as u64) as usize];
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            let (t, v) = decode(cur);
            let base = if t == tag { v } else { 0 };
            let next = encode(tag, base.saturating_add(delta).clamp(-VALUE_MAX, VALUE_MAX));
            match slot.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn balance_at(&self, epoch: u64) -> i64 {
        let tag = epoch & TAG_MASK;
        let live: i64 = self
            .inner
            .slots
            .iter()
            .map(|s| decode(s.load(Ordering::Acquire)))
            .filter(|(t, _)| (tag.wrapping_sub(*t) & TAG_MASK) < SLOTS as u64)
            .map(|(_, v)| v)
            .sum();
        self.inner.reserve.saturating_add(live)
    }

    /// Records a call (first attempts only). Reads the clock once.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = aqueduct_resilience::RetryBudget::new(Duration::from_secs(1), 0, 1.0);
    /// assert!(!b.withdraw());
    /// b.deposit();
    /// assert!(b.withdraw());
    /// # }
    /// ```
    pub fn deposit(&self) {
        if self.inner.deposit != 0 {
            self.add(self.epoch(), self.inner.deposit);
        }
    }

    /// Takes one retry from the budget; `false` (and nothing taken) if it
    /// cannot afford one. Reads the clock once.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = aqueduct_resilience::RetryBudget::new(Duration::from_secs(1), 0, 0.0);
    /// assert!(!b.withdraw());
    /// # }
    /// ```
    #[must_use = "a `false` means the retry must not happen"]
    pub fn withdraw(&self) -> bool {
        let epoch = self.epoch();
        if self.balance_at(epoch) < SCALE {
            return false;
        }
        self.add(epoch, -SCALE);
        true
    }

    /// Gives back a retry [withdrawn](RetryBudget::withdraw) a moment ago
    /// that is not made after all.
    pub(crate) fn refund(&self) {
        self.add(self.epoch(), SCALE);
    }

    /// How many retries the budget can afford now.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = aqueduct_resilience::RetryBudget::new(Duration::from_secs(1), 0, 0.25);
    /// (0..8).for_each(|_| b.deposit());
    /// assert_eq!(b.available(), 2);
    /// # }
    /// ```
    #[must_use]
    pub fn available(&self) -> u64 {
        u64::try_from(self.balance_at(self.epoch()) / SCALE).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_words_round_trip_negative_values() {
        for v in [0, 1, -1, 1000, -1000, VALUE_MAX, -VALUE_MAX] {
            assert_eq!(decode(encode(77, v)), (77, v));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_ratio_is_exact() {
        let b = RetryBudget::new(Duration::from_secs(10), 0, 0.6);
        for _ in 0..100 {
            b.deposit();
        }
        let mut allowed = 0;
        while b.withdraw() {
            allowed += 1;
        }
        assert_eq!(allowed, 60);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_expire_after_ttl() {
        let b = RetryBudget::new(Duration::from_secs(1), 0, 1.0);
        for _ in 0..5 {
            b.deposit();
        }
        assert_eq!(b.available(), 5);
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.deposit();
        assert_eq!(b.available(), 6);
        tokio::time::sleep(Duration::from_millis(550)).await;
        // The first five are older than the ttl now; the sixth is not.
        assert_eq!(b.available(), 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(b.available(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn floor_is_min_per_sec_times_ttl() {
        let b = RetryBudget::new(Duration::from_secs(2), 5, 0.0);
        assert_eq!(b.available(), 10);
        let mut n = 0;
        while b.withdraw() {
            n += 1;
        }
        assert_eq!(n, 10);
        // Withdrawals expire too, so the floor comes back.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(b.available(), 10);
    }
}
