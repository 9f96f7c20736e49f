//! The pool benchmarks' objects, pools and contended run, shared by the
//! criterion bench (`benches/pool.rs`) and the paired run
//! (`src/bin/pool_paired.rs`), so both measure the same work.
//!
//! Every pool is prefilled with no-op objects, so what is measured is the
//! pool itself.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aqueduct_pool::{Manager, Order, Pool};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{Barrier, Semaphore};

/// A manager whose objects cost nothing.
#[derive(Debug)]
pub struct Noop;

impl Manager for Noop {
    type Object = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
}

/// The same for deadpool.
#[derive(Debug)]
pub struct DpNoop;

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
#[derive(Debug)]
pub struct Bb8Noop;

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
pub trait Cycle: Clone + Send + Sync + 'static {
    /// Checks an object out and gives it back, holding it across a
    /// `yield_now()` if `hold`.
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
#[derive(Debug, Clone)]
pub struct Floor;

impl Cycle for Floor {
    async fn cycle(&self, hold: bool) {
        if hold {
            tokio::task::yield_now().await;
        }
        black_box(self);
    }
}

/// No pool, only the handoff a fair pool makes when tasks outnumber its
/// objects: a tokio `Semaphore` with one permit per object, which serves
/// its waiters first come, first served. A checkout takes a permit, or
/// queues for one; a give-back hands the permit to the oldest waiter and
/// wakes it. There is no object, no bound on the wait and no bookkeeping,
/// so where every checkout waits, a FIFO pool built on tokio's wakers
/// can hardly go below it.
///
/// ```
/// use aqueduct_benches::pool::{Handoff, run_contended, runtime};
///
/// let took = runtime(true).block_on(run_contended(&Handoff::new(2), 8, 100, true));
/// assert!(took > std::time::Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
pub struct Handoff(Arc<Semaphore>);

impl Handoff {
    /// A handoff of `permits` permits, as a pool of that many objects.
    ///
    /// ```
    /// let _four = aqueduct_benches::pool::Handoff::new(4);
    /// ```
    pub fn new(permits: usize) -> Self {
        Self(Arc::new(Semaphore::new(permits)))
    }
}

impl Cycle for Handoff {
    async fn cycle(&self, hold: bool) {
        let permit = self.0.acquire().await.unwrap();
        if hold {
            tokio::task::yield_now().await;
        }
        drop(black_box(permit));
    }
}

/// Our pool of `size` no-op objects, all created up front, in `order`.
///
/// ```
/// use aqueduct_benches::pool::{ours, runtime};
///
/// let pool = runtime(false).block_on(ours(4, aqueduct_pool::Order::Fifo));
/// assert_eq!(pool.status().idle, 4);
/// ```
///
/// # Panics
///
/// If the pool cannot be built (a `size` of 0).
pub async fn ours(size: usize, order: Order) -> Pool<Noop> {
    Pool::builder(Noop)
        .max_size(size)
        .min_idle(size)
        .order(order)
        .build()
        .await
        .unwrap()
}

/// A deadpool pool of `size` no-op objects, all created up front, whose
/// gets wait at most `wait` (none: without a bound, its default).
///
/// ```
/// use aqueduct_benches::pool::{deadpool_pool, runtime};
///
/// let pool = runtime(false).block_on(deadpool_pool(4, None));
/// assert_eq!(pool.status().available, 4);
/// ```
///
/// # Panics
///
/// If the pool cannot be built (a `size` of 0).
pub async fn deadpool_pool(size: usize, wait: Option<Duration>) -> deadpool::managed::Pool<DpNoop> {
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

/// A bb8 pool of `size` no-op connections, all made up front, testing
/// each on checkout if `test_on_check_out` (its default).
///
/// ```
/// use aqueduct_benches::pool::{bb8_pool, runtime};
///
/// let pool = runtime(true).block_on(bb8_pool(4, true));
/// assert_eq!(pool.state().idle_connections, 4);
/// ```
///
/// # Panics
///
/// If the pool cannot be built (a `size` of 0 or above `u32::MAX`).
pub async fn bb8_pool(size: usize, test_on_check_out: bool) -> bb8::Pool<Bb8Noop> {
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

/// A tokio runtime with timers: two workers if `multi`, else current-thread.
///
/// ```
/// assert_eq!(aqueduct_benches::pool::runtime(false).block_on(async { 1 }), 1);
/// ```
///
/// # Panics
///
/// If the runtime cannot be built (no threads or timers to be had).
pub fn runtime(multi: bool) -> Runtime {
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

/// `tasks` tasks, released together by a barrier, share `iters` cycles;
/// the time they took, scaled to exactly `iters` cycles.
///
/// ```
/// use aqueduct_benches::pool::{Floor, run_contended, runtime};
///
/// let took = runtime(true).block_on(run_contended(&Floor, 4, 100, true));
/// assert!(took > std::time::Duration::ZERO);
/// ```
///
/// # Panics
///
/// If a task panics: a checkout failed.
pub async fn run_contended<P: Cycle>(pool: &P, tasks: usize, iters: u64, hold: bool) -> Duration {
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
