//! Outcome windows: the last N calls, or the calls of the last T.
// Public only for the loom models, which drive the time window directly.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::sync::{AtomicI64, AtomicU8, AtomicU64, Ordering};

pub(crate) const PRESENT: u8 = 1;
/// An outcome bit: the call failed.
pub const FAILURE: u8 = 2;
/// An outcome bit: the call was slow.
pub const SLOW: u8 = 4;

/// Totals over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub failures: u64,
    /// Slow calls.
    pub slow: u64,
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

/// The smallest bucket: with buckets of 2^9 ns or more, an epoch (of a
/// `u64` of nanoseconds) fits in 55 bits, leaving 9 for a generation. The
/// builder's smallest is 1 ms over 1024 buckets, 976 ns.
const MIN_BUCKET_NANOS: u64 = 1 << GEN_BITS;
/// A bucket's state word: its generation (how many times it moved to a new
/// epoch, wrapping) over its epoch, in full.
const GEN_BITS: u32 = 9;
const EPOCH_BITS: u32 = 64 - GEN_BITS;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
/// A counter: a 24-bit tag over a 40-bit count. The tag is the bucket's
/// generation over the low 15 bits of its epoch.
const TAG_BITS: u32 = 24;
const TAG_EPOCH_BITS: u32 = TAG_BITS - GEN_BITS;
const LOW_BITS: u32 = 64 - TAG_BITS;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;

/// A bucket's state word: `epoch` in generation `gen`.
#[inline]
fn state(generation: u64, epoch: u64) -> u64 {
    (generation & GEN_MASK) << EPOCH_BITS | epoch
}

#[inline]
fn epoch_of(state: u64) -> u64 {
    state & EPOCH_MASK
}

/// The tag of the counts made in `state`, where the counter keeps it.
#[inline]
fn tag(state: u64) -> u64 {
    let generation = state >> EPOCH_BITS;
    let epoch = state & ((1 << TAG_EPOCH_BITS) - 1);
    (generation << TAG_EPOCH_BITS | epoch) << LOW_BITS
}

#[inline]
fn tag_of(counter: u64) -> u64 {
    counter & !LOW_MASK
}

/// The outcomes of the last `window`, in `buckets` buckets.
///
/// Epoch `e` is the `e`-th bucket duration since the breaker was built;
/// it goes to bucket `e % buckets`. A bucket holds one epoch at a time:
/// its state word names the epoch in full, beside a 9-bit generation that
/// goes up by one each time the bucket moves to a new epoch. Its three
/// counters, calls, failures and slow calls, each count to 2^40 - 1
/// beside a 24-bit tag naming the state their count belongs to (the
/// generation and the epoch's low 15 bits). A bucket counts in
/// [`totals`](TimeWindow::totals) while its epoch is one of the last
/// `buckets`, so buckets expire lazily and never need a sweep; as the
/// epoch is compared in full, a bucket left alone for any length of time
/// stays expired. Within it, a counter counts only if tagged with the
/// bucket's state.
///
/// Two successive states of a bucket always differ in generation, so in
/// tag, and a bucket leaves a state only once all its counters are tagged
/// with it: old counts never pass for new ones.
///
/// * Moving from state `h` to epoch `e`, a recorder first *settles* `h`:
///   while the bucket is in `h`, every counter tagged otherwise (left from
///   the state before) is set to zero, tagged `h`. Only then does it
///   compare-and-swap the state word from `h` to `e` in the next
///   generation. Of recorders racing to do it, one succeeds; the others
///   settle alongside it, which writes only zero counts, tagged `h`, over
///   counters tagged otherwise and only while the bucket is in `h`.
/// * A recorder in state `s` adds to a counter tagged `s`. A counter
///   tagged otherwise holds the previous state's count: it starts it over
///   at 1, tagged `s`, if the bucket is still in `s` (read after the
///   counter, acquire, so a counter written in a later state shows that
///   state); if the bucket moved on, its outcome is too old and left out.
/// * A recorder whose epoch is older than the bucket's records nothing.
///
/// Recording costs one load of the state word and one compare-and-swap
/// per counter it adds to; moving a bucket to a new epoch (once per bucket
/// duration at most) a few loads more, and a compare-and-swap per counter
/// to settle. An old count could only come back through a recorder
/// stopped (descheduled) between reading a counter and writing it while
/// the bucket moved on 512 times (512 windows at least), which would then
/// find a counter of the same tag and count: its one outcome would land in
/// the new epoch, or a count be lost.
#[derive(Debug)]
pub struct TimeWindow {
    bucket_nanos: u64,
    buckets: Box<[Bucket]>,
}

#[derive(Debug)]
struct Bucket {
    /// The state word: generation and epoch.
    state: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Bucket {
    fn new() -> Self {
        // Epoch 0 in generation 0, every count 0 with that state's tag.
        Self {
            state: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        }
    }

    fn counters(&self) -> [&AtomicU64; 3] {
        [&self.calls, &self.failures, &self.slow]
    }

    /// Moves the bucket to `epoch` unless it holds a later one; the state
    /// it holds `epoch` in, if it does.
    #[inline]
    fn enter(&self, epoch: u64) -> Option<u64> {
        let mut held = self.state.load(Ordering::Acquire);
        while epoch_of(held) != epoch {
            if epoch_of(held) > epoch {
                return None;
            }
            self.settle(held);
            let next = state((held >> EPOCH_BITS) + 1, epoch);
            match self
                .state
                .compare_exchange(held, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => held = next,
                Err(actual) => held = actual,
            }
        }
        Some(held)
    }

    /// Sets every counter not tagged `held` to zero, tagged `held`, while
    /// the bucket is in `held`.
    #[cold]
    fn settle(&self, held: u64) {
        let t = tag(held);
        for counter in self.counters() {
            let mut w = counter.load(Ordering::Acquire);
            while tag_of(w) != t {
                if self.state.load(Ordering::Acquire) != held {
                    // Another recorder settled `held` and moved on.
                    return;
                }
                match counter.compare_exchange(w, t, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(actual) => w = actual,
                }
            }
        }
    }

    /// Adds one to `counter` in state `held`.
    #[inline]
    fn add(&self, counter: &AtomicU64, held: u64) {
        let t = tag(held);
        let mut w = counter.load(Ordering::Acquire);
        loop {
            let next = if tag_of(w) == t {
                if w & LOW_MASK == LOW_MASK {
                    return;
                }
                w + 1
            } else if self.state.load(Ordering::Acquire) == held {
                // The previous state's count, settled: start over.
                t | 1
            } else {
                // The bucket moved on: this outcome is out of the window.
                return;
            };
            match counter.compare_exchange_weak(w, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }
}

impl TimeWindow {
    /// A window of `window_nanos` in `buckets` buckets (1 to 1024, of 512
    /// ns at least), empty.
    #[must_use]
    pub fn new(window_nanos: u64, buckets: usize) -> Self {
        let buckets = buckets.clamp(1, 1024);
        Self {
            bucket_nanos: (window_nanos / buckets as u64).max(MIN_BUCKET_NANOS),
            buckets: (0..buckets).map(|_| Bucket::new()).collect(),
        }
    }

    fn epoch(&self, now_nanos: u64) -> u64 {
        now_nanos / self.bucket_nanos
    }

    /// Records `outcome` (bits [`FAILURE`], [`SLOW`]) at `now_nanos`.
    #[inline]
    pub fn record(&self, now_nanos: u64, outcome: u8) {
        let epoch = self.epoch(now_nanos);
        #[allow(clippy::cast_possible_truncation)]
        let b = &self.buckets[(epoch % self.buckets.len() as u64) as usize];
        let Some(held) = b.enter(epoch) else {
            return;
        };
        b.add(&b.calls, held);
        if outcome & FAILURE != 0 {
            b.add(&b.failures, held);
        }
        if outcome & SLOW != 0 {
            b.add(&b.slow, held);
        }
    }

    /// Empties the window.
    pub fn reset(&self) {
        for b in &*self.buckets {
            let zero = tag(b.state.load(Ordering::Acquire));
            for counter in b.counters() {
                counter.store(zero, Ordering::Release);
            }
        }
    }

    /// The totals of the buckets whose epochs are the last `buckets` at
    /// `now_nanos`.
    #[must_use]
    pub fn totals(&self, now_nanos: u64) -> Totals {
        let now = self.epoch(now_nanos);
        let n = self.buckets.len() as u64;
        let mut t = Totals::default();
        for b in &*self.buckets {
            let held = b.state.load(Ordering::Acquire);
            // Later than now (a reader running behind), or out of the window.
            if now.wrapping_sub(epoch_of(held)) >= n {
                continue;
            }
            let count = |counter: &AtomicU64| {
                let w = counter.load(Ordering::Acquire);
                if tag_of(w) == tag(held) {
                    w & LOW_MASK
                } else {
                    0
                }
            };
            t.calls += count(&b.calls);
            t.failures += count(&b.failures);
            t.slow += count(&b.slow);
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

    /// Epochs 2^24 apart share the low 24 bits: counts tagged with those
    /// alone would pass for each other's.
    const ALIAS: u64 = 1 << 24;

    #[test]
    fn a_quiet_time_window_forgets_failures_one_tag_space_old() {
        let ms = 1_000_000;
        let w = TimeWindow::new(10 * ms, 10);
        w.record(0, FAILURE);
        w.record(0, FAILURE | SLOW);
        // 2^24 buckets of 1 ms later (4 h 40 min), nothing is left.
        let later = ALIAS * ms;
        assert_eq!(w.totals(later), Totals::default());
        // A call recorded then, into the same bucket, counts alone.
        w.record(later, 0);
        assert_eq!(
            w.totals(later),
            Totals {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn steady_successes_do_not_keep_a_buckets_old_failures() {
        // Two buckets of 1 ms; a failure, then only successes, one every
        // bucket: bucket 0's failure counter is never written again.
        let ms = 1_000_000;
        let w = TimeWindow::new(2 * ms, 2);
        w.record(0, FAILURE);
        w.record((ALIAS - 5) * ms, 0);
        for e in ALIAS - 4..=ALIAS + 3 {
            w.record(e * ms, 0);
            assert_eq!(
                w.totals(e * ms),
                Totals {
                    calls: 2,
                    failures: 0,
                    slow: 0
                },
                "at epoch {e}"
            );
        }
    }

    #[test]
    fn a_bucket_moving_on_through_every_generation_keeps_no_old_count() {
        // One bucket of 1 ms, a failure, then a success every 2^15 epochs:
        // the generation wraps at 512 and the tag's epoch bits stay 0, so
        // the tag comes round again every 512 moves.
        let ms = 1_000_000;
        let w = TimeWindow::new(ms, 1);
        w.record(0, FAILURE | SLOW);
        for j in 1..=1100 {
            let at = (j << 15) * ms;
            w.record(at, 0);
            assert_eq!(
                w.totals(at),
                Totals {
                    calls: 1,
                    failures: 0,
                    slow: 0
                },
                "after {j} moves"
            );
        }
    }

    #[test]
    fn a_late_record_leaves_its_buckets_newer_epoch_alone() {
        let ms = 1_000_000;
        let w = TimeWindow::new(10 * ms, 10);
        w.record(12 * ms, FAILURE);
        // A call that ended at 2 ms, recorded only now: bucket 2 holds
        // 12 ms already, and 2 ms is out of the window.
        w.record(2 * ms, 0);
        assert_eq!(
            w.totals(12 * ms),
            Totals {
                calls: 1,
                failures: 1,
                slow: 0
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
        w.reset();
        assert_eq!(w.totals(10 * s + 2), Totals::default());
    }
}
