//! loom models of the GCRA state: the compare-and-swap update, the
//! reservation give-back, and the quota sequence lock.
#![cfg(loom)]

use std::time::Duration;

use aqueduct_flow::{Clock, ManualClock, Quota, RateLimitError, RateLimiter};
use loom::thread;

fn limiter(quota: Quota) -> RateLimiter {
    // A clock that stays at zero: every interleaving sees the same `now`.
    RateLimiter::with_clock(quota, Clock::Manual(ManualClock::new()))
}

#[test]
fn concurrent_checks_never_admit_more_than_the_burst() {
    loom::model(|| {
        let l = limiter(Quota::per_second(1).burst(2));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || l.try_acquire().is_ok())
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 2);
        assert_eq!(l.snapshot().available, 0);
    });
}

#[test]
fn a_give_back_never_frees_a_slot_a_later_reservation_holds() {
    loom::model(|| {
        let l = limiter(Quota::per_second(1).burst(2));
        let l2 = l.clone();
        // Reserve, then cancel (the future is dropped unpolled).
        let a = thread::spawn(move || drop(l2.acquire()));
        let b = l.acquire();
        a.join().unwrap();
        // `b` holds one cell. Either `a` gave its cell back (it was last) or
        // it could not (b depended on it): 1 or 0 left, never 2.
        let available = l.snapshot().available;
        assert!(available <= 1, "b's cell was freed: {available}");
        drop(b);
    });
}

#[test]
fn a_reader_never_mixes_two_quotas() {
    loom::model(|| {
        // Old: 10 ns per cell, burst 2 (tolerance 20 ns). New: 20 ns per
        // cell, burst 5 (tolerance 100 ns). A mix (10 ns, 100 ns) would
        // admit 6 cells; neither quota does.
        let l = limiter(Quota::with_period(Duration::from_nanos(10)).burst(2));
        let l2 = l.clone();
        let w = thread::spawn(move || {
            l2.set_quota(Quota::with_period(Duration::from_nanos(20)).burst(5));
        });
        let r = l.try_acquire_n(6);
        assert!(
            matches!(
                r,
                Err(RateLimitError::InsufficientCapacity { requested: 6, .. })
            ),
            "{r:?}"
        );
        w.join().unwrap();
    });
}

#[test]
fn a_reader_never_mixes_two_slow_quotas() {
    // Quotas slower than one cell per 2^32 ns go through the sequence lock.
    loom::model(|| {
        let l = limiter(Quota::with_period(Duration::from_secs(10)).burst(2));
        let l2 = l.clone();
        let w = thread::spawn(move || {
            l2.set_quota(Quota::with_period(Duration::from_secs(20)).burst(5));
        });
        let r = l.try_acquire_n(6);
        assert!(
            matches!(
                r,
                Err(RateLimitError::InsufficientCapacity { requested: 6, .. })
            ),
            "{r:?}"
        );
        w.join().unwrap();
    });
}
