//! Behaviour of `channel::bounded`: backpressure and its stats.

use std::time::Duration;

use aqueduct_flow::channel::{SendTimeoutError, TrySendError, bounded};
use futures::StreamExt;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn stats_count_waited_sends_and_their_wait() {
    let (tx, mut rx) = bounded(2);
    tx.send(1).await.unwrap();
    tx.send(2).await.unwrap();
    assert_eq!(tx.stats().waited_sends, 0);
    let consumer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        got
    });
    let start = Instant::now();
    tx.send(3).await.unwrap(); // waits 30 ms for the first recv
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    let s = tx.stats();
    assert_eq!(s.waited_sends, 1);
    assert_eq!(s.total_wait, Duration::from_millis(30));
    assert_eq!(s.high_water, 2);
    assert_eq!(s.capacity, 2);
    drop(tx);
    assert_eq!(consumer.await.unwrap(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn send_timeout_hands_the_value_back() {
    let (tx, mut rx) = bounded(1);
    tx.try_send("a").unwrap();
    assert!(matches!(
        tx.try_send("b"),
        Err(TrySendError::Full {
            value: "b",
            capacity: 1
        })
    ));
    let start = Instant::now();
    match tx.send_timeout("c", Duration::from_millis(20)).await {
        Err(SendTimeoutError::Timeout { value, timeout }) => {
            assert_eq!((value, timeout), ("c", Duration::from_millis(20)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    assert_eq!(rx.recv().await, Some("a"));
    drop(rx);
    assert!(matches!(
        tx.send_timeout("d", Duration::from_secs(1)).await,
        Err(SendTimeoutError::Closed("d"))
    ));
}

#[tokio::test]
async fn recv_many_takes_what_is_queued_up_to_the_limit() {
    let (tx, mut rx) = bounded(16);
    for i in 0..10 {
        tx.send(i).await.unwrap();
    }
    assert_eq!(rx.stats().len, 10);
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many(&mut buf, 4).await, 4);
    assert_eq!(rx.recv_many(&mut buf, 100).await, 6);
    assert_eq!(buf, (0..10).collect::<Vec<_>>());
    drop(tx);
    assert_eq!(rx.recv_many(&mut buf, 4).await, 0);
}

#[tokio::test]
async fn receiver_is_a_stream() {
    let (tx, rx) = bounded(4);
    tokio::spawn(async move {
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
    });
    assert_eq!(rx.collect::<Vec<_>>().await, [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn sends_through_reserve_count_towards_the_high_water_mark() {
    // `reserve` is the cancel-safe way to send; its sends fill the queue
    // as much as `send`'s do.
    let (tx, mut rx) = bounded(3);
    for i in 0..3 {
        tx.reserve().await.unwrap().send(i);
    }
    assert_eq!(tx.stats().high_water, 3);
    let consumer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let first = rx.recv().await;
        (rx, first)
    });
    // A reservation that had to wait fills the queue up again.
    tx.reserve().await.unwrap().send(3);
    let (_rx, first) = consumer.await.unwrap();
    assert_eq!(first, Some(0));
    let s = tx.stats();
    assert_eq!((s.len, s.high_water, s.waited_sends), (3, 3, 1));
}

#[tokio::test]
async fn huge_capacities_are_capped_at_the_channel_maximum_not_a_panic() {
    let max = tokio::sync::Semaphore::MAX_PERMITS;
    let (tx, mut rx) = bounded(usize::MAX);
    assert_eq!(tx.stats().capacity, max);
    tx.try_send(1).unwrap();
    assert_eq!(rx.recv().await, Some(1));

    let pool = aqueduct_flow::channel::WorkerPool::new(1, usize::MAX);
    assert_eq!(pool.stats().capacity, max);
    assert_eq!(pool.submit(async { 2 }).await.unwrap().await, Ok(2));

    let s = aqueduct_flow::channel::generator(usize::MAX, |tx| async move {
        tx.send(3).await.ok();
    });
    assert_eq!(s.collect::<Vec<_>>().await, [3]);
    let s = aqueduct_flow::channel::try_generator(usize::MAX, |tx| async move {
        tx.send(4).await.map_err(|_| ())
    });
    assert_eq!(s.collect::<Vec<_>>().await, [Ok(4)]);
}

#[tokio::test]
async fn the_receiver_reports_its_end_once_senders_are_gone_and_it_is_empty() {
    use futures::stream::FusedStream;
    let (tx, mut rx) = aqueduct_flow::channel::bounded::<u8>(2);
    tx.send(7).await.unwrap();
    assert!(!rx.is_terminated());
    drop(tx);
    assert!(!rx.is_terminated(), "a message is still buffered");
    assert_eq!(rx.next().await, Some(7));
    assert!(rx.is_terminated());
    assert_eq!(rx.next().await, None);
}
