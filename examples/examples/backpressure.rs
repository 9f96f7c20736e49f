//! Walkthrough `backpressure`: a bounded channel between a fast producer and
//! a slow consumer.
//!
//! The producer can make an item every millisecond; the consumer needs four.
//! With an unbounded queue the backlog (and the memory) would grow without
//! end. With `flow::channel::bounded(16)` the queue fills to its bound and
//! then every send waits for the consumer: the producer is slowed to the
//! consumer's pace. The channel's `stats()` tell how full it got, how many
//! sends had to wait and for how long; a monitor samples the depth every
//! 25 ms and draws it. Then `send_timeout` sheds load instead of waiting,
//! and `recv_many` lets a consumer drain in batches.
//!
//! Run it with `cargo xtask demo backpressure`.

use std::time::{Duration, Instant};

use aqueduct::flow::channel::{self, SendTimeoutError};
use aqueduct_examples::{bar, ms, section};

const CAP: usize = 16;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. a producer 4x faster than its consumer, through bounded(16)");
    let (tx, mut rx) = channel::bounded::<u32>(CAP);
    let start = Instant::now();

    let monitor_tx = tx.clone();
    let monitor = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        for _ in 0..24 {
            tick.tick().await;
            samples.push((start.elapsed(), monitor_tx.stats().len));
        }
        samples
    });
    let producer = tokio::spawn(async move {
        for i in 0..150u32 {
            tx.send(i)
                .await
                .expect("the consumer outlives the producer");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tx
    });
    let consumer = tokio::spawn(async move {
        let mut n = 0;
        while let Some(_item) = rx.recv().await {
            n += 1;
            tokio::time::sleep(Duration::from_millis(4)).await;
            if n == 150 {
                break;
            }
        }
        (n, rx)
    });

    let samples = monitor.await?;
    let tx = producer.await?;
    let (consumed, mut rx) = consumer.await?;
    let took = start.elapsed();
    println!("   queue depth over time (one row per 25 ms sample):");
    for (t, depth) in &samples {
        println!(
            "   {:>8} |{}| {depth:>2}",
            ms(*t),
            bar(*depth as u64, CAP as u64, 32)
        );
    }
    let s = tx.stats();
    println!(
        "   {consumed} items in {}; high-water mark {} of {}; {} sends waited, {} in total",
        ms(took),
        s.high_water,
        s.capacity,
        s.waited_sends,
        ms(s.total_wait)
    );
    println!("   the producer ran at the consumer's pace instead of growing a backlog");
    let max_depth = samples.iter().map(|(_, d)| *d).max().unwrap_or(0);
    if s.high_water > CAP || max_depth > CAP || s.waited_sends < 50 || consumed != 150 {
        return Err("the bounded channel did not push back as expected".into());
    }

    section("2. send_timeout: shed load instead of waiting");
    // The queue is empty again; fill it, then try once more with a deadline.
    for i in 0..CAP as u32 {
        tx.try_send(i)?;
    }
    let t = Instant::now();
    match tx.send_timeout(999, Duration::from_millis(50)).await {
        Err(SendTimeoutError::Timeout { value, timeout }) => println!(
            "   queue full: item {value} handed back after {} (limit {})",
            ms(t.elapsed()),
            ms(timeout)
        ),
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }

    section("3. recv_many: a consumer that drains in batches");
    let mut batch = Vec::with_capacity(CAP);
    let n = rx.recv_many(&mut batch, 10).await;
    let m = rx.recv_many(&mut batch, 10).await;
    println!("   two wake-ups took {n} + {m} items (limit 10 per call)");
    if (n, m) != (10, 6) {
        return Err("recv_many did not batch as expected".into());
    }
    Ok(())
}
