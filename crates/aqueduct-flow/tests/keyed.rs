//! Behaviour of `KeyedRateLimiter`: independence of keys and the memory bound.

use std::time::Duration;

use aqueduct_flow::{Clock, KeyedRateLimiter, ManualClock, Quota, RateLimitError};
use tokio::time::Instant;

#[test]
fn keys_are_independent() {
    let clock = ManualClock::new();
    let l = KeyedRateLimiter::with_clock(Quota::per_second(2), Clock::Manual(clock.clone()));
    assert!(l.try_acquire_n(&"a", 2).is_ok());
    assert!(l.try_acquire(&"a").is_err());
    assert!(l.try_acquire_n(&"b", 2).is_ok());
    assert!(matches!(
        l.try_acquire_n(&"c", 3),
        Err(RateLimitError::InsufficientCapacity {
            requested: 3,
            burst: 2
        })
    ));
    clock.advance(Duration::from_millis(500));
    assert!(l.try_acquire(&"a").is_ok());
    assert!(l.try_acquire(&"a").is_err());
}

#[test]
fn memory_stays_bounded_by_the_keys_active_within_one_burst_period() {
    // 1 cell/s, burst 1: a key is active for 1 s after its use.
    let clock = ManualClock::new();
    let l =
        KeyedRateLimiter::with_clock(Quota::per_second(1).burst(1), Clock::Manual(clock.clone()));
    // 1,000,000 distinct keys, 1,000 per 100 ms: at most 10,000 active at any time.
    let mut max_len = 0;
    for batch in 0..1000u64 {
        for k in 0..1000u64 {
            l.try_acquire(&(batch * 1000 + k)).unwrap();
        }
        clock.advance(Duration::from_millis(100));
        if batch % 50 == 49 {
            max_len = max_len.max(l.len());
        }
    }
    let active = 10_000;
    assert!(
        max_len <= 2 * active + 64 * 1024,
        "stored {max_len} keys with at most {active} active"
    );
    assert!(max_len >= active, "cannot drop active keys: {max_len}");
    // Everything is full again after one more burst period.
    clock.advance(Duration::from_secs(1));
    l.sweep();
    assert!(l.is_empty());
}

#[test]
fn a_swept_key_behaves_as_new() {
    let clock = ManualClock::new();
    let l =
        KeyedRateLimiter::with_clock(Quota::per_second(1).burst(1), Clock::Manual(clock.clone()));
    l.try_acquire(&7u32).unwrap();
    clock.advance(Duration::from_secs(1));
    l.sweep();
    assert_eq!(l.len(), 0);
    assert!(l.try_acquire(&7).is_ok());
    assert!(
        l.try_acquire(&7).is_err(),
        "the key's state is tracked again"
    );
}

#[tokio::test(start_paused = true)]
async fn keyed_acquire_waits_per_key_and_gives_back_on_cancel() {
    let l = KeyedRateLimiter::new(Quota::per_second(10).burst(1));
    l.try_acquire(&1u8).unwrap();
    let start = Instant::now();
    let w = l.acquire(&1);
    drop(w); // last reservation for key 1: given back
    l.acquire(&2).await; // other key: no wait
    assert_eq!(start.elapsed(), Duration::ZERO);
    l.acquire(&1).await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

/// A hasher that sends every key to the same hash: collisions everywhere.
#[derive(Default)]
struct Collide;

impl std::hash::Hasher for Collide {
    fn finish(&self) -> u64 {
        42
    }
    fn write(&mut self, _: &[u8]) {}
}

#[test]
fn keys_with_the_same_hash_keep_separate_limits() {
    let clock = ManualClock::new();
    let l = KeyedRateLimiter::with_clock_and_hasher(
        Quota::per_second(1).burst(1),
        Clock::Manual(clock.clone()),
        std::hash::BuildHasherDefault::<Collide>::default(),
    );
    for k in 0..100u32 {
        assert!(l.try_acquire(&k).is_ok(), "key {k}");
    }
    for k in 0..100u32 {
        assert!(l.try_acquire(&k).is_err(), "key {k} is spent");
    }
    assert_eq!(l.len(), 100);
    clock.advance(Duration::from_secs(1));
    l.sweep();
    assert!(l.is_empty());
    assert!(l.try_acquire(&5).is_ok());
}

#[tokio::test(start_paused = true)]
async fn zero_cells_for_a_key_are_granted_at_once_and_store_nothing() {
    let l = KeyedRateLimiter::new(Quota::per_second(10).burst(1));
    // "a" has its cell spent and two more reserved: 200 ms of queue.
    l.try_acquire(&"a").unwrap();
    let queued = [l.acquire(&"a"), l.acquire(&"a")];
    assert_eq!(l.try_acquire_n(&"a", 0), Ok(()));
    // A key seen only with zero cells is never stored.
    assert_eq!(l.try_acquire_n(&"b", 0), Ok(()));
    assert_eq!(l.len(), 1);
    // The reservations keep their times.
    let start = Instant::now();
    for q in queued {
        q.await;
    }
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}
