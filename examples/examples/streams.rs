//! Walkthrough `streams`: concurrency, batching and generators on streams.
//!
//! 1. `map_concurrent(4, f)` against futures' `buffered(4)` with a consumer
//!    that is busy 100 ms per item: `buffered` only advances its futures
//!    while it is polled, so their work stalls while the consumer works
//!    ("snoozing"); ours run as tasks and keep going.
//! 2. `map_concurrent_unordered`: results as they finish.
//! 3. `batch(size, linger)`: a batch leaves when full, or `linger` after its
//!    first item, whichever comes first.
//! 4. `generator`: a stream written as a producer function (an interval
//!    stream here), merged with another stream; the producer stops when the
//!    stream is dropped.
//!
//! Run it with `cargo xtask demo streams`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aqueduct::flow::FlowStreamExt;
use aqueduct::flow::channel::generator;
use aqueduct_examples::{ms, section};
use futures::StreamExt;

/// A job of `steps` steps of 10 ms each (a paginated fetch, say).
async fn job(steps: u32) -> u32 {
    for _ in 0..steps {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    steps
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs = [1u32, 10, 10, 10];

    section("1. a busy consumer: map_concurrent keeps working, buffered snoozes");
    let t = Instant::now();
    let mut ours = std::pin::pin!(futures::stream::iter(jobs).map_concurrent(4, job));
    while ours.next().await.is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await; // the consumer's own work
    }
    let ours_took = t.elapsed();
    let t = Instant::now();
    let mut theirs = std::pin::pin!(futures::stream::iter(jobs).map(job).buffered(4));
    while theirs.next().await.is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let theirs_took = t.elapsed();
    println!(
        "   map_concurrent(4): {} (jobs finished while the consumer worked)",
        ms(ours_took)
    );
    println!(
        "   buffered(4):       {} (jobs stalled between polls)",
        ms(theirs_took)
    );
    if theirs_took < ours_took + Duration::from_millis(40) {
        return Err("expected buffered to stall behind the busy consumer".into());
    }

    section("2. map_concurrent_unordered: results in completion order");
    let t = Instant::now();
    let order: Vec<u32> = futures::stream::iter([8u32, 2, 5, 1])
        .map_concurrent_unordered(4, job)
        .collect()
        .await;
    println!(
        "   jobs of 8, 2, 5, 1 steps came back as {order:?} in {}",
        ms(t.elapsed())
    );
    if order != [1, 2, 5, 8] {
        return Err("unordered results out of completion order".into());
    }

    section("3. batch(5, 50 ms): full batches, or what is there 50 ms after the first item");
    let bursty = generator(8, |tx| async move {
        // 12 items at once, a pause, then 3 stragglers.
        for i in 0..12u32 {
            let _ = tx.send(i).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 12..15u32 {
            let _ = tx.send(i).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let t = Instant::now();
    let mut batches = std::pin::pin!(bursty.batch(5, Duration::from_millis(50)));
    let mut sizes = Vec::new();
    while let Some(b) = batches.next().await {
        println!("   at {:>8}: {b:?}", ms(t.elapsed()));
        sizes.push(b.len());
    }
    if sizes != [5, 5, 2, 3] {
        return Err(format!("unexpected batch sizes {sizes:?}").into());
    }

    section("4. generator: an interval stream, merged, stopped by dropping it");
    let ticks_made = Arc::new(AtomicU32::new(0));
    let made = Arc::clone(&ticks_made);
    let ticks = generator(1, move |tx| async move {
        let mut every = tokio::time::interval(Duration::from_millis(20));
        loop {
            every.tick().await;
            let n = made.fetch_add(1, Ordering::SeqCst);
            if tx.send(format!("tick {n}")).await.is_err() {
                return; // the stream was dropped
            }
        }
    });
    let words = futures::stream::iter(["alpha", "beta"]).map(String::from);
    let merged: Vec<String> = futures::stream::select(ticks, words)
        .take(6)
        .collect()
        .await;
    println!("   first 6 of ticks merged with words: {merged:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let made = ticks_made.load(Ordering::SeqCst);
    println!("   ticks produced: {made}; none after the stream was dropped");
    if made > 5 {
        return Err("the producer kept running after the stream was dropped".into());
    }
    Ok(())
}
