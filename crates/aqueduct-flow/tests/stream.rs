//! Behaviour of `FlowStreamExt` under paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aqueduct_flow::{FlowStreamExt, Quota, RateLimiter};
use futures::{Stream, StreamExt};
use tokio::time::Instant;

async fn work(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[tokio::test(start_paused = true)]
async fn in_flight_work_progresses_while_the_consumer_is_busy() {
    // 4 jobs of 100 ms, 4 at a time; the consumer spends 100 ms per item.
    // With snoozing (futures' `buffered`), job k would only start running
    // once polled; here all four run during the consumer's first 100 ms.
    let start = Instant::now();
    let mut s = std::pin::pin!(futures::stream::iter([100u64; 4]).map_concurrent(4, work));
    let mut seen = Vec::new();
    while let Some(v) = s.next().await {
        seen.push((v, start.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await; // busy consumer
    }
    let at: Vec<_> = seen.iter().map(|(_, t)| t.as_millis()).collect();
    assert_eq!(at, [100, 200, 300, 400]);
    assert_eq!(start.elapsed(), Duration::from_millis(500));

    // Multi-step work exposes the difference: `futures`' `buffered` only
    // advances its futures while the consumer polls it, so their steps
    // stall ("snooze") while the consumer is busy; ours do not.
    async fn steps(ms: u64) -> u64 {
        for _ in 0..ms / 10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ms
    }
    let jobs = [10u64, 100, 100, 100];
    let start = Instant::now();
    let mut ours = std::pin::pin!(futures::stream::iter(jobs).map_concurrent(4, steps));
    while ours.next().await.is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ours_took = start.elapsed();
    let start = Instant::now();
    let mut theirs = std::pin::pin!(futures::stream::iter(jobs).map(steps).buffered(4));
    while theirs.next().await.is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let theirs_took = start.elapsed();
    // Ours: item 1 at 10 ms, the rest done by 100 ms, so only the
    // consumer's 4 x 100 ms remain.
    assert_eq!(ours_took, Duration::from_millis(410));
    assert!(
        theirs_took >= ours_took + Duration::from_millis(50),
        "buffered took {theirs_took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn map_concurrent_keeps_order_and_respects_the_limit() {
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&max));
    let start = Instant::now();
    let out: Vec<u64> = futures::stream::iter([50u64, 10, 40, 20, 30, 10])
        .map_concurrent(3, move |ms| {
            let (r, m) = (Arc::clone(&r), Arc::clone(&m));
            async move {
                let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(n, Ordering::SeqCst);
                let v = work(ms).await;
                r.fetch_sub(1, Ordering::SeqCst);
                v
            }
        })
        .collect()
        .await;
    assert_eq!(out, [50, 10, 40, 20, 30, 10]);
    assert_eq!(max.load(Ordering::SeqCst), 3);
    assert!(start.elapsed() < Duration::from_millis(160));
}

#[tokio::test(start_paused = true)]
async fn map_concurrent_unordered_yields_in_completion_order() {
    let start = Instant::now();
    let out: Vec<u64> = futures::stream::iter([30u64, 10, 20])
        .map_concurrent_unordered(2, work)
        .collect()
        .await;
    // 30 and 10 start; 10 ends at 10 ms, 20 starts and ends at 30 ms with 30.
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], 10);
    assert_eq!(start.elapsed(), Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "task failed")]
async fn a_panic_in_a_mapped_future_reaches_the_consumer() {
    let _: Vec<u8> = futures::stream::iter([1u8])
        .map_concurrent(1, |x| async move {
            assert!(x == 0, "task failed");
            x
        })
        .collect()
        .await;
}

#[tokio::test(start_paused = true)]
async fn batch_emits_when_full_or_after_linger_since_the_first_item() {
    // Items at 0, 10, 20, ... 90 ms, then a gap, then one at 500 ms.
    let src = aqueduct_flow::channel::generator(1, |tx| async move {
        for i in 0..10u32 {
            tx.send(i).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        tx.send(99).await.unwrap();
    });
    let start = Instant::now();
    let mut s = std::pin::pin!(src.batch(4, Duration::from_millis(25)));
    let mut got = Vec::new();
    while let Some(b) = s.next().await {
        got.push((b, start.elapsed().as_millis()));
    }
    assert_eq!(
        got,
        [
            (vec![0, 1, 2], 25), // linger since item 0 at 0 ms
            (vec![3, 4, 5], 55), // item 3 at 30 ms, + 25
            (vec![6, 7, 8], 85), // item 6 at 60 ms, + 25
            (vec![9], 115),      // item 9 at 90 ms, + 25
            (vec![99], 500),     // flushed at the end
        ]
    );
    let full: Vec<Vec<u8>> = futures::stream::iter(0..9u8)
        .batch(4, Duration::from_secs(1))
        .collect()
        .await;
    assert_eq!(full, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8]]);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_paces_a_stream_and_shares_the_limiter() {
    let limiter = RateLimiter::new(Quota::per_second(20).burst(2));
    let start = Instant::now();
    let times: Vec<u128> = futures::stream::iter(0..6)
        .rate_limit(&limiter)
        .map(|_| start.elapsed().as_millis())
        .collect()
        .await;
    assert_eq!(times, [0, 0, 50, 100, 150, 200]);
    // The stream used the shared budget.
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn batch_of_any_size_takes_room_only_for_the_items_it_holds() {
    // `usize::MAX`: no size bound, batches cut by the linger alone.
    let src = aqueduct_flow::channel::generator(1, |tx| async move {
        for i in 0..3u8 {
            tx.send(i).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(3).await.unwrap();
    });
    let got: Vec<Vec<u8>> = src
        .batch(usize::MAX, Duration::from_millis(20))
        .collect()
        .await;
    assert_eq!(got, [vec![0, 1, 2], vec![3]]);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_does_not_poll_its_input_after_it_ended() {
    // An input that panics if polled after its end, as `unfold` does.
    let input = futures::stream::unfold(0u8, |n| async move { (n < 2).then_some((n, n + 1)) });
    let limiter = RateLimiter::new(Quota::per_second(1000));
    let mut s = Box::pin(input.rate_limit(&limiter));
    assert_eq!(s.size_hint(), (0, None));
    assert_eq!(s.next().await, Some(0));
    assert_eq!(s.next().await, Some(1));
    assert_eq!(s.next().await, None);
    assert_eq!(s.next().await, None);
    assert_eq!(s.size_hint(), (0, Some(0)));
}

/// Drains `s`, checking that it reports its end only once it has ended.
async fn drain_fused<S: futures::stream::FusedStream + Unpin>(mut s: S) -> usize {
    assert!(!s.is_terminated(), "not polled yet");
    let mut n = 0;
    while s.next().await.is_some() {
        n += 1;
    }
    assert!(s.is_terminated(), "ended after {n} items");
    n
}

#[tokio::test(start_paused = true)]
async fn the_adapters_report_their_end_to_select() {
    let limiter = RateLimiter::new(Quota::per_second(1000));
    let items = || futures::stream::iter(0..3u8);
    assert_eq!(drain_fused(Box::pin(items().rate_limit(&limiter))).await, 3);
    let batches = items().batch(2, Duration::from_secs(1));
    assert_eq!(drain_fused(Box::pin(batches)).await, 2);
    let ordered = items().map_concurrent(2, |x| async move { x });
    assert_eq!(drain_fused(Box::pin(ordered)).await, 3);
    let unordered = items().map_concurrent_unordered(2, |x| async move { x });
    assert_eq!(drain_fused(Box::pin(unordered)).await, 3);

    // Not ended while an item is still to come.
    let mut s = Box::pin(items().rate_limit(&limiter));
    assert_eq!(s.next().await, Some(0));
    assert!(!futures::stream::FusedStream::is_terminated(&s));

    // Usable in `select!` without `fuse()`.
    let mut a = Box::pin(futures::stream::iter([1u8]).rate_limit(&limiter));
    let mut b = Box::pin(futures::stream::iter([2u8]).batch(4, Duration::from_secs(1)));
    let mut sum = 0;
    loop {
        futures::select! {
            x = a.select_next_some() => sum += x,
            v = b.select_next_some() => sum += v.iter().sum::<u8>(),
            complete => break,
        }
    }
    assert_eq!(sum, 3);
}

#[test]
fn batches_that_never_wait_need_no_runtime() {
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    // One item per batch: nothing to wait for, ever.
    let mut ones = std::pin::pin!(futures::stream::iter(0..2u8).batch(1, Duration::from_secs(1)));
    assert_eq!(ones.as_mut().poll_next(&mut cx), Poll::Ready(Some(vec![0])));
    assert_eq!(ones.as_mut().poll_next(&mut cx), Poll::Ready(Some(vec![1])));
    assert_eq!(ones.as_mut().poll_next(&mut cx), Poll::Ready(None));
    // Larger batches filled, or cut by the end, without waiting.
    let mut pairs = std::pin::pin!(futures::stream::iter(0..3u8).batch(2, Duration::from_secs(1)));
    assert_eq!(
        pairs.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(vec![0, 1]))
    );
    assert_eq!(
        pairs.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(vec![2]))
    );
    assert_eq!(pairs.as_mut().poll_next(&mut cx), Poll::Ready(None));
}

/// Polls the stream `make` builds once inside a runtime, so its tasks are
/// spawned there but never run, shuts that runtime down (cancelling them)
/// and polls it again.
fn next_after_shutdown<S: Stream + Unpin>(make: impl FnOnce() -> S) {
    use std::task::{Context, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut s = {
        let _in_rt = rt.enter();
        let mut s = make();
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        s
    };
    drop(rt);
    let next = s.poll_next_unpin(&mut cx).map(|item| item.is_some());
    panic!("lost tasks were answered with {next:?}, not a panic");
}

// Both items were taken from the input; neither result will come.

#[test]
#[should_panic(expected = "cancelled")]
fn a_task_lost_to_a_runtime_shutdown_is_not_taken_for_the_end() {
    next_after_shutdown(|| futures::stream::iter(0..2u8).map_concurrent(2, |x| async move { x }));
}

#[test]
#[should_panic(expected = "cancelled")]
fn an_unordered_task_lost_to_a_runtime_shutdown_is_not_taken_for_the_end() {
    next_after_shutdown(|| {
        futures::stream::iter(0..2u8).map_concurrent_unordered(2, |x| async move { x })
    });
}
