//! Behaviour of the pool: fairness, cancellation, expiry, panics, close,
//! resize, leaks. All timing runs on paused time.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aqueduct_pool::{Holder, Order, Pool, PoolError, Pooled, WaitHistogram};
use common::{Steered, TestError, settle};
use futures::FutureExt;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep};

/// One paused-time test per reuse order given, each running `$body` in
/// that order.
macro_rules! in_each_order {
    ($body:ident: $($name:ident => $order:ident),+ $(,)?) => {$(
        #[tokio::test(start_paused = true)]
        async fn $name() {
            $body(Order::$order).await;
        }
    )+};
}

async fn pool(max: usize) -> Pool<Steered> {
    Pool::builder(Steered::default())
        .max_size(max)
        .min_idle(max)
        .build()
        .await
        .unwrap()
}

in_each_order!(storm:
    cancellation_storm_leaks_nothing => Local,
    cancellation_storm_leaks_nothing_in_fifo_order => Fifo,
    cancellation_storm_leaks_nothing_in_lifo_order => Lifo,
);

/// 10,000 gets on a size-4 pool, each raced against a random timer.
async fn storm(order: Order) {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .order(order)
        .wait_timeout(Duration::from_secs(3600))
        .build_lazy()
        .unwrap();
    // Creates and recycles take time, so timers fire inside them too.
    pool.manager()
        .create_delay_ns
        .store(300_000, Ordering::SeqCst);
    pool.manager()
        .recycle_delay_ns
        .store(400_000, Ordering::SeqCst);
    let mut rng = SmallRng::seed_from_u64(0x5EED);
    let mut set = JoinSet::new();
    for _ in 0..10_000 {
        let timer = Duration::from_micros(rng.random_range(0..3_000));
        let hold = Duration::from_micros(rng.random_range(0..300));
        let start = Duration::from_micros(rng.random_range(0..2_000_000));
        let pool = pool.clone();
        set.spawn(async move {
            sleep(start).await;
            tokio::select! {
                () = async {
                    let obj = pool.get().await.unwrap();
                    sleep(hold).await;
                    drop(obj);
                } => true,
                () = sleep(timer) => false,
            }
        });
    }
    let mut completed = 0;
    let mut cancelled = 0;
    while let Some(done) = set.join_next().await {
        if done.unwrap() {
            completed += 1;
        } else {
            cancelled += 1;
        }
    }
    println!("storm: {completed} completed, {cancelled} cancelled");
    assert!(completed > 500, "completed {completed}");
    assert!(cancelled > 500, "cancelled {cancelled}");

    let s = pool.status();
    assert_eq!(s.in_use, 0, "{s:?}");
    assert_eq!(s.waiting, 0, "{s:?}");
    assert_eq!(s.idle, s.size, "{s:?}");
    assert!(s.size <= 4, "{s:?}");
    // Gets were cancelled while queued and inside recycle (those objects
    // came back dirty and were recycled again), and nothing was lost.
    assert!(s.wait_time.queued() > 0, "{s:?}");
    assert!(pool.manager().dirty_seen.load(Ordering::SeqCst) > 0);
    assert_eq!(s.discarded, 0, "{s:?}");

    pool.manager().create_delay_ns.store(0, Ordering::SeqCst);
    pool.manager().recycle_delay_ns.store(0, Ordering::SeqCst);
    let held: Vec<_> = (0..4)
        .map(|_| {
            pool.get()
                .now_or_never()
                .expect("ready at once")
                .expect("an object")
        })
        .collect();
    assert_eq!(pool.status().in_use, 4);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let pool = pool(1).await;
    let held = pool.get().await.unwrap();
    let order = Arc::new(AsyncMutex::new(Vec::new()));
    let mut set = JoinSet::new();
    for i in 0..8 {
        let pool = pool.clone();
        let order = Arc::clone(&order);
        set.spawn(async move {
            let obj = pool.get().await.unwrap();
            order.lock().await.push(i);
            sleep(Duration::from_millis(1)).await;
            drop(obj);
        });
        // Queue them in a known order.
        settle().await;
    }
    assert_eq!(pool.status().waiting, 8);
    drop(held);
    while set.join_next().await.is_some() {}
    assert_eq!(*order.lock().await, (0..8).collect::<Vec<_>>());
    let hist = pool.status().wait_time;
    assert_eq!(hist.queued(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_barge_past_the_queue() {
    let pool = pool(1).await;
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { *pool.get().await.unwrap() })
    };
    settle().await;
    drop(held);
    // The object went to the queued waiter, not to this later caller.
    assert!(matches!(
        pool.try_get(),
        Err(PoolError::Exhausted { in_use: 1, .. })
    ));
    assert_eq!(waiter.await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_passes_its_object_on() {
    let pool = pool(1).await;
    let held = pool.get().await.unwrap();
    let mut first = Box::pin(pool.get());
    let mut second = Box::pin(pool.get());
    assert!(futures::poll!(first.as_mut()).is_pending());
    assert!(futures::poll!(second.as_mut()).is_pending());
    assert_eq!(pool.status().waiting, 2);
    drop(held); // handed to `first`, which is never polled again
    drop(first);
    let obj = second.now_or_never().expect("ready").unwrap();
    assert_eq!(*obj, 0);
    assert_eq!(pool.status().waiting, 0);
    // `first` never took the turn it was handed: only `held` and `second`
    // count in the wait-time histogram.
    assert_eq!(pool.status().wait_time.total(), 2);
}

#[tokio::test(start_paused = true)]
async fn wait_timeout_is_typed_and_counted() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_millis(200))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let start = Instant::now();
    match pool.get().await {
        Err(PoolError::Timeout {
            waited,
            last_create_error,
        }) => {
            assert_eq!(waited, Duration::from_millis(200));
            assert!(last_create_error.is_none());
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    let s = pool.status();
    assert_eq!((s.timeouts, s.waiting, s.in_use), (1, 0, 1));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn create_errors_are_returned_not_hidden_and_free_the_slot() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .build_lazy()
        .unwrap();
    pool.manager().fail_create.store(true, Ordering::SeqCst);
    match pool.get().await {
        Err(PoolError::Create(TestError(msg))) => assert_eq!(msg, "create refused"),
        other => panic!("expected a create error, got {other:?}"),
    }
    assert_eq!(pool.status().size, 0);
    pool.manager().fail_create.store(false, Ordering::SeqCst);
    assert_eq!(*pool.get().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn create_timeout_frees_the_slot() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .create_timeout(Duration::from_millis(50))
        .build_lazy()
        .unwrap();
    pool.manager()
        .create_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let err = pool.get().await.unwrap_err();
    assert!(
        matches!(err, PoolError::CreateTimeout { timeout } if timeout == Duration::from_millis(50))
    );
    assert_eq!(pool.status().size, 0);
}

#[tokio::test(start_paused = true)]
async fn failed_recycle_replaces_the_object() {
    let pool = pool(1).await;
    pool.manager().break_object(0);
    // Object 0 fails its recycle: discarded, and a new one made in its slot.
    assert_eq!(*pool.get().await.unwrap(), 1);
    let s = pool.status();
    assert_eq!((s.created, s.discarded, s.size), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn recycle_timeout_replaces_the_object() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .min_idle(1)
        .recycle_timeout(Duration::from_millis(10))
        .build()
        .await
        .unwrap();
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let start = Instant::now();
    let obj = pool.get().await.unwrap();
    assert_eq!(*obj, 1);
    assert!(start.elapsed() >= Duration::from_millis(10));
    assert_eq!(pool.status().discarded, 1);
}

#[tokio::test(start_paused = true)]
async fn broken_on_return_gives_the_slot_to_a_waiter() {
    let pool = pool(1).await;
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { *pool.get().await.unwrap() })
    };
    settle().await;
    pool.manager().break_object(*held);
    drop(held);
    // The waiter was given the slot and created object 1.
    assert_eq!(waiter.await.unwrap(), 1);
    let s = pool.status();
    assert_eq!((s.size, s.discarded, s.created), (1, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_is_enforced_at_checkout_and_return() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .min_idle(1)
        .max_lifetime(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    // Expires while idle: replaced at checkout.
    sleep(Duration::from_secs(61)).await;
    let obj = pool.get().await.unwrap();
    assert_eq!(*obj, 1);
    // Expires while held: dropped at return.
    sleep(Duration::from_secs(61)).await;
    drop(obj);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (0, 0, 2));
}

/// A checkout cancelled during `recycle` gives its object back; if the
/// object passed its lifetime meanwhile, it is discarded then, not handed
/// to the waiter next in line (whose checkout does not look again).
async fn expires_during_a_cancelled_recycle(order: Order) {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .min_idle(1)
        .order(order)
        .max_lifetime(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    pool.manager()
        .recycle_delay_ns
        .store(4_000_000_000, Ordering::SeqCst);
    sleep(Duration::from_secs(59)).await;
    let mut first = Box::pin(pool.get());
    assert!(futures::poll!(first.as_mut()).is_pending(), "recycling 0");
    let second = {
        let pool = pool.clone();
        tokio::spawn(async move { *pool.get().await.unwrap() })
    };
    settle().await;
    assert_eq!(pool.status().waiting, 1);
    sleep(Duration::from_secs(2)).await; // object 0 is past its lifetime
    drop(first);
    assert_eq!(
        second.await.unwrap(),
        1,
        "a fresh object, not the expired one"
    );
    let s = pool.status();
    assert_eq!((s.size, s.created, s.discarded), (1, 2, 1), "{s:?}");
}

in_each_order!(expires_during_a_cancelled_recycle:
    an_object_expiring_in_a_cancelled_recycle_is_not_passed_on => Local,
    an_object_expiring_in_a_cancelled_recycle_is_not_passed_on_in_fifo_order => Fifo,
);

#[tokio::test(start_paused = true)]
async fn lifetime_jitter_spreads_deadlines_reproducibly() {
    async fn expiries(seed: u64) -> Vec<u64> {
        let pool = Pool::builder(Steered::default())
            .max_size(8)
            .min_idle(8)
            .max_lifetime(Duration::from_secs(100))
            .lifetime_jitter(Duration::from_secs(50))
            .jitter_seed(seed)
            .build()
            .await
            .unwrap();
        let start = Instant::now();
        let mut alive_at = Vec::new();
        // Step through time; record how many of the first 8 survive.
        for step in (50..=101).step_by(3) {
            tokio::time::sleep_until(start + Duration::from_secs(step)).await;
            let removed =
                pool.retain(|_, meta| meta.created() + Duration::from_secs(100) > Instant::now());
            let _ = removed;
            let held: Vec<_> = (0..8).filter_map(|_| pool.try_get().ok()).collect();
            alive_at.push(held.iter().filter(|o| ***o < 8).count() as u64);
        }
        alive_at
    }
    let a = expiries(1).await;
    let b = expiries(1).await;
    assert_eq!(a, b, "same seed, same deadlines");
    assert_eq!(a.first(), Some(&8));
    assert_eq!(a.last(), Some(&0));
    // Not all at once: some step sees part of them gone.
    assert!(a.iter().any(|n| *n > 0 && *n < 8), "{a:?}");
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_discards_above_min_idle() {
    let pool = Pool::builder(Steered::default())
        .max_size(3)
        .min_idle(1)
        .order(Order::Fifo)
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let c = pool.get().await.unwrap();
    drop((a, b, c));
    assert_eq!(pool.status().idle, 3);
    sleep(Duration::from_secs(11)).await;
    // The checkout meets idle objects past the limit and discards them
    // while the pool stays above min_idle.
    let obj = pool.get().await.unwrap();
    let s = pool.status();
    assert_eq!(s.discarded, 2, "{s:?}");
    assert_eq!(s.size, 1);
    assert_eq!(*obj, 2);
}

/// An object idle for exactly `idle_timeout` has not been idle longer than
/// it: it is kept, as a holder held for exactly `leak_threshold` is not
/// flagged. One idle a moment longer is discarded.
async fn idle_exactly_the_timeout(order: Order) {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .order(order)
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    drop(pool.get().await.unwrap());
    sleep(Duration::from_secs(10)).await;
    let obj = pool.get().await.unwrap();
    assert_eq!(*obj, 0, "idle for exactly the limit: kept");
    drop(obj);
    sleep(Duration::from_secs(10) + Duration::from_millis(1)).await;
    assert_eq!(*pool.get().await.unwrap(), 1, "idle longer: replaced");
}

in_each_order!(idle_exactly_the_timeout:
    an_object_idle_for_exactly_the_idle_timeout_is_kept => Local,
    an_object_idle_for_exactly_the_idle_timeout_is_kept_in_fifo_order => Fifo,
);

/// An object exactly `max_lifetime` old has not lived past it: it is kept,
/// at checkout and at return, as one idle for exactly `idle_timeout` is.
/// One a moment older is discarded.
async fn exactly_the_lifetime(order: Order) {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .order(order)
        .max_lifetime(Duration::from_secs(60))
        .build_lazy()
        .unwrap();
    let obj = pool.get().await.unwrap();
    sleep(Duration::from_secs(30)).await;
    drop(obj);
    sleep(Duration::from_secs(30)).await;
    let obj = pool.get().await.unwrap();
    assert_eq!(*obj, 0, "exactly max_lifetime old at checkout: kept");
    drop(obj);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (1, 1, 0), "and at return");
    sleep(Duration::from_millis(1)).await;
    assert_eq!(*pool.get().await.unwrap(), 1, "older: replaced");
    assert_eq!(pool.status().discarded, 1);
}

in_each_order!(exactly_the_lifetime:
    an_object_exactly_max_lifetime_old_is_kept => Local,
    an_object_exactly_max_lifetime_old_is_kept_in_fifo_order => Fifo,
);

/// In the default order idle objects wait in per-thread homes. An expired
/// one a checkout meets there counts as discarded, not as a checkout: the
/// counters show each `get` or `try_get` once, with what served it.
#[tokio::test(start_paused = true)]
async fn expired_objects_met_by_checkouts_count_once() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    drop((pool.get().await.unwrap(), pool.get().await.unwrap()));
    sleep(Duration::from_secs(11)).await;
    let fresh = pool.get().await.unwrap();
    let s = pool.status();
    assert_eq!((s.created, s.recycled, s.discarded), (3, 0, 2), "{s:?}");
    assert_eq!((s.size, s.wait_time.total()), (1, 3), "{s:?}");
    drop(fresh);

    let again = pool.try_get().unwrap();
    let s = pool.status();
    assert_eq!((s.recycled, s.wait_time.total()), (1, 4), "{s:?}");
    drop(again);
    sleep(Duration::from_secs(11)).await;
    assert!(matches!(
        pool.try_get(),
        Err(PoolError::Exhausted { in_use: 0, .. })
    ));
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 3), "{s:?}");
    assert_eq!((s.recycled, s.wait_time.total()), (1, 4), "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_holder_marks_its_object_dirty() {
    let pool = pool(1).await;
    let p = pool.clone();
    let crashed = tokio::spawn(async move {
        let _obj = p.get().await.unwrap();
        panic!("holder fails mid-operation");
    })
    .await;
    assert!(crashed.unwrap_err().is_panic());
    let s = pool.status();
    assert_eq!((s.size, s.idle), (1, 1));
    // try_get will not hand out a dirty object without a recycle, and
    // counts no checkout for the one it looked at.
    let seen = pool.status().wait_time.total();
    assert!(matches!(pool.try_get(), Err(PoolError::Exhausted { .. })));
    let s = pool.status();
    assert_eq!((s.idle, s.wait_time.total()), (1, seen), "{s:?}");
    let before = pool.manager().dirty_seen.load(Ordering::SeqCst);
    let obj = pool.get().await.unwrap();
    assert_eq!(pool.manager().dirty_seen.load(Ordering::SeqCst), before + 1);
    assert!(!obj.meta().is_dirty());
    drop(obj);
    assert!(pool.try_get().is_ok(), "clean again after a recycle");
}

/// A checkout dropped during `recycle` never reached a caller: the
/// object's use count leaves it out, while `recycle` itself sees the
/// checkout it checks counted.
#[tokio::test(start_paused = true)]
async fn a_checkout_dropped_in_recycle_is_not_a_use() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .build_lazy()
        .unwrap();
    assert_eq!(pool.get().await.unwrap().meta().use_count(), 1);
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000, Ordering::SeqCst);
    for _ in 0..3 {
        let mut get = Box::pin(pool.get());
        assert!(futures::poll!(get.as_mut()).is_pending(), "recycling");
        drop(get);
    }
    let obj = pool.get().await.unwrap();
    assert_eq!(*obj, 0);
    assert_eq!(
        obj.meta().use_count(),
        2,
        "one earlier checkout, and this one"
    );
    drop(obj);
    let obj = pool.try_get().unwrap();
    assert_eq!(obj.meta().use_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_borrowed_objects() {
    let pool = pool(2).await;
    let held = pool.get().await.unwrap();
    let queued = {
        let pool = pool.clone();
        let second = pool.get().await.unwrap();
        let waiter = tokio::spawn(async move {
            let r = pool.get().await;
            drop(second);
            r.map(|_| ())
        });
        settle().await;
        waiter
    };
    let returner = tokio::spawn(async move {
        sleep(Duration::from_secs(2)).await;
        drop(held);
    });
    let start = Instant::now();
    pool.close().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(matches!(queued.await.unwrap(), Err(PoolError::Closed)));
    returner.await.unwrap();
    assert!(matches!(pool.get().await, Err(PoolError::Closed)));
    assert!(matches!(pool.try_get(), Err(PoolError::Closed)));
    let s = pool.status();
    assert_eq!((s.size, s.idle), (0, 0));
}

/// A `get` spawned and run until it waits (on a create or a recycle).
async fn get_in_flight(pool: &Pool<Steered>) -> JoinHandle<Result<u64, PoolError<TestError>>> {
    let pool = pool.clone();
    let getter = tokio::spawn(async move { pool.get().await.map(|obj| *obj) });
    settle().await;
    getter
}

/// A `get` whose `recycle` fails after `close` makes no replacement: the
/// pool is closed, so it fails with `Closed` and `close` ends at once.
#[tokio::test(start_paused = true)]
async fn a_recycle_failing_after_close_creates_no_replacement() {
    let pool = pool(1).await;
    pool.manager()
        .recycle_delay_ns
        .store(10_000_000, Ordering::SeqCst);
    let getter = get_in_flight(&pool).await; // recycling object 0
    pool.manager().break_object(0);
    pool.close().await.unwrap();
    assert!(matches!(getter.await.unwrap(), Err(PoolError::Closed)));
    assert_eq!(pool.manager().created(), 1, "nothing created after close");
    let s = pool.status();
    assert_eq!((s.size, s.created, s.discarded), (0, 1, 1), "{s:?}");
}

/// A `get` still creating its object when `close` runs fails with
/// `Closed` once the create ends: the new object is dropped, not handed out
/// of a closed pool, and `close` ends then.
#[tokio::test(start_paused = true)]
async fn a_get_creating_when_close_runs_fails_with_closed() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .build_lazy()
        .unwrap();
    pool.manager()
        .create_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let getter = get_in_flight(&pool).await; // creating object 0
    let start = Instant::now();
    pool.close().await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "waited for the create"
    );
    assert!(matches!(getter.await.unwrap(), Err(PoolError::Closed)));
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.created), (0, 0, 1), "{s:?}");
}

/// As above, for a `get` whose `recycle` is under way when `close` runs.
#[tokio::test(start_paused = true)]
async fn a_get_recycling_when_close_runs_fails_with_closed() {
    let pool = pool(1).await;
    pool.manager()
        .recycle_delay_ns
        .store(10_000_000, Ordering::SeqCst);
    let getter = get_in_flight(&pool).await; // recycling object 0
    pool.close().await.unwrap();
    assert!(matches!(getter.await.unwrap(), Err(PoolError::Closed)));
    let s = pool.status();
    assert_eq!((s.size, s.in_use, s.created), (0, 0, 1), "{s:?}");
    assert_eq!(pool.manager().created(), 1);
}

#[tokio::test(start_paused = true)]
async fn close_gives_up_after_its_timeout() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .close_timeout(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    match pool.close().await {
        Err(PoolError::CloseTimeout {
            outstanding,
            waited,
        }) => {
            assert_eq!(outstanding, 1);
            assert_eq!(waited, Duration::from_secs(1));
        }
        other => panic!("expected a close timeout, got {other:?}"),
    }
    drop(held);
    assert_eq!(pool.status().size, 0, "dropped on return");
}

#[tokio::test(start_paused = true)]
async fn resize_down_while_objects_are_out() {
    let pool = pool(4).await;
    let held: Vec<_> = (0..4).map(|_| pool.try_get().unwrap()).collect();
    pool.resize(2);
    assert_eq!(pool.status().max_size, 2);
    drop(held);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (2, 2, 2));
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    assert!(matches!(
        pool.try_get(),
        Err(PoolError::Exhausted { max_size: 2, .. })
    ));
    // Growing again lets a queued caller create in the new room.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { *pool.get().await.unwrap() })
    };
    settle().await;
    pool.resize(3);
    assert_eq!(waiter.await.unwrap(), 4);
    drop((a, b));
}

/// A `get` whose object fails `recycle` after a resize below the objects
/// alive makes no replacement: that would keep the pool above its new
/// `max_size`. It frees the slot and waits in line for an object instead.
#[tokio::test(start_paused = true)]
async fn a_failed_recycle_after_resize_down_creates_no_replacement() {
    let pool = pool(2).await;
    let held = pool.get().await.unwrap();
    let other = 1 - *held;
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let getter = {
        let pool = pool.clone();
        tokio::spawn(async move { *pool.get().await.unwrap() })
    };
    settle().await; // recycling the other object
    pool.resize(1);
    pool.manager().break_object(other);
    sleep(Duration::from_secs(1)).await;
    settle().await;
    let s = pool.status();
    assert_eq!((s.size, s.max_size, s.created), (1, 1, 2), "{s:?}");
    assert_eq!((s.waiting, s.discarded), (1, 1), "{s:?}");
    assert!(!getter.is_finished());
    pool.manager().recycle_delay_ns.store(0, Ordering::SeqCst);
    let id = *held;
    drop(held);
    assert_eq!(getter.await.unwrap(), id, "served the object given back");
    let s = pool.status();
    assert_eq!((s.size, s.created, s.discarded), (1, 2, 1), "{s:?}");
    // The first get, and each of the two turns of the second.
    assert_eq!(s.wait_time.total(), 3, "{s:?}");
}

/// A lazy pool of two objects, both checked out, whose gets wait at most
/// `wait`.
async fn both_held(wait: Duration) -> (Pool<Steered>, Pooled<Steered>, Pooled<Steered>) {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .wait_timeout(wait)
        .build_lazy()
        .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    (pool, a, b)
}

/// A `get` in a task of its own, which holds what it gets.
fn held_get(pool: &Pool<Steered>) -> tokio::task::JoinHandle<Pooled<Steered>> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.get().await.unwrap() })
}

/// A `get` in a task of its own, reporting how it ended and when.
fn timed_get(
    pool: &Pool<Steered>,
) -> tokio::task::JoinHandle<(Result<(), PoolError<TestError>>, Instant)> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let r = pool.get().await.map(|_| ());
        (r, Instant::now())
    })
}

/// Both objects of a pool with 10 s waits out, and a timed `get` queued at
/// the start: after 4 s, object `b` (its id given) is handed to the `get`,
/// which recycles it for up to 1 s.
async fn a_getter_recycling() -> (
    Pool<Steered>,
    Pooled<Steered>,
    tokio::task::JoinHandle<(Result<(), PoolError<TestError>>, Instant)>,
    u64,
    Instant,
) {
    let (pool, a, b) = both_held(Duration::from_secs(10)).await;
    let start = Instant::now();
    let getter = timed_get(&pool);
    settle().await; // in line from the start
    sleep(Duration::from_secs(4)).await;
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let id = *b;
    drop(b); // handed to the getter
    settle().await;
    (pool, a, getter, id, start)
}

/// A `get` that queued, was handed an object that then failed `recycle`
/// after a resize down, and so waits in line again, waits only until the
/// deadline it got when it first queued: `wait_timeout` bounds its wait in
/// all, not each turn.
#[tokio::test(start_paused = true)]
async fn a_new_turn_after_a_failed_recycle_keeps_the_first_deadline() {
    let (pool, a, getter, id, start) = a_getter_recycling().await;
    pool.resize(1);
    pool.manager().break_object(id);
    let (r, at) = getter.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })), "{r:?}");
    assert_eq!(at - start, Duration::from_secs(10), "the first deadline");
    let s = pool.status();
    assert_eq!((s.size, s.discarded, s.timeouts), (1, 1, 1), "{s:?}");
    drop(a);
}

/// The same with another caller queued meanwhile: the getter waits in line
/// again ahead of it (it queued first) and still times out at its first
/// deadline, not at the later deadline of the caller behind it.
#[tokio::test(start_paused = true)]
async fn a_new_turn_behind_a_later_waiter_keeps_the_first_deadline() {
    let (pool, a, getter, id, start) = a_getter_recycling().await;
    let later = timed_get(&pool); // in line from 4 s: deadline 14 s
    settle().await;
    pool.resize(1);
    pool.manager().break_object(id);
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(pool.status().waiting, 2, "the getter is in line again");
    let (r, at) = getter.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })), "{r:?}");
    assert_eq!(at - start, Duration::from_secs(10), "the first deadline");
    let (r, at) = later.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })), "{r:?}");
    assert_eq!(at - start, Duration::from_secs(14));
    drop(a);
}

/// Served in the order they first queued: an object given back goes to
/// the getter that takes a new turn before the caller queued after it.
#[tokio::test(start_paused = true)]
async fn a_new_turn_is_served_before_those_who_queued_later() {
    let (pool, a, b) = both_held(Duration::from_secs(60)).await;
    let getter = held_get(&pool);
    settle().await;
    sleep(Duration::from_secs(1)).await;
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let broken = *b;
    drop(b); // handed to the getter, which recycles it for up to 1 s
    settle().await;
    let later = held_get(&pool);
    settle().await;
    pool.resize(1);
    pool.manager().break_object(broken);
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(pool.status().waiting, 2);
    pool.manager().recycle_delay_ns.store(0, Ordering::SeqCst);
    let id = *a;
    drop(a);
    settle().await;
    assert!(
        getter.is_finished() && !later.is_finished(),
        "the getter first"
    );
    drop(getter.await.unwrap());
    assert_eq!(*later.await.unwrap(), id);
}

/// A waiter handed a slot just before a resize below the pool makes
/// nothing in it (the object would be dropped as it came back): it gives
/// the slot up and waits at the head of the queue again, ahead of those
/// queued after it, for an object given back.
#[tokio::test(start_paused = true)]
async fn a_slot_handed_over_before_a_resize_down_makes_nothing() {
    let (pool, a, b) = both_held(Duration::from_secs(60)).await;
    let first = held_get(&pool);
    settle().await;
    let second = held_get(&pool);
    settle().await;
    b.discard(); // its slot goes to the first waiter
    pool.resize(1);
    settle().await;
    let s = pool.status();
    assert_eq!((s.size, s.waiting, s.created), (1, 2, 2), "{s:?}");
    let id = *a;
    drop(a);
    let got = first.await.unwrap();
    assert_eq!(*got, id, "the first waiter, served first");
    settle().await;
    assert!(!second.is_finished());
    drop(got);
    assert_eq!(*second.await.unwrap(), id);
    let s = pool.status();
    assert_eq!((s.size, s.created, s.timeouts), (1, 2, 0), "{s:?}");
}

/// The waiter put back at the head keeps its deadline: it times out
/// first, at its own time, and the one behind it at its own.
#[tokio::test(start_paused = true)]
async fn a_slot_handed_back_keeps_the_waiter_deadline() {
    let (pool, a, b) = both_held(Duration::from_secs(10)).await;
    let start = Instant::now();
    let first = timed_get(&pool);
    settle().await;
    sleep(Duration::from_secs(3)).await;
    let second = timed_get(&pool);
    settle().await;
    b.discard();
    pool.resize(1);
    let (r, at) = first.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })));
    assert_eq!(at - start, Duration::from_secs(10));
    let (r, at) = second.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })));
    assert_eq!(at - start, Duration::from_secs(13));
    assert_eq!(pool.status().timeouts, 2);
    drop(a);
}

/// A waiter handed a slot before a resize down, that gives it back only
/// after a caller who queued before it took a new turn, goes back in line
/// behind that caller: each times out at its own deadline, the earlier
/// one first.
#[tokio::test(start_paused = true)]
async fn a_slot_handed_back_after_an_earlier_new_turn_queues_behind_it() {
    let pool = Pool::builder(Steered::default())
        .max_size(3)
        .wait_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let c = pool.get().await.unwrap();
    let start = Instant::now();
    let first = timed_get(&pool);
    settle().await; // in line from 0 s: deadline 10 s
    sleep(Duration::from_secs(1)).await;
    pool.manager()
        .recycle_delay_ns
        .store(1_000_000_000, Ordering::SeqCst);
    let id = *c;
    drop(c); // handed to `first`, which recycles it for up to 1 s
    settle().await;
    pool.manager().break_object(id); // and fails
    let mut second = Box::pin(pool.get()); // in line from 1 s: deadline 11 s
    assert!(futures::poll!(second.as_mut()).is_pending());
    b.discard(); // its slot goes to `second`, not polled yet
    pool.resize(1);
    sleep(Duration::from_secs(1)).await; // `first` fails its recycle: a new turn
    settle().await;
    assert_eq!(pool.status().waiting, 1);
    // `second` gives its slot back and queues again.
    assert!(futures::poll!(second.as_mut()).is_pending());
    assert_eq!(pool.status().waiting, 2);
    let (r, at) = first.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })), "{r:?}");
    assert_eq!(at - start, Duration::from_secs(10), "its own deadline");
    let r = second.await.map(|_| ());
    assert!(matches!(r, Err(PoolError::Timeout { .. })), "{r:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(11));
    drop(a);
}

#[tokio::test(start_paused = true)]
async fn detach_and_discard_free_their_slots() {
    let pool = pool(2).await;
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let id = *a;
    assert_eq!(a.detach(), id);
    b.discard();
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1));
    assert_eq!(*pool.get().await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn holders_name_the_caller_and_flag_leaks() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .leak_threshold(Duration::from_secs(30))
        .build_lazy()
        .unwrap();
    let leaked = pool.get().await.unwrap();
    let line = line!() - 1;
    sleep(Duration::from_secs(20)).await;
    let fresh = pool.get().await.unwrap();
    sleep(Duration::from_secs(15)).await;
    let holders = pool.holders();
    assert_eq!(holders.len(), 2);
    let old = holders.iter().find(|h| h.leaked).expect("one leak");
    assert_eq!(old.location.line(), line);
    assert!(old.location.file().ends_with("pool.rs"));
    assert_eq!(old.held_for, Some(Duration::from_secs(35)));
    assert_eq!(holders.iter().filter(|h| h.leaked).count(), 1);
    drop((leaked, fresh));
    assert!(pool.holders().is_empty());
}

#[tokio::test(start_paused = true)]
async fn retain_drops_idle_objects_that_fail_the_predicate() {
    let pool = pool(4).await;
    let removed = pool.retain(|id, _| id % 2 == 0);
    assert_eq!(removed, 2);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (2, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn lifo_order_reuses_the_last_returned_object() {
    let pool = Pool::builder(Steered::default())
        .max_size(3)
        .min_idle(3)
        .order(Order::Lifo)
        .build()
        .await
        .unwrap();
    let a = pool.get().await.unwrap();
    assert_eq!(*a, 2);
    drop(a);
    assert_eq!(*pool.get().await.unwrap(), 2);
    let fifo = pool_fifo().await;
    let first = *fifo.get().await.unwrap();
    assert_eq!(first, 0);
    assert_eq!(*fifo.get().await.unwrap(), 1, "FIFO rotates");
}

async fn pool_fifo() -> Pool<Steered> {
    Pool::builder(Steered::default())
        .max_size(3)
        .min_idle(3)
        .order(Order::Fifo)
        .build()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn min_idle_is_prefilled_and_topped_up_at_checkout() {
    let pool = pool(2).await;
    assert_eq!(pool.status().idle, 2);
    let a = pool.get().await.unwrap();
    a.discard(); // size 1, below min_idle 2
    let b = pool.get().await.unwrap();
    // The checkout started a task that creates one more for the idle set.
    settle().await;
    let s = pool.status();
    assert_eq!((s.size, s.idle), (2, 1), "{s:?}");
    drop(b);
}

/// A top-up task dropped before it ran (its runtime shut down) gives its
/// reserved slot back.
#[test]
fn a_top_up_dropped_before_it_ran_gives_its_slot_back() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (pool, held) = rt.block_on(async {
        let pool = pool(2).await;
        pool.get().await.unwrap().discard(); // size 1: below min_idle
        let held = pool.get().await.unwrap();
        (pool, held)
    });
    // The task was spawned, not run: its slot is still reserved.
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (2, 0, 2), "{s:?}");
    drop(rt);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 0, 1), "{s:?}");
    drop(held);
    assert_eq!(pool.status().idle, 1);
}

/// The top-up a checkout starts runs beside it: with the backend hanging,
/// the checkout still gets the idle object at once, and the top-up gives
/// its slot back when its create times out.
#[tokio::test(start_paused = true)]
async fn a_checkout_below_min_idle_does_not_wait_for_its_top_up() {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .min_idle(2)
        .create_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    pool.get().await.unwrap().discard(); // size 1: below min_idle
    pool.manager()
        .create_delay_ns
        .store(u64::MAX / 2, Ordering::SeqCst);
    let start = Instant::now();
    let obj = pool.get().await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(*obj, 0, "the idle object");
    settle().await;
    assert_eq!(pool.status().size, 2, "a slot reserved for the top-up");
    sleep(Duration::from_secs(11)).await;
    let s = pool.status();
    assert_eq!(
        (s.size, s.in_use),
        (1, 1),
        "the failed top-up gave it back: {s:?}"
    );
    drop(obj);
}

/// The top-up a checkout starts does not create once the pool is closed
/// (before the task ran): its slot is given back, and `close` ends.
#[tokio::test(start_paused = true)]
async fn a_top_up_that_runs_after_close_creates_nothing() {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .min_idle(2)
        .build()
        .await
        .unwrap();
    pool.get().await.unwrap().discard(); // size 1: below min_idle
    let obj = pool.get().await.unwrap(); // its top-up task has not run yet
    let mut closing = Box::pin(pool.close());
    assert!(futures::poll!(closing.as_mut()).is_pending());
    drop(obj);
    closing.await.unwrap();
    settle().await;
    assert_eq!(pool.manager().created(), 2, "nothing created after close");
    let s = pool.status();
    assert_eq!((s.size, s.created), (0, 2), "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn build_reports_prefill_failures() {
    let m = Steered::default();
    m.fail_create.store(true, Ordering::SeqCst);
    let err = Pool::builder(m).min_idle(2).build().await.unwrap_err();
    assert!(matches!(
        err,
        aqueduct_pool::BuildError::Prefill {
            created: 0,
            min_idle: 2,
            ..
        }
    ));
    let err = Pool::builder(Steered::default())
        .max_size(0)
        .build_lazy()
        .unwrap_err();
    assert!(matches!(err, aqueduct_pool::BuildError::ZeroMaxSize));
}

#[tokio::test(start_paused = true)]
async fn wait_histogram_buckets_queued_waits() {
    let pool = pool(1).await;
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { drop(pool.get().await.unwrap()) })
    };
    settle().await;
    sleep(Duration::from_millis(5)).await;
    drop(held);
    waiter.await.unwrap();
    let h = pool.status().wait_time;
    assert_eq!(h.buckets[0], 1, "the first checkout did not wait");
    assert_eq!(
        h.buckets[WaitHistogram::bucket_of(Duration::from_millis(5))],
        1
    );
}

/// A wait of exactly a bucket's bound falls in that bucket, a nanosecond
/// more in the next; a `try_get` counts as no wait; a `get` that timed out
/// or was dropped while it waited is not counted, as `Status` says.
#[tokio::test(start_paused = true)]
async fn wait_histogram_edges_and_what_it_leaves_out() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(100))
        .build_lazy()
        .unwrap();
    let mut expected = [0u64; 8];
    let mut held = pool.get().await.unwrap();
    expected[0] += 1;
    for (i, bound) in WaitHistogram::BOUNDS.iter().enumerate().take(7).skip(1) {
        for wait in [*bound, *bound + Duration::from_nanos(1)] {
            let waiter = {
                let pool = pool.clone();
                tokio::spawn(async move { pool.get().await.unwrap() })
            };
            settle().await;
            tokio::time::advance(wait).await;
            drop(held);
            held = waiter.await.unwrap();
            let bucket = if wait == *bound { i } else { i + 1 };
            assert_eq!(WaitHistogram::bucket_of(wait), bucket);
            expected[bucket] += 1;
            assert_eq!(
                pool.status().wait_time.buckets,
                expected,
                "a wait of {wait:?}"
            );
        }
    }
    // A get that times out, and one dropped while it waits: not counted.
    let timed_out = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let kept = timed_out.get().await.unwrap();
    assert!(timed_out.get().await.is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), timed_out.get())
            .await
            .is_err()
    );
    let s = timed_out.status();
    assert_eq!(
        (s.timeouts, s.wait_time.buckets),
        (1, [1, 0, 0, 0, 0, 0, 0, 0])
    );
    // A try_get that hands out an object: no wait.
    drop(kept);
    drop(timed_out.try_get().unwrap());
    assert_eq!(
        timed_out.status().wait_time.buckets,
        [2, 0, 0, 0, 0, 0, 0, 0]
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_threads_many_tasks_end_balanced() {
    let pool = pool(4).await;
    let mut set = JoinSet::new();
    for _ in 0..32 {
        let pool = pool.clone();
        set.spawn(async move {
            for _ in 0..500 {
                let obj = pool.get().await.unwrap();
                if *obj % 2 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.in_use, s.waiting, s.created),
        (4, 4, 0, 0, 4)
    );
    assert_eq!(s.wait_time.total(), 32 * 500);
}

#[tokio::test(start_paused = true)]
async fn lifo_pools_shrink_when_load_drops() {
    // The others go stale at the far end and are reaped on the way.
    shrinks_under_light_load(Order::Lifo, 6).await;
}

#[tokio::test(start_paused = true)]
async fn local_pools_shrink_when_load_drops() {
    // Each checkout looks at one other idle object, so the stale ones are
    // all found.
    shrinks_under_light_load(Order::Local, 8).await;
}

/// Four objects idle, then `rounds` single checkouts 4 s apart (idle
/// timeout 10 s): one caller at a time keeps reusing the same hot object,
/// and the pool shrinks to `min_idle`.
async fn shrinks_under_light_load(order: Order, rounds: usize) {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .min_idle(1)
        .order(order)
        .idle_timeout(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    let all: Vec<_> = futures::future::join_all((0..4).map(|_| pool.get())).await;
    drop(all);
    assert_eq!(pool.status().idle, 4);
    for _ in 0..rounds {
        sleep(Duration::from_secs(4)).await;
        drop(pool.get().await.unwrap());
    }
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (1, 1, 3), "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn local_order_hands_a_thread_back_the_object_it_returned() {
    let pool = pool(3).await;
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let (ida, idb) = (*a, *b);
    drop(a);
    let again = pool.get().await.unwrap();
    assert_eq!(*again, ida, "the hot object, not the one idle longest");
    drop((again, b));
    for _ in 0..5 {
        assert_eq!(*pool.get().await.unwrap(), idb, "last given back");
    }
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (3, 3, 0), "{s:?}");
    // Every checkout counts, whether it took the lock or not.
    assert_eq!((s.recycled, s.wait_time.total()), (8, 8), "{s:?}");
}

/// Checks out and gives back all `n` objects, so they sit in the lock-free
/// idle set of a pool in local order rather than under the lock.
async fn park_all<M: aqueduct_pool::Manager>(pool: &Pool<M>, n: usize) {
    let all: Vec<_> = futures::future::join_all((0..n).map(|_| pool.get())).await;
    drop(all);
    let s = pool.status();
    assert_eq!((s.size, s.idle), (n, n), "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn objects_parked_lock_free_are_seen_by_every_pool_wide_operation() {
    let pool = pool(4).await;
    park_all(&pool, 4).await;
    assert_eq!(pool.retain(|id, _| id % 2 == 0), 2);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (2, 2, 2), "{s:?}");

    let held = pool.try_get().unwrap();
    assert_eq!(*held % 2, 0);
    drop(held);

    pool.resize(1);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (1, 1, 3), "{s:?}");

    park_all(&pool, 1).await;
    pool.close().await.unwrap();
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (0, 0, 4), "{s:?}");
    assert!(matches!(pool.get().await, Err(PoolError::Closed)));
}

#[tokio::test(start_paused = true)]
async fn a_pool_below_min_idle_tops_up_even_with_objects_parked() {
    let pool = pool(3).await;
    park_all(&pool, 3).await;
    pool.get().await.unwrap().discard();
    assert_eq!(pool.status().size, 2);
    let held = pool.get().await.unwrap();
    settle().await;
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.created), (3, 2, 4), "{s:?}");
    drop(held);
}

/// A pool of at most 4 objects prefilled to `min_idle` 2, and its
/// background top-up task.
async fn topped_up_in_background() -> (Pool<Steered>, tokio::task::JoinHandle<()>) {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .min_idle(2)
        .build()
        .await
        .unwrap();
    let task = pool.top_up_in_background();
    (pool, task)
}

#[tokio::test(start_paused = true)]
async fn a_background_top_up_replaces_a_broken_object_at_once() {
    let (pool, task) = topped_up_in_background().await;
    let held = pool.get().await.unwrap();
    pool.manager().break_object(*held);
    drop(held); // broken: discarded on return, the pool is at 1
    settle().await;
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.created, s.discarded),
        (2, 2, 3, 1),
        "{s:?}"
    );
    // Without checkouts in between: the task made it, not a `get`.
    assert_eq!(s.wait_time.total(), 1);
    drop(pool);
    task.await.unwrap();
}

/// Its first create panics; the later ones make objects.
#[derive(Default)]
struct PanicsOnce {
    calls: std::sync::atomic::AtomicU32,
}

impl aqueduct_pool::Manager for PanicsOnce {
    type Object = u32;
    type Error = TestError;

    async fn create(&self) -> Result<u32, TestError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(n > 0, "the backend's client library panics");
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn a_background_top_up_outlives_a_panicking_create() {
    let pool = Pool::builder(PanicsOnce::default())
        .max_size(2)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    let task = pool.top_up_in_background();
    settle().await;
    assert!(!task.is_finished(), "the task ended with the panic");
    assert_eq!(
        pool.status().size,
        0,
        "the panicking create's slot is freed"
    );
    // Taken as a failed create: the next try comes after the first pause.
    sleep(Duration::from_millis(100)).await;
    settle().await;
    let s = pool.status();
    assert_eq!((s.size, s.idle), (2, 2), "{s:?}");
    pool.close().await.unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_background_top_up_retries_failed_creates_and_ends_with_close() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    pool.manager().fail_create.store(true, Ordering::SeqCst);
    let task = pool.top_up_in_background();
    settle().await;
    assert_eq!(pool.status().size, 0, "the first try failed");
    // Pauses of 100, 200, 400 ms: tries at 100, 300 and 700 ms, all failed.
    sleep(Duration::from_millis(750)).await;
    settle().await;
    assert_eq!(pool.status().size, 0);
    pool.manager().fail_create.store(false, Ordering::SeqCst);
    // The next try, 800 ms after the last (at 1500 ms), makes both.
    sleep(Duration::from_millis(749)).await;
    settle().await;
    assert_eq!(pool.status().size, 0, "still pausing");
    sleep(Duration::from_millis(2)).await;
    settle().await;
    assert_eq!(pool.status().size, 2);
    pool.close().await.unwrap();
    task.await.unwrap();
}

/// A pool below `min_idle` whose creates fail, and its background top-up
/// task 7 s in: it tried at 0, 100, 300, 700, 1500, 3100 and 6300 ms, and
/// is in a pause of 6.4 s.
async fn top_up_pausing_after_failures() -> (Pool<Steered>, tokio::task::JoinHandle<()>) {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .min_idle(2)
        .build_lazy()
        .unwrap();
    pool.manager().fail_create.store(true, Ordering::SeqCst);
    let task = pool.top_up_in_background();
    sleep(Duration::from_millis(7000)).await;
    settle().await;
    assert!(!task.is_finished());
    (pool, task)
}

#[tokio::test(start_paused = true)]
async fn a_background_top_up_pausing_after_failures_ends_at_once_with_close() {
    let (pool, task) = top_up_pausing_after_failures().await;
    // A checkout wakes the task (the pool is below `min_idle`), which goes
    // on pausing: it makes nothing though creates would now succeed.
    pool.manager().fail_create.store(false, Ordering::SeqCst);
    assert!(pool.try_get().is_err());
    settle().await;
    assert_eq!(pool.status().size, 0, "still pausing");
    let closed = Instant::now();
    pool.close().await.unwrap();
    task.await.unwrap();
    assert_eq!(closed.elapsed(), Duration::ZERO, "ended with the close");
}

#[tokio::test(start_paused = true)]
async fn a_background_top_up_pausing_after_failures_ends_at_once_with_the_pool() {
    let (pool, task) = top_up_pausing_after_failures().await;
    let dropped = Instant::now();
    drop(pool);
    task.await.unwrap();
    assert_eq!(dropped.elapsed(), Duration::ZERO, "ended with the pool");
}

#[tokio::test(start_paused = true)]
async fn an_object_returned_after_close_is_discarded_not_parked() {
    let pool = pool(2).await;
    park_all(&pool, 2).await;
    let held = pool.get().await.unwrap();
    let closing = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close().await })
    };
    settle().await;
    assert_eq!(pool.status().size, 1, "the parked one went at once");
    drop(held);
    closing.await.unwrap().unwrap();
    assert_eq!(pool.status().size, 0);
}

#[tokio::test(start_paused = true)]
async fn holders_are_tracked_for_objects_taken_without_the_lock() {
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .leak_threshold(Duration::from_secs(30))
        .build_lazy()
        .unwrap();
    park_all(&pool, 2).await;
    let a = pool.get().await.unwrap();
    let line = line!() - 1;
    sleep(Duration::from_secs(31)).await;
    let holders = pool.holders();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].location.line(), line);
    assert_eq!(holders[0].held_for, Some(Duration::from_secs(31)));
    assert!(holders[0].leaked);
    drop(a);
    assert!(pool.holders().is_empty());
}

/// Asserts that the one checkout listed shows as held for the 3 s its
/// caller had it, not as a leak.
fn assert_held_3s(holders: &[Holder]) {
    assert_eq!(holders[0].held_for, Some(Duration::from_secs(3)));
    assert!(!holders[0].leaked, "held for 3 s: {holders:?}");
}

/// Holds `pool`'s one object 3 s, checks `holders()`, then queues a
/// checkout that holds what it is handed 3 s, gives the object back with
/// `give_back` (which hands the queued caller an object or a slot), and
/// checks `holders()` as the queued caller saw it.
async fn held_3s_direct_and_queued(pool: &Pool<Steered>, give_back: fn(Pooled<Steered>)) {
    let a = pool.get().await.unwrap();
    sleep(Duration::from_secs(3)).await;
    assert_held_3s(&pool.holders());
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let b = pool.get().await.unwrap();
            sleep(Duration::from_secs(3)).await;
            let holders = pool.holders();
            drop(b);
            holders
        })
    };
    settle().await;
    give_back(a);
    assert_held_3s(&waiter.await.unwrap());
}

/// A checkout is held from the moment its caller has the object: the time
/// spent creating it (queued or not) is not counted as holding, or a slow
/// backend would have every fresh checkout reported as a leak.
#[tokio::test(start_paused = true)]
async fn holding_starts_when_a_created_object_is_handed_over() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .leak_threshold(Duration::from_secs(10))
        .build_lazy()
        .unwrap();
    pool.manager()
        .create_delay_ns
        .store(8_000_000_000, Ordering::SeqCst); // 8 s per create
    // Each checkout creates: the queued one is handed a slot to create in.
    held_3s_direct_and_queued(&pool, Pooled::discard).await;
}

/// Nor is the time spent recycling an idle object (a ping, say): a slow
/// `recycle` must not have every checkout of an idle object reported as a
/// leak either, whether the checkout queued or not.
#[tokio::test(start_paused = true)]
async fn holding_starts_when_a_recycled_object_is_handed_over() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .leak_threshold(Duration::from_secs(10))
        .recycle_timeout(Duration::from_secs(60))
        .build_lazy()
        .unwrap();
    drop(pool.get().await.unwrap());
    // The first recycle takes 8 s, later ones between 4 and 8 s.
    pool.manager()
        .recycle_delay_ns
        .store(8_000_000_000, Ordering::SeqCst);
    // Each checkout recycles: the queued one is handed the object.
    held_3s_direct_and_queued(&pool, drop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_given_back_while_others_queue_reach_the_queue() {
    // One object, two threads, many tasks: checkouts keep meeting a queue
    // that forms and drains, so give-backs keep racing callers who find the
    // pool empty and queue. An object left idle while a caller waits would
    // show as that caller's timeout.
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(20))
        .build_lazy()
        .unwrap();
    let mut set = JoinSet::new();
    for t in 0..8_u32 {
        let pool = pool.clone();
        set.spawn(async move {
            for i in 0..2_000_u32 {
                let obj = pool.get().await.unwrap();
                if (i + t) % 3 == 0 {
                    tokio::task::yield_now().await;
                }
                drop(obj);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.waiting, s.timeouts),
        (1, 1, 0, 0),
        "{s:?}"
    );
    assert!(s.wait_time.queued() > 0, "some checkouts queued: {s:?}");
}

#[tokio::test(start_paused = true)]
async fn prefilled_objects_idle_expire_too() {
    let pool = Pool::builder(Steered::default())
        .max_size(3)
        .min_idle(3)
        .idle_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    pool.resize(3);
    sleep(Duration::from_secs(6)).await;
    // min_idle 3 keeps them all: expiry never goes below it.
    drop(pool.get().await.unwrap());
    assert_eq!(pool.status().discarded, 0);
}

#[tokio::test(start_paused = true)]
async fn replenish_tops_up_on_demand() {
    let pool = pool(3).await;
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    a.discard();
    b.discard();
    assert_eq!(pool.status().size, 1);
    assert_eq!(pool.replenish().await.unwrap(), 2);
    let s = pool.status();
    assert_eq!((s.size, s.idle), (3, 3));
    assert_eq!(pool.replenish().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn each_waiter_times_out_at_its_own_deadline() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_millis(200))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..4u64 {
        let pool = pool.clone();
        set.spawn(async move {
            sleep(Duration::from_millis(50 * i)).await;
            let r = pool.get().await;
            assert!(matches!(r, Err(PoolError::Timeout { .. })));
            (i, t0.elapsed())
        });
    }
    let mut ends = Vec::new();
    while let Some(r) = set.join_next().await {
        ends.push(r.unwrap());
    }
    ends.sort_unstable();
    let expected: Vec<_> = (0..4u64)
        .map(|i| (i, Duration::from_millis(200 + 50 * i)))
        .collect();
    assert_eq!(ends, expected);
    assert_eq!(pool.status().timeouts, 4);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_behind_a_served_head_still_times_out() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_millis(100))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let t0 = Instant::now();
    let head = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let obj = pool.get().await.unwrap();
            // Keeps the object past the second waiter's deadline.
            sleep(Duration::from_secs(1)).await;
            drop(obj);
        })
    };
    settle().await;
    sleep(Duration::from_millis(30)).await;
    let second = {
        let pool = pool.clone();
        tokio::spawn(async move { (pool.get().await.map(|_| ()), t0.elapsed()) })
    };
    settle().await;
    sleep(Duration::from_millis(10)).await;
    drop(held); // the head is served; the alarm was set for its deadline
    let (r, at) = second.await.unwrap();
    assert!(matches!(r, Err(PoolError::Timeout { .. })));
    assert_eq!(at, Duration::from_millis(130));
    head.await.unwrap();
}

#[test]
fn a_pool_outlives_the_runtime_it_first_waited_on() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_millis(20))
        .build_lazy()
        .unwrap();
    for _ in 0..3 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let held = pool.get().await.unwrap();
            let t = Instant::now();
            assert!(matches!(pool.get().await, Err(PoolError::Timeout { .. })));
            assert_eq!(t.elapsed(), Duration::from_millis(20));
            drop(held);
        });
        drop(rt);
    }
    assert_eq!(pool.status().timeouts, 3);
}

#[test]
fn an_alarm_left_on_a_dropped_runtime_is_handed_on() {
    let pool = Pool::builder(Steered::default())
        .max_size(1)
        .wait_timeout(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let rt = paused();
    let held = rt.block_on(pool.get()).unwrap();
    // A waiter sets the alarm, then gives up early; the runtime goes away
    // with the alarm still set.
    rt.block_on(async {
        let r = tokio::time::timeout(Duration::from_millis(10), pool.get()).await;
        assert!(r.is_err());
    });
    drop(rt);
    let rt = paused();
    rt.block_on(async {
        let t = Instant::now();
        assert!(matches!(pool.get().await, Err(PoolError::Timeout { .. })));
        assert_eq!(t.elapsed(), Duration::from_secs(1));
    });
    drop(held);
}

/// Creation number `fail_at` (0-based) fails, the others succeed.
struct FailAt {
    calls: std::sync::atomic::AtomicU64,
    fail_at: u64,
}

impl aqueduct_pool::Manager for FailAt {
    type Object = u64;
    type Error = TestError;

    async fn create(&self) -> Result<u64, TestError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n == self.fail_at {
            Err(TestError("backend refused a top-up"))
        } else {
            Ok(n)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_names_the_create_failure_nobody_saw() {
    let pool = Pool::builder(FailAt {
        calls: 0.into(),
        fail_at: 1,
    })
    .max_size(2)
    .min_idle(2)
    .wait_timeout(Duration::from_millis(50))
    .build_lazy()
    .unwrap();
    // The first checkout serves itself and starts a top-up: that create
    // fails, but the checkout succeeds.
    let a = pool.get().await.unwrap();
    settle().await;
    assert_eq!(pool.status().size, 1);
    let b = pool.get().await.unwrap();
    match pool.get().await {
        Err(PoolError::Timeout {
            last_create_error: Some(e),
            ..
        }) => assert_eq!(*e, TestError("backend refused a top-up")),
        other => panic!("expected a timeout naming the failure, got {other:?}"),
    }
    drop((a, b));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_retain_predicate_leaves_the_pool_intact() {
    panicking_retain(pool(3).await).await;
}

/// The same with the idle objects in the homes (given back after a
/// checkout), which `retain` first brings under the lock.
#[tokio::test(start_paused = true)]
async fn a_panicking_retain_predicate_leaves_objects_from_the_homes_intact() {
    let pool = pool(3).await;
    let all: Vec<_> = (0..3).map(|_| pool.try_get().unwrap()).collect();
    drop(all);
    panicking_retain(pool).await;
}

/// `retain` whose predicate panics at object 1 of 3: nothing is lost or
/// discarded, and the pool serves all three objects, then retains again.
async fn panicking_retain(pool: Pool<Steered>) {
    let p = pool.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        p.retain(|id, _| {
            if *id == 1 {
                panic!("predicate fails")
            } else {
                false
            }
        })
    }));
    assert!(r.is_err());
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (3, 3, 0));
    let all: Vec<_> = (0..3).map(|_| pool.try_get().unwrap()).collect();
    assert_eq!(all.len(), 3);
    drop(all);
    let all = futures::future::try_join_all((0..3).map(|_| pool.get())).await;
    assert_eq!(all.unwrap().len(), 3, "get serves them too");
    assert_eq!(pool.retain(|id, _| *id != 1), 1, "retain works again");
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.discarded), (2, 2, 1));
}

#[tokio::test]
async fn a_task_looping_on_free_objects_lets_others_run() {
    let pool = pool(2).await;
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
    // Objects are always free here, so no `get` ever waits: only the
    // cooperative budget lets the spawned task in.
    let mut checkouts = 0;
    while !ran.load(Ordering::SeqCst) {
        drop(pool.get().await.unwrap());
        checkouts += 1;
        assert!(
            checkouts < 10_000,
            "the looping task never gave its worker up"
        );
    }
    assert!(checkouts <= 256, "yielded only after {checkouts} checkouts");
}

/// A manager that says when it is dropped, that is when its pool is freed.
struct Flagged(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Flagged {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl aqueduct_pool::Manager for Flagged {
    type Object = u8;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<u8, Self::Error> {
        Ok(0)
    }
}

async fn outlived_by_its_objects(order: Order) {
    let freed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pool = Pool::builder(Flagged(Arc::clone(&freed)))
        .max_size(4)
        .order(order)
        .build_lazy()
        .unwrap();
    // Objects through every path: made, parked and taken back, idle.
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    drop(b);
    let b = pool.get().await.unwrap();
    drop(pool.get().await.unwrap());
    let mut c = pool.clone().try_get().unwrap();
    drop(pool);
    // No handle left: the objects out still work and keep the pool alive.
    *c += 1;
    drop(c);
    assert!(
        !freed.load(Ordering::SeqCst),
        "freed under a checked-out object"
    );
    drop(a);
    assert!(!freed.load(Ordering::SeqCst));
    drop(b);
    assert!(
        freed.load(Ordering::SeqCst),
        "the pool outlived its last object"
    );
}

in_each_order!(outlived_by_its_objects:
    a_pool_lives_while_its_objects_are_out_and_no_longer_in_local_order => Local,
    a_pool_lives_while_its_objects_are_out_and_no_longer_in_fifo_order => Fifo,
);

#[tokio::test(start_paused = true)]
async fn a_pool_with_idle_objects_is_freed_with_its_last_handle() {
    let freed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pool = Pool::builder(Flagged(Arc::clone(&freed)))
        .max_size(4)
        .min_idle(2)
        .build()
        .await
        .unwrap();
    let other = pool.clone();
    park_all(&pool, 3).await;
    drop(pool);
    assert!(!freed.load(Ordering::SeqCst), "a handle is left");
    drop(other);
    assert!(
        freed.load(Ordering::SeqCst),
        "idle objects kept the pool alive"
    );
}

#[tokio::test(start_paused = true)]
async fn a_background_top_up_rests_while_max_size_is_below_min_idle() {
    // After a resize below min_idle the pool cannot grow to it; the task
    // must then wait for a change rather than wake itself forever (which
    // would also keep paused time from advancing here).
    let (pool, task) = topped_up_in_background().await;
    pool.resize(1);
    sleep(Duration::from_secs(1)).await;
    let s = pool.status();
    assert_eq!((s.size, s.max_size, s.created), (1, 1, 2), "{s:?}");
    pool.resize(4);
    settle().await;
    assert_eq!(pool.status().size, 2, "room again: topped up to min_idle");
    pool.close().await.unwrap();
    task.await.unwrap();
}

/// A manager whose objects can be sent but not shared (`Cell` is `!Sync`).
struct Unshared;

impl aqueduct_pool::Manager for Unshared {
    type Object = std::cell::Cell<u32>;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<Self::Object, Self::Error> {
        Ok(std::cell::Cell::new(0))
    }
}

/// The pool is a handle to share between tasks and threads; a checked-out
/// object can move to another task, and is shared between threads exactly
/// when its object can be. Compiling is the test.
#[test]
fn pool_and_guard_cross_threads_as_documented() {
    fn handle<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    fn sendable<T: Send + 'static>() {}
    fn shareable<T: Send + Sync + std::fmt::Debug + 'static>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}

    handle::<Pool<Steered>>();
    handle::<Pool<Unshared>>();
    shareable::<Pooled<Steered>>();
    sendable::<Pooled<Unshared>>();
    error::<PoolError<TestError>>();
    shareable::<aqueduct_pool::Status>();
    shareable::<Holder>();
}

/// `get` runs `recycle` on an idle object before handing it out again;
/// `try_get` hands a clean idle object out as it came back, as the
/// manager's docs say.
#[tokio::test(start_paused = true)]
async fn only_get_recycles_an_idle_object() {
    let pool = pool(1).await;
    let calls = || pool.manager().recycle_calls.load(Ordering::SeqCst);
    let before = calls();
    drop(pool.get().await.unwrap());
    assert_eq!(calls(), before + 1);
    drop(pool.try_get().unwrap());
    assert_eq!(calls(), before + 1);
}

/// An object that comes back while the pool is above a reduced `max_size`
/// is dropped with its slot, even with a caller waiting: the waiter is
/// served only once the pool fits, by the next object to come back.
#[tokio::test(start_paused = true)]
async fn a_return_above_a_reduced_max_size_hands_no_slot_on() {
    let pool = pool(2).await;
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    pool.resize(1);
    let mut waiter = Box::pin(pool.get());
    assert!(futures::poll!(waiter.as_mut()).is_pending());
    drop(a);
    settle().await;
    assert!(futures::poll!(waiter.as_mut()).is_pending());
    let s = pool.status();
    assert_eq!(
        (s.size, s.waiting, s.discarded, s.created),
        (1, 1, 1, 2),
        "{s:?}"
    );
    let kept = *b;
    drop(b);
    let got = waiter.await.unwrap();
    assert_eq!(*got, kept);
    assert_eq!(pool.status().created, 2);
}
