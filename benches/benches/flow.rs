//! Benchmarks of `aqueduct-flow` beside the crates it replaces.
//!
//! Run with `cargo xtask bench flow`, which prints the ratios.
//!
//! - `gcra/allowed`: a check that is admitted, single-threaded and with two
//!   threads hammering one limiter, each limiter on its real default clock
//!   (ours: tokio's `Instant`; governor: quanta's TSC clock), plus ours on
//!   the opt-in TSC clock (`aqueduct-fastclock`).
//! - `gcra/allowed-fixed-clock`: the same with the clock taken out (ours on
//!   a `ManualClock`, governor on its `FakeRelativeClock`), so only the
//!   algorithm and its atomics are compared.
//! - `gcra/denied`: a check that is refused.
//! - `keyed/check`: an admitted check cycling over 1,000 and 1,000,000 keys.
//! - `channel/throughput`: 10,000 messages from a producer task to a
//!   consumer task through a bounded channel (ours with stats, tokio's raw).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use aqueduct_flow::{Clock, KeyedRateLimiter, ManualClock, Quota, RateLimiter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use governor::clock::FakeRelativeClock;

/// A quota no benchmark can exhaust: 10^9 cells per second with a burst
/// of 2^32 - 1 cells (over four seconds of credit).
fn roomy() -> Quota {
    Quota::per_second(1_000_000_000).burst(u32::MAX)
}

fn roomy_governor() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
        .allow_burst(NonZeroU32::MAX)
}

/// Runs `f` `iters` times on each of `threads` threads started together;
/// returns the wall time of the slowest, so the figure is the time per
/// check seen by one thread under contention.
fn contended(threads: usize, iters: u64, f: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        f();
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

fn bench_allowed(c: &mut Criterion, group_name: &str, fixed_clock: bool) {
    let mut g = c.benchmark_group(group_name);
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for threads in [1usize, 2] {
        let param = if threads == 1 {
            "1-thread"
        } else {
            "2-threads"
        };
        let ours: Vec<(&str, RateLimiter)> = if fixed_clock {
            vec![(
                "aqueduct",
                RateLimiter::with_clock(roomy(), Clock::Manual(ManualClock::new())),
            )]
        } else {
            vec![
                ("aqueduct", RateLimiter::new(roomy())),
                (
                    "aqueduct-fastclock",
                    RateLimiter::with_clock(roomy(), Clock::Fast),
                ),
            ]
        };
        for (name, limiter) in ours {
            g.bench_function(BenchmarkId::new(name, param), |b| {
                b.iter_custom(|iters| {
                    contended(threads, iters, &|| {
                        black_box(limiter.try_acquire()).unwrap();
                    })
                });
            });
        }
        if fixed_clock {
            let limiter = governor::RateLimiter::direct_with_clock(
                roomy_governor(),
                FakeRelativeClock::default(),
            );
            g.bench_function(BenchmarkId::new("governor", param), |b| {
                b.iter_custom(|iters| {
                    contended(threads, iters, &|| {
                        black_box(limiter.check()).unwrap();
                    })
                });
            });
        } else {
            let limiter = governor::RateLimiter::direct(roomy_governor());
            g.bench_function(BenchmarkId::new("governor", param), |b| {
                b.iter_custom(|iters| {
                    contended(threads, iters, &|| {
                        black_box(limiter.check()).unwrap();
                    })
                });
            });
        }
    }
    g.finish();
}

fn gcra_allowed(c: &mut Criterion) {
    bench_allowed(c, "gcra/allowed", false);
}

fn gcra_allowed_fixed_clock(c: &mut Criterion) {
    bench_allowed(c, "gcra/allowed-fixed-clock", true);
}

fn gcra_denied(c: &mut Criterion) {
    let mut g = c.benchmark_group("gcra/denied");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let quota = Quota::per_minute(1).burst(1);
    for (name, limiter) in [
        ("aqueduct", RateLimiter::new(quota)),
        (
            "aqueduct-fastclock",
            RateLimiter::with_clock(quota, Clock::Fast),
        ),
    ] {
        limiter.try_acquire().unwrap();
        g.bench_function(BenchmarkId::new(name, "1-thread"), |b| {
            b.iter(|| black_box(limiter.try_acquire()).unwrap_err());
        });
    }
    let governor = governor::RateLimiter::direct(governor::Quota::per_minute(NonZeroU32::MIN));
    governor.check().unwrap();
    g.bench_function(BenchmarkId::new("governor", "1-thread"), |b| {
        b.iter(|| black_box(governor.check()).unwrap_err());
    });
    g.finish();
}

fn keyed_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyed/check");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for keys in [1_000u64, 1_000_000] {
        let param = format!("{keys}-keys");
        // A fixed pseudo-random walk over the keys, the same for everyone.
        let order: Vec<u64> = (0..keys)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys)
            .collect();
        for (name, clock) in [
            ("aqueduct", Clock::Tokio),
            ("aqueduct-fastclock", Clock::Fast),
        ] {
            let limiter = KeyedRateLimiter::<u64>::with_clock(roomy(), clock);
            for k in &order {
                limiter.try_acquire(k).unwrap();
            }
            let mut i = 0usize;
            g.bench_function(BenchmarkId::new(name, &param), |b| {
                b.iter(|| {
                    let k = &order[i];
                    i = if i + 1 == order.len() { 0 } else { i + 1 };
                    black_box(limiter.try_acquire(k)).unwrap();
                });
            });
        }
        let governor = governor::RateLimiter::keyed(roomy_governor());
        for k in &order {
            governor.check_key(k).unwrap();
        }
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("governor", &param), |b| {
            b.iter(|| {
                let k = &order[i];
                i = if i + 1 == order.len() { 0 } else { i + 1 };
                black_box(governor.check_key(k)).unwrap();
            });
        });
    }
    g.finish();
}

const MESSAGES: u64 = 10_000;

fn channel_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("channel/throughput");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .throughput(Throughput::Elements(MESSAGES));
    for cap in [16usize, 1024] {
        let param = format!("cap-{cap}");
        g.bench_function(BenchmarkId::new("aqueduct", &param), |b| {
            b.to_async(&rt).iter(|| async move {
                let (tx, mut rx) = aqueduct_flow::channel::bounded(cap);
                let producer = tokio::spawn(async move {
                    for i in 0..MESSAGES {
                        tx.send(i).await.unwrap();
                    }
                });
                let mut sum = 0u64;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                producer.await.unwrap();
                black_box(sum)
            });
        });
        g.bench_function(BenchmarkId::new("tokio", &param), |b| {
            b.to_async(&rt).iter(|| async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel(cap);
                let producer = tokio::spawn(async move {
                    for i in 0..MESSAGES {
                        tx.send(i).await.unwrap();
                    }
                });
                let mut sum = 0u64;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                producer.await.unwrap();
                black_box(sum)
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    gcra_allowed,
    gcra_allowed_fixed_clock,
    gcra_denied,
    keyed_check,
    channel_throughput
);
criterion_main!(benches);
