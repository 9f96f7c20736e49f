//! Behaviour of `ConcurrencyLimit` and `AdaptiveLimit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aqueduct_flow::{AdaptiveLimit, ConcurrencyLimit, LimitError};

#[tokio::test(start_paused = true)]
async fn never_more_than_the_limit_run_at_once() {
    let limit = ConcurrencyLimit::new(3);
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (limit, running, max) = (limit.clone(), Arc::clone(&running), Arc::clone(&max));
        tasks.push(tokio::spawn(async move {
            limit
                .run(async {
                    let n = running.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap();
        }));
    }
    tokio::task::yield_now().await;
    let s = limit.snapshot();
    assert_eq!((s.in_flight, s.waiting), (3, 17));
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(max.load(Ordering::SeqCst), 3);
    let s = limit.snapshot();
    assert_eq!((s.in_flight, s.waiting, s.peak), (0, 0, 3));
}

#[tokio::test]
async fn try_run_fails_fast_without_polling_the_future() {
    let limit = ConcurrencyLimit::new(1);
    let _held = limit.acquire().await.unwrap();
    let polled = AtomicUsize::new(0);
    let r = limit
        .try_run(async {
            polled.fetch_add(1, Ordering::SeqCst);
        })
        .await;
    assert_eq!(r, Err(LimitError::Full { limit: 1 }));
    assert_eq!(polled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn growing_frees_waiters_and_shrinking_retires_returned_permits() {
    let limit = ConcurrencyLimit::new(1);
    let a = limit.acquire().await.unwrap();
    let l2 = limit.clone();
    let waiter = tokio::spawn(async move { l2.acquire().await.map(drop) });
    tokio::task::yield_now().await;
    assert_eq!(limit.snapshot().waiting, 1);
    limit.grow(1);
    waiter.await.unwrap().unwrap();
    // Shrink to 0 while `a` is held: `a` is retired when dropped.
    limit.set_limit(0);
    drop(a);
    assert!(limit.try_acquire().is_err());
    assert_eq!(limit.snapshot().in_flight, 0);
    limit.set_limit(2);
    let _x = limit.try_acquire().unwrap();
    let _y = limit.try_acquire().unwrap();
    assert!(limit.try_acquire().is_err());
}

#[tokio::test]
async fn a_cancelled_acquire_takes_no_permit() {
    let limit = ConcurrencyLimit::new(1);
    let held = limit.acquire().await.unwrap();
    let r = tokio::time::timeout(Duration::from_millis(1), limit.acquire()).await;
    assert!(r.is_err());
    assert_eq!(limit.snapshot().waiting, 0);
    drop(held);
    assert!(limit.try_acquire().is_ok());
}

#[tokio::test]
async fn close_fails_waiters() {
    let limit = ConcurrencyLimit::new(0);
    let l2 = limit.clone();
    let waiter = tokio::spawn(async move { l2.acquire().await.map(drop) });
    tokio::task::yield_now().await;
    limit.close();
    assert_eq!(waiter.await.unwrap(), Err(LimitError::Closed));
}

#[tokio::test(start_paused = true)]
async fn aimd_grows_on_success_and_halves_once_per_episode() {
    let limit = AdaptiveLimit::builder().initial(4).min(2).max(6).build();
    // 4 successes at limit 4 → 5; 5 more → 6; capped at 6.
    for _ in 0..30 {
        limit.run(async { Ok::<_, ()>(()) }).await.unwrap().unwrap();
    }
    assert_eq!(limit.limit(), 6);
    // Three permits taken in the same episode fail: one decrease only.
    let ps: Vec<_> = (0..3).map(|_| limit.try_acquire().unwrap()).collect();
    for p in ps {
        p.failure();
    }
    assert_eq!(limit.limit(), 3);
    assert_eq!(limit.snapshot().decreases, 1);
    // A new episode decreases again, not below the floor.
    limit.try_acquire().unwrap().failure();
    assert_eq!(limit.limit(), 2);
    limit.try_acquire().unwrap().failure();
    assert_eq!(limit.limit(), 2);
}

#[tokio::test(start_paused = true)]
async fn slow_successes_count_as_congestion() {
    let limit = AdaptiveLimit::builder()
        .initial(8)
        .latency_threshold(Duration::from_millis(100))
        .build();
    limit
        .run(async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            Ok::<_, ()>(())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(limit.limit(), 4);
    limit
        .run(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, ()>(())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(limit.snapshot().decreases, 1);
}

#[test]
fn huge_limits_are_capped_at_the_semaphore_maximum_not_a_panic() {
    let max = tokio::sync::Semaphore::MAX_PERMITS;
    // "No limit in practice", written the obvious way.
    let unlimited = ConcurrencyLimit::new(usize::MAX);
    assert_eq!(unlimited.limit(), max);
    let _held = unlimited.try_acquire().unwrap();
    assert_eq!(unlimited.snapshot().in_flight, 1);

    // Growing saturates instead of panicking half way through a resize.
    let limit = ConcurrencyLimit::new(1);
    let a = limit.try_acquire().unwrap();
    limit.grow(usize::MAX);
    assert_eq!(limit.limit(), max);
    let b = limit.try_acquire().unwrap();
    assert_eq!(limit.snapshot().in_flight, 2);
    limit.set_limit(1);
    drop((a, b));
    let _c = limit.try_acquire().unwrap();
    assert!(matches!(
        limit.try_acquire(),
        Err(LimitError::Full { limit: 1 })
    ));

    let adaptive = AdaptiveLimit::builder()
        .initial(usize::MAX)
        .max(usize::MAX)
        .build();
    assert_eq!(adaptive.limit(), max);
}
