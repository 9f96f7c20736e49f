//! The GCRA arithmetic and its lock-free state.
//!
//! All times are nanoseconds on the limiter's own time line (see
//! [`Clock`](super::Clock)). The state is one number, the *theoretical
//! arrival time* (TAT): the instant at which the limiter is back to full. A
//! request for `n` cells at `now` costs `n * interval`; it conforms when
//! `max(tat, now) + cost - tolerance <= now`, where `tolerance = burst *
//! interval`. Refill needs no timer: it is implied by `now` moving past the
//! TAT.

use crate::sync::{AtomicU64, Ordering, fence};

/// Emission interval and tolerance of a quota, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// Time that one cell costs.
    pub(crate) interval: u64,
    /// `burst * interval`: how far ahead of `now` the TAT may run.
    pub(crate) tolerance: u64,
}

impl Params {
    /// The cost of `n` cells.
    #[inline]
    pub(crate) fn cost(self, n: u32) -> u64 {
        self.interval.saturating_mul(u64::from(n))
    }

    /// The burst (cells available when full).
    pub(crate) fn burst(self) -> u32 {
        u32::try_from(self.tolerance / self.interval.max(1)).unwrap_or(u32::MAX)
    }
}

/// Decides a request of `cost` nanoseconds at `now` against `tat`.
///
/// Returns the new TAT when it conforms, or the earliest instant at which it
/// would conform.
#[inline(always)]
pub(crate) fn decide(tat: u64, now: u64, cost: u64, tolerance: u64) -> Result<u64, u64> {
    let new_tat = tat.max(now).saturating_add(cost);
    let allowed_at = new_tat.saturating_sub(tolerance);
    if allowed_at <= now {
        Ok(new_tat)
    } else {
        Err(allowed_at)
    }
}

/// A slot taken ahead of time by a waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reservation {
    /// The TAT before this reservation.
    pub(crate) prev: u64,
    /// The TAT this reservation set.
    pub(crate) new: u64,
    /// The instant at which the reserved cells conform.
    pub(crate) ready_at: u64,
}

/// The GCRA state: one atomic TAT, alone on its cache line so that the
/// compare-and-swap traffic of contended checks does not evict the quota and
/// clock that every check reads.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Gcra {
    tat: AtomicU64,
}

impl Gcra {
    pub(crate) fn new() -> Self {
        Self {
            tat: AtomicU64::new(0),
        }
    }

    /// The current TAT.
    #[inline]
    pub(crate) fn tat(&self) -> u64 {
        self.tat.load(Ordering::Relaxed)
    }

    /// Takes `cost` now if it conforms; otherwise returns the earliest
    /// instant at which it would. A denied check writes nothing.
    #[inline(always)]
    pub(crate) fn check(&self, now: u64, cost: u64, tolerance: u64) -> Result<(), u64> {
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            let new = decide(current, now, cost, tolerance)?;
            match self
                .tat
                .compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Reserves `cost` at the end of the queue, whenever that is, unless the
    /// reserved cells would conform only after `latest`; then returns the
    /// instant at which they would have conformed and writes nothing.
    #[inline]
    pub(crate) fn reserve(
        &self,
        now: u64,
        cost: u64,
        tolerance: u64,
        latest: u64,
    ) -> Result<Reservation, u64> {
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            let new = current.max(now).saturating_add(cost);
            let ready_at = new.saturating_sub(tolerance).max(now);
            if ready_at > latest {
                return Err(ready_at);
            }
            match self
                .tat
                .compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok(Reservation {
                        prev: current,
                        new,
                        ready_at,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives a reservation back if no later reservation depends on it, that
    /// is if the TAT is still the value it set. Returns whether it did.
    pub(crate) fn give_back(&self, r: Reservation) -> bool {
        self.tat
            .compare_exchange(r.new, r.prev, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// A quota that can change at runtime, read without a lock.
///
/// The common quota (an interval below 2^32 ns, about 4.3 s) is packed with
/// its burst into one atomic, read with a single load. Slower quotas are
/// read through a sequence lock over two atomics. Either way a reader never
/// mixes two quotas.
#[derive(Debug)]
pub(crate) struct QuotaCell {
    /// `interval << 32 | burst`, or 0 when the quota does not fit.
    packed: AtomicU64,
    seq: AtomicU64,
    interval: AtomicU64,
    tolerance: AtomicU64,
}

fn pack(p: Params) -> u64 {
    let burst = p.tolerance / p.interval.max(1);
    if p.interval < (1 << 32) && burst < (1 << 32) && burst * p.interval == p.tolerance {
        (p.interval << 32) | burst
    } else {
        0
    }
}

impl QuotaCell {
    pub(crate) fn new(p: Params) -> Self {
        Self {
            packed: AtomicU64::new(pack(p)),
            seq: AtomicU64::new(0),
            interval: AtomicU64::new(p.interval),
            tolerance: AtomicU64::new(p.tolerance),
        }
    }

    #[inline(always)]
    pub(crate) fn load(&self) -> Params {
        let packed = self.packed.load(Ordering::Acquire);
        if packed != 0 {
            let interval = packed >> 32;
            return Params {
                interval,
                tolerance: interval * (packed & 0xffff_ffff),
            };
        }
        self.load_slow()
    }

    #[cold]
    fn load_slow(&self) -> Params {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let interval = self.interval.load(Ordering::Relaxed);
                let tolerance = self.tolerance.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s1 {
                    return Params {
                        interval,
                        tolerance,
                    };
                }
            }
            std::hint::spin_loop();
            #[cfg(loom)]
            loom::thread::yield_now();
        }
    }

    pub(crate) fn store(&self, p: Params) {
        // Writers exclude each other by moving the sequence to an odd value.
        let mut s = self.seq.load(Ordering::Relaxed);
        loop {
            if s & 1 == 1 {
                std::hint::spin_loop();
                #[cfg(loom)]
                loom::thread::yield_now();
                s = self.seq.load(Ordering::Relaxed);
                continue;
            }
            match self
                .seq
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        fence(Ordering::Release);
        self.interval.store(p.interval, Ordering::Relaxed);
        self.tolerance.store(p.tolerance, Ordering::Relaxed);
        // Still under the writer lock, so writers publish in one order; a
        // reader that sees 0 here finds the new slow fields (or waits for
        // them).
        self.packed.store(pack(p), Ordering::Release);
        self.seq.store(s + 2, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const P: Params = Params {
        interval: 10,
        tolerance: 30,
    };

    #[test]
    fn burst_then_one_per_interval() {
        let g = Gcra::new();
        for _ in 0..3 {
            assert_eq!(g.check(100, P.interval, P.tolerance), Ok(()));
        }
        assert_eq!(g.check(100, P.interval, P.tolerance), Err(110));
        assert_eq!(g.check(109, P.interval, P.tolerance), Err(110));
        assert_eq!(g.check(110, P.interval, P.tolerance), Ok(()));
    }

    #[test]
    fn reservation_given_back_only_when_last() {
        let g = Gcra::new();
        let a = g.reserve(0, 30, 30, u64::MAX).unwrap();
        assert_eq!(a.ready_at, 0);
        let b = g.reserve(0, 10, 30, u64::MAX).unwrap();
        assert_eq!(b.ready_at, 10);
        let c = g.reserve(0, 10, 30, u64::MAX).unwrap();
        assert_eq!(c.ready_at, 20);
        assert!(!g.give_back(b), "c depends on b");
        assert!(g.give_back(c));
        assert_eq!(g.tat(), b.new);
    }

    #[test]
    fn reserve_respects_latest() {
        let g = Gcra::new();
        g.reserve(0, 30, 30, u64::MAX).unwrap();
        assert_eq!(g.reserve(0, 10, 30, 5), Err(10));
        assert_eq!(g.tat(), 30, "a refused reservation writes nothing");
    }

    #[test]
    fn quota_cell_round_trips() {
        let q = QuotaCell::new(P);
        assert_eq!(q.load(), P);
        let p2 = Params {
            interval: 7,
            tolerance: 70,
        };
        q.store(p2);
        assert_eq!(q.load(), p2);
        assert_eq!(p2.burst(), 10);
        // A quota too slow to pack goes through the sequence lock.
        let slow = Params {
            interval: 60_000_000_000,
            tolerance: 120_000_000_000,
        };
        assert_eq!(pack(slow), 0);
        q.store(slow);
        assert_eq!(q.load(), slow);
        q.store(P);
        assert_eq!(q.load(), P);
    }
}
