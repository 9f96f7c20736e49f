//! loom models of the signal through which the server closes a connection:
//! the server raises a flag then wakes; the connection's task registers its
//! waker then reads the flags. No interleaving may leave a raised flag both
//! unseen and unannounced.
#![cfg(loom)]

use std::future::poll_fn;
use std::task::{Context, Poll, Wake, Waker};

use aqueduct_io::net::signal::{ABORT, IDLE, Signal};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// A waker that counts its wake-ups.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Waker, std::sync::Arc<Counter>) {
    let counter = std::sync::Arc::new(Counter(AtomicUsize::new(0)));
    (Waker::from(std::sync::Arc::clone(&counter)), counter)
}

fn wakes(counter: &Counter) -> usize {
    counter.0.load(Ordering::SeqCst)
}

#[test]
fn a_flag_raised_during_a_poll_is_seen_or_wakes_the_task() {
    loom::model(|| {
        let signal = Arc::new(Signal::new());
        let server = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.raise(IDLE))
        };
        let (waker, counter) = counting_waker();
        let seen = signal.poll_flags(&Context::from_waker(&waker));
        server.join().unwrap();
        assert!(
            seen & IDLE != 0 || wakes(&counter) > 0,
            "IDLE was raised, but the poll did not see it and nothing woke the task"
        );
        // Raised flags stay raised.
        assert_eq!(signal.raised(), IDLE);
    });
}

#[test]
fn a_task_waiting_for_a_flag_always_finishes() {
    // The task as the server runs it: poll until a flag shows. A lost
    // wake-up leaves it parked forever, which loom reports as a deadlock.
    loom::model(|| {
        let signal = Arc::new(Signal::new());
        let server = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.raise(ABORT))
        };
        let flags = loom::future::block_on(poll_fn(|cx| match signal.poll_flags(cx) {
            0 => Poll::Pending,
            flags => Poll::Ready(flags),
        }));
        assert_eq!(flags, ABORT);
        server.join().unwrap();
    });
}

#[test]
fn idle_and_abort_raised_from_two_threads_are_both_observed() {
    // The idle sweep and the shutdown's abort race on one connection: the
    // task, waiting for both, must see both (neither raise overwrites the
    // other, and neither wake-up is lost). Three threads and a parking task
    // make the unbounded search take minutes; three preemptions cover every
    // lost wake-up of this shape (one needs a single preemption between the
    // task's two steps) and finish in about a second.
    // `LOOM_MAX_PREEMPTIONS` still overrides the bound.
    let mut model = loom::model::Builder::new();
    if model.preemption_bound.is_none() {
        model.preemption_bound = Some(3);
    }
    model.check(|| {
        let signal = Arc::new(Signal::new());
        let raisers: Vec<_> = [IDLE, ABORT]
            .into_iter()
            .map(|flag| {
                let signal = Arc::clone(&signal);
                thread::spawn(move || signal.raise(flag))
            })
            .collect();
        // Returns only once both flags show; a lost wake-up leaves the
        // task parked, which loom reports as a deadlock.
        loom::future::block_on(poll_fn(|cx| {
            if signal.poll_flags(cx) == IDLE | ABORT {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        for raiser in raisers {
            raiser.join().unwrap();
        }
    });
}

#[test]
fn a_waker_registered_anew_during_a_raise_is_woken_or_sees_the_flag() {
    // The task polls once with one waker, then again on another thread with
    // a new one (as when a runtime moves it), while the server raises a flag.
    // The newest waker is the one that counts: the second poll sees the flag
    // or its waker is woken.
    loom::model(|| {
        let signal = Arc::new(Signal::new());
        let server = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.raise(IDLE))
        };
        let (old, _) = counting_waker();
        let first = signal.poll_flags(&Context::from_waker(&old));
        let (new, counter) = counting_waker();
        let second = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.poll_flags(&Context::from_waker(&new)))
        }
        .join()
        .unwrap();
        server.join().unwrap();
        assert!(
            second & IDLE != 0 || wakes(&counter) > 0,
            "IDLE was raised, but the newest poll did not see it and its waker was not woken"
        );
        // A flag seen once is seen again.
        assert!(first & !second == 0);
    });
}
