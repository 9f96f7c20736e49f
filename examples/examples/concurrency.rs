//! Walkthrough `concurrency`: limiting how much runs at once.
//!
//! 1. `ConcurrencyLimit` (a semaphore with stats): 12 jobs, at most 3 at a
//!    time; the in-flight count is drawn over time.
//! 2. Fail fast with `try_run` (a bulkhead: shed instead of queueing).
//! 3. Resize at runtime: grow the limit while jobs wait.
//! 4. Fan-out/fan-in: 20 lookups, 5 at a time, gathered as they finish.
//! 5. `AdaptiveLimit` (AIMD) against a backend that fails when more than 6
//!    calls overlap: the limit climbs by one per round of successes and
//!    halves on an overload, the sawtooth of AIMD around what the backend
//!    can take.
//! 6. `aqueduct::resilience::Bulkhead` (3 slots, 4 queue places, a bounded
//!    wait): a burst of 12 calls; 3 run, 4 queue and run later, and the
//!    other 5 are turned away at once with an error naming both limits.
//!
//! Run it with `cargo xtask demo concurrency`.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aqueduct::flow::{AdaptiveLimit, ConcurrencyLimit, FlowStreamExt, LimitError};
use aqueduct::resilience::Bulkhead;
use aqueduct::resilience::bulkhead::{BulkheadError, CallError};
use aqueduct_examples::{bar, ms, section};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. 12 jobs of 50 ms, at most 3 at a time");
    let limit = ConcurrencyLimit::new(3);
    let t = Instant::now();
    let sampler = {
        let limit = limit.clone();
        tokio::spawn(async move {
            let mut rows = Vec::new();
            for _ in 0..9 {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let s = limit.snapshot();
                rows.push((s.in_flight, s.waiting));
            }
            rows
        })
    };
    let jobs: Vec<_> = (0..12)
        .map(|_| {
            let limit = limit.clone();
            tokio::spawn(async move {
                // The timer starts inside the permit, not at spawn.
                limit
                    .run(async { tokio::time::sleep(Duration::from_millis(50)).await })
                    .await
            })
        })
        .collect();
    for j in jobs {
        j.await??;
    }
    let took = t.elapsed();
    for (i, (running, waiting)) in sampler.await?.iter().enumerate() {
        println!(
            "   {:>3} ms running |{}| {running}  waiting {waiting:>2}",
            (i + 1) * 25,
            bar(*running as u64, 3, 6)
        );
    }
    let s = limit.snapshot();
    println!(
        "   done in {} (4 waves of 50 ms); peak in flight {}",
        ms(took),
        s.peak
    );
    if s.peak != 3 || took < Duration::from_millis(200) {
        return Err("the limit did not hold".into());
    }

    section("2. try_run: fail fast when full (shed instead of queueing)");
    let held: Vec<_> = (0..3)
        .map(|_| limit.try_acquire())
        .collect::<Result<_, _>>()?;
    match limit.try_run(async { "never runs" }).await {
        Err(LimitError::Full { limit }) => {
            println!("   rejected at once: all {limit} permits in use");
        }
        other => return Err(format!("expected a rejection, got {other:?}").into()),
    }
    drop(held);

    section("3. grow the limit while jobs wait");
    let narrow = ConcurrencyLimit::new(1);
    let t = Instant::now();
    let jobs: Vec<_> = (0..4)
        .map(|_| {
            let l = narrow.clone();
            tokio::spawn(async move {
                l.run(async { tokio::time::sleep(Duration::from_millis(100)).await })
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    println!("   limit 1: {} waiting", narrow.snapshot().waiting);
    narrow.set_limit(4);
    for j in jobs {
        j.await??;
    }
    println!(
        "   set_limit(4): all done in {} instead of 400 ms",
        ms(t.elapsed())
    );
    if t.elapsed() > Duration::from_millis(300) {
        return Err("growing the limit did not release the waiters".into());
    }

    section("4. fan-out/fan-in: 20 lookups of 20-60 ms, 5 at a time");
    let t = Instant::now();
    let results: Vec<u64> = futures::stream::iter(0..20u64)
        .map_concurrent_unordered(5, |i| async move {
            tokio::time::sleep(Duration::from_millis(20 + (i * 7) % 41)).await;
            i * i
        })
        .collect()
        .await;
    let sum: u64 = results.iter().sum();
    println!(
        "   gathered {} results (sum {sum}) in {}",
        results.len(),
        ms(t.elapsed())
    );
    if sum != (0..20u64).map(|i| i * i).sum::<u64>() {
        return Err("lost a result".into());
    }

    section("5. AdaptiveLimit against a backend that overloads above 6 concurrent calls");
    let adaptive = AdaptiveLimit::builder().initial(2).min(1).max(32).build();
    let backend_load = Arc::new(AtomicUsize::new(0));
    let mut trace = Vec::new();
    for _round in 0..16 {
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let (adaptive, load) = (adaptive.clone(), Arc::clone(&backend_load));
                tokio::spawn(async move {
                    adaptive
                        .run(async move {
                            let n = load.fetch_add(1, Ordering::SeqCst) + 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            load.fetch_sub(1, Ordering::SeqCst);
                            if n > 6 { Err("overloaded") } else { Ok(()) }
                        })
                        .await
                })
            })
            .collect();
        for c in calls {
            let _ = c.await?;
        }
        trace.push(adaptive.limit());
    }
    for (round, l) in trace.iter().enumerate() {
        println!("   round {round:>2} limit |{}| {l}", bar(*l as u64, 12, 24));
    }
    let s = adaptive.snapshot();
    println!(
        "   {} increases, {} decreases: a sawtooth around the backend's 6",
        s.increases, s.decreases
    );
    let last = *trace.last().unwrap_or(&0);
    if s.decreases == 0 || !(2..=9).contains(&last) {
        return Err("the adaptive limit did not find the backend's capacity".into());
    }

    bulkhead_burst().await
}

/// Section 6: a burst against `aqueduct::resilience::Bulkhead`.
async fn bulkhead_burst() -> Result<(), Box<dyn std::error::Error>> {
    const SLOTS: usize = 3;
    const QUEUE: usize = 4;
    const BURST: usize = 12;
    const WORK: Duration = Duration::from_millis(40);
    const MAX_WAIT: Duration = Duration::from_millis(500);
    section("6. Bulkhead: 12 calls of 40 ms at once, 3 slots, 4 may wait (at most 500 ms)");
    let bulkhead = Bulkhead::builder()
        .max_concurrent(SLOTS)
        .max_queue(QUEUE)
        .max_wait(MAX_WAIT)
        .build();
    // Set once every call of the burst has been polled once: a call that
    // starts its work after that waited in the queue.
    let first_poll_done = AtomicBool::new(false);
    let inside = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let t = Instant::now();
    let (flag, inside_ref, peak_ref, bulkhead_ref) = (&first_poll_done, &inside, &peak, &bulkhead);
    let calls = (0..BURST).map(|_| async move {
        let result = bulkhead_ref
            .call(|| async move {
                let queued = flag.load(Ordering::SeqCst);
                let waited = t.elapsed();
                let n = inside_ref.fetch_add(1, Ordering::SeqCst) + 1;
                peak_ref.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(WORK).await;
                inside_ref.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>((queued, waited))
            })
            .await;
        // Whether this call ended within the burst's first poll.
        (result, flag.load(Ordering::SeqCst), t.elapsed())
    });
    let mut burst = pin!(futures::future::join_all(calls));
    // One poll: each call takes a free slot, queues, or is turned away.
    if futures::poll!(burst.as_mut()).is_ready() {
        return Err("the burst finished without any call running".into());
    }
    let (running, waiting) = (SLOTS - bulkhead.available(), bulkhead.queued());
    first_poll_done.store(true, Ordering::SeqCst);
    println!("   right after the burst: {running} running, {waiting} waiting");
    let results = burst.await;
    let took = t.elapsed();

    let full = BulkheadError::Full {
        max_concurrent: SLOTS,
        max_queue: QUEUE,
    };
    let (mut ran, mut queued, mut rejected, mut other) = (0, 0, 0, 0);
    let (mut longest_wait, mut slowest_rejection) = (Duration::ZERO, Duration::ZERO);
    let mut cells = String::new();
    let mut message = None;
    for (result, after_first_poll, at) in &results {
        match result {
            Ok((false, _)) => {
                ran += 1;
                cells.push('R');
            }
            Ok((true, waited)) => {
                queued += 1;
                longest_wait = longest_wait.max(*waited);
                cells.push('q');
            }
            // Turned away at once: within the first poll, before any work ended.
            Err(CallError::Rejected(e)) if *e == full && !after_first_poll => {
                rejected += 1;
                slowest_rejection = slowest_rejection.max(*at);
                message.get_or_insert_with(|| e.to_string());
                cells.push('x');
            }
            Err(e) => {
                other += 1;
                println!("   unexpected: {e:?}");
                cells.push('?');
            }
        }
    }
    println!("   each call, in order (R ran at once, q queued then ran, x rejected): {cells}");
    println!(
        "   {ran} ran at once, {queued} queued then ran (longest wait {}), {rejected} rejected at once (within {})",
        ms(longest_wait),
        ms(slowest_rejection)
    );
    if let Some(m) = message {
        println!("   the rejection: {m}");
    }
    println!(
        "   peak in the bulkhead {}; the burst took {}",
        peak.load(Ordering::SeqCst),
        ms(took)
    );
    if (running, waiting) != (SLOTS, QUEUE)
        || (ran, queued, rejected, other) != (SLOTS, QUEUE, BURST - SLOTS - QUEUE, 0)
        || peak.load(Ordering::SeqCst) != SLOTS
    {
        return Err("the bulkhead did not run 3, queue 4 and reject the other 5".into());
    }
    if bulkhead.available() != SLOTS || bulkhead.queued() != 0 {
        return Err("the bulkhead did not give back every slot".into());
    }
    Ok(())
}
