//! Walkthrough `runtimes`: runtime flavours and CPU work off the runtime.
//!
//! 1. The same mixed workload (I/O waits plus CPU hashing) on a
//!    current-thread runtime and on a multi-thread runtime.
//! 2. CPU work done inline on the runtime starves a ticking timer; the same
//!    work moved to `spawn_blocking` leaves the timer on time.
//! 3. `LocalSet` runs `!Send` futures (here, ones holding an `Rc<RefCell>`)
//!    with `spawn_local`.
//!
//! Every time printed is measured in this run. Run it with
//! `cargo xtask demo runtimes`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aqueduct_examples::{bar, ms, section};

/// CPU-bound work: `rounds` rounds of an FNV-1a style hash over a buffer.
fn crunch(rounds: u32) -> u64 {
    let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for r in 0..rounds {
        for &b in &data {
            h = (h ^ u64::from(b) ^ u64::from(r)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Calibrates how many rounds of `crunch` take about `target`.
fn rounds_for(target: Duration) -> u32 {
    let t = Instant::now();
    std::hint::black_box(crunch(20));
    let per_round = t.elapsed().as_secs_f64() / 20.0;
    ((target.as_secs_f64() / per_round).ceil() as u32).max(1)
}

/// Eight tasks, each awaiting 50 ms of "I/O" and hashing for about 40 ms.
async fn mixed_workload(rounds: u32) -> Duration {
    let t = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                std::hint::black_box(crunch(rounds))
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("workload task panicked");
    }
    t.elapsed()
}

/// Runs `work` while a 10 ms ticker counts its ticks; returns the worst gap
/// between two ticks.
async fn worst_tick_gap<F: std::future::Future<Output = ()>>(work: F) -> Duration {
    let worst = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&worst);
    let ticker = tokio::spawn(async move {
        let mut last = Instant::now();
        let mut interval = tokio::time::interval(Duration::from_millis(10));
        loop {
            interval.tick().await;
            let now = Instant::now();
            let gap = u64::try_from((now - last).as_micros()).unwrap_or(u64::MAX);
            w.fetch_max(gap, Ordering::Relaxed);
            last = now;
        }
    });
    // Let the ticker take its first tick before the work starts.
    tokio::time::sleep(Duration::from_millis(15)).await;
    work.await;
    // Give the ticker the chance to notice a stall before stopping it.
    tokio::time::sleep(Duration::from_millis(25)).await;
    ticker.abort();
    Duration::from_micros(worst.load(Ordering::Relaxed))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds = rounds_for(Duration::from_millis(40));

    section("1. one workload, two runtime flavours");
    println!("   8 tasks × (50 ms await + ~40 ms of hashing)");
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let on_current = current.block_on(mixed_workload(rounds));
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let on_multi = multi.block_on(mixed_workload(rounds));
    let slowest = on_current.max(on_multi);
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    println!(
        "   current-thread |{}| {}  (the waits overlap, the hashing runs one task at a time)",
        bar(micros(on_current), micros(slowest), 30),
        ms(on_current)
    );
    println!(
        "   multi-thread×2 |{}| {}  (hashing spreads over 2 workers)",
        bar(micros(on_multi), micros(slowest), 30),
        ms(on_multi)
    );

    section("2. CPU work on the runtime vs on spawn_blocking (current-thread runtime)");
    let heavy = rounds * 5; // about 200 ms of hashing
    let inline_gap = current.block_on(worst_tick_gap(async move {
        std::hint::black_box(crunch(heavy));
    }));
    let blocking_gap = current.block_on(worst_tick_gap(async move {
        tokio::task::spawn_blocking(move || crunch(heavy))
            .await
            .expect("blocking task panicked");
    }));
    println!(
        "   inline:         the 10 ms ticker's worst gap was {} (the runtime was blocked)",
        ms(inline_gap)
    );
    println!(
        "   spawn_blocking: the 10 ms ticker's worst gap was {} (the runtime stayed free)",
        ms(blocking_gap)
    );

    section("3. LocalSet: !Send state shared by local tasks");
    let local = tokio::task::LocalSet::new();
    let log: Rc<RefCell<Vec<u32>>> = Rc::new(RefCell::new(Vec::new()));
    let t = Instant::now();
    local.block_on(&current, {
        let log = Rc::clone(&log);
        async move {
            let handles: Vec<_> = (0..5u32)
                .map(|i| {
                    let log = Rc::clone(&log);
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(Duration::from_millis(u64::from(10 * (5 - i)))).await;
                        log.borrow_mut().push(i);
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("local task panicked");
            }
        }
    });
    println!(
        "   5 spawn_local tasks pushed into one Rc<RefCell<Vec>> (no Arc, no Mutex) in {}: order {:?}",
        ms(t.elapsed()),
        log.borrow()
    );

    section("figures");
    println!(
        "   workload: current-thread {} vs multi-thread {} · worst tick gap: inline {} vs spawn_blocking {}",
        ms(on_current),
        ms(on_multi),
        ms(inline_gap),
        ms(blocking_gap)
    );
    if blocking_gap >= inline_gap || *log.borrow() != [4, 3, 2, 1, 0] {
        return Err("the runtimes did not behave as described".into());
    }
    Ok(())
}
