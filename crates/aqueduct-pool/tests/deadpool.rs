//! The same manager on our pool and on deadpool 0.13 through the adapter:
//! every behaviour that both pools promise is checked on both.
#![cfg(feature = "deadpool")]

mod common;

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aqueduct_pool::deadpool::{Adapter, DeadPool};
use aqueduct_pool::{Manager, Meta, Pool, Pooled};
use common::{Steered, TestError, settle};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};

enum Guard {
    Ours(Pooled<Steered>),
    Dead(deadpool::managed::Object<Adapter<Steered>>),
}

impl Deref for Guard {
    type Target = u64;
    fn deref(&self) -> &u64 {
        match self {
            Guard::Ours(g) => g,
            Guard::Dead(g) => g,
        }
    }
}

/// What the tests need from either pool.
trait Both: Clone + Send + Sync + 'static {
    fn checkout(&self) -> impl Future<Output = Guard> + Send;
    /// A checkout that may fail: the manager's create error, or `None` for
    /// any other failure.
    fn try_checkout(&self) -> impl Future<Output = Result<Guard, Option<TestError>>> + Send;
    fn steer(&self) -> &Steered;
    /// (size, idle)
    fn sizes(&self) -> (usize, usize);
}

impl Both for Pool<Steered> {
    async fn checkout(&self) -> Guard {
        Guard::Ours(self.get().await.unwrap())
    }
    async fn try_checkout(&self) -> Result<Guard, Option<TestError>> {
        match self.get().await {
            Ok(g) => Ok(Guard::Ours(g)),
            Err(aqueduct_pool::PoolError::Create(e)) => Err(Some(e)),
            Err(_) => Err(None),
        }
    }
    fn steer(&self) -> &Steered {
        self.manager()
    }
    fn sizes(&self) -> (usize, usize) {
        let s = self.status();
        (s.size, s.idle)
    }
}

impl Both for DeadPool<Steered> {
    async fn checkout(&self) -> Guard {
        Guard::Dead(self.get().await.unwrap())
    }
    async fn try_checkout(&self) -> Result<Guard, Option<TestError>> {
        match self.get().await {
            Ok(g) => Ok(Guard::Dead(g)),
            Err(deadpool::managed::PoolError::Backend(e)) => Err(Some(e)),
            Err(_) => Err(None),
        }
    }
    fn steer(&self) -> &Steered {
        self.manager().manager()
    }
    fn sizes(&self) -> (usize, usize) {
        let s = self.status();
        (s.size, s.available)
    }
}

fn ours(max: usize) -> Pool<Steered> {
    Pool::builder(Steered::default())
        .max_size(max)
        .wait_timeout(Duration::from_secs(3600))
        .build_lazy()
        .unwrap()
}

fn dead(max: usize) -> DeadPool<Steered> {
    deadpool::managed::Pool::builder(Adapter::new(Steered::default()))
        .max_size(max)
        .build()
        .unwrap()
}

async fn broken_objects_are_not_reused(pool: impl Both) {
    let a = pool.checkout().await;
    assert_eq!(*a, 0);
    pool.steer().break_object(0);
    drop(a);
    assert_eq!(
        *pool.checkout().await,
        1,
        "a fresh object replaces the broken one"
    );
}

async fn failed_recycle_is_replaced(pool: impl Both) {
    drop(pool.checkout().await);
    pool.steer().fail_recycle.store(true, Ordering::SeqCst);
    assert_eq!(*pool.checkout().await, 1);
    assert_eq!(pool.steer().created(), 2);
}

async fn create_errors_reach_the_caller_and_free_the_slot(pool: impl Both) {
    pool.steer().fail_create.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let err = pool.try_checkout().await.err();
        assert_eq!(err, Some(Some(TestError("create refused"))));
    }
    pool.steer().fail_create.store(false, Ordering::SeqCst);
    // The pool holds one object: no failed create kept its slot.
    let held = pool.checkout().await;
    assert_eq!(*held, 0);
    assert_eq!(pool.sizes(), (1, 0));
}

async fn a_panicking_recycle_discards_the_object(pool: impl Both) {
    drop(pool.checkout().await);
    assert_eq!(pool.sizes(), (1, 1));
    pool.steer().panic_recycle.store(true, Ordering::SeqCst);
    let p = pool.clone();
    let crashed = tokio::spawn(async move { drop(p.checkout().await) }).await;
    assert!(
        crashed.unwrap_err().is_panic(),
        "the panic reaches the caller"
    );
    pool.steer().panic_recycle.store(false, Ordering::SeqCst);
    assert_eq!(pool.sizes(), (0, 0), "the object and its slot are gone");
    assert_eq!(*pool.checkout().await, 1, "a fresh object replaces it");
}

async fn waiters_are_fifo(pool: impl Both) {
    let held = pool.checkout().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut set = JoinSet::new();
    for i in 0..6 {
        let pool = pool.clone();
        let order = Arc::clone(&order);
        set.spawn(async move {
            let g = pool.checkout().await;
            order.lock().unwrap().push(i);
            sleep(Duration::from_millis(1)).await;
            drop(g);
        });
        settle().await;
    }
    drop(held);
    while set.join_next().await.is_some() {}
    assert_eq!(*order.lock().unwrap(), (0..6).collect::<Vec<_>>());
}

async fn cancelled_gets_leak_nothing(pool: impl Both, max: usize) {
    pool.steer()
        .recycle_delay_ns
        .store(200_000, Ordering::SeqCst);
    let mut rng = SmallRng::seed_from_u64(11);
    let mut set = JoinSet::new();
    for _ in 0..2_000 {
        let pool = pool.clone();
        let start = Duration::from_micros(rng.random_range(0..200_000));
        let timer = Duration::from_micros(rng.random_range(0..1_000));
        set.spawn(async move {
            sleep(start).await;
            tokio::select! {
                _g = pool.checkout() => {}
                () = sleep(timer) => {}
            }
        });
    }
    while set.join_next().await.is_some() {}
    let (size, idle) = pool.sizes();
    assert!(size <= max);
    assert_eq!(size, idle, "nothing still checked out");
    pool.steer().recycle_delay_ns.store(0, Ordering::SeqCst);
    let held: Vec<_> = futures::future::join_all((0..max).map(|_| pool.checkout())).await;
    assert_eq!(held.len(), max);
}

/// Records the `Meta` each recycle sees.
#[derive(Default)]
struct Recording(Mutex<Vec<Meta>>);

impl Recording {
    /// The use count of each recycle, and whether it had a last use.
    fn uses(&self) -> Vec<(u64, bool)> {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .map(|m| (m.use_count(), m.last_used().is_some()))
            .collect()
    }
}

impl Manager for Recording {
    type Object = ();
    type Error = std::convert::Infallible;
    async fn create(&self) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn recycle(&self, _: &mut (), meta: &Meta) -> Result<(), Self::Error> {
        self.0.lock().unwrap().push(*meta);
        Ok(())
    }
}

macro_rules! both {
    ($name:ident, $body:ident $(, $arg:expr)*) => {
        mod $name {
            use super::*;
            #[tokio::test(start_paused = true)]
            async fn ours() {
                $body(super::ours(1) $(, $arg)*).await;
            }
            #[tokio::test(start_paused = true)]
            async fn deadpool() {
                $body(super::dead(1) $(, $arg)*).await;
            }
        }
    };
}

both!(broken, broken_objects_are_not_reused);
both!(recycle, failed_recycle_is_replaced);
both!(fifo, waiters_are_fifo);
both!(
    create_error,
    create_errors_reach_the_caller_and_free_the_slot
);
both!(recycle_panic, a_panicking_recycle_discards_the_object);
both!(cancel, cancelled_gets_leak_nothing, 1);

#[tokio::test(start_paused = true)]
async fn cancelled_gets_leak_nothing_size_4() {
    cancelled_gets_leak_nothing(ours(4), 4).await;
    cancelled_gets_leak_nothing(dead(4), 4).await;
}

#[tokio::test]
async fn recycle_sees_the_same_use_count_and_last_use_on_both() {
    // A time limit, so that our pool keeps times as deadpool always does.
    let ours = Pool::builder(Recording::default())
        .max_size(1)
        .idle_timeout(Duration::from_secs(3600))
        .build_lazy()
        .unwrap();
    let dead: DeadPool<Recording> =
        deadpool::managed::Pool::builder(Adapter::new(Recording::default()))
            .max_size(1)
            .build()
            .unwrap();
    let before = Instant::now();
    drop(ours.get().await.unwrap());
    drop(dead.get().await.unwrap());
    let made = Instant::now();
    for _ in 0..3 {
        drop(ours.get().await.unwrap());
        drop(dead.get().await.unwrap());
    }
    let a = ours.manager().uses();
    let b = dead.manager().manager().uses();
    // Every recycle follows a checkout, so there is always a last use.
    assert_eq!(a, vec![(2, true), (3, true), (4, true)]);
    assert_eq!(a, b);
    // Both tell when the object was made, the same at every recycle, and
    // a last use no earlier.
    for (pool, seen) in [
        ("ours", &ours.manager().0),
        ("deadpool", &dead.manager().manager().0),
    ] {
        for meta in seen.lock().unwrap().iter() {
            assert!(
                before <= meta.created() && meta.created() <= made,
                "{pool}: created {:?} outside [{before:?}, {made:?}]",
                meta.created()
            );
            assert!(
                meta.last_used().unwrap() >= meta.created(),
                "{pool}: {meta:?}"
            );
        }
    }
}

/// Our pool marks the object of a holder that panicked dirty, and its next
/// recycle sees that; deadpool takes it back as from any holder, so the
/// adapter's recycle finds it clean (as the adapter's docs say).
#[tokio::test(start_paused = true)]
async fn only_our_pool_tells_recycle_that_a_holder_panicked() {
    async fn dirty_seen(pool: impl Both) -> u64 {
        let p = pool.clone();
        let crashed = tokio::spawn(async move {
            let _obj = p.checkout().await;
            panic!("holder fails mid-operation");
        })
        .await;
        assert!(crashed.unwrap_err().is_panic());
        let again = pool.checkout().await;
        assert_eq!(*again, 0, "the same object, recycled");
        pool.steer().dirty_seen.load(Ordering::SeqCst)
    }
    assert_eq!(dirty_seen(ours(1)).await, 1);
    assert_eq!(dirty_seen(dead(1)).await, 0);
}
