//! Edge cases of the pool: the wait alarm handed on when the waiter it
//! woke leaves, durations and sizes meant as "no limit", objects idling
//! under the lock in local order, counters when the pool drops an object
//! nobody asked to discard, and user code that panics inside the pool's
//! calls. All timing runs on paused time.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use aqueduct_pool::{Manager, Order, Pool, PoolError, Pooled};
use common::{Steered, settle};
use futures::{FutureExt, poll};
use tokio::time::{Instant, advance};

/// The alarm fires for a waiter that already left and wakes the new head
/// (A) to set it again. A leaves before it is polled: the waiter behind
/// it (B) still times out at its own deadline.
#[tokio::test(start_paused = true)]
async fn a_head_that_leaves_after_the_alarm_hands_it_on() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let t0 = Instant::now();

    let mut w0 = Box::pin(pool.get()); // deadline t0+10s; the alarm is set for it
    assert!(poll!(w0.as_mut()).is_pending());
    advance(Duration::from_secs(5)).await;
    let mut a = Box::pin(pool.get()); // deadline t0+15s
    assert!(poll!(a.as_mut()).is_pending());
    advance(Duration::from_secs(1)).await;
    let b = {
        let pool = pool.clone();
        tokio::spawn(async move { (pool.get().await.map(|o| *o), t0.elapsed()) })
    }; // deadline t0+16s
    settle().await;
    assert_eq!(pool.status().waiting, 3);

    drop(w0); // the first waiter gives up
    advance(Duration::from_secs(4)).await; // t0+10s: the alarm fires, wakes A
    drop(a); // A gives up before it was polled again

    // Far past B's deadline (t0+16s).
    advance(Duration::from_secs(100)).await;
    settle().await;
    let still_waiting = !b.is_finished();
    drop(held); // only now is B served
    let (r, at) = b.await.unwrap();
    assert!(
        !still_waiting && matches!(r, Err(PoolError::Timeout { .. })),
        "B (wait_timeout 10s, queued at t0+6s) ended at t0+{at:?} with {r:?}"
    );
}

/// The same with no cancellation: the first waiter times out at the very
/// instant an object comes back, which goes to the next head (A) before A
/// is polled again. B behind it still times out at its deadline.
#[tokio::test(start_paused = true)]
async fn a_head_served_after_the_alarm_hands_it_on() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let t0 = Instant::now();
    let spawn_holder = |hold_until: Instant| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let obj = pool.get().await;
            if let Ok(obj) = obj {
                tokio::time::sleep_until(hold_until).await;
                drop(obj);
            }
        })
    };
    // H holds the only object until t0+10s.
    let h = spawn_holder(t0 + Duration::from_secs(10));
    settle().await;
    // W0 queues at t0: the alarm is set for t0+10s, when it times out.
    let w0 = spawn_holder(t0);
    settle().await;
    advance(Duration::from_secs(5)).await;
    // A queues at t0+5s (deadline t0+15s) and, once served, holds for long.
    let a = spawn_holder(t0 + Duration::from_secs(1000));
    settle().await;
    advance(Duration::from_secs(1)).await;
    // B queues at t0+6s: it must fail by t0+16s.
    let b = {
        let pool = pool.clone();
        tokio::spawn(async move { (pool.get().await.map(|o| *o), t0.elapsed()) })
    };
    let (r, at) = b.await.unwrap();
    assert!(
        matches!(r, Err(PoolError::Timeout { .. })) && at == Duration::from_secs(16),
        "B (wait_timeout 10s, queued at t0+6s) ended at t0+{at:?} with {r:?}"
    );
    h.await.unwrap();
    w0.await.unwrap();
    a.await.unwrap();
}

/// `Duration::MAX` means no limit: a queued `get` waits until served.
#[tokio::test(start_paused = true)]
async fn a_wait_timeout_of_duration_max_waits_for_ever() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::MAX)
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|o| *o) })
    };
    settle().await;
    drop(held);
    let r = waiter.await;
    let s = pool.status();
    assert!(
        r.is_ok(),
        "the queued get failed: {r:?}; afterwards size {} idle {} waiting {}, try_get: {:?}",
        s.size,
        s.idle,
        s.waiting,
        pool.try_get().map(|o| *o)
    );
}

/// `Duration::ZERO` turns away at once a `get` that would have to queue; one
/// that finds room still creates its object.
#[tokio::test(start_paused = true)]
async fn a_wait_timeout_of_zero_turns_a_queued_get_away_at_once() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::ZERO)
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let start = Instant::now();
    let r = pool.get().await.map(|o| *o);
    assert!(
        matches!(
            r,
            Err(PoolError::Timeout {
                waited: Duration::ZERO,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        start.elapsed() <= Duration::from_millis(1),
        "{:?}",
        start.elapsed()
    );
    let s = pool.status();
    assert_eq!((s.timeouts, s.waiting), (1, 0), "{s:?}");
    drop(held);
    assert!(pool.get().await.is_ok(), "an idle object, no wait");
}

/// `Duration::MAX` means a create or a recycle may take as long as it
/// takes.
#[tokio::test(start_paused = true)]
async fn create_and_recycle_timeouts_of_duration_max_are_no_limit() {
    let pool = Pool::builder(Steered::default())
        .create_timeout(Duration::MAX)
        .recycle_timeout(Duration::MAX)
        .build_lazy()
        .unwrap();
    let hour = 3_600_000_000_000;
    pool.manager().create_delay_ns.store(hour, Ordering::SeqCst);
    pool.manager()
        .recycle_delay_ns
        .store(hour, Ordering::SeqCst);
    let id = *pool.get().await.unwrap();
    assert_eq!(*pool.get().await.unwrap(), id, "recycled, not replaced");
    let s = pool.status();
    assert_eq!((s.created, s.discarded), (1, 0), "{s:?}");
}

/// `Duration::MAX` means no lifetime limit.
#[tokio::test(start_paused = true)]
async fn a_max_lifetime_of_duration_max_is_no_limit() {
    let pool = Pool::builder(Steered::default())
        .max_lifetime(Duration::MAX)
        .build_lazy()
        .unwrap();
    let r = tokio::spawn(async move { pool.get().await.map(|o| *o) }).await;
    assert!(r.is_ok(), "get panicked: {r:?}");
}

/// `Duration::MAX` means objects never idle out.
#[tokio::test(start_paused = true)]
async fn an_idle_timeout_of_duration_max_is_no_limit() {
    let pool = Pool::builder(Steered::default())
        .idle_timeout(Duration::MAX)
        .build_lazy()
        .unwrap();
    drop(pool.get().await.unwrap());
    let r = tokio::spawn(async move { pool.get().await.map(|o| *o) }).await;
    assert!(r.is_ok(), "get panicked: {r:?}");
}

/// `Duration::MAX` means `close` waits for every object.
#[tokio::test(start_paused = true)]
async fn a_close_timeout_of_duration_max_is_no_limit() {
    let pool = Pool::builder(Steered::default())
        .close_timeout(Duration::MAX)
        .build_lazy()
        .unwrap();
    let r = tokio::spawn(async move { pool.close().await.is_ok() }).await;
    assert!(r.is_ok(), "close panicked: {r:?}");
}

/// `max_size(usize::MAX)` means unbounded: building allocates nothing
/// for it.
#[test]
fn a_max_size_of_usize_max_builds() {
    let r = std::panic::catch_unwind(|| {
        Pool::builder(Steered::default())
            .max_size(usize::MAX)
            .build_lazy()
            .map(|p| p.status().max_size)
    });
    assert!(r.is_ok(), "build_lazy panicked");
}

/// An object handed to a waiter just before `close` is dropped when the
/// waiter wakes, and counted as discarded: `created - discarded == size`.
#[tokio::test(start_paused = true)]
async fn an_object_dropped_by_a_waiter_woken_after_close_is_counted() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let mut w = Box::pin(pool.get());
    assert!(poll!(w.as_mut()).is_pending());
    drop(held); // handed to the waiter
    let mut close = Box::pin(pool.close());
    assert!(poll!(close.as_mut()).is_pending()); // the waiter's object is out
    assert!(matches!(
        poll!(w.as_mut()),
        std::task::Poll::Ready(Err(PoolError::Closed))
    ));
    assert!(poll!(close.as_mut()).is_ready());
    let s = pool.status();
    assert_eq!(
        s.created,
        s.size as u64 + s.discarded,
        "one object made and dropped; status: {s:?}"
    );
}

/// A top-up reserved before a resize below it makes nothing: the object
/// would be dropped as it came in. Its slot is given back.
#[tokio::test(start_paused = true)]
async fn a_top_up_after_a_resize_below_it_makes_nothing() {
    let m = Steered::default();
    m.create_delay_ns.store(1_000_000_000, Ordering::SeqCst);
    let pool = Pool::builder(m)
        .max_size(4)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    let getter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.unwrap() })
    };
    settle().await; // creating its own object, a top-up slot reserved
    pool.resize(1);
    let held = getter.await.unwrap();
    // The top-up it starts finds the pool over its new max.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = pool.status();
    assert_eq!((s.size, s.created, s.discarded), (1, 1, 0), "{s:?}");
    assert_eq!(pool.manager().created(), 1, "nothing was made");
    drop(held);
}

/// In `Order::Local`, an object idling under the lock (here: one whose
/// checkout was cancelled during `recycle`) still idles out while the
/// homes serve every checkout.
#[tokio::test(start_paused = true)]
async fn an_idle_object_under_the_lock_idles_out_in_local_order() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    drop((a, b)); // both parked in homes
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000, Ordering::SeqCst);
    {
        let mut cancelled = Box::pin(pool.get());
        assert!(poll!(cancelled.as_mut()).is_pending()); // inside recycle
    } // dropped: the object comes back dirty, under the lock
    pool.manager().recycle_delay_ns.store(0, Ordering::SeqCst);
    // Steady load on one object for a minute.
    for _ in 0..60 {
        drop(pool.get().await.unwrap());
        advance(Duration::from_secs(1)).await;
    }
    let s = pool.status();
    assert_eq!(
        (s.size, s.discarded),
        (1, 1),
        "the object idle for 60 s with idle_timeout 10 s is gone: {s:?}"
    );
}

/// A FIFO pool of two with an `idle_timeout` of 10 s whose idle objects
/// are, in order, one expired (idle for 11 s) and one fresh (5 s).
async fn expired_then_fresh<M: Manager<Error = std::convert::Infallible>>(manager: M) -> Pool<M> {
    let pool = Pool::builder(manager)
        .max_size(2)
        .order(Order::Fifo)
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let (old, fresh) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    drop(old);
    advance(Duration::from_secs(6)).await;
    drop(fresh); // the old one, idle for 6 s, is kept
    advance(Duration::from_secs(5)).await;
    pool
}

/// Objects whose `Drop` panics, and an `is_broken` that panics, once armed.
#[derive(Default)]
struct Fragile {
    armed: Arc<AtomicBool>,
}

struct Bomb(Arc<AtomicBool>);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("object drop panics");
        }
    }
}

impl Manager for Fragile {
    type Object = Bomb;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<Bomb, Self::Error> {
        Ok(Bomb(Arc::clone(&self.armed)))
    }

    fn is_broken(&self, obj: &Bomb) -> bool {
        assert!(!obj.0.load(Ordering::SeqCst), "is_broken panics");
        false
    }
}

/// A checkout that discards an expired object whose `Drop` panics passes
/// the panic on, but gives back the slot it was granted: the pool still
/// serves. (FIFO order: the checkout meets the object under the lock.)
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_of_an_expired_object_leaks_no_slot() {
    let pool = Pool::builder(Fragile::default())
        .max_size(1)
        .order(Order::Fifo)
        .idle_timeout(Duration::from_secs(10))
        .wait_timeout(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    drop(pool.get().await.unwrap());
    advance(Duration::from_secs(11)).await;
    pool.manager().armed.store(true, Ordering::SeqCst);
    let p = pool.clone();
    let crashed = tokio::spawn(async move { p.get().await.map(drop) }).await;
    assert!(crashed.unwrap_err().is_panic());
    pool.manager().armed.store(false, Ordering::SeqCst);
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1), "{s:?}");
    assert!(pool.get().await.is_ok(), "the slot is free again");
}

/// A panicking `is_broken` on return passes the panic on; the object is
/// discarded and its slot freed.
#[tokio::test(start_paused = true)]
async fn a_panicking_is_broken_frees_the_slot() {
    let pool = Pool::builder(Fragile::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let obj = pool.get().await.unwrap();
    pool.manager().armed.store(true, Ordering::SeqCst);
    let returned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(obj)));
    assert!(returned.is_err());
    pool.manager().armed.store(false, Ordering::SeqCst);
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.discarded), (0, 0, 1), "{s:?}");
    assert!(pool.get().await.is_ok(), "the slot is free again");
}

/// A holder panics, and so does `is_broken` when its guard gives the
/// object back during the unwinding. A second panic out of a `Drop` that
/// runs during unwinding aborts the process: the first panic goes on
/// alone, the task fails as any panicking task does, and the object is
/// discarded with its slot freed. (Run in a child process, which the
/// abort would end.)
#[test]
fn a_panicking_is_broken_while_the_holder_unwinds_does_not_abort() {
    const CHILD: &str = "AQUEDUCT_POOL_TEST_UNWIND_CHILD";
    const NAME: &str = "a_panicking_is_broken_while_the_holder_unwinds_does_not_abort";
    if common::ran_in_child(CHILD, NAME, None) {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = Pool::builder(Fragile::default())
            .max_size(1)
            .wait_timeout(Duration::from_secs(1))
            .build_lazy()
            .unwrap();
        let p = pool.clone();
        let crashed = tokio::spawn(async move {
            let _obj = p.get().await.unwrap();
            p.manager().armed.store(true, Ordering::SeqCst);
            panic!("holder fails mid-operation");
        })
        .await;
        assert!(crashed.unwrap_err().is_panic());
        pool.manager().armed.store(false, Ordering::SeqCst);
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.discarded), (0, 0, 1), "{s:?}");
        assert!(pool.get().await.is_ok(), "the slot is free again");
    });
}

/// `try_get` discards an expired object whose `Drop` panics on its way to
/// a fresh one: the panic goes on, but the fresh object goes back idle
/// and the counters show one discard and no checkout. (FIFO order: the
/// expired object is met first, under the lock.)
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_of_an_expired_object_in_try_get_loses_nothing() {
    let pool = expired_then_fresh(Fragile::default()).await;
    pool.manager().armed.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| pool.try_get()));
    pool.manager().armed.store(false, Ordering::SeqCst);
    assert!(r.is_err(), "the panic goes on");
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.in_use, s.discarded),
        (1, 1, 0, 1),
        "{s:?}"
    );
    assert_eq!(
        (s.created, s.recycled, s.wait_time.total()),
        (2, 0, 2),
        "no checkout was served: {s:?}"
    );
    // The pool still serves max_size objects: the fresh one, and one made
    // in the freed slot.
    let a = pool.try_get().expect("the fresh object is idle again");
    let b = pool.get().await.expect("the expired object's slot is free");
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.created), (2, 2, 3), "{s:?}");
    drop((a, b));
}

/// Objects whose `Drop` panics once armed; the manager itself never
/// panics.
#[derive(Default)]
struct Brittle {
    armed: Arc<AtomicBool>,
}

impl Manager for Brittle {
    type Object = Bomb;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<Bomb, Self::Error> {
        Ok(Bomb(Arc::clone(&self.armed)))
    }
}

/// An object past its lifetime comes back and is discarded; its `Drop`
/// panics. The panic goes on, but the waiter handed the freed slot is
/// still woken, and creates in it.
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_on_return_still_wakes_the_waiter_handed_the_slot() {
    let pool = Pool::builder(Brittle::default())
        .max_size(1)
        .max_lifetime(Duration::from_secs(10))
        .wait_timeout(Duration::from_secs(60))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    settle().await;
    assert_eq!(pool.status().waiting, 1);
    advance(Duration::from_secs(11)).await;
    pool.manager().armed.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| drop(held)));
    pool.manager().armed.store(false, Ordering::SeqCst);
    assert!(r.is_err(), "the panic goes on");
    let served = tokio::time::timeout(Duration::from_secs(1), waiter).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "the waiter was not served: {served:?}; {:?}",
        pool.status()
    );
    let s = pool.status();
    assert_eq!((s.size, s.created, s.discarded), (1, 2, 1), "{s:?}");
}

/// `close` waits for the last object; it comes back, is dropped, and its
/// `Drop` panics. The panic goes on, but `close` still returns at once
/// rather than at `close_timeout`.
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_of_the_last_object_still_ends_close() {
    let pool = Pool::builder(Brittle::default())
        .max_size(1)
        .close_timeout(Duration::from_secs(30))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let closing = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close().await })
    };
    settle().await;
    assert!(!closing.is_finished(), "an object is out");
    pool.manager().armed.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| drop(held)));
    pool.manager().armed.store(false, Ordering::SeqCst);
    assert!(r.is_err(), "the panic goes on");
    let closed = tokio::time::timeout(Duration::from_secs(1), closing).await;
    assert!(
        matches!(closed, Ok(Ok(Ok(())))),
        "close did not end when the pool emptied: {closed:?}"
    );
}

/// `close` drops the idle objects, and the first one's `Drop` panics. The
/// panic goes on, but the background top-up still hears that the pool
/// closed, and ends.
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_in_close_still_ends_the_background_top_up() {
    let pool = Pool::builder(Brittle::default())
        .max_size(2)
        .min_idle(1)
        .build()
        .await
        .unwrap();
    let task = pool.top_up_in_background();
    settle().await;
    assert_eq!(pool.status().idle, 1);
    pool.manager().armed.store(true, Ordering::SeqCst);
    let closed = AssertUnwindSafe(pool.close()).catch_unwind().await;
    pool.manager().armed.store(false, Ordering::SeqCst);
    assert!(closed.is_err(), "the panic goes on");
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1), "{s:?}");
    let ended = tokio::time::timeout(Duration::from_secs(1), task).await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the top-up task did not end with close: {ended:?}"
    );
}

/// In local order, a checkout that takes a fresh object from a home also
/// looks at the objects idling under the lock (once in `homes + 1`
/// checkouts) and discards an expired one there; its `Drop` panics. The
/// panic goes on, but the object taken from the home goes back.
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_met_by_the_fast_path_loses_nothing() {
    let pool = Pool::builder(Brittle::default())
        .max_size(1) // one home
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    pool.resize(2); // two objects, one home: one idles under the lock
    let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    drop(b); // in the home
    drop(a); // the home is taken: under the lock
    advance(Duration::from_secs(6)).await;
    drop(pool.try_get().unwrap()); // `b` (or `a`) used again
    advance(Duration::from_secs(5)).await;
    // Under the lock, `a`, idle for 11 s; in the home, `b`, idle for 5 s.
    pool.manager().armed.store(true, Ordering::SeqCst);
    // Of two checkouts in a row, one looks under the lock.
    let mut crashed = false;
    for _ in 0..2 {
        match catch_unwind(AssertUnwindSafe(|| pool.try_get())) {
            Ok(got) => drop(got.expect("`b` is idle in the home")),
            Err(_) => {
                crashed = true;
                break;
            }
        }
    }
    pool.manager().armed.store(false, Ordering::SeqCst);
    assert!(crashed, "the expired object was not met");
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.in_use, s.discarded),
        (1, 1, 0, 1),
        "{s:?}"
    );
    let first = pool.try_get().expect("the fresh object is idle again");
    let second = pool.get().await.expect("the expired object's slot is free");
    drop((first, second));
}

/// A `get` that panics on the way (an expired object's `Drop`) is not
/// counted as a checkout: `recycled` and the wait histogram stay exact.
#[tokio::test(start_paused = true)]
async fn a_get_that_panics_on_the_way_is_not_counted() {
    let pool = expired_then_fresh(Brittle::default()).await;
    pool.manager().armed.store(true, Ordering::SeqCst);
    let p = pool.clone();
    let crashed = tokio::spawn(async move { p.get().await.map(drop) }).await;
    pool.manager().armed.store(false, Ordering::SeqCst);
    assert!(crashed.unwrap_err().is_panic());
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.in_use, s.discarded),
        (1, 1, 0, 1),
        "{s:?}"
    );
    assert_eq!(
        (s.recycled, s.wait_time.total()),
        (0, 2),
        "only the first two gets were served: {s:?}"
    );
}

/// Objects that note, when dropped, whether the pool had already woken
/// the task it handed their slot to (or `close`).
#[derive(Default)]
struct Watched {
    woken: Arc<AtomicBool>,
    woken_before_drop: Arc<AtomicBool>,
}

struct Watch {
    woken: Arc<AtomicBool>,
    woken_before_drop: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.woken.load(Ordering::SeqCst) {
            self.woken_before_drop.store(true, Ordering::SeqCst);
        }
    }
}

impl Manager for Watched {
    type Object = Watch;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<Watch, Self::Error> {
        Ok(Watch {
            woken: Arc::clone(&self.woken),
            woken_before_drop: Arc::clone(&self.woken_before_drop),
        })
    }
}

/// A waker that raises a flag.
struct Flag(Arc<AtomicBool>);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A pool of one `Watched` object, and that object, checked out.
async fn one_watched() -> (Pool<Watched>, Pooled<Watched>) {
    let pool = Pool::builder(Watched::default())
        .max_size(1)
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    (pool, held)
}

/// Polls `pending` (which waits for `held`'s slot) once, then discards
/// `held`: `pending` must be woken, and only after the object was dropped.
fn discard_under<F: Future>(
    pool: &Pool<Watched>,
    held: Pooled<Watched>,
    pending: Pin<&mut F>,
    what: &str,
) {
    let waker = Waker::from(Arc::new(Flag(Arc::clone(&pool.manager().woken))));
    assert!(pending.poll(&mut Context::from_waker(&waker)).is_pending());
    held.discard();
    let m = pool.manager();
    assert!(m.woken.load(Ordering::SeqCst), "{what} is woken");
    assert!(
        !m.woken_before_drop.load(Ordering::SeqCst),
        "{what} was woken while the discarded object was still alive"
    );
}

/// An object its holder discards is dropped before the waiter handed its
/// slot is woken, as one dropped on return is: the waiter must not open a
/// new connection while the old one is still open.
#[tokio::test(start_paused = true)]
async fn a_discarded_object_is_dropped_before_its_slot_is_handed_on() {
    let (pool, held) = one_watched().await;
    let mut waiter = pin!(pool.get());
    discard_under(&pool, held, waiter.as_mut(), "the waiter");
    assert!(waiter.await.is_ok());
}

/// The same for `close`: it must not end while the last object, discarded
/// by its holder, is still alive.
#[tokio::test(start_paused = true)]
async fn close_ends_after_the_last_discarded_object_is_dropped() {
    let (pool, held) = one_watched().await;
    let mut close = pin!(pool.close());
    discard_under(&pool, held, close.as_mut(), "close");
    assert!(close.await.is_ok());
}

/// Objects are 0, 1, 2, ...; `recycle` panics on object 0, whatever the
/// pool does with it.
#[derive(Default)]
struct PanicsOnZero {
    next: std::sync::atomic::AtomicU64,
}

impl Manager for PanicsOnZero {
    type Object = u64;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<u64, Self::Error> {
        Ok(self.next.fetch_add(1, Ordering::SeqCst))
    }

    async fn recycle(&self, obj: &mut u64, _: &aqueduct_pool::Meta) -> Result<(), Self::Error> {
        assert_ne!(*obj, 0, "the object's state is not what the check expects");
        Ok(())
    }
}

/// A `get` whose `recycle` panics passes the panic on and discards the
/// object: the next `get` gets a new one instead of the same panic.
#[tokio::test(start_paused = true)]
async fn a_panicking_recycle_discards_the_object() {
    let pool = Pool::builder(PanicsOnZero::default())
        .max_size(1)
        .min_idle(1)
        .build()
        .await
        .unwrap();
    let first = AssertUnwindSafe(pool.get()).catch_unwind().await;
    assert!(first.is_err(), "the panic goes on to the caller");
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.discarded), (0, 0, 1), "{s:?}");
    let second = AssertUnwindSafe(pool.get()).catch_unwind().await;
    let obj = second.expect("a new object, not the same panic").unwrap();
    assert_eq!(*obj, 1);
}

/// Each message names the limit that was hit and its value.
#[tokio::test(start_paused = true)]
async fn error_messages_name_the_limit_and_the_value() {
    let secs = Duration::from_secs;
    let cases: [(PoolError<()>, &str); 4] = [
        (
            PoolError::Timeout {
                waited: secs(2),
                last_create_error: None,
            },
            "no object within the wait timeout (2s)",
        ),
        (
            PoolError::CreateTimeout { timeout: secs(3) },
            "creating an object took longer than the create timeout (3s)",
        ),
        (
            PoolError::Exhausted {
                in_use: 4,
                max_size: 4,
            },
            "no idle object (4 of 4 in use)",
        ),
        (
            PoolError::CloseTimeout {
                outstanding: 1,
                waited: secs(5),
            },
            "1 object(s) still borrowed after the close timeout (5s)",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
    let zero = Pool::builder(Steered::default()).max_size(0).build_lazy();
    assert_eq!(
        zero.unwrap_err().to_string(),
        "max_size is 0: it must be at least 1"
    );
    let above = Pool::builder(Steered::default()).max_size(2).min_idle(3);
    assert_eq!(
        above.build_lazy().unwrap_err().to_string(),
        "min_idle 3 is above max_size 2"
    );
    let steered = Steered::default();
    steered.fail_create.store(true, Ordering::SeqCst);
    let prefill = Pool::builder(steered).min_idle(3).build().await;
    assert_eq!(
        prefill.unwrap_err().to_string(),
        "prefilling the pool to min_idle 3 failed after 0 objects"
    );
}

/// A checkout below `min_idle` reserves a slot for a top-up, filled only
/// once its own create is done. Until then that slot is nobody's: a caller
/// who finds no object and no other room takes it and creates at once,
/// rather than queue behind a slot nobody uses (and time out, with room in
/// the pool, when creating takes longer than `wait_timeout`).
#[tokio::test(start_paused = true)]
async fn a_slot_reserved_for_a_top_up_is_taken_while_the_checkout_still_creates() {
    let steered = Steered::default();
    steered
        .create_delay_ns
        .store(1_000_000_000, Ordering::SeqCst); // 1 s
    let pool = Pool::builder(steered)
        .max_size(2)
        .min_idle(2)
        .wait_timeout(Duration::from_millis(500))
        .build_lazy()
        .unwrap();
    let t0 = Instant::now();
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(|o| *o) }
    });
    settle().await;
    // `first` creates in one slot and holds the other for its top-up.
    assert_eq!(pool.status().size, 2);
    let second = pool.get().await;
    assert!(second.is_ok(), "{:?}", second.err());
    assert_eq!(Instant::now() - t0, Duration::from_secs(1));
    assert!(first.await.unwrap().is_ok());
    drop(second);
    settle().await;
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.waiting, s.timeouts), (2, 2, 0, 0));
    assert_eq!(pool.manager().created(), 2);
}
