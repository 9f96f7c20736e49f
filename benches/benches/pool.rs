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
//! go below.
//! bb8 runs twice: `bb8` with `test_on_check_out(true)` (its default) and
//! `bb8-nocheck` with it off. Every pool runs with its defaults, so deadpool
//! waits without a bound while ours and bb8 bound every wait (30 s); in the
//! contended groups, where gets do wait, `deadpool-wait` is deadpool with the
//! same 30 s bound, so that all three do the same work.
//!
//! Run with `cargo xtask bench pool`, which prints the ratios.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aqueduct_pool::{Manager, Order, Pool};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Barrier;

/// A manager whose objects cost nothing.
struct Noop;

impl Manager for Noop {
    type Object = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
}

/// The same for deadpool.
struct DpNoop;

impl deadpool::managed::Manager for DpNoop {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn recycle(
        &self,
        _obj: &mut u64,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

/// The same for bb8.
struct Bb8Noop;

impl bb8::ManageConnection for Bb8Noop {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

/// One checkout and give-back, optionally holding the object across a yield.
trait Cycle: Clone + Send + Sync + 'static {
    fn cycle(&self, hold: bool) -> impl Future<Output = ()> + Send;
}

impl Cycle for Pool<Noop> {
    async fn cycle(&self, hold: bool) {
        let obj = self.get().await.unwrap();
        if hold {
            tokio::task::yield_now().await;
        }
        black_box(*obj);
    }
}

impl Cycle for deadpool::managed::Pool<DpNoop> {
    async fn cycle(&self, hold: bool) {
        let obj = self.get().await.unwrap();
        if hold {
            tokio::task::yield_now().await;
        }
        black_box(*obj);
    }
}

impl Cycle for bb8::Pool<Bb8Noop> {
    async fn cycle(&self, hold: bool) {
        let obj = self.get().await.unwrap();
        if hold {
            tokio::task::yield_now().await;
        }
        black_box(*obj);
    }
}

/// No pool: what the tasks cost by themselves.
#[derive(Clone)]
struct Floor;

impl Cycle for Floor {
    async fn cycle(&self, hold: bool) {
        if hold {
            tokio::task::yield_now().await;
        }
        black_box(self);
    }
}

async fn ours(size: usize, order: Order) -> Pool<Noop> {
    Pool::builder(Noop)
        .max_size(size)
        .min_idle(size)
        .order(order)
        .build()
        .await
        .unwrap()
}

async fn deadpool_pool(size: usize, wait: Option<Duration>) -> deadpool::managed::Pool<DpNoop> {
    let pool = deadpool::managed::Pool::builder(DpNoop)
        .max_size(size)
        .wait_timeout(wait)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .unwrap();
    // Prefill: check out every object at once, then give them all back.
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(pool.get().await.unwrap());
    }
    drop(held);
    pool
}

async fn bb8_pool(size: usize, test_on_check_out: bool) -> bb8::Pool<Bb8Noop> {
    let size32 = u32::try_from(size).unwrap();
    let pool = bb8::Pool::builder()
        .max_size(size32)
        .min_idle(Some(size32))
        .test_on_check_out(test_on_check_out)
        .build(Bb8Noop)
        .await
        .unwrap();
    while pool.state().idle_connections < size32 {
        tokio::task::yield_now().await;
    }
    pool
}

fn runtime(multi: bool) -> Runtime {
    if multi {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    } else {
        Builder::new_current_thread().enable_all().build().unwrap()
    }
}

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

/// `tasks` tasks, released together by a barrier, share `iters` cycles.
async fn run_contended<P: Cycle>(pool: &P, tasks: usize, iters: u64, hold: bool) -> Duration {
    let per_task = iters.div_ceil(tasks as u64);
    let barrier = Arc::new(Barrier::new(tasks + 1));
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let pool = pool.clone();
        let barrier = Arc::clone(&barrier);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..per_task {
                pool.cycle(hold).await;
            }
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = start.elapsed();
    // Scale to exactly `iters` cycles.
    elapsed.mul_f64(iters as f64 / (per_task * tasks as u64) as f64)
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
