use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Default)]
struct Stats {
    high_water: AtomicUsize,
    waited_sends: AtomicU64,
    wait_nanos: AtomicU64,
}

/// Creates a bounded channel of `capacity` messages with [`stats`](Sender::stats).
///
/// # Panics
///
/// If `capacity` is zero (as tokio's `mpsc::channel`). A capacity above
/// tokio's [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS)
/// (`usize::MAX >> 3`) is capped at it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, mut rx) = aqueduct_flow::channel::bounded(4);
/// tx.send(1).await.unwrap();
/// tx.send(2).await.unwrap();
/// assert_eq!(tx.stats().len, 2);
/// assert_eq!(rx.recv().await, Some(1));
/// assert_eq!(tx.stats().high_water, 2);
/// # }
/// ```
#[must_use]
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel(super::capped(capacity));
    let stats = Arc::new(Stats::default());
    (
        Sender {
            tx,
            stats: Arc::clone(&stats),
        },
        Receiver { rx, stats },
    )
}

/// Backpressure figures of a channel.
///
/// ```
/// let (tx, _rx) = aqueduct_flow::channel::bounded::<u8>(8);
/// let s = tx.stats();
/// assert_eq!((s.len, s.capacity, s.waited_sends), (0, 8, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// Messages queued now.
    pub len: usize,
    /// The bound.
    pub capacity: usize,
    /// The most messages ever queued at once, counting slots reserved
    /// for a send (as seen by senders, whether they send with `send`,
    /// `try_send` or a [`reserve`](Sender::reserve)d permit).
    pub high_water: usize,
    /// Sends that found the queue full and had to wait.
    pub waited_sends: u64,
    /// Total time those sends waited.
    pub total_wait: Duration,
}

/// The sending half; cheap to clone.
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    stats: Arc<Stats>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            stats: Arc::clone(&self.stats),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The receiving half; also a [`Stream`](futures_core::Stream).
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    stats: Arc<Stats>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The receiver is gone; the message is handed back.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = aqueduct_flow::channel::bounded(1);
/// drop(rx);
/// assert_eq!(tx.send(5).await.unwrap_err().0, 5);
/// # }
/// ```
#[derive(PartialEq, Eq, thiserror::Error)]
#[error("channel closed")]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// Why [`Sender::try_send`] did not send; the message is handed back.
///
/// ```
/// use aqueduct_flow::channel::{TrySendError, bounded};
/// let (tx, _rx) = bounded(1);
/// tx.try_send(1).unwrap();
/// assert!(matches!(tx.try_send(2), Err(TrySendError::Full { value: 2, capacity: 1 })));
/// ```
#[derive(PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// The queue holds `capacity` messages.
    #[error("channel full ({capacity} messages)")]
    Full {
        /// The message.
        value: T,
        /// The bound.
        capacity: usize,
    },
    /// The receiver is gone.
    #[error("channel closed")]
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { capacity, .. } => write!(f, "Full {{ capacity: {capacity}, .. }}"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// Why [`Sender::send_timeout`] did not send; the message is handed back.
///
/// ```
/// use aqueduct_flow::channel::{SendTimeoutError, bounded};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let (tx, _rx) = bounded(1);
/// tx.send(1).await.unwrap();
/// let e = tx.send_timeout(2, Duration::from_millis(10)).await.unwrap_err();
/// assert!(matches!(e, SendTimeoutError::Timeout { value: 2, .. }));
/// # }
/// ```
#[derive(PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendTimeoutError<T> {
    /// The queue stayed full for `timeout`.
    #[error("channel still full after {timeout:?}")]
    Timeout {
        /// The message.
        value: T,
        /// The time waited.
        timeout: Duration,
    },
    /// The receiver is gone.
    #[error("channel closed")]
    Closed(T),
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { timeout, .. } => write!(f, "Timeout {{ timeout: {timeout:?}, .. }}"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

fn snapshot<T>(tx: &mpsc::Sender<T>, stats: &Stats) -> ChannelStats {
    let capacity = tx.max_capacity();
    ChannelStats {
        len: capacity - tx.capacity(),
        capacity,
        high_water: stats.high_water.load(Ordering::Relaxed),
        waited_sends: stats.waited_sends.load(Ordering::Relaxed),
        total_wait: Duration::from_nanos(stats.wait_nanos.load(Ordering::Relaxed)),
    }
}

impl<T> Sender<T> {
    #[inline]
    fn note_len(&self) {
        // Slots taken, counting the one just filled. A load first: the
        // read-modify-write happens only when the mark actually rises.
        let len = self.tx.max_capacity() - self.tx.capacity();
        if len > self.stats.high_water.load(Ordering::Relaxed) {
            self.stats.high_water.fetch_max(len, Ordering::Relaxed);
        }
    }

    fn note_wait(&self, since: Instant) {
        let waited = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.waited_sends.fetch_add(1, Ordering::Relaxed);
        self.stats.wait_nanos.fetch_add(waited, Ordering::Relaxed);
    }

    /// Sends, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message when the receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// As tokio's `Sender::send`: if dropped while waiting, the message is
    /// lost and the place in the queue given up; use
    /// [`reserve`](Self::reserve) first to keep the message.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(1);
    /// tx.send("hi").await.unwrap();
    /// assert_eq!(rx.recv().await, Some("hi"));
    /// # }
    /// ```
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.reserve().await {
            Ok(p) => {
                p.send(value);
                Ok(())
            }
            Err(SendError(())) => Err(SendError(value)),
        }
    }

    /// Waits for a slot and returns a permit to send into it. The slot is
    /// held, so the message is produced only once there is room for it.
    ///
    /// # Errors
    ///
    /// [`SendError`] when the receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up the place in the queue.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// permit.send(3);
    /// assert_eq!(rx.recv().await, Some(3));
    /// # }
    /// ```
    pub async fn reserve(&self) -> Result<mpsc::Permit<'_, T>, SendError<()>> {
        // The high-water mark counts the reserved slot as taken: every send
        // goes through here or through `try_send`, which notes it too.
        match self.tx.try_reserve() {
            Ok(p) => {
                self.note_len();
                Ok(p)
            }
            Err(mpsc::error::TrySendError::Closed(())) => Err(SendError(())),
            Err(mpsc::error::TrySendError::Full(())) => {
                // Only a send that has to wait reads the clock.
                let since = Instant::now();
                let r = self.tx.reserve().await.map_err(|_| SendError(()));
                if r.is_ok() {
                    self.note_wait(since);
                    self.note_len();
                }
                r
            }
        }
    }

    /// Sends now or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the message.
    ///
    /// ```
    /// let (tx, _rx) = aqueduct_flow::channel::bounded(2);
    /// assert!(tx.try_send(1).is_ok());
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.tx.try_send(value) {
            Ok(()) => {
                self.note_len();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(value)) => Err(TrySendError::Full {
                value,
                capacity: self.tx.max_capacity(),
            }),
            Err(mpsc::error::TrySendError::Closed(v)) => Err(TrySendError::Closed(v)),
        }
    }

    /// Sends, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Closed`], with
    /// the message.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let (tx, _rx) = aqueduct_flow::channel::bounded(1);
    /// assert!(tx.send_timeout(1, Duration::from_secs(1)).await.is_ok());
    /// assert!(tx.send_timeout(2, Duration::from_secs(1)).await.is_err());
    /// assert_eq!(tx.stats().waited_sends, 0, "a timed-out send is not a completed wait");
    /// # }
    /// ```
    pub async fn send_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        match tokio::time::timeout(timeout, self.reserve()).await {
            Ok(Ok(p)) => {
                p.send(value);
                Ok(())
            }
            Ok(Err(_)) => Err(SendTimeoutError::Closed(value)),
            Err(_) => Err(SendTimeoutError::Timeout { value, timeout }),
        }
    }

    /// Whether the receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = aqueduct_flow::channel::bounded::<()>(1);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = aqueduct_flow::channel::bounded::<()>(1);
    /// drop(rx);
    /// tx.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// The channel's backpressure figures.
    ///
    /// ```
    /// let (tx, _rx) = aqueduct_flow::channel::bounded(2);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(tx.stats().len, 1);
    /// ```
    #[must_use]
    pub fn stats(&self) -> ChannelStats {
        snapshot(&self.tx, &self.stats)
    }
}

impl<T> Receiver<T> {
    /// Receives the next message, or `None` once every sender is gone and
    /// the queue is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (no message is lost).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(1);
    /// drop(tx);
    /// assert_eq!(rx.recv().await, None::<u8>);
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// Receives up to `limit` messages into `buffer` in one wake-up;
    /// returns how many (0 only when the channel is closed and empty, or
    /// `limit` is 0).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (no message is lost).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(8);
    /// for i in 0..5 { tx.send(i).await.unwrap(); }
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.recv_many(&mut buf, 3).await, 3);
    /// assert_eq!(buf, [0, 1, 2]);
    /// # }
    /// ```
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        self.rx.recv_many(buffer, limit).await
    }

    /// Receives now, if a message is queued.
    ///
    /// ```
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(1);
    /// tx.try_send(9).unwrap();
    /// assert_eq!(rx.try_recv(), Some(9));
    /// assert_eq!(rx.try_recv(), None);
    /// ```
    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Polls for the next message (the building block of the `Stream` impl).
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(1);
    /// tx.try_send(1).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(1)));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }

    /// Closes the channel for senders; queued messages can still be received.
    ///
    /// ```
    /// let (tx, mut rx) = aqueduct_flow::channel::bounded(1);
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert!(tx.try_send(2).is_err());
    /// assert_eq!(rx.try_recv(), Some(1));
    /// ```
    pub fn close(&mut self) {
        self.rx.close();
    }

    /// Messages queued now.
    ///
    /// ```
    /// let (tx, rx) = aqueduct_flow::channel::bounded(3);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether nothing is queued.
    ///
    /// ```
    /// let (_tx, rx) = aqueduct_flow::channel::bounded::<u8>(3);
    /// assert!(rx.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The channel's backpressure figures.
    ///
    /// ```
    /// let (_tx, rx) = aqueduct_flow::channel::bounded::<u8>(3);
    /// assert_eq!(rx.stats().capacity, 3);
    /// ```
    #[must_use]
    pub fn stats(&self) -> ChannelStats {
        let capacity = self.rx.max_capacity();
        ChannelStats {
            len: self.rx.len(),
            capacity,
            high_water: self.stats.high_water.load(Ordering::Relaxed),
            waited_sends: self.stats.waited_sends.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(self.stats.wait_nanos.load(Ordering::Relaxed)),
        }
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> futures_core::stream::FusedStream for Receiver<T> {
    /// `true` once every sender is gone (or the receiver was closed) and
    /// every message was received: the stream has ended.
    fn is_terminated(&self) -> bool {
        self.rx.is_closed() && self.rx.is_empty()
    }
}
