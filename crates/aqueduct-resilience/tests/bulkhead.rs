//! Bulkhead: concurrency bound, bounded queue, wait limit, cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aqueduct_resilience::Bulkhead;
use aqueduct_resilience::bulkhead::{BulkheadError, CallError};
use tokio::time::{Instant, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn never_more_than_max_concurrent() {
    let b = Bulkhead::builder().max_concurrent(3).max_queue(100).build();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (b, running, peak) = (b.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                b.call(|| async {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    sleep(MS(10)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await
            })
        })
        .collect();
    let start = Instant::now();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    // 20 calls of 10 ms, 3 at a time: 7 rounds.
    assert_eq!(start.elapsed(), MS(70));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_at_once() {
    let b = Bulkhead::builder().max_concurrent(1).max_queue(2).build();
    let _held = b.acquire().await.unwrap();
    let w1 = tokio::spawn({
        let b = b.clone();
        async move { b.acquire_owned().await.map(drop) }
    });
    let w2 = tokio::spawn({
        let b = b.clone();
        async move { b.acquire_owned().await.map(drop) }
    });
    tokio::task::yield_now().await;
    assert_eq!(b.queued(), 2);
    let start = Instant::now();
    let r = b.call(|| async { Ok::<_, ()>(()) }).await;
    assert!(matches!(
        r,
        Err(CallError::Rejected(BulkheadError::Full {
            max_concurrent: 1,
            max_queue: 2
        }))
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
    drop(_held);
    w1.await.unwrap().unwrap();
    w2.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn max_wait_bounds_the_queueing() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_wait(MS(30))
        .build();
    let _held = b.acquire().await.unwrap();
    let start = Instant::now();
    let e = b.acquire().await.unwrap_err();
    assert_eq!(e, BulkheadError::Timeout { max_wait: MS(30) });
    assert_eq!(start.elapsed(), MS(30));
    assert_eq!(b.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_gives_back_its_queue_place() {
    let b = Bulkhead::builder().max_concurrent(1).max_queue(1).build();
    let held = b.acquire().await.unwrap();
    let r = tokio::time::timeout(MS(5), b.acquire()).await;
    assert!(r.is_err());
    assert_eq!(b.queued(), 0);
    drop(held);
    assert_eq!(b.available(), 1);
    // The queue place is free again: a waiter can queue and get the slot.
    let _p = b.acquire().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_order() {
    let b = Bulkhead::builder().max_concurrent(1).max_queue(10).build();
    let held = b.acquire_owned().await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (b, order) = (b.clone(), order.clone());
            tokio::spawn(async move {
                let _p = b.acquire_owned().await.unwrap();
                order.lock().unwrap().push(i);
            })
        })
        .collect();
    tokio::task::yield_now().await;
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}
