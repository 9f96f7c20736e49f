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

/// The outcomes of the last `window`, in `buckets` buckets. Each bucket is
/// three atomic words, calls, failures and slow calls, each tagged with
/// the bucket's epoch and counting up to 2^40 - 1. A stale tag means the
/// bucket is from an older epoch and counts as empty, so buckets expire
/// lazily and never need a sweep.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    calls: Box<[AtomicU64]>,
    failures: Box<[AtomicU64]>,
    slow: Box<[AtomicU64]>,
}

fn tagged_add(word: &AtomicU64, tag: u64) {
    let mut cur = word.load(Ordering::Relaxed);
    loop {
        let low = if cur >> LOW_BITS == tag {
            cur & LOW_MASK
        } else {
            0
        };
        let next = (tag << LOW_BITS) | (low + 1).min(LOW_MASK);
        match word.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

impl TimeWindow {
    pub(crate) fn new(window_nanos: u64, buckets: usize) -> Self {
        let buckets = buckets.clamp(1, 1024);
        let stale = || {
            (0..buckets)
                .map(|_| AtomicU64::new(TAG_MASK << LOW_BITS))
                .collect()
        };
        Self {
            bucket_nanos: (window_nanos / buckets as u64).max(1),
            calls: stale(),
            failures: stale(),
            slow: stale(),
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
        tagged_add(&self.calls[i], tag);
        if outcome & FAILURE != 0 {
            tagged_add(&self.failures[i], tag);
        }
        if outcome & SLOW != 0 {
            tagged_add(&self.slow[i], tag);
        }
    }

    pub(crate) fn reset(&self, now_nanos: u64) {
        let (tag, _) = self.epoch(now_nanos);
        // A tag half the tag space away is stale for any epoch near now.
        let stale = (tag.wrapping_add(1 << (TAG_BITS - 1)) & TAG_MASK) << LOW_BITS;
        for w in self
            .calls
            .iter()
            .chain(self.failures.iter())
            .chain(self.slow.iter())
        {
            w.store(stale, Ordering::Relaxed);
        }
    }

    pub(crate) fn totals(&self, now_nanos: u64) -> Totals {
        let (tag, _) = self.epoch(now_nanos);
        let n = self.calls.len() as u64;
        let live = |w: &AtomicU64| {
            let w = w.load(Ordering::Relaxed);
            if (tag.wrapping_sub(w >> LOW_BITS) & TAG_MASK) < n {
                w & LOW_MASK
            } else {
                0
            }
        };
        let sum = |words: &[AtomicU64]| words.iter().map(live).sum();
        Totals {
            calls: sum(&self.calls),
            failures: sum(&self.failures),
            slow: sum(&self.slow),
        }
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
    fn time_window_counts_more_than_a_million_failures_in_a_bucket() {
        let s = 1_000_000_000;
        let w = TimeWindow::new(60 * s, 1);
        let n = (1 << 20) + 10;
        for _ in 0..n {
            w.record(0, FAILURE);
        }
        w.record(0, SLOW);
        assert_eq!(
            w.totals(0),
            Totals {
                calls: n + 1,
                failures: n,
                slow: 1
            }
        );
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
