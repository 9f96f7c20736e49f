//! Walkthrough `composition`: composing futures.
//!
//! Three independent operations of 100 ms each, awaited one after another,
//! then together with `join!` and `try_join!`; a `select!` race that keeps
//! the first answer and drops the rest; and `FuturesUnordered` running 12
//! jobs with at most 4 in flight. Every figure printed is measured in this
//! run.
//!
//! Run it with `cargo xtask demo composition`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aqueduct_examples::{bar, ms, section};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::sleep;

/// A stand-in for an independent I/O call (a query, a request) taking `d`.
async fn fetch(name: &'static str, d: Duration) -> &'static str {
    sleep(d).await;
    name
}

/// Like `fetch`, but fails when `fail` is set, after `d`.
async fn try_fetch(name: &'static str, d: Duration, fail: bool) -> Result<&'static str, String> {
    sleep(d).await;
    if fail {
        Err(format!("{name} failed"))
    } else {
        Ok(name)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let op = Duration::from_millis(100);

    section("1. sequential: each .await waits for the one before it");
    let t = Instant::now();
    let a = fetch("user", op).await;
    let b = fetch("orders", op).await;
    let c = fetch("prices", op).await;
    let sequential = t.elapsed();
    println!(
        "   {a}, {b}, {c} in {} (three waits of 100 ms add up)",
        ms(sequential)
    );

    section("2. join!: the three run concurrently on this one task");
    let t = Instant::now();
    let (a, b, c) = tokio::join!(fetch("user", op), fetch("orders", op), fetch("prices", op));
    let joined = t.elapsed();
    println!(
        "   {a}, {b}, {c} in {} ({:.1}x faster than sequential)",
        ms(joined),
        sequential.as_secs_f64() / joined.as_secs_f64()
    );

    section("3. try_join!: like join!, but the first error cancels the others");
    let t = Instant::now();
    let ok = tokio::try_join!(
        try_fetch("user", op, false),
        try_fetch("orders", op, false),
        try_fetch("prices", op, false)
    );
    println!("   all succeed: {ok:?} in {}", ms(t.elapsed()));
    let t = Instant::now();
    let failed = tokio::try_join!(
        try_fetch("user", op * 3, false),
        try_fetch("orders", op / 2, true),
        try_fetch("prices", op * 3, false)
    );
    let fail_time = t.elapsed();
    println!(
        "   one fails at 50 ms: {failed:?} after {} — the 300 ms siblings were dropped, not awaited",
        ms(fail_time)
    );

    section("4. select!: race replicas, keep the first answer, drop the losers");
    let t = Instant::now();
    let winner = tokio::select! {
        r = fetch("replica-a", Duration::from_millis(180)) => r,
        r = fetch("replica-b", Duration::from_millis(60)) => r,
        r = fetch("replica-c", Duration::from_millis(120)) => r,
    };
    println!("   {winner} answered first, after {}", ms(t.elapsed()));

    section("5. FuturesUnordered: 12 jobs of 100 ms, at most 4 in flight");
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let job = |i: u64| {
        let in_flight = Arc::clone(&in_flight);
        let peak = Arc::clone(&peak);
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            sleep(op).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            i
        }
    };
    let t = Instant::now();
    let limit = 4;
    let mut pending = (0..12u64).peekable();
    let mut running = FuturesUnordered::new();
    let mut done_at = Vec::new();
    loop {
        while running.len() < limit {
            match pending.next() {
                Some(i) => running.push(job(i)),
                None => break,
            }
        }
        match running.next().await {
            Some(i) => done_at.push((i, t.elapsed())),
            None => break,
        }
    }
    let limited = t.elapsed();
    println!(
        "   12 jobs in {} with a peak of {} in flight (12 × 100 ms / 4 = 300 ms ideal)",
        ms(limited),
        peak.load(Ordering::SeqCst)
    );
    println!("   completion timeline (one row per job, bar = finish time out of the total):");
    for (i, at) in &done_at {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        println!(
            "   job {i:>2} |{}| {}",
            bar(micros(*at), micros(limited), 30),
            ms(*at)
        );
    }

    section("figures");
    println!(
        "   sequential {} · join! {} · try_join! fail-fast {} · limited fan-out {} (peak {})",
        ms(sequential),
        ms(joined),
        ms(fail_time),
        ms(limited),
        peak.load(Ordering::SeqCst)
    );
    if joined >= sequential || peak.load(Ordering::SeqCst) > limit {
        return Err("the concurrent versions did not behave as described".into());
    }
    Ok(())
}
