//! The pool under real concurrency: tasks on a multi-thread runtime check
//! objects out and give them back, discard, detach and drop them, and
//! give up on gets at random points, as fast as they can; at quiescence
//! the counters add up and no get waited past `wait_timeout` (a lost
//! wake-up would leave one waiting until it timed out).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aqueduct_pool::{Manager, Meta, Order, Pool, PoolError};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Creates and recycles that sometimes yield (so that gets are dropped
/// inside them too), and objects that sometimes come back broken.
#[derive(Default)]
struct Jittery {
    next: AtomicU64,
}

impl Manager for Jittery {
    type Object = u64;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<u64, Self::Error> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id % 3 == 0 {
            tokio::task::yield_now().await;
        }
        Ok(id)
    }

    async fn recycle(&self, obj: &mut u64, meta: &Meta) -> Result<(), Self::Error> {
        if (*obj + meta.use_count()) % 5 == 0 {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    fn is_broken(&self, obj: &u64) -> bool {
        obj % 97 == 0
    }
}

const TASKS: u64 = 8;
const OPS: u64 = 20_000;
/// Far above any wait here (a few milliseconds at most, on a loaded
/// machine): a get that reaches it was left waiting.
const WAIT: Duration = Duration::from_secs(5);

/// Yields `n` times.
async fn yields(n: u32) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// `reshape`: one more task resizes the pool (between 1 and two above
/// `max_size`) and drops half its idle objects with `retain`, over and
/// over, until the others are done; then the pool is `max_size` again.
async fn storm(order: Order, max_size: usize, min_idle: usize, reshape: bool) {
    let pool = Pool::builder(Jittery::default())
        .max_size(max_size)
        .min_idle(min_idle)
        .order(order)
        .wait_timeout(WAIT)
        .build()
        .await
        .unwrap();
    let detached = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|seed| {
            let pool = pool.clone();
            let detached = Arc::clone(&detached);
            tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut slowest = Duration::ZERO;
                for _ in 0..OPS {
                    let op = rng.random_range(0..100u32);
                    if op < 10 {
                        if let Ok(obj) = pool.try_get() {
                            drop(obj);
                        }
                        continue;
                    }
                    let t = std::time::Instant::now();
                    if op < 30 {
                        // Given up after a few yields: cancelled while
                        // queued, creating, recycling, or never.
                        let n = rng.random_range(0..4);
                        tokio::select! {
                            got = pool.get() => drop(got.unwrap()),
                            () = yields(n) => {}
                        }
                        slowest = slowest.max(t.elapsed());
                        continue;
                    }
                    let obj = match pool.get().await {
                        Ok(obj) => obj,
                        Err(e @ PoolError::Timeout { .. }) => {
                            panic!("a get waited {:?}: {e}", t.elapsed())
                        }
                        Err(e) => panic!("{e}"),
                    };
                    slowest = slowest.max(t.elapsed());
                    match op {
                        30..40 => obj.discard(),
                        40..43 => {
                            let _ = obj.detach();
                            detached.fetch_add(1, Ordering::Relaxed);
                        }
                        43..60 => {
                            tokio::task::yield_now().await;
                            drop(obj);
                        }
                        _ => drop(obj),
                    }
                    let s = pool.status();
                    // Above a reduced `max_size`, objects out keep their
                    // slots until they come back.
                    assert!(reshape || s.size <= s.max_size, "{s:?}");
                    assert!(s.idle <= s.size, "{s:?}");
                }
                slowest
            })
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reshaper = {
        let pool = pool.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut i = 0;
            while reshape && !done.load(Ordering::Relaxed) {
                i += 1;
                pool.resize(1 + i % (max_size + 2));
                if i % 3 == 0 {
                    pool.retain(|obj, _| obj % 2 == 0);
                }
                yields(50).await;
            }
            pool.resize(max_size);
        })
    };
    for task in tasks {
        let slowest = task.await.unwrap();
        assert!(slowest < WAIT, "a get took {slowest:?}");
    }
    done.store(true, Ordering::Relaxed);
    reshaper.await.unwrap();
    // A top-up task (below `min_idle`) may still be creating on a worker:
    // its slot counts as in use until it is done. This task runs on the
    // test's own thread: it may yield many times before a worker gets to
    // run it.
    for _ in 0..1_000_000 {
        if pool.status().in_use == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let s = pool.status();
    let detached = detached.load(Ordering::Relaxed);
    assert_eq!((s.in_use, s.waiting, s.timeouts), (0, 0, 0), "{s:?}");
    assert!(s.size <= max_size, "{s:?}");
    assert_eq!(s.idle, s.size, "{s:?}");
    assert_eq!(s.created - s.discarded - detached, s.size as u64, "{s:?}");
    // Nothing is stuck: the pool fills up at once.
    let mut all = Vec::new();
    for _ in 0..max_size {
        all.push(pool.get().await.unwrap());
    }
    let s = pool.status();
    assert_eq!(
        (s.size, s.in_use, s.timeouts),
        (max_size, max_size, 0),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_in_local_order_leaves_the_counters_right() {
    storm(Order::Local, 4, 0, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_in_fifo_order_with_min_idle_leaves_the_counters_right() {
    storm(Order::Fifo, 3, 2, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_in_lifo_order_leaves_the_counters_right() {
    storm(Order::Lifo, 2, 1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_through_resizes_and_retains_leaves_the_counters_right() {
    storm(Order::Local, 4, 1, true).await;
}
