//! Random sequences of pool operations, in every idle order, checked after
//! each step against what the pool must account for: every object alive is
//! either idle or held, none is lost or counted twice, and the pool ends
//! able to serve again. Paused time; one object per `get`, made at once
//! (top-ups too, once their task has run).

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use aqueduct_pool::{Order, Pool, PoolError, Pooled};
use common::{Steered, settle};
use futures::FutureExt;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// A `get` polled once: served at once, or cancelled while it waits.
    Get,
    TryGet,
    /// Give back the held object at this index (modulo how many are held).
    Drop(usize),
    Discard(usize),
    Detach(usize),
    /// Give it back broken: the pool discards it on return.
    Break(usize),
    Resize(usize),
    RetainEven,
    /// Let this many seconds pass (idle timeout is 10 s).
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Get),
        1 => Just(Op::TryGet),
        4 => (0..8_usize).prop_map(Op::Drop),
        1 => (0..8_usize).prop_map(Op::Discard),
        1 => (0..8_usize).prop_map(Op::Detach),
        1 => (0..8_usize).prop_map(Op::Break),
        1 => (1..6_usize).prop_map(Op::Resize),
        1 => Just(Op::RetainEven),
        1 => (1..8_u64).prop_map(Op::Wait),
    ]
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![Just(Order::Local), Just(Order::Fifo), Just(Order::Lifo)]
}

/// Runs `ops` and checks the pool's books after each one.
async fn run(order: Order, min_idle: usize, ops: Vec<Op>) {
    let pool = Pool::builder(Steered::default())
        .max_size(4)
        .min_idle(min_idle)
        .order(order)
        .idle_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let mut held: Vec<Pooled<Steered>> = Vec::new();
    let mut detached = 0_u64;
    for op in ops {
        let at = |i: usize, held: &Vec<_>| i % held.len();
        match op {
            Op::Get => {
                if let Some(got) = pool.get().now_or_never() {
                    held.push(got.unwrap());
                }
            }
            Op::TryGet => match pool.try_get() {
                Ok(obj) => held.push(obj),
                Err(PoolError::Exhausted { in_use, .. }) => assert_eq!(in_use, held.len()),
                Err(e) => panic!("try_get: {e}"),
            },
            Op::Drop(i) if !held.is_empty() => drop(held.swap_remove(at(i, &held))),
            Op::Discard(i) if !held.is_empty() => held.swap_remove(at(i, &held)).discard(),
            Op::Detach(i) if !held.is_empty() => {
                let obj = held.swap_remove(at(i, &held));
                let id = *obj;
                assert_eq!(obj.detach(), id);
                detached += 1;
            }
            Op::Break(i) if !held.is_empty() => {
                let obj = held.swap_remove(at(i, &held));
                pool.manager().break_object(*obj);
                drop(obj);
            }
            Op::Resize(n) => pool.resize(n),
            Op::RetainEven => {
                pool.retain(|id, _| id % 2 == 0);
            }
            Op::Wait(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            Op::Drop(_) | Op::Discard(_) | Op::Detach(_) | Op::Break(_) => {}
        }
        // A checkout below `min_idle` has a task top the pool up; creates
        // finish at once here.
        settle().await;
        let s = pool.status();
        assert_eq!(s.waiting, 0, "{s:?}");
        assert_eq!(s.in_use, held.len(), "every object out is held: {s:?}");
        assert_eq!(s.idle + held.len(), s.size, "{s:?}");
        assert_eq!(s.created - s.discarded - detached, s.size as u64, "{s:?}");
        assert_eq!(s.created, pool.manager().next_id.load(Ordering::SeqCst));
        let mut ids: Vec<u64> = held.iter().map(|o| **o).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), held.len(), "an object held twice");
        assert!(s.size <= s.max_size.max(held.len()), "{s:?}");
    }
    drop(held);
    let s = pool.status();
    assert_eq!((s.in_use, s.idle), (0, s.size), "{s:?}");
    // Still serves: as many objects at once as it may hold (without a
    // timer: a get may wait for a top-up's create, which is instant).
    let max = s.max_size;
    let start = tokio::time::Instant::now();
    let mut all = Vec::new();
    for _ in 0..max {
        all.push(pool.get().await.unwrap());
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "served at once");
    assert_eq!(pool.status().in_use, max);
    drop(all);
    pool.close().await.unwrap();
    assert_eq!(pool.status().size, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_sequence_of_operations_keeps_the_books(
        order in order(),
        min_idle in 0..3_usize,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run(order, min_idle, ops));
    }
}
