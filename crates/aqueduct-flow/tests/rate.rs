//! Behaviour of `RateLimiter` under paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aqueduct_flow::{Clock, KeyedRateLimiter, ManualClock, Quota, RateLimitError, RateLimiter};
use proptest::prelude::*;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn ten_thousand_acquires_at_1000_per_second_take_ten_seconds() {
    let limiter = RateLimiter::new(Quota::per_second(1000).burst(1));
    let start = Instant::now();
    for _ in 0..10_000 {
        limiter.acquire().await;
    }
    let took = start.elapsed();
    // The first is free, then one every millisecond.
    let expected = Duration::from_secs(10);
    let diff = expected.abs_diff(took);
    assert!(diff <= Duration::from_millis(1), "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn thousand_concurrent_acquirers_never_pass_the_rate_in_any_window() {
    let burst = 5u32;
    let limiter = RateLimiter::new(Quota::per_second(100).burst(burst));
    let times = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let limiter = limiter.clone();
        let times = Arc::clone(&times);
        tasks.push(tokio::spawn(async move {
            limiter.acquire().await;
            times.lock().unwrap().push(start.elapsed());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut times = times.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 1000);
    // In any window of length w, at most burst + w / interval grants.
    let interval = Duration::from_millis(10);
    for (i, &t0) in times.iter().enumerate() {
        for w_ms in [1u64, 10, 50, 100, 1000] {
            let w = Duration::from_millis(w_ms);
            let n = times[i..].iter().take_while(|&&t| t < t0 + w).count();
            let max = burst as usize + (w.as_nanos() / interval.as_nanos()) as usize;
            assert!(n <= max, "{n} grants in {w:?} from {t0:?}, max {max}");
        }
    }
    // And the whole run is as short as the rate allows: (1000 - 5) * 10 ms.
    assert_eq!(*times.last().unwrap(), Duration::from_millis(9950));
}

#[tokio::test(start_paused = true)]
async fn burst_is_available_at_once_then_refills_one_interval_per_cell() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(3));
    for _ in 0..3 {
        limiter.try_acquire().unwrap();
    }
    match limiter.try_acquire() {
        Err(RateLimitError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    tokio::time::advance(Duration::from_millis(99)).await;
    assert!(limiter.try_acquire().is_err());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(limiter.try_acquire().is_ok());
    // A long idle time refills only up to the burst.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(limiter.snapshot().available, 3);
    assert!(limiter.try_acquire_n(3).is_ok());
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn n_above_the_burst_is_insufficient_capacity_not_a_hang() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(4));
    assert_eq!(
        limiter.try_acquire_n(5),
        Err(RateLimitError::InsufficientCapacity {
            requested: 5,
            burst: 4
        })
    );
    let start = Instant::now();
    assert!(matches!(
        limiter.acquire_n(5).await,
        Err(RateLimitError::InsufficientCapacity { .. })
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
    // Nothing was taken by the failed calls.
    assert_eq!(limiter.snapshot().available, 4);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_call_order_at_their_reserved_times() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    limiter.try_acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    // Reserve in order 0..5, but spawn (and so first poll) in reverse.
    let futs: Vec<_> = (0..5).map(|_| limiter.acquire()).collect();
    let mut tasks = Vec::new();
    for (i, f) in futs.into_iter().enumerate().rev() {
        let order = Arc::clone(&order);
        tasks.push(tokio::spawn(async move {
            f.await;
            order.lock().unwrap().push((i, start.elapsed()));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    let expected: Vec<_> = (0..5)
        .map(|i| (i, Duration::from_millis(100 * (i as u64 + 1))))
        .collect();
    assert_eq!(order, expected);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_last_waiter_gives_its_slot_back() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    limiter.try_acquire().unwrap();
    let waiter = limiter.acquire();
    assert_eq!(waiter.wait(), Duration::from_millis(100));
    assert_eq!(limiter.snapshot().next_in, Duration::from_millis(200));
    drop(waiter);
    // Its slot is free again: the next waiter gets the 100 ms slot.
    assert_eq!(limiter.snapshot().next_in, Duration::from_millis(100));
    let start = Instant::now();
    limiter.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_others_depend_on_keeps_their_times() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    limiter.try_acquire().unwrap();
    let first = limiter.acquire(); // 100 ms
    let second = limiter.acquire(); // 200 ms
    drop(first); // cannot give back: `second` was reserved after it
    let start = Instant::now();
    second.await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    // The rate was never exceeded: the next cell is at 300 ms.
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_cancelled_by_a_timeout_frees_its_slot() {
    let limiter = RateLimiter::new(Quota::per_second(1).burst(1));
    limiter.try_acquire().unwrap();
    let r = tokio::time::timeout(Duration::from_millis(10), limiter.acquire()).await;
    assert!(r.is_err());
    // Back to one cell spent at t=0: available again at t=1 s.
    tokio::time::advance(Duration::from_millis(990)).await;
    assert!(limiter.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn acquire_by_fails_at_once_when_the_wait_passes_the_deadline() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    limiter.try_acquire().unwrap();
    let start = Instant::now();
    let r = limiter.acquire_by(start + Duration::from_millis(50)).await;
    assert_eq!(
        r,
        Err(RateLimitError::DeadlineExceeded {
            wait: Duration::from_millis(100),
            budget: Duration::from_millis(50)
        })
    );
    assert_eq!(start.elapsed(), Duration::ZERO, "failed without waiting");
    // Nothing reserved: a deadline exactly at the slot succeeds at 100 ms.
    limiter
        .acquire_by(start + Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // A deadline in the past with a free cell still succeeds.
    tokio::time::advance(Duration::from_secs(1)).await;
    limiter.acquire_by(start).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn set_quota_takes_effect_at_once() {
    let limiter = RateLimiter::new(Quota::per_second(1).burst(1));
    limiter.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    limiter.set_quota(Quota::per_second(100).burst(10));
    assert_eq!(limiter.quota(), Quota::per_second(100).burst(10));
    // The TAT (1 s ahead) is within the new tolerance (100 ms)? No: 1 s of
    // debt exceeds it, so the faster quota waits until the debt drains to
    // within 100 ms.
    assert!(limiter.try_acquire().is_err());
    tokio::time::advance(Duration::from_millis(910)).await;
    assert!(limiter.try_acquire().is_ok());
    // Now at 100/s: 10 ms per cell.
    let start = Instant::now();
    for _ in 0..100 {
        limiter.acquire().await;
    }
    let took = start.elapsed();
    assert!(
        took <= Duration::from_millis(1000) && took >= Duration::from_millis(900),
        "{took:?}"
    );
    // Slower again.
    limiter.set_quota(Quota::per_second(2).burst(1));
    tokio::time::advance(Duration::from_secs(1)).await;
    limiter.try_acquire().unwrap();
    assert!(matches!(
        limiter.try_acquire(),
        Err(RateLimitError::RateLimited { retry_after }) if retry_after == Duration::from_millis(500)
    ));
}

#[test]
fn works_without_a_runtime_on_a_manual_clock() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(Quota::per_minute(2), Clock::Manual(clock.clone()));
    assert!(limiter.try_acquire_n(2).is_ok());
    assert!(limiter.try_acquire().is_err());
    clock.advance(Duration::from_secs(30));
    assert!(limiter.try_acquire().is_ok());
}

#[test]
fn quotas_slower_than_the_time_line_still_limit() {
    // A budget that never refills, and a burst whose refill would take
    // thousands of years: `burst * interval` does not fit 64-bit
    // nanoseconds. Neither may turn into "admit everything".
    let clock = ManualClock::new();
    let never = RateLimiter::with_clock(
        Quota::with_period(Duration::MAX).burst(2),
        Clock::Manual(clock.clone()),
    );
    assert!(never.try_acquire().is_ok());
    assert!(never.try_acquire().is_ok());
    assert!(matches!(
        never.try_acquire(),
        Err(RateLimitError::RateLimited { retry_after }) if retry_after > Duration::from_secs(3600 * 24 * 365)
    ));
    clock.advance(Duration::from_secs(3600 * 24 * 365));
    assert!(never.try_acquire().is_err(), "still nothing after a year");
    assert_eq!(never.quota().max_burst(), 2);

    let huge = Quota::per_minute(1).burst(u32::MAX);
    let limiter = RateLimiter::with_clock(huge, Clock::Manual(ManualClock::new()));
    assert_eq!(limiter.quota().max_burst(), u32::MAX, "the burst is kept");
    assert!(limiter.try_acquire_n(u32::MAX).is_ok());
    assert!(limiter.try_acquire().is_err());
    // Reservations queued far past the time line never come due early.
    let queued: Vec<_> = (0..4).map(|_| limiter.acquire_n(u32::MAX)).collect();
    assert!(limiter.try_acquire().is_err());
    drop(queued);

    let keyed = KeyedRateLimiter::with_clock(
        Quota::with_period(Duration::MAX).burst(2),
        Clock::Manual(ManualClock::new()),
    );
    assert!(keyed.try_acquire_n(&"k", 2).is_ok());
    assert!(keyed.try_acquire(&"k").is_err());
}

/// A token bucket counted in nanoseconds of credit: the textbook model the
/// GCRA must agree with exactly.
struct Bucket {
    credit: u128,
    last: u128,
    interval: u128,
    capacity: u128,
}

impl Bucket {
    fn check(&mut self, now: u128, n: u32) -> bool {
        self.credit = (self.credit + (now - self.last)).min(self.capacity);
        self.last = now;
        let cost = self.interval * u128::from(n);
        if cost <= self.credit {
            self.credit -= cost;
            true
        } else {
            false
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn gcra_agrees_with_a_token_bucket(
        interval in 1u64..5_000_000,
        burst in 1u32..50,
        steps in proptest::collection::vec((0u64..10_000_000, 0u32..8), 1..200),
    ) {
        let clock = ManualClock::new();
        let quota = Quota::with_period(Duration::from_nanos(interval)).burst(burst);
        let limiter = RateLimiter::with_clock(quota, Clock::Manual(clock.clone()));
        let mut model = Bucket {
            credit: u128::from(interval) * u128::from(burst),
            last: 0,
            interval: u128::from(interval),
            capacity: u128::from(interval) * u128::from(burst),
        };
        let mut now = 0u64;
        for (dt, n) in steps {
            now += dt;
            clock.set(Duration::from_nanos(now));
            let ours = limiter.try_acquire_n(n);
            let theirs = if n > burst { false } else { model.check(u128::from(now), n) };
            if n > burst {
                prop_assert!(
                    matches!(ours, Err(RateLimitError::InsufficientCapacity { .. })),
                    "n={} burst={}: {:?}", n, burst, ours
                );
            } else {
                prop_assert_eq!(ours.is_ok(), theirs, "at {} n={}", now, n);
            }
            if let Err(RateLimitError::RateLimited { retry_after }) = ours {
                // The promised time is exact: one nanosecond earlier is
                // still denied (model), and at it the request conforms.
                let at = now + u64::try_from(retry_after.as_nanos()).unwrap();
                let mut probe = Bucket { ..model };
                prop_assert!(probe.check(u128::from(at), n));
                if at > now + 1 {
                    let mut early = Bucket { ..model };
                    prop_assert!(!early.check(u128::from(at - 1), n));
                }
            }
        }
    }
}

#[test]
fn the_fast_clock_limits_like_the_default_one() {
    let limiter = RateLimiter::with_clock(Quota::per_minute(1).burst(2), Clock::Fast);
    assert!(limiter.try_acquire_n(2).is_ok());
    match limiter.try_acquire() {
        Err(RateLimitError::RateLimited { retry_after }) => {
            // Within a minute, and not far below it (the test takes far
            // less than a second).
            assert!(retry_after <= Duration::from_secs(60), "{retry_after:?}");
            assert!(retry_after > Duration::from_secs(59), "{retry_after:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_on_another_clock_counts_from_its_first_poll_not_its_call() {
    // A manual clock moved in step with tokio's stands for a real clock
    // (as `Clock::Fast` is) that tokio's timer does not read.
    let clock = ManualClock::new();
    let limiter =
        RateLimiter::with_clock(Quota::per_second(10).burst(1), Clock::Manual(clock.clone()));
    limiter.try_acquire().unwrap();
    let slot = limiter.acquire();
    assert_eq!(slot.wait(), Duration::from_millis(100));
    // The caller does other work before awaiting; the slot comes due.
    clock.advance(Duration::from_millis(100));
    tokio::time::advance(Duration::from_millis(100)).await;
    let start = Instant::now();
    slot.await;
    assert_eq!(start.elapsed(), Duration::ZERO, "the slot was already due");
}

#[test]
fn a_manual_clock_advanced_past_its_range_stops_at_the_end_instead_of_wrapping() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(Quota::per_second(1), Clock::Manual(clock.clone()));
    clock.advance(Duration::from_secs(1));
    limiter.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    // Far more than the clock holds: it stops at its last nanosecond
    // rather than coming round to a time before the cell was spent.
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), Duration::from_nanos(u64::MAX));
    clock.advance(Duration::from_secs(1));
    assert_eq!(clock.now(), Duration::from_nanos(u64::MAX));
    assert!(limiter.try_acquire().is_ok(), "time went backwards");
}

#[tokio::test(start_paused = true)]
async fn zero_cells_are_granted_at_once_behind_a_queued_reservation() {
    let limiter = RateLimiter::new(Quota::per_second(10));
    // The burst spent and a whole burst's reservation queued behind it:
    // the queue reaches 2 s ahead.
    limiter.try_acquire_n(10).unwrap();
    let big = limiter.acquire_n(10);
    let before = limiter.snapshot();
    assert_eq!(before.next_in, Duration::from_millis(1100));
    let start = Instant::now();
    // Zero cells take nothing, so nothing is waited for: not the queue,
    // not a deadline already passed.
    assert_eq!(limiter.try_acquire_n(0), Ok(()));
    limiter.acquire_n(0).await.unwrap();
    limiter.acquire_n_by(0, start).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    // And they changed nothing: the reservation keeps its time.
    assert_eq!(limiter.snapshot(), before);
    big.await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[test]
fn zero_cells_take_nothing_from_a_full_limiter() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(Quota::per_second(3), Clock::Manual(clock.clone()));
    clock.advance(Duration::from_secs(5));
    assert_eq!(limiter.try_acquire_n(0), Ok(()));
    let zero = limiter.acquire_n(0);
    assert_eq!(limiter.snapshot().available, 3);
    drop(zero);
    assert!(limiter.try_acquire_n(3).is_ok());
}
