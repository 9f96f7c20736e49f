//! [`FlowStreamExt`]: concurrency, batching and rate limits on any `Stream`.

mod batch;
mod map_concurrent;
mod rate_limit;

use std::future::Future;
use std::time::Duration;

use futures_core::Stream;

pub use batch::Batch;
pub use map_concurrent::{MapConcurrent, MapConcurrentUnordered};
pub use rate_limit::RateLimited;

use crate::RateLimiter;

/// Backpressure adapters for every [`Stream`].
///
/// The concurrent maps differ from `futures`' `buffered` and
/// `buffer_unordered` in one way that matters under load: their in-flight
/// futures run as tokio tasks, so they keep making progress while the
/// consumer is busy between two `next()` calls, instead of stalling
/// ("snoozing") until the stream is polled again. That needs a tokio runtime
/// and `Send + 'static` futures. Dropping the stream aborts the in-flight
/// tasks; a panic in one is resumed in the consumer, and a task lost to
/// the runtime shutting down is a panic there too, never taken for the end
/// of the stream.
///
/// Every adapter implements `FusedStream` (as do the channel's receiver
/// and the generators): it goes straight into `futures::select!`, with no
/// `fuse()`, and once it has ended it answers `None` without polling its
/// input again.
///
/// ```
/// use aqueduct_flow::FlowStreamExt;
/// use futures::StreamExt;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let out: Vec<_> = futures::stream::iter(1..=6u64)
///     .map_concurrent(3, |i| async move {
///         tokio::time::sleep(Duration::from_millis(60 - 10 * i)).await;
///         i * 10
///     })
///     .batch(4, Duration::from_secs(1))
///     .collect()
///     .await;
/// assert_eq!(out, [vec![10, 20, 30, 40], vec![50, 60]]);
/// # }
/// ```
pub trait FlowStreamExt: Stream + Sized {
    /// Runs `f` on up to `limit` items at once (at least 1), as tasks, and
    /// yields the results in input order.
    ///
    /// # Panics
    ///
    /// The stream panics when polled outside a tokio runtime, and resumes a
    /// panic of `f`'s future. It also panics when a task is cancelled by
    /// the runtime it was spawned on shutting down, while the stream is
    /// still polled (say from another runtime): ending there would pass the
    /// items taken from the input and never mapped off as done.
    ///
    /// ```
    /// use aqueduct_flow::FlowStreamExt;
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v: Vec<u32> = futures::stream::iter([3, 1, 2])
    ///     .map_concurrent(2, |x| async move { x * 2 })
    ///     .collect()
    ///     .await;
    /// assert_eq!(v, [6, 2, 4]);
    /// # }
    /// ```
    fn map_concurrent<F, Fut>(self, limit: usize, f: F) -> MapConcurrent<Self, F, Fut::Output>
    where
        F: FnMut(Self::Item) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        MapConcurrent::new(self, limit, f)
    }

    /// Runs `f` on up to `limit` items at once (at least 1), as tasks, and
    /// yields the results as they finish.
    ///
    /// # Panics
    ///
    /// As [`map_concurrent`](Self::map_concurrent).
    ///
    /// ```
    /// use aqueduct_flow::FlowStreamExt;
    /// use futures::StreamExt;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let v: Vec<u64> = futures::stream::iter([30, 10, 20])
    ///     .map_concurrent_unordered(3, |ms| async move {
    ///         tokio::time::sleep(Duration::from_millis(ms)).await;
    ///         ms
    ///     })
    ///     .collect()
    ///     .await;
    /// assert_eq!(v, [10, 20, 30]);
    /// # }
    /// ```
    fn map_concurrent_unordered<F, Fut>(
        self,
        limit: usize,
        f: F,
    ) -> MapConcurrentUnordered<Self, F, Fut::Output>
    where
        F: FnMut(Self::Item) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        MapConcurrentUnordered::new(self, limit, f)
    }

    /// Groups items into `Vec`s of at most `max_size` (at least 1): a batch
    /// is emitted when full, or when `linger` has passed since its first
    /// item, and the rest is flushed when the stream ends. A batch takes
    /// room for its items as they come, so `usize::MAX` is fine as a size
    /// bound: batches are then cut by `linger` and the end alone.
    ///
    /// The linger timer is started only when a batch has to wait for more
    /// items: an input that is always ready (and any input with a
    /// `max_size` of 1) never starts one.
    ///
    /// # Panics
    ///
    /// The stream panics when it has to start a timer outside a tokio
    /// runtime with its time driver enabled.
    ///
    /// ```
    /// use aqueduct_flow::FlowStreamExt;
    /// use futures::StreamExt;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v: Vec<Vec<u8>> = futures::stream::iter(0..5).batch(2, Duration::from_secs(1)).collect().await;
    /// assert_eq!(v, [vec![0, 1], vec![2, 3], vec![4]]);
    /// # }
    /// ```
    fn batch(self, max_size: usize, linger: Duration) -> Batch<Self> {
        Batch::new(self, max_size, linger)
    }

    /// Lets each item through only when `limiter` admits it (one cell per
    /// item, FIFO). The limiter is shared with its other users.
    ///
    /// ```
    /// use aqueduct_flow::{FlowStreamExt, Quota, RateLimiter};
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    /// let t = tokio::time::Instant::now();
    /// let n = futures::stream::iter(0..5).rate_limit(&limiter).count().await;
    /// assert_eq!((n, t.elapsed().as_millis()), (5, 400));
    /// # }
    /// ```
    fn rate_limit(self, limiter: &RateLimiter) -> RateLimited<Self> {
        RateLimited::new(self, limiter.clone())
    }
}

impl<S: Stream> FlowStreamExt for S {}
