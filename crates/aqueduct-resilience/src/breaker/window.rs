//! Outcome windows: the last N calls, or the calls of the last T.

use crate::sync::{AtomicI64, AtomicU8, AtomicU64, Ordering};

pub(crate) const PRESENT: u8 = 1;
pub(crate) const FAILURE: u8 = 2;
pub(crate) const SLOW: u8 = 4;

/// Totals over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The last `n` outcomes in a ring of atomic bytes. Recording swaps the
/// oldest slot's outcome for the new one and adjusts the totals by the
/// difference, so old outcomes really leave and each call is O(1).
#[derive(Debug)]
pub(crate) struct CountWindow {
    head: AtomicU64,
    slots: Box<[AtomicU8]>,
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

fn delta(old: u8, new: u8, bit: u8) -> i64 {
    i64::from(new & bit != 0) - i64::from(old & bit != 0)
}

impl CountWindow {
    pub(crate) fn new(size: usize) -> Self {
        Self {
            head: AtomicU64::new(0),
            slots: (0..size.max(1)).map(|_| AtomicU8::new(0)).collect(),
            calls: AtomicI64::new(0),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    fn apply(&self, old: u8, new: u8) {
        for (bit, counter) in [
            (PRESENT, &self.calls),
            (FAILURE, &self.failures),
            (SLOW, &self.slow),
        ] {
            let d = delta(old, new, bit);
            if d != 0 {
                counter.fetch_add(d, Ordering::Relaxed);
            }
        }
    }

    #[inline]
    pub(crate) fn record(&self, outcome: u8) {
        let i = self.head.fetch_add(1, Ordering::Relaxed);
        #[allow(clippy::cast_possible_truncation)]
        let slot = &self.slots[(i % self.slots.len() as u64) as usize];
        let new = outcome | PRESENT;
        // In a steady state the outcome leaving is the one arriving: then
        // there is nothing to write.
        if slot.load(Ordering::Relaxed) == new {
            return;
        }
        let old = slot.swap(new, Ordering::Relaxed);
        if old != new {
            self.apply(old, new);
        }
    }

    pub(crate) fn reset(&self) {
        for slot in &*self.slots {
            let old = slot.swap(0, Ordering::Relaxed);
            self.apply(old, 0);
        }
    }

    pub(crate) fn totals(&self) -> Totals {
        let get = |c: &AtomicI64| u64::try_from(c.load(Ordering::Relaxed)).unwrap_or(0);
        Totals {
            calls: get(&self.calls),
            failures: get(&self.failures),
            slow: get(&self.slow),
        }
    }
}

const TAG_BITS: u32 = 24;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const LOW_BITS: u32 = 64 - TAG_BITS;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;
const HALF_BITS: u32 = LOW_BITS / 2;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;

/// The outcomes of the last `window`, in `buckets` buckets. Each bucket is
/// two atomic words, each tagged with the bucket's epoch: word one counts
/// calls, word two failures and slow calls. A stale tag means the bucket
/// is from an older epoch and counts as empty, so buckets expire lazily and
/// never need a sweep.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    calls: Box<[AtomicU64]>,
    bad: Box<[AtomicU64]>,
}

fn tagged_add(word: &AtomicU64, tag: u64, add: u64, split: bool) {
    let mut cur = word.load(Ordering::Relaxed);
    loop {
        let low = if cur >> LOW_BITS == tag {
            cur & LOW_MASK
        } else {
            0
        };
        let sum = if split {
            add_low(low, add)
        } else {
            (low + add).min(LOW_MASK)
        };
        let next = (tag << LOW_BITS) | sum;
        match word.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// Adds `add` to the failures/slow word, saturating each half.
fn add_low(low: u64, add: u64) -> u64 {
    let lo = ((low & HALF_MASK) + (add & HALF_MASK)).min(HALF_MASK);
    let hi = ((low >> HALF_BITS) + (add >> HALF_BITS)).min(HALF_MASK);
    (hi << HALF_BITS) | lo
}

impl TimeWindow {
    pub(crate) fn new(window_nanos: u64, buckets: usize) -> Self {
        let buckets = buckets.clamp(1, 1024);
        let stale = TAG_MASK << LOW_BITS;
        Self {
            bucket_nanos: (window_nanos / buckets as u64).max(1),
            calls: (0..buckets).map(|_| AtomicU64::new(stale)).collect(),
            bad: (0..buckets).map(|_| AtomicU64::new(stale)).collect(),
        }
    }

    fn epoch(&self, now_nanos: u64) -> (u64, usize) {
        let e = now_nanos / self.bucket_nanos;
        #[allow(clippy::cast_possible_truncation)]
        let i = (e % self.calls.len() as u64) as usize;
        (e & TAG_MASK, i)
    }

    #[inline]
    pub(crate) fn record(&self, now_nanos: u64, outcome: u8) {
        let (tag, i) = self.epoch(now_nanos);
        tagged_add(&self.calls[i], tag, 1, false);
        let bad = u64::from(outcome & FAILURE != 0) | u64::from(outcome & SLOW != 0) << HALF_BITS;
        if bad != 0 {
            tagged_add(&self.bad[i], tag, bad, true);
        }
    }

    pub(crate) fn reset(&self, now_nanos: u64) {
        let (tag, _) = self.epoch(now_nanos);
        // A tag half the tag space away is stale for any epoch near now.
        let stale = (tag.wrapping_add(1 << (TAG_BITS - 1)) & TAG_MASK) << LOW_BITS;
        for w in self.calls.iter().chain(self.bad.iter()) {
            w.store(stale, Ordering::Relaxed);
        }
    }

    pub(crate) fn totals(&self, now_nanos: u64) -> Totals {
        let (tag, _) = self.epoch(now_nanos);
        let n = self.calls.len() as u64;
        let live = |w: u64| (tag.wrapping_sub(w >> LOW_BITS) & TAG_MASK) < n;
        let mut t = Totals::default();
        for (c, b) in self.calls.iter().zip(self.bad.iter()) {
            let c = c.load(Ordering::Relaxed);
            if live(c) {
                t.calls += c & LOW_MASK;
            }
            let b = b.load(Ordering::Relaxed);
            if live(b) {
                t.failures += b & HALF_MASK;
                t.slow += (b >> HALF_BITS) & HALF_MASK;
            }
        }
        t
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn count_window_slides() {
        let w = CountWindow::new(4);
        for _ in 0..4 {
            w.record(FAILURE);
        }
        assert_eq!(
            w.totals(),
            Totals {
                calls: 4,
                failures: 4,
                slow: 0
            }
        );
        // Each success pushes out one failure.
        w.record(0);
        w.record(SLOW);
        assert_eq!(
            w.totals(),
            Totals {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        for _ in 0..4 {
            w.record(0);
        }
        assert_eq!(
            w.totals(),
            Totals {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        w.reset();
        assert_eq!(w.totals(), Totals::default());
    }

    #[test]
    fn time_window_expires_old_buckets() {
        let s = 1_000_000_000;
        let w = TimeWindow::new(10 * s, 10);
        w.record(0, FAILURE);
        w.record(s / 2, FAILURE | SLOW);
        w.record(5 * s, 0);
        assert_eq!(
            w.totals(5 * s),
            Totals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10.5 s the first bucket (0..1 s) has left the window.
        assert_eq!(
            w.totals(10 * s + s / 2),
            Totals {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        // Reusing a bucket slot in a later epoch starts it from zero.
        w.record(10 * s + 1, FAILURE);
        assert_eq!(
            w.totals(10 * s + 2),
            Totals {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        w.reset(10 * s + 2);
        assert_eq!(w.totals(10 * s + 2), Totals::default());
    }
}
