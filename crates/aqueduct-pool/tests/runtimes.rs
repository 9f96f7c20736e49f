//! The pool across runtimes: a pool built on one runtime and used on
//! another, a waiter whose runtime has no timers or is gone, and a get
//! polled with no runtime at all.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use aqueduct_pool::{Pool, PoolError};
use common::Steered;
use tokio::runtime::{Builder, Runtime};

fn paused() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// A multi-thread runtime of one worker, with timers (on real time: its
/// clock cannot be paused).
fn one_worker() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap()
}

fn pool(wait: Duration) -> Pool<Steered> {
    Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(wait)
        .build_lazy()
        .unwrap()
}

/// The pool is full (one object out), nobody waits, and the next get
/// (on a runtime with timers) times out after `wait_timeout` exactly.
fn still_times_out(pool: &Pool<Steered>, wait: Duration) {
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.waiting), (1, 1, 0), "{s:?}");
    paused().block_on(async {
        let t = tokio::time::Instant::now();
        let r = tokio::time::timeout(wait * 10, pool.get()).await;
        assert!(
            matches!(r, Ok(Err(PoolError::Timeout { .. }))),
            "the wait is bounded"
        );
        assert_eq!(t.elapsed(), wait);
    });
}

/// A get that has to wait on a runtime built without timers panics (the
/// pool cannot bound its wait), and leaves nothing behind: it is not left
/// queued, where it would take the object given back next, and the alarm
/// is not left recorded as set, so later waiters still time out.
#[test]
fn a_wait_on_a_runtime_without_timers_panics_and_leaves_no_waiter() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let held = paused().block_on(pool.get()).unwrap();
    let no_timers = Builder::new_current_thread().build().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        no_timers.block_on(pool.get()).map(drop)
    }));
    assert!(r.is_err(), "no timer to bound the wait");
    assert_eq!(pool.status().waiting, 0);
    still_times_out(&pool, wait);
    drop(held);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 1, 0), "{s:?}");
    // An idle object needs no timer.
    assert!(no_timers.block_on(pool.get()).is_ok());
}

/// The same with no runtime at all: a get polled by hand on a full pool.
#[test]
fn a_wait_polled_outside_any_runtime_panics_and_leaves_no_waiter() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let held = paused().block_on(pool.get()).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut get = pin!(pool.get());
        let _ = get.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    }));
    assert!(r.is_err(), "no runtime to bound the wait");
    assert_eq!(pool.status().waiting, 0);
    still_times_out(&pool, wait);
    drop(held);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 1, 0), "{s:?}");
}

/// A get on a current-thread runtime waits, which sets the alarm there,
/// and is served; the runtime is kept but nothing drives it any more (a
/// test's runtime after its `block_on`, or one made for a blocking task).
/// A get on another runtime still times out at its deadline.
#[test]
fn an_alarm_left_on_a_runtime_nobody_drives_does_not_hold_up_another() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let idle = Builder::new_current_thread().enable_time().build().unwrap();
    idle.block_on(async {
        let held = pool.get().await.unwrap();
        let mut waiter = pin!(pool.get());
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        drop(held);
        drop(waiter.await.unwrap());
    });
    let held = paused().block_on(pool.get()).unwrap();
    still_times_out(&pool, wait);
    drop(held);
    drop(idle);
}

/// Gets queued in tasks of a runtime that shuts down leave with their
/// tasks: nobody is left waiting, the object given back later goes idle,
/// and a get on the next runtime times out at its deadline.
#[test]
fn gets_queued_on_a_runtime_that_shuts_down_leave_the_queue() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let rt = paused();
    let held = rt.block_on(async {
        let held = pool.get().await.unwrap();
        for _ in 0..3 {
            let p = pool.clone();
            tokio::spawn(async move { p.get().await.map(drop) });
        }
        common::settle().await;
        assert_eq!(pool.status().waiting, 3);
        held
    });
    drop(rt);
    assert_eq!(pool.status().waiting, 0);
    still_times_out(&pool, wait);
    drop(held);
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.in_use, s.timeouts),
        (1, 1, 0, 1),
        "{s:?}"
    );
}

/// An object given back on a thread with no runtime goes to the waiter
/// queued on a runtime, which is woken; `close` on yet another runtime
/// ends once the last object comes back, again from a plain thread.
#[test]
fn objects_given_back_on_a_plain_thread_serve_waiters_and_end_close() {
    let pool = pool(Duration::from_secs(5));
    let held = paused().block_on(pool.get()).unwrap();
    let rt = paused();
    let held = rt.block_on(async {
        let mut waiter = pin!(pool.get());
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        std::thread::spawn(move || drop(held)).join().unwrap();
        waiter.await.unwrap()
    });
    drop(rt);
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.waiting), (1, 1, 0), "{s:?}");
    paused().block_on(async {
        let mut close = pin!(pool.close());
        assert!(
            futures::poll!(close.as_mut()).is_pending(),
            "one object out"
        );
        std::thread::spawn(move || drop(held)).join().unwrap();
        assert!(close.await.is_ok());
    });
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (0, 0, 0), "{s:?}");
}

/// A top-up task whose runtime shuts down in the middle of its create
/// gives its slot back, and a background top-up started again on the next
/// runtime fills the pool.
#[test]
fn top_ups_cut_short_by_a_runtime_shutting_down_give_their_slots_back() {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    let rt = paused();
    let held = rt.block_on(async {
        let held = pool.get().await.unwrap(); // starts a top-up task
        pool.manager()
            .create_delay_ns
            .store(1_000_000_000, std::sync::atomic::Ordering::SeqCst);
        let _task = pool.top_up_in_background();
        common::settle().await;
        held
    });
    let s = pool.status();
    assert!(s.size > 1, "a create under way holds a slot: {s:?}");
    drop(rt);
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.created), (1, 1, 1), "{s:?}");
    pool.manager()
        .create_delay_ns
        .store(0, std::sync::atomic::Ordering::SeqCst);
    paused().block_on(async {
        let _task = pool.top_up_in_background();
        common::settle().await;
    });
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (2, 1, 1), "{s:?}");
    drop(held);
}

/// `close` with an object out, on a runtime without timers, closes the
/// pool before it panics for want of a timer; the object that comes back
/// later is dropped and the pool ends empty.
#[test]
fn close_without_timers_closes_before_it_panics() {
    let pool = pool(Duration::from_secs(1));
    let held = paused().block_on(pool.get()).unwrap();
    let no_timers = Builder::new_current_thread().build().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| no_timers.block_on(pool.close())));
    assert!(r.is_err(), "no timer to bound the wait");
    assert!(pool.is_closed());
    assert!(matches!(
        no_timers.block_on(pool.get()),
        Err(PoolError::Closed)
    ));
    drop(held);
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1), "{s:?}");
    // Nothing out: no timer needed.
    assert!(no_timers.block_on(pool.close()).is_ok());
}

/// A checkout below `min_idle` starts a top-up task on its runtime, a
/// current-thread one nobody drives afterwards, so the task never starts.
/// Its slot is not lost to the other runtimes: a get that finds no object
/// and no room takes it and creates in it, rather than wait out its
/// timeout, and `close` does not wait for it.
#[test]
fn a_top_up_that_never_starts_keeps_no_slot_from_others() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .min_idle(2)
        .wait_timeout(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let undriven = Builder::new_current_thread().enable_time().build().unwrap();
    let first = undriven.block_on(pool.get()).unwrap();
    let s = pool.status();
    assert_eq!(
        (s.size, s.in_use, s.created),
        (2, 2, 1),
        "a slot reserved: {s:?}"
    );
    let rt = paused();
    let second = rt.block_on(async {
        let t = tokio::time::Instant::now();
        let second = pool.get().await.expect("the reserved slot is taken");
        assert_eq!(t.elapsed(), Duration::ZERO);
        second
    });
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.created), (2, 2, 2), "{s:?}");
    drop(first);
    drop(second);
    // The task, dropped with its runtime, gives back nothing: its slot
    // was taken.
    drop(undriven);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (2, 2, 0), "{s:?}");
}

/// `close` does not wait for the slot of a top-up task that has not
/// started (on a runtime nobody drives): it would never come back.
#[test]
fn close_does_not_wait_for_a_top_up_that_never_starts() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    let undriven = Builder::new_current_thread().enable_time().build().unwrap();
    drop(undriven.block_on(pool.get()).unwrap());
    assert_eq!(pool.status().size, 2, "a slot reserved");
    paused().block_on(async {
        let t = tokio::time::Instant::now();
        assert!(pool.close().await.is_ok());
        assert_eq!(t.elapsed(), Duration::ZERO);
    });
    assert_eq!(pool.status().size, 0);
    drop(undriven);
    assert_eq!(pool.status().size, 0);
}

/// A resize below the size lets go of a top-up not started first: the
/// pool is at its new `max_size` at once, and the task that starts later
/// makes nothing.
#[test]
fn a_resize_down_drops_a_top_up_not_started() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    let rt = Builder::new_current_thread().enable_time().build().unwrap();
    let held = rt.block_on(pool.get()).unwrap();
    assert_eq!(pool.status().size, 2, "a slot reserved");
    pool.resize(1);
    let s = pool.status();
    assert_eq!((s.size, s.in_use), (1, 1), "{s:?}");
    rt.block_on(common::settle());
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.created), (1, 1, 1), "{s:?}");
    drop(held);
}

/// A get served by an idle object needs no runtime, unless its `recycle`
/// has to wait: then the panic for want of a timer discards the object
/// and frees its slot.
#[test]
fn a_get_with_no_runtime_is_served_by_an_idle_object() {
    let pool = pool(Duration::from_secs(1));
    drop(paused().block_on(pool.get()).unwrap());
    let mut cx = Context::from_waker(Waker::noop());
    let got = pin!(pool.get()).poll(&mut cx);
    assert!(matches!(got, std::task::Poll::Ready(Ok(_))));
    drop(got);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.recycled), (1, 1, 1), "{s:?}");
    pool.manager()
        .recycle_delay_ns
        .store(1_000, std::sync::atomic::Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = pin!(pool.get()).poll(&mut cx);
    }));
    assert!(r.is_err(), "no timer for a recycle that waits");
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (0, 0, 1), "{s:?}");
}

/// Waiters on two current-thread runtimes: a task on the first queues and
/// sets the alarm there; a get on the second sets it again on its own,
/// then gives up, and nothing drives the second runtime any more. The
/// task on the first still times out at its deadline once its runtime
/// runs.
#[test]
fn an_alarm_set_again_by_a_waiter_that_left_is_handed_back() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let held = paused().block_on(pool.get()).unwrap();
    let first = paused();
    let task = {
        let pool = pool.clone();
        first.spawn(async move { pool.get().await.map(drop) })
    };
    first.block_on(common::settle());
    assert_eq!(pool.status().waiting, 1);
    let second = paused();
    second.block_on(async {
        let mut get = pin!(pool.get());
        assert!(futures::poll!(get.as_mut()).is_pending());
    });
    assert_eq!(pool.status().waiting, 1, "the second one left");
    first.block_on(async {
        let r = tokio::time::timeout(wait * 10, task).await;
        assert!(
            matches!(r, Ok(Ok(Err(PoolError::Timeout { .. })))),
            "the first waiter times out on time"
        );
    });
    drop(held);
    drop(second);
}

/// A get queued from a thread that drives it with a runtime's handle
/// (`Handle::block_on`) when that runtime shuts down: the shutdown fires
/// the alarm, the get sets it again on a runtime whose timers are gone,
/// and panics as tokio's timers do there. It leaves the queue and the
/// alarm unset, so a get on another runtime still times out at its
/// deadline, and the object given back goes idle.
#[test]
fn a_get_whose_runtime_shuts_down_under_it_leaves_nothing_behind() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let rt = one_worker();
    let held = rt.block_on(pool.get()).unwrap();
    let handle = rt.handle().clone();
    let (queued, is_queued) = std::sync::mpsc::channel();
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                handle.block_on(async {
                    let mut get = pin!(pool.get());
                    assert!(futures::poll!(get.as_mut()).is_pending());
                    queued.send(()).unwrap();
                    get.await.map(drop)
                })
            }))
        })
    };
    is_queued.recv().unwrap();
    drop(rt);
    let r = waiter.join().unwrap();
    assert!(r.is_err(), "no timer left to bound the wait");
    still_times_out(&pool, wait);
    drop(held);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0), "{s:?}");
}

/// The alarm is set, on the runtime of the last waiter, for the deadline
/// of the first, which is served before it; the waiter in between is on a
/// runtime nobody drives any more. When the alarm fires, the waiter in
/// between is at the head, and the last one (which set the alarm on a
/// runtime that runs) still times out at its deadline.
#[test]
fn an_alarm_that_outlives_its_head_still_bounds_the_waiter_that_set_it() {
    let wait = Duration::from_secs(1);
    let pool = pool(wait);
    let main = paused();
    let held = main.block_on(pool.get()).unwrap();
    let mut first = pin!(pool.get());
    main.block_on(async {
        assert!(futures::poll!(first.as_mut()).is_pending());
    });
    let stuck = paused();
    let task = {
        let pool = pool.clone();
        stuck.spawn(async move { pool.get().await.map(drop) })
    };
    stuck.block_on(common::settle());
    assert_eq!(pool.status().waiting, 2);
    main.block_on(async {
        tokio::time::advance(wait / 2).await;
        let t = tokio::time::Instant::now();
        let mut last = pin!(pool.get());
        assert!(futures::poll!(last.as_mut()).is_pending());
        drop(held);
        let got = first.as_mut().await.unwrap();
        let r = tokio::time::timeout(wait * 10, last).await;
        assert!(
            matches!(r, Ok(Err(PoolError::Timeout { .. }))),
            "the last waiter times out on time"
        );
        assert_eq!(t.elapsed(), wait);
        drop(got);
    });
    drop(task);
    drop(stuck);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0), "{s:?}");
}

/// The alarm, set on a multi-thread runtime, fires at the first waiter's
/// deadline. The new head is a task on a current-thread runtime nobody
/// drives any more: woken, it would never set the alarm again, and the
/// waiter behind it, a task on the multi-thread runtime, relies on that
/// alarm. The runtime the alarm fired on sets it again instead: the head
/// times out at its deadline (unseen by its task), and the last waiter at
/// its own.
///
/// On real time, as a multi-thread runtime's timers cannot be paused
/// (waits of 200 ms, which leaves the set-up time to queue all three; the
/// last waiter is given 5 s, which it would wait out without the alarm set
/// again). The two later waiters are queued from paused runtimes whose
/// clocks were moved on by 400 and 800 ms, which puts their deadlines that
/// much later, in that order, without a sleep.
#[test]
fn an_alarm_fired_on_a_multi_thread_runtime_is_set_again_there() {
    let wait = Duration::from_millis(200);
    let pool = pool(wait);
    let rt = one_worker();
    let held = rt.block_on(pool.get()).unwrap();
    let get = |pool: &Pool<Steered>| {
        let pool = pool.clone();
        Box::pin(async move { pool.get().await.map(drop) })
    };
    let first = rt.spawn(get(&pool));
    while pool.status().waiting < 1 {
        std::thread::yield_now();
    }
    let stuck = paused();
    let task = stuck.spawn(get(&pool));
    stuck.block_on(async {
        tokio::time::advance(wait * 2).await;
        common::settle().await;
    });
    let later = paused();
    let mut last = get(&pool);
    later.block_on(async {
        tokio::time::advance(wait * 4).await;
        assert!(futures::poll!(last.as_mut()).is_pending());
    });
    assert_eq!(pool.status().waiting, 3);
    let last = rt.spawn(last);
    rt.block_on(async {
        let r = first.await.unwrap();
        assert!(matches!(r, Err(PoolError::Timeout { .. })), "{r:?}");
        let r = tokio::time::timeout(wait * 25, last).await;
        assert!(
            matches!(r, Ok(Ok(Err(PoolError::Timeout { .. })))),
            "the waiter behind the stuck head times out: {r:?}"
        );
    });
    let s = pool.status();
    // The stuck task has not seen its timeout, so it is not counted yet.
    assert_eq!((s.in_use, s.waiting, s.timeouts), (1, 0, 2), "{s:?}");
    drop(task);
    drop(stuck);
    drop(held);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0), "{s:?}");
}
