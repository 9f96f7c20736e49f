//! Circuit breaker behaviour: every transition, window eviction, bounded
//! half-open, manual controls. All timing under paused time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use aqueduct_resilience::breaker::{BreakerError, Rejected, State, StateChange};
use aqueduct_resilience::{Backoff, CircuitBreaker};
use tokio::time::{Instant, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn fail(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").failure();
}

fn ok(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").success();
}

#[tokio::test(start_paused = true)]
async fn closed_to_open_after_consecutive_failures_and_success_resets_the_run() {
    let b = CircuitBreaker::builder().consecutive_failures(3).build();
    fail(&b);
    fail(&b);
    ok(&b); // breaks the run
    assert_eq!(b.snapshot().consecutive_failures, 0);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_until_the_duration_passed_then_half_open_closes_on_success() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(MS(1000))
        .build();
    fail(&b);
    match b.try_acquire() {
        Err(Rejected::Open { retry_in }) => assert_eq!(retry_in, MS(1000)),
        other => panic!("expected open, got {other:?}"),
    }
    sleep(MS(999)).await;
    assert!(matches!(b.try_acquire(), Err(Rejected::Open { retry_in }) if retry_in == MS(1)));
    sleep(MS(1)).await;
    // Lazy: nothing moved the state without a call.
    assert_eq!(b.state(), State::Open);
    let probe = b.try_acquire().expect("probe admitted");
    assert_eq!(b.state(), State::HalfOpen);
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_failure_reopens() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(MS(100))
        .build();
    fail(&b);
    sleep(MS(100)).await;
    b.try_acquire().expect("probe").failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().open_remaining, Some(MS(100)));
}

#[tokio::test(start_paused = true)]
async fn half_open_needs_n_successes() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(MS(10))
        .half_open_probes(3)
        .build();
    fail(&b);
    sleep(MS(10)).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let p3 = b.try_acquire().unwrap();
    assert_eq!(
        b.try_acquire().unwrap_err(),
        Rejected::HalfOpenFull { max_probes: 3 }
    );
    p1.success();
    p2.success();
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().probe_successes, 2);
    // A freed slot admits another probe.
    let p4 = b.try_acquire().unwrap();
    p3.success();
    assert_eq!(b.state(), State::Closed);
    // The leftover probe belongs to the old half-open: its failure is ignored.
    p4.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn dropped_probe_frees_its_slot_without_an_outcome() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(MS(10))
        .build();
    fail(&b);
    sleep(MS(10)).await;
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(probe);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0)
    );
    // A cancelled `call` frees its slot too.
    let fut = b.call(std::future::pending::<Result<(), ()>>);
    let mut fut = Box::pin(fut);
    assert!(futures::poll!(fut.as_mut()).is_pending());
    assert_eq!(b.snapshot().probes_in_flight, 1);
    drop(fut);
    assert_eq!(b.snapshot().probes_in_flight, 0);
    ok(&b);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn hundred_concurrent_callers_in_half_open_admit_exactly_n() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(MS(50))
        .half_open_probes(4)
        .build();
    fail(&b);
    sleep(MS(50)).await;
    let admitted = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (b, admitted, gate) = (b.clone(), admitted.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            b.call(|| async {
                admitted.fetch_add(1, Ordering::SeqCst);
                gate.notified().await;
                Ok::<_, ()>(())
            })
            .await
        }));
    }
    tokio::task::yield_now().await;
    while admitted.load(Ordering::SeqCst) < 4 {
        tokio::task::yield_now().await;
    }
    gate.notify_waiters();
    let mut rejected = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => {}
            Err(BreakerError::Rejected(Rejected::HalfOpenFull { max_probes: 4 })) => rejected += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(admitted.load(Ordering::SeqCst), 4);
    assert_eq!(rejected, 96);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn hundred_threads_in_half_open_admit_exactly_n() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(Duration::ZERO)
        .half_open_probes(5)
        .build();
    fail(&b);
    let barrier = Arc::new(Barrier::new(100));
    let admitted = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (b, barrier, admitted) = (b.clone(), barrier.clone(), admitted.clone());
            std::thread::spawn(move || {
                let permit = b.try_acquire();
                if permit.is_ok() {
                    admitted.fetch_add(1, Ordering::SeqCst);
                }
                // Hold the permits until everyone has tried.
                barrier.wait();
                drop(permit);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(admitted.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn count_window_slides_old_failures_out() {
    let b = CircuitBreaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate(0.75)
        .build();
    fail(&b);
    fail(&b);
    ok(&b);
    ok(&b);
    assert_eq!(b.snapshot().failures, 2);
    ok(&b);
    ok(&b);
    // The two failures left the window.
    let s = b.snapshot();
    assert_eq!((s.calls, s.failures), (4, 0));
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed); // 2/4
    fail(&b);
    assert_eq!(b.state(), State::Open); // 3/4
}

#[tokio::test(start_paused = true)]
async fn count_window_waits_for_minimum_calls() {
    let b = CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(5)
        .failure_rate(0.5)
        .build();
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_count_window_smaller_than_minimum_calls_still_trips() {
    // The default minimum is 10 calls; a window of 4 can never hold 10.
    let b = CircuitBreaker::builder().count_window(4).build();
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_buckets_expire() {
    let b = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(3)
        .failure_rate(0.5)
        .build();
    fail(&b);
    ok(&b);
    ok(&b);
    ok(&b); // 1/4
    sleep(Duration::from_secs(5)).await;
    fail(&b); // 2/5
    assert_eq!(b.state(), State::Closed);
    sleep(Duration::from_secs(6)).await;
    // The first second's calls left; only the failure at 5 s remains.
    let s = b.snapshot();
    assert_eq!((s.calls, s.failures), (1, 1));
    ok(&b);
    ok(&b);
    assert_eq!(b.state(), State::Closed); // 1/3
    fail(&b);
    assert_eq!(b.state(), State::Open); // 2/4
}

#[tokio::test(start_paused = true)]
async fn failures_hours_ago_do_not_count_again() {
    // 1 ms buckets. Counts tagged with the low 24 bits of their epoch
    // alone would read as live again 2^24 ms (4 h 40 min) later.
    let b = CircuitBreaker::builder()
        .time_window(MS(10), 10)
        .minimum_calls(3)
        .failure_rate(0.5)
        .build();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed); // 2 calls, under the minimum
    tokio::time::advance(MS(1 << 24)).await;
    assert_eq!(b.snapshot().calls, 0);
    fail(&b);
    let s = b.snapshot();
    assert_eq!((s.calls, s.failures), (1, 1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_smallest_buckets_do_not_bring_failures_back_either() {
    // The smallest buckets the builder allows: 1 ms over 1024 buckets,
    // 976 ns each. 2^24 of them are 16.4 s.
    let b = CircuitBreaker::builder()
        .time_window(MS(1), 1024)
        .minimum_calls(3)
        .failure_rate(0.5)
        .build();
    fail(&b);
    fail(&b);
    tokio::time::advance(Duration::from_nanos(976 << 24)).await;
    assert_eq!(b.snapshot().calls, 0);
    fail(&b);
    assert_eq!(b.snapshot().calls, 1);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_busy_time_window_trips_past_a_million_failures() {
    // Every call fails, in one bucket that holds more than 2^20 of them.
    let b = CircuitBreaker::builder()
        .time_window(Duration::from_secs(60), 1)
        .minimum_calls(1_100_000)
        .failure_rate(1.0)
        .build();
    for _ in 0..1_100_000 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_the_breaker() {
    let b = CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(4)
        .slow_calls(MS(100), 0.5)
        .build();
    for took in [10, 200, 10, 200] {
        let r = b
            .call(|| async move {
                sleep(MS(took)).await;
                Ok::<_, ()>(())
            })
            .await;
        assert!(r.is_ok());
    }
    let s = b.snapshot();
    assert_eq!((s.slow_calls, s.failures), (2, 0));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_counts_as_a_failure_in_consecutive_mode() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .slow_calls(MS(100), 1.0)
        .open_duration(MS(1000))
        .build();
    let slow_ok = || async {
        sleep(MS(200)).await;
        Ok::<_, ()>(())
    };
    assert!(b.call(slow_ok).await.is_ok());
    assert_eq!(b.state(), State::Open);
    sleep(MS(1000)).await;
    // The dependency is as slow as when it tripped: the probe must not
    // close the breaker.
    assert!(b.call(slow_ok).await.is_ok());
    assert_eq!(b.state(), State::Open);
    sleep(MS(1000)).await;
    // A fast probe closes it.
    assert!(b.call(|| async { Ok::<_, ()>(()) }).await.is_ok());
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn classifier_decides_what_counts() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(2)
        .classify(|status: &u16| *status >= 500)
        .build();
    for _ in 0..5 {
        let _ = b.call(|| async { Err::<(), u16>(404) }).await;
    }
    assert_eq!(b.state(), State::Closed);
    for _ in 0..2 {
        let _ = b.call(|| async { Err::<(), u16>(503) }).await;
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn listener_sees_every_transition_and_open_duration_grows() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_backoff(
            Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(3)),
        )
        .on_state_change(move |c: StateChange| {
            log.lock().unwrap().push((c.from, c.to, Instant::now()));
        })
        .build();
    let t0 = Instant::now();
    fail(&b); // trip 1: 1 s
    sleep(Duration::from_secs(1)).await;
    b.try_acquire().unwrap().failure(); // trip 2: 2 s
    assert_eq!(b.snapshot().open_remaining, Some(Duration::from_secs(2)));
    sleep(Duration::from_secs(2)).await;
    b.try_acquire().unwrap().failure(); // trip 3: 4 s capped to 3 s
    assert_eq!(b.snapshot().open_remaining, Some(Duration::from_secs(3)));
    assert_eq!(b.snapshot().consecutive_trips, 3);
    sleep(Duration::from_secs(3)).await;
    ok(&b);
    assert_eq!(b.snapshot().consecutive_trips, 0);
    let seen = seen.lock().unwrap();
    let states: Vec<_> = seen.iter().map(|(f, t, _)| (*f, *t)).collect();
    use State::{Closed, HalfOpen, Open};
    assert_eq!(
        states,
        [
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed)
        ]
    );
    let at: Vec<_> = seen
        .iter()
        .map(|(_, _, i)| i.duration_since(t0).as_secs())
        .collect();
    assert_eq!(at, [0, 1, 1, 3, 3, 6, 6]);
}

#[tokio::test(start_paused = true)]
async fn manual_controls() {
    let b = CircuitBreaker::builder().consecutive_failures(1).build();
    b.force_open();
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ForcedOpen);
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(b.state(), State::ForcedOpen); // never expires

    b.force_closed();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::ForcedClosed);

    b.disable();
    fail(&b);
    assert_eq!(b.state(), State::Disabled);

    b.reset();
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    b.reset();
    ok(&b);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn forced_closed_records_into_the_window() {
    let b = CircuitBreaker::builder()
        .count_window(5)
        .minimum_calls(1)
        .build();
    b.force_closed();
    fail(&b);
    fail(&b);
    let s = b.snapshot();
    assert_eq!((s.state, s.failures), (State::ForcedClosed, 2));
    b.reset();
    assert_eq!(b.snapshot().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_permit_from_before_a_trip_does_not_count_after_it() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(2)
        .open_duration(MS(10))
        .build();
    let stale = b.try_acquire().unwrap();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    sleep(MS(10)).await;
    ok(&b); // probe closes it
    stale.failure();
    assert_eq!(b.snapshot().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn clones_share_state() {
    let a = CircuitBreaker::builder().consecutive_failures(1).build();
    let b = a.clone();
    fail(&a);
    assert_eq!(b.state(), State::Open);
}

mod window_props {
    use aqueduct_resilience::CircuitBreaker;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_count_window_holds_exactly_the_last_n_outcomes(
            size in 1u32..40,
            outcomes in proptest::collection::vec(any::<bool>(), 0..200),
        ) {
            let b = CircuitBreaker::builder().count_window(size).build();
            // Recorded, never tripped: the window alone is under test.
            b.force_closed();
            for failed in &outcomes {
                b.try_acquire().unwrap().record(*failed);
            }
            let last: Vec<_> = outcomes.iter().rev().take(size as usize).collect();
            let s = b.snapshot();
            prop_assert_eq!(s.calls, last.len() as u64);
            prop_assert_eq!(s.failures, last.iter().filter(|f| ***f).count() as u64);
        }
    }
}
