//! Observability: [`Status`], [`WaitHistogram`] and [`Holder`].

use std::panic::Location;
use std::time::Duration;

/// A snapshot of a pool's counters, from [`Pool::status`](crate::Pool::status).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # use aqueduct_pool::{Manager, Pool};
/// # struct Unit;
/// # impl Manager for Unit { type Object = (); type Error = ();
/// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
/// let pool = Pool::builder(Unit).max_size(4).min_idle(2).build().await.unwrap();
/// let held = pool.get().await.unwrap();
/// let s = pool.status();
/// assert_eq!((s.size, s.idle, s.in_use, s.max_size), (2, 1, 1, 4));
/// assert_eq!(s.created, 2);
/// # drop(held);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Objects alive: idle, checked out, or being created.
    pub size: usize,
    /// Objects idle in the pool.
    pub idle: usize,
    /// `size - idle`: objects checked out or being created.
    pub in_use: usize,
    /// Callers queued in `get`.
    pub waiting: usize,
    /// The current `max_size`.
    pub max_size: usize,
    /// Objects created so far.
    pub created: u64,
    /// Checkouts of an idle object: by `get` (each ran `recycle`) or by
    /// `try_get` (which does not).
    pub recycled: u64,
    /// Objects discarded: broken, expired, failed recycle, discarded by the
    /// holder, over a reduced `max_size`, or removed by `retain`.
    pub discarded: u64,
    /// `get` calls that ended in `PoolError::Timeout`.
    pub timeouts: u64,
    /// How long checkouts waited in the queue for their turn, counted when
    /// the `get` takes the turn it was handed (an idle object, or a slot to
    /// create one): a `get` whose create or recycle then fails, or that is
    /// dropped during them, still counts. A `get` dropped before it took
    /// the turn handed to it does not: the object or slot goes on to the
    /// next waiter (counted when it takes it), if any. A `get` whose object
    /// fails `recycle` while the pool is above a reduced `max_size` gives
    /// its turn up and takes another, counted too. A `try_get` that hands
    /// out an object counts as a checkout that did not queue. A `get` that
    /// timed out (counted in `timeouts`), or was dropped while it waited,
    /// is not counted here.
    pub wait_time: WaitHistogram,
}

/// Counts of checkouts by time spent queued before their turn came.
///
/// Bucket 0 counts checkouts that did not queue at all; bucket `i > 0`
/// counts waits up to [`WaitHistogram::BOUNDS`]`[i]`, the last bucket
/// everything longer.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_pool::WaitHistogram;
/// assert_eq!(WaitHistogram::bucket_of(Duration::from_micros(80)), 1);
/// assert_eq!(WaitHistogram::bucket_of(Duration::from_secs(60)), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitHistogram {
    /// The counts, one per bucket.
    pub buckets: [u64; 8],
}

impl WaitHistogram {
    /// Upper bound of each bucket (bucket 0: no wait; the last: no bound).
    pub const BOUNDS: [Duration; 8] = [
        Duration::ZERO,
        Duration::from_micros(100),
        Duration::from_millis(1),
        Duration::from_millis(10),
        Duration::from_millis(100),
        Duration::from_secs(1),
        Duration::from_secs(10),
        Duration::MAX,
    ];

    /// The bucket a queued wait of `d` falls in (1 or more).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use aqueduct_pool::WaitHistogram;
    /// assert_eq!(WaitHistogram::bucket_of(Duration::from_millis(5)), 3);
    /// ```
    #[must_use]
    pub fn bucket_of(d: Duration) -> usize {
        Self::BOUNDS[1..]
            .iter()
            .position(|b| d <= *b)
            .map_or(Self::BOUNDS.len() - 1, |i| i + 1)
    }

    /// Total checkouts counted.
    ///
    /// ```
    /// # use aqueduct_pool::WaitHistogram;
    /// let h = WaitHistogram { buckets: [3, 1, 0, 0, 0, 0, 0, 1] };
    /// assert_eq!(h.total(), 5);
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Checkouts that had to queue.
    ///
    /// ```
    /// # use aqueduct_pool::WaitHistogram;
    /// let h = WaitHistogram { buckets: [3, 1, 0, 0, 0, 0, 0, 1] };
    /// assert_eq!(h.queued(), 2);
    /// ```
    #[must_use]
    pub fn queued(&self) -> u64 {
        self.total() - self.buckets[0]
    }
}

/// One checked-out object, from [`Pool::holders`](crate::Pool::holders).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// # use aqueduct_pool::{Manager, Pool};
/// # struct Unit;
/// # impl Manager for Unit { type Object = (); type Error = ();
/// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
/// let pool = Pool::builder(Unit).leak_threshold(Duration::from_secs(5)).build_lazy().unwrap();
/// let held = pool.get().await.unwrap();
/// tokio::time::sleep(Duration::from_secs(6)).await;
/// let holders = pool.holders();
/// assert_eq!(holders.len(), 1);
/// assert_eq!(holders[0].location.file(), file!());
/// assert_eq!(holders[0].held_for, Some(Duration::from_secs(6)));
/// assert!(holders[0].leaked);
/// # drop(held);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// Where `get` (or `try_get`) was called.
    pub location: &'static Location<'static>,
    /// How long the object has been out; `None` when the pool keeps no
    /// times (no `leak_threshold`, `max_lifetime` or `idle_timeout` set).
    pub held_for: Option<Duration>,
    /// `held_for` is past `leak_threshold`.
    pub leaked: bool,
}
