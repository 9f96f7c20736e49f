//! One rate limit per key, in sharded maps with lazy eviction.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

use super::clock::TimeBase;
use super::gcra::{self, QuotaCell};
use super::{Clock, Quota, RateLimitError};

/// Smallest size at which a shard sweeps its full keys.
const MIN_SWEEP: usize = 64;

#[repr(align(64))]
struct Shard<K> {
    map: Mutex<ShardMap<K>>,
}

/// Passes through the one `u64` the map's keys are: each key is hashed once,
/// by the limiter's hasher, and that hash picks the shard and the slot.
#[derive(Clone, Copy, Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else deterministically.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The keys that share one hash: almost always exactly one.
enum Slot<K> {
    One(K, u64),
    Many(Vec<(K, u64)>),
}

impl<K: Eq> Slot<K> {
    fn get_mut(&mut self, key: &K) -> Option<&mut u64> {
        match self {
            Self::One(k, tat) => (k == key).then_some(tat),
            Self::Many(v) => v.iter_mut().find(|(k, _)| k == key).map(|(_, t)| t),
        }
    }

    fn push(&mut self, key: K, tat: u64) {
        match self {
            Self::Many(v) => v.push((key, tat)),
            Self::One(..) => {
                let Self::One(k0, t0) = std::mem::replace(self, Self::Many(Vec::with_capacity(2)))
                else {
                    return;
                };
                if let Self::Many(v) = self {
                    v.push((k0, t0));
                    v.push((key, tat));
                }
            }
        }
    }

    /// Drops the keys that are full at `now`; returns how many remain.
    fn retain_active(&mut self, now: u64) -> usize {
        match self {
            Self::One(_, tat) => usize::from(*tat > now),
            Self::Many(v) => {
                v.retain(|(_, tat)| *tat > now);
                v.len()
            }
        }
    }
}

struct ShardMap<K> {
    /// Hash → the keys with that hash and their TATs. A key absent and a
    /// key whose TAT is not after `now` are the same: a full limit.
    slots: HashMap<u64, Slot<K>, BuildHasherDefault<PassThrough>>,
    /// Keys stored.
    len: usize,
    /// Size at which the next insert sweeps.
    sweep_at: usize,
}

struct KeyedShared<K, S> {
    shards: Box<[Shard<K>]>,
    mask: u64,
    hasher: S,
    quota: QuotaCell,
    clock: TimeBase,
}

/// A GCRA rate limit per key (a client address, a user id), cheap to clone.
///
/// Keys live in sharded maps (one small lock per shard, taken for the
/// duration of one map lookup). A key whose limit is back to full is the same
/// as an absent key, so such keys are dropped lazily: a shard sweeps them
/// when it has doubled since its last sweep. Memory therefore stays bounded
/// by about twice the keys used within the last burst period (`burst *
/// interval`), however many distinct keys pass through over time. No
/// background task is involved.
///
/// ```
/// use aqueduct_flow::{KeyedRateLimiter, Quota};
///
/// let limiter = KeyedRateLimiter::new(Quota::per_second(1));
/// assert!(limiter.try_acquire(&"alice").is_ok());
/// assert!(limiter.try_acquire(&"alice").is_err());
/// assert!(limiter.try_acquire(&"bob").is_ok()); // bob has his own limit
/// ```
pub struct KeyedRateLimiter<K, S = RandomState> {
    shared: Arc<KeyedShared<K, S>>,
}

impl<K, S> Clone for KeyedRateLimiter<K, S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K, S> fmt::Debug for KeyedRateLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("quota", &Quota::from_params(self.shared.quota.load()))
            .field("shards", &self.shared.shards.len())
            .finish_non_exhaustive()
    }
}

/// A point-in-time view of a [`KeyedRateLimiter`].
///
/// ```
/// use aqueduct_flow::{KeyedRateLimiter, Quota};
/// let limiter = KeyedRateLimiter::new(Quota::per_second(1));
/// limiter.try_acquire(&1).unwrap();
/// assert_eq!(limiter.snapshot().stored_keys, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedSnapshot {
    /// The quota each key gets.
    pub quota: Quota,
    /// Keys currently stored (active ones plus full ones not yet swept).
    pub stored_keys: usize,
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A keyed limiter on tokio's clock.
    ///
    /// ```
    /// let l = aqueduct_flow::KeyedRateLimiter::<u64>::new(aqueduct_flow::Quota::per_second(5));
    /// assert_eq!(l.len(), 0);
    /// ```
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        Self::with_clock_and_hasher(quota, Clock::Tokio, RandomState::new())
    }

    /// A keyed limiter on the given clock.
    ///
    /// ```
    /// use aqueduct_flow::{Clock, KeyedRateLimiter, ManualClock, Quota};
    /// let l = KeyedRateLimiter::<u64>::with_clock(Quota::per_second(5), Clock::Manual(ManualClock::new()));
    /// assert!(l.try_acquire(&7).is_ok());
    /// ```
    #[must_use]
    pub fn with_clock(quota: Quota, clock: Clock) -> Self {
        Self::with_clock_and_hasher(quota, clock, RandomState::new())
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> KeyedRateLimiter<K, S> {
    /// A keyed limiter with a chosen clock and hasher (a faster hasher pays
    /// off for small keys that no adversary chooses).
    ///
    /// ```
    /// use aqueduct_flow::{Clock, KeyedRateLimiter, Quota};
    /// use std::hash::RandomState;
    /// let l: KeyedRateLimiter<u32> =
    ///     KeyedRateLimiter::with_clock_and_hasher(Quota::per_second(1), Clock::Tokio, RandomState::new());
    /// assert!(l.try_acquire(&1).is_ok());
    /// ```
    #[must_use]
    pub fn with_clock_and_hasher(quota: Quota, clock: Clock, hasher: S) -> Self {
        let n = std::thread::available_parallelism()
            .map_or(4, std::num::NonZeroUsize::get)
            .saturating_mul(8)
            .next_power_of_two()
            .clamp(16, 1024);
        let shards = (0..n)
            .map(|_| Shard {
                map: Mutex::new(ShardMap {
                    slots: HashMap::default(),
                    len: 0,
                    sweep_at: MIN_SWEEP,
                }),
            })
            .collect();
        Self {
            shared: Arc::new(KeyedShared {
                shards,
                mask: (n - 1) as u64,
                hasher,
                quota: QuotaCell::new(quota.params()),
                clock: TimeBase::new(clock),
            }),
        }
    }

    /// The key's hash and its shard, locked.
    #[inline]
    fn shard(&self, key: &K) -> (u64, MutexGuard<'_, ShardMap<K>>) {
        let h = self.shared.hasher.hash_one(key);
        // Middle bits: the map uses the low bits for its index and the top
        // seven for its control bytes.
        let i = usize::try_from((h >> 32) & self.shared.mask).unwrap_or(0);
        let guard = self.shared.shards[i]
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (h, guard)
    }

    /// Takes one cell for `key` now, or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`RateLimitError::RateLimited`] with the time until a cell conforms.
    ///
    /// ```
    /// use aqueduct_flow::{KeyedRateLimiter, Quota};
    /// let l = KeyedRateLimiter::new(Quota::per_second(2));
    /// assert!(l.try_acquire(&"k").is_ok());
    /// assert!(l.try_acquire(&"k").is_ok());
    /// assert!(l.try_acquire(&"k").is_err());
    /// ```
    #[inline]
    pub fn try_acquire(&self, key: &K) -> Result<(), RateLimitError> {
        self.try_acquire_n(key, 1)
    }

    /// Takes `n` cells for `key` now, or none and fails without waiting.
    /// Zero cells always succeed, take nothing and store no key (see [zero
    /// cells](crate::rate#zero-cells)).
    ///
    /// # Errors
    ///
    /// [`RateLimitError::InsufficientCapacity`] when `n` exceeds the burst,
    /// [`RateLimitError::RateLimited`] when the cells are not available yet.
    ///
    /// ```
    /// use aqueduct_flow::{KeyedRateLimiter, Quota};
    /// let l = KeyedRateLimiter::new(Quota::per_second(4));
    /// assert!(l.try_acquire_n(&1, 4).is_ok());
    /// assert!(l.try_acquire_n(&1, 5).is_err());
    /// assert!(l.try_acquire_n(&2, 0).is_ok());
    /// assert_eq!(l.len(), 1); // key 2 took nothing and is not stored
    /// ```
    pub fn try_acquire_n(&self, key: &K, n: u32) -> Result<(), RateLimitError> {
        if n == 0 {
            return Ok(());
        }
        let p = self.shared.quota.load();
        let cost = p.cost(n);
        if cost > p.tolerance {
            return Err(RateLimitError::InsufficientCapacity {
                requested: n,
                burst: p.burst(),
            });
        }
        let now = self.shared.clock.now();
        let (h, mut shard) = self.shard(key);
        let denied = |at: u64| RateLimitError::RateLimited {
            retry_after: Duration::from_nanos(at - now),
        };
        if let Some(tat) = shard.get_mut(h, key) {
            *tat = gcra::decide(*tat, now, cost, p.tolerance).map_err(denied)?;
            return Ok(());
        }
        let new = gcra::decide(0, now, cost, p.tolerance).map_err(denied)?;
        shard.insert(h, key.clone(), new, now);
        Ok(())
    }

    /// Reserves one cell for `key` now and returns a future that sleeps
    /// exactly until it conforms (FIFO per key, as
    /// [`RateLimiter::acquire`](crate::RateLimiter::acquire)).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes gives the cell back if no
    /// later reservation for the same key depends on it.
    ///
    /// ```
    /// use aqueduct_flow::{KeyedRateLimiter, Quota};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let l = KeyedRateLimiter::new(Quota::per_second(10).burst(1));
    /// let t = tokio::time::Instant::now();
    /// l.acquire(&"a").await;
    /// l.acquire(&"a").await;
    /// l.acquire(&"b").await;
    /// assert_eq!(t.elapsed().as_millis(), 100);
    /// # }
    /// ```
    pub fn acquire(&self, key: &K) -> KeyedAcquire<K, S> {
        let p = self.shared.quota.load();
        let now = self.shared.clock.now();
        let (h, mut shard) = self.shard(key);
        let (prev, new) = match shard.get_mut(h, key) {
            Some(tat) => {
                let prev = *tat;
                *tat = prev.max(now).saturating_add(p.interval);
                (prev, *tat)
            }
            None => {
                let new = now.saturating_add(p.interval);
                shard.insert(h, key.clone(), new, now);
                (0, new)
            }
        };
        drop(shard);
        let ready_at = new.saturating_sub(p.tolerance).max(now);
        KeyedAcquire {
            limiter: self.clone(),
            key: Some(key.clone()),
            prev,
            new,
            sleep: (ready_at > now).then(|| {
                Box::pin(tokio::time::sleep_until(
                    self.shared.clock.instant_at(ready_at, now),
                ))
            }),
        }
    }

    fn give_back(&self, key: &K, prev: u64, new: u64) {
        let (h, mut shard) = self.shard(key);
        if let Some(tat) = shard.get_mut(h, key) {
            if *tat == new {
                *tat = prev;
            }
        }
    }

    /// Replaces the quota of every key (see
    /// [`RateLimiter::set_quota`](crate::RateLimiter::set_quota)).
    ///
    /// ```
    /// use aqueduct_flow::{KeyedRateLimiter, Quota};
    /// let l = KeyedRateLimiter::<u8>::new(Quota::per_second(1));
    /// l.set_quota(Quota::per_second(2));
    /// assert!(l.try_acquire_n(&0, 2).is_ok());
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        self.shared.quota.store(quota.params());
    }

    /// Keys currently stored, swept or not. Locks each shard in turn.
    ///
    /// ```
    /// use aqueduct_flow::{KeyedRateLimiter, Quota};
    /// let l = KeyedRateLimiter::new(Quota::per_second(1));
    /// l.try_acquire(&"x").unwrap();
    /// assert_eq!(l.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|s| s.map.lock().unwrap_or_else(PoisonError::into_inner).len)
            .sum()
    }

    /// Whether no key is stored.
    ///
    /// ```
    /// let l = aqueduct_flow::KeyedRateLimiter::<u8>::new(aqueduct_flow::Quota::per_second(1));
    /// assert!(l.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every key whose limit is back to full now, in every shard.
    /// Never needed for correctness or for the memory bound; useful before
    /// reading [`len`](Self::len).
    ///
    /// ```
    /// use aqueduct_flow::{Clock, KeyedRateLimiter, ManualClock, Quota};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let l = KeyedRateLimiter::with_clock(Quota::per_second(1), Clock::Manual(clock.clone()));
    /// l.try_acquire(&"x").unwrap();
    /// clock.advance(Duration::from_secs(1));
    /// l.sweep();
    /// assert!(l.is_empty());
    /// ```
    pub fn sweep(&self) {
        let now = self.shared.clock.now();
        for s in &self.shared.shards {
            let mut shard = s.map.lock().unwrap_or_else(PoisonError::into_inner);
            shard.sweep(now);
        }
    }

    /// A point-in-time view.
    ///
    /// ```
    /// use aqueduct_flow::{KeyedRateLimiter, Quota};
    /// let l = KeyedRateLimiter::<u8>::new(Quota::per_second(3));
    /// assert_eq!(l.snapshot().quota.max_burst(), 3);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> KeyedSnapshot {
        KeyedSnapshot {
            quota: Quota::from_params(self.shared.quota.load()),
            stored_keys: self.len(),
        }
    }
}

impl<K: Eq> ShardMap<K> {
    #[inline]
    fn get_mut(&mut self, h: u64, key: &K) -> Option<&mut u64> {
        self.slots.get_mut(&h).and_then(|slot| slot.get_mut(key))
    }

    fn insert(&mut self, h: u64, key: K, tat: u64, now: u64) {
        if self.len >= self.sweep_at {
            self.sweep(now);
        }
        match self.slots.get_mut(&h) {
            Some(slot) => slot.push(key, tat),
            None => {
                self.slots.insert(h, Slot::One(key, tat));
            }
        }
        self.len += 1;
    }

    fn sweep(&mut self, now: u64) {
        let mut len = 0;
        self.slots.retain(|_, slot| {
            let n = slot.retain_active(now);
            len += n;
            n > 0
        });
        self.len = len;
        self.sweep_at = (len * 2).max(MIN_SWEEP);
        if self.slots.capacity() > self.sweep_at * 4 {
            self.slots.shrink_to(self.sweep_at);
        }
    }
}

/// The future of [`KeyedRateLimiter::acquire`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let l = aqueduct_flow::KeyedRateLimiter::new(aqueduct_flow::Quota::per_second(1));
/// let f: aqueduct_flow::KeyedAcquire<&str> = l.acquire(&"k");
/// f.await;
/// # }
/// ```
#[must_use = "the reservation is given back if the future is dropped"]
pub struct KeyedAcquire<K: Hash + Eq + Clone, S: BuildHasher + Clone = RandomState> {
    limiter: KeyedRateLimiter<K, S>,
    /// `None` once completed.
    key: Option<K>,
    prev: u64,
    new: u64,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> fmt::Debug for KeyedAcquire<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedAcquire")
            .field("done", &self.key.is_none())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> Future for KeyedAcquire<K, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        self.key = None;
        Poll::Ready(())
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> Drop for KeyedAcquire<K, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.give_back(&key, self.prev, self.new);
        }
    }
}

// The sleep is boxed and the key is never pinned, so moving the future is fine.
impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> Unpin for KeyedAcquire<K, S> {}
