//! Loom models of the breaker's state word: the half-open probe bound, and
//! the race between recording threads and transitions; and of the time
//! window's buckets moving from epoch to epoch under racing recorders.
#![cfg(loom)]

use std::time::Duration;

use aqueduct_resilience::CircuitBreaker;
use aqueduct_resilience::breaker::State;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

fn tripped(probes: u32) -> CircuitBreaker {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(Duration::ZERO)
        .half_open_probes(probes)
        .build();
    b.try_acquire().unwrap().failure();
    b
}

#[test]
fn half_open_admits_at_most_n_probes() {
    loom::model(|| {
        let b = tripped(1);
        let admitted = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (b, admitted, in_flight) = (b.clone(), admitted.clone(), in_flight.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        assert_eq!(now, 1, "two probes in flight with one slot");
                        thread::yield_now();
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        drop(p);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let n = admitted.load(Ordering::SeqCst);
        // One probe at a time; a second thread may get in only after the
        // first dropped its probe.
        assert!((1..=2).contains(&n));
        let s = b.snapshot();
        assert_eq!(s.state, State::HalfOpen);
        assert_eq!(s.probes_in_flight, 0, "a dropped probe frees its slot");
    });
}

#[test]
fn probe_success_and_failure_race_to_one_consistent_state() {
    loom::model(|| {
        let b = tripped(2);
        let p1 = b.try_acquire_owned().unwrap();
        let p2 = b.try_acquire_owned().unwrap();
        assert!(b.try_acquire().is_err());
        let t1 = thread::spawn(move || p1.success());
        let t2 = thread::spawn(move || p2.failure());
        t1.join().unwrap();
        t2.join().unwrap();
        // The failure always wins: closing needs both successes.
        let s = b.snapshot();
        assert_eq!(s.state, State::Open);
        assert_eq!(s.probes_in_flight, 0);
    });
}

#[test]
fn concurrent_failures_trip_exactly_once() {
    loom::model(|| {
        let b = CircuitBreaker::builder()
            .consecutive_failures(2)
            .open_duration(Duration::from_secs(60))
            .build();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.try_acquire().unwrap().failure())
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = b.snapshot();
        assert_eq!(s.state, State::Open);
        assert_eq!(s.consecutive_trips, 1);
    });
}

#[test]
fn count_window_totals_match_its_slots_under_races() {
    loom::model(|| {
        // One slot: both threads write the same slot, the worst case.
        let b = CircuitBreaker::builder().count_window(1).build();
        b.force_closed();
        let handles: Vec<_> = [true, false]
            .into_iter()
            .map(|failed| {
                let b = b.clone();
                thread::spawn(move || b.try_acquire().unwrap().record(failed))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = b.snapshot();
        // Exactly one outcome is left in the window, whichever won.
        assert_eq!(s.calls, 1);
        assert!(s.failures <= 1);
        // A third, sequential outcome replaces it exactly.
        b.try_acquire().unwrap().failure();
        let s = b.snapshot();
        assert_eq!((s.calls, s.failures), (1, 1));
    });
}

/// The time window, driven with times of the model's choosing: one bucket
/// of 1 ms, so that the epoch is the time in milliseconds.
mod time_window {
    use aqueduct_resilience::breaker::window::{FAILURE, SLOW, TimeWindow, Totals};
    use loom::sync::Arc;
    use loom::thread;

    const MS: u64 = 1_000_000;
    /// Epochs 2^24 apart share the low 24 bits.
    const ALIAS: u64 = 1 << 24;

    fn window() -> Arc<TimeWindow> {
        Arc::new(TimeWindow::new(MS, 1))
    }

    fn totals(calls: u64, failures: u64) -> Totals {
        Totals {
            calls,
            failures,
            slow: 0,
        }
    }

    #[test]
    fn recorders_racing_into_a_new_epoch_leave_the_old_counts_behind() {
        loom::model(|| {
            let w = window();
            w.record(0, FAILURE | SLOW);
            // Two recorders move the bucket on, 2^24 epochs later, while a
            // reader looks.
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let w = w.clone();
                    thread::spawn(move || w.record(ALIAS * MS, 0))
                })
                .collect();
            let seen = w.totals(ALIAS * MS);
            assert_eq!((seen.failures, seen.slow), (0, 0), "{seen:?}");
            assert!(seen.calls <= 2);
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(w.totals(ALIAS * MS), totals(2, 0));
        });
    }

    #[test]
    fn a_late_recorder_leaves_nothing_behind() {
        loom::model(|| {
            let w = window();
            w.record(0, 0);
            // A failure at epoch 0, recorded as the bucket moves to 1.
            let late = {
                let w = w.clone();
                thread::spawn(move || w.record(0, FAILURE))
            };
            let on_time = {
                let w = w.clone();
                thread::spawn(move || w.record(MS, 0))
            };
            late.join().unwrap();
            on_time.join().unwrap();
            assert_eq!(w.totals(MS), totals(1, 0));
            // Whatever became of the late failure, it is gone for good:
            // not back after the bucket moves on again, nor at epoch 0's
            // old tag.
            w.record(2 * MS, 0);
            assert_eq!(w.totals(2 * MS), totals(1, 0));
            w.record(ALIAS * MS, 0);
            assert_eq!(w.totals(ALIAS * MS), totals(1, 0));
        });
    }
}
