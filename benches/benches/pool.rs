//! Benchmarks of `aqueduct-pool` beside deadpool 0.13 and bb8 0.9.
//!
//! Every pool is prefilled with no-op objects, so what is measured is the
//! pool itself: checkout and give-back, uncontended and under contention.
//! `aqueduct` is our pool with its defaults (local order: idle objects
//! parked lock-free, one per cache line); `aqueduct-fifo` is the same pool
//! in strict FIFO order, where every checkout and return takes its lock, as
//! deadpool's and bb8's defaults keep a FIFO order too. In the groups that
//! hold each object across a `yield_now()`, `yield-floor` is the same tasks
//! yielding with no pool at all: the scheduler's cost, which no pool can
//! go below; `yield-handoff` is the same tasks taking and giving back a
//! permit of a tokio `Semaphore` with one permit per object: the FIFO
//! handoff alone, which a fair pool cannot skip where tasks outnumber
//! objects.
//! bb8 runs twice: `bb8` with `test_on_check_out(true)` (its default) and
//! `bb8-nocheck` with it off. Every pool runs with its defaults, so deadpool
//! waits without a bound while ours and bb8 bound every wait (30 s); in the
//! contended groups, where gets do wait, `deadpool-wait` is deadpool with the
//! same 30 s bound, so that all three do the same work.
//!
//! Run with `cargo xtask bench pool`, which prints the ratios.

use std::hint::black_box;
use std::time::Duration;

use aqueduct_benches::pool::{
    Floor, Handoff, Noop, bb8_pool, deadpool_pool, ours, run_contended, runtime,
};
use aqueduct_pool::{Order, Pool};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tokio::runtime::Runtime;

/// The runtimes the single-checkout groups run on, by parameter.
const RUNTIMES: [(&str, bool); 2] = [("current-thread", false), ("multi-thread", true)];

/// A group of single checkouts: one element each.
fn checkout_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .throughput(Throughput::Elements(1));
    group
}

/// Our pool in its default order and in FIFO order, 8 objects each.
fn our_pools(rt: &Runtime) -> [(&'static str, Pool<Noop>); 2] {
    [("aqueduct", Order::Local), ("aqueduct-fifo", Order::Fifo)]
        .map(|(name, order)| (name, rt.block_on(ours(8, order))))
}

fn uncontended(c: &mut Criterion) {
    let mut group = checkout_group(c, "pool/uncontended");
    for (param, multi) in RUNTIMES {
        let rt = runtime(multi);
        for (name, pool) in our_pools(&rt) {
            group.bench_function(BenchmarkId::new(name, param), |b| {
                b.to_async(&rt).iter(|| async {
                    let obj = pool.get().await.unwrap();
                    black_box(*obj);
                });
            });
        }
        let pool = rt.block_on(deadpool_pool(8, None));
        group.bench_function(BenchmarkId::new("deadpool", param), |b| {
            b.to_async(&rt).iter(|| async {
                let obj = pool.get().await.unwrap();
                black_box(*obj);
            });
        });
        for (name, check) in [("bb8", true), ("bb8-nocheck", false)] {
            let pool = rt.block_on(bb8_pool(8, check));
            group.bench_function(BenchmarkId::new(name, param), |b| {
                b.to_async(&rt).iter(|| async {
                    let obj = pool.get().await.unwrap();
                    black_box(*obj);
                });
            });
        }
    }
    group.finish();
}

/// A checkout that never waits, then the give-back: our `try_get` beside
/// deadpool's `timeout_get` with a zero wait, its non-blocking mode (bb8
/// has none). Each runs in a task of the runtime, as a server's handler
/// would.
fn try_checkout(c: &mut Criterion) {
    let mut group = checkout_group(c, "pool/try");
    for (param, multi) in RUNTIMES {
        let rt = runtime(multi);
        for (name, pool) in our_pools(&rt) {
            group.bench_function(BenchmarkId::new(name, param), |b| {
                b.to_async(&rt).iter(|| async {
                    let obj = pool.try_get().unwrap();
                    black_box(*obj);
                });
            });
        }
        let pool = rt.block_on(deadpool_pool(8, None));
        let no_wait = deadpool::managed::Timeouts {
            wait: Some(Duration::ZERO),
            ..deadpool::managed::Timeouts::new()
        };
        group.bench_function(BenchmarkId::new("deadpool", param), |b| {
            b.to_async(&rt).iter(|| async {
                let obj = pool.timeout_get(&no_wait).await.unwrap();
                black_box(*obj);
            });
        });
    }
    group.finish();
}

fn contended_group(c: &mut Criterion, name: &str, hold: bool) {
    let rt = runtime(true);
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700))
        .sample_size(10)
        .throughput(Throughput::Elements(1));
    for size in [4, 8, 16] {
        let aq = rt.block_on(ours(size, Order::Local));
        let aq_fifo = rt.block_on(ours(size, Order::Fifo));
        let dp = rt.block_on(deadpool_pool(size, None));
        let dp_wait = rt.block_on(deadpool_pool(size, Some(Duration::from_secs(30))));
        let bb = rt.block_on(bb8_pool(size, true));
        let bb_nocheck = rt.block_on(bb8_pool(size, false));
        let handoff = Handoff::new(size);
        for tasks in [2, 4, 8, 16, 32, 64] {
            let param = format!("t{tasks}-p{size}");
            group.bench_function(BenchmarkId::new("aqueduct", &param), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| run_contended(&aq, tasks, iters, hold));
            });
            group.bench_function(BenchmarkId::new("aqueduct-fifo", &param), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| run_contended(&aq_fifo, tasks, iters, hold));
            });
            group.bench_function(BenchmarkId::new("deadpool", &param), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| run_contended(&dp, tasks, iters, hold));
            });
            group.bench_function(BenchmarkId::new("deadpool-wait", &param), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| run_contended(&dp_wait, tasks, iters, hold));
            });
            group.bench_function(BenchmarkId::new("bb8", &param), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| run_contended(&bb, tasks, iters, hold));
            });
            group.bench_function(BenchmarkId::new("bb8-nocheck", &param), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| run_contended(&bb_nocheck, tasks, iters, hold));
            });
            if hold {
                group.bench_function(BenchmarkId::new("yield-floor", &param), |b| {
                    b.to_async(&rt)
                        .iter_custom(|iters| run_contended(&Floor, tasks, iters, hold));
                });
                group.bench_function(BenchmarkId::new("yield-handoff", &param), |b| {
                    b.to_async(&rt)
                        .iter_custom(|iters| run_contended(&handoff, tasks, iters, hold));
                });
            }
        }
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    contended_group(c, "pool/contended", false);
}

fn contended_hold(c: &mut Criterion) {
    contended_group(c, "pool/contended-yield", true);
}

criterion_group!(
    benches,
    uncontended,
    try_checkout,
    contended,
    contended_hold
);
criterion_main!(benches);
