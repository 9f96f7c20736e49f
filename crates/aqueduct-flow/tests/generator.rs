//! Behaviour of `generator` and `try_generator`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aqueduct_flow::channel::{generator, try_generator};
use futures::StreamExt;

#[tokio::test(start_paused = true)]
async fn the_producer_never_runs_more_than_capacity_ahead() {
    let produced = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&produced);
    let mut s = std::pin::pin!(generator(3, move |tx| async move {
        for i in 0..100usize {
            if tx.send(i).await.is_err() {
                return;
            }
            p.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let mut consumed = 0;
    while let Some(v) = s.next().await {
        assert_eq!(v, consumed);
        consumed += 1;
        let ahead = produced.load(Ordering::SeqCst) - consumed;
        assert!(ahead <= 3, "producer {ahead} ahead");
        tokio::time::sleep(Duration::from_millis(1)).await; // a slow consumer
    }
    assert_eq!(consumed, 100);
}

#[tokio::test]
async fn dropping_the_stream_stops_the_producer() {
    let stopped = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(0));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (st, pr) = (Arc::clone(&stopped), Arc::clone(&produced));
    let s = generator(2, move |tx| async move {
        let _flag = Flag(st);
        for i in 0.. {
            if tx.send(i).await.is_err() {
                return;
            }
            pr.fetch_add(1, Ordering::SeqCst);
        }
    });
    let first: Vec<u64> = s.take(5).collect().await; // `take` drops the stream
    assert_eq!(first, [0, 1, 2, 3, 4]);
    assert!(stopped.load(Ordering::SeqCst));
    assert!(produced.load(Ordering::SeqCst) <= 7);
}

#[tokio::test]
async fn try_generator_ends_with_the_error_after_the_items() {
    let s = try_generator(4, |tx| async move {
        for i in 0..3 {
            tx.send(i).await.map_err(|_| "closed")?;
        }
        Err("source broke")
    });
    assert_eq!(
        s.collect::<Vec<_>>().await,
        [Ok(0), Ok(1), Ok(2), Err("source broke")]
    );
    let ok = try_generator(4, |tx| async move {
        tx.send(1).await.ok();
        Ok::<(), ()>(())
    });
    assert_eq!(ok.collect::<Vec<_>>().await, [Ok(1)]);
}

#[tokio::test(start_paused = true)]
async fn items_from_a_sender_the_producer_handed_on_are_neither_lost_nor_late() {
    // The producer gives its sender to a task of its own and returns: the
    // stream ends when that sender is gone, not when the producer is.
    let handed_on = generator(4, |tx| async move {
        tokio::spawn(async move {
            for i in 0..3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if tx.send(i).await.is_err() {
                    return;
                }
            }
        });
    });
    assert_eq!(handed_on.collect::<Vec<_>>().await, [0, 1, 2]);

    // The producer waits on something else meanwhile: an item that arrives
    // wakes the consumer at once.
    let start = tokio::time::Instant::now();
    let s = try_generator(4, |tx| async move {
        let feeder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.send(7).await.ok();
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        feeder.await.ok();
        Err("done")
    });
    let mut s = std::pin::pin!(s);
    assert_eq!(s.next().await, Some(Ok(7)));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    assert_eq!(s.next().await, Some(Err("done")));
    assert_eq!(s.next().await, None);
}

#[tokio::test]
async fn generators_report_their_end_only_once_every_item_is_out() {
    use futures::stream::FusedStream;
    let mut g = Box::pin(generator(1, |tx| async move {
        tx.send(1u8).await.unwrap();
        tx.send(2).await.unwrap();
    }));
    assert!(!g.is_terminated());
    assert_eq!(g.next().await, Some(1));
    assert!(!g.is_terminated(), "one item to come");
    assert_eq!(g.next().await, Some(2));
    assert_eq!(g.next().await, None);
    assert!(g.is_terminated());

    let mut t = Box::pin(try_generator(1, |tx| async move {
        tx.send(1u8).await.unwrap();
        Err("failed")
    }));
    assert_eq!(t.next().await, Some(Ok(1)));
    assert!(!t.is_terminated(), "the error is still to come");
    assert_eq!(t.next().await, Some(Err("failed")));
    assert_eq!(t.next().await, None);
    assert!(t.is_terminated());
}
