//! Edge cases of the pool: the wait alarm handed on when the waiter it
//! woke leaves, durations and sizes meant as "no limit", objects idling
//! under the lock in local order, and counters when the pool drops an
//! object nobody asked to discard. All timing runs on paused time.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use aqueduct_pool::{Pool, PoolError};
use common::Steered;
use futures::poll;

/// Lets every spawned task run until it blocks.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
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

/// The same for a top-up that finishes after a resize below it.
#[tokio::test(start_paused = true)]
async fn a_top_up_dropped_after_a_resize_is_counted() {
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
    // The top-up it started finishes over the new max: dropped.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = pool.status();
    assert_eq!((s.size, s.created, s.discarded), (1, 2, 1), "{s:?}");
    drop(held);
}
