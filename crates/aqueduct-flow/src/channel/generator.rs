use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::SendError;

/// The producer's end of a [`generator`]: `send` waits while `capacity`
/// items are already buffered ahead of the consumer.
pub struct GeneratorSender<T> {
    tx: mpsc::Sender<T>,
}

impl<T> fmt::Debug for GeneratorSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratorSender").finish_non_exhaustive()
    }
}

impl<T> GeneratorSender<T> {
    /// Yields one item, waiting while the buffer is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the item when the stream is gone (the producer
    /// should return).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the item is lost if the future is dropped while it
    /// waits.
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = aqueduct_flow::channel::generator(1, |tx| async move {
    ///     let _ = tx.send('a').await;
    /// });
    /// assert_eq!(s.collect::<Vec<_>>().await, ['a']);
    /// # }
    /// ```
    pub async fn send(&self, item: T) -> Result<(), SendError<T>> {
        self.tx.send(item).await.map_err(|e| SendError(e.0))
    }

    /// Whether the stream is gone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures::StreamExt;
    /// let s = aqueduct_flow::channel::generator(1, |tx| async move {
    ///     assert!(!tx.is_closed());
    ///     let _ = tx.send(()).await;
    /// });
    /// assert_eq!(s.count().await, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

pin_project_lite::pin_project! {
    /// The stream of a [`generator`].
    ///
    /// The producer runs inside the stream: it is polled when the stream is
    /// polled, so no task is spawned, no runtime handle is needed, and
    /// dropping the stream drops (stops) the producer at its current
    /// `.await`. It can run at most `capacity` items ahead of the consumer.
    /// The stream ends once the producer has returned and its sender is
    /// gone: a sender handed on to a task keeps the stream open until that
    /// task drops it.
    pub struct Generator<T, F> {
        rx: mpsc::Receiver<T>,
        #[pin]
        producer: Option<F>,
    }
}

impl<T, F> fmt::Debug for Generator<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("buffered", &self.rx.len())
            .field("producer_done", &self.producer.is_none())
            .finish()
    }
}

/// A [`Stream`] of the items a producer function sends, buffering at most
/// `capacity` of them ahead of the consumer.
///
/// # Panics
///
/// If `capacity` is zero. A capacity above tokio's
/// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS) is
/// capped at it.
///
/// ```
/// use futures::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let squares = aqueduct_flow::channel::generator(4, |tx| async move {
///     for i in 1..=5u32 {
///         if tx.send(i * i).await.is_err() {
///             return; // the consumer is gone
///         }
///     }
/// });
/// assert_eq!(squares.collect::<Vec<_>>().await, [1, 4, 9, 16, 25]);
/// # }
/// ```
pub fn generator<T, F, Fut>(capacity: usize, producer: F) -> Generator<T, Fut>
where
    F: FnOnce(GeneratorSender<T>) -> Fut,
    Fut: Future<Output = ()>,
{
    let (tx, rx) = mpsc::channel(super::capped(capacity));
    Generator {
        rx,
        producer: Some(producer(GeneratorSender { tx })),
    }
}

impl<T, F: Future<Output = ()>> Stream for Generator<T, F> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut this = self.project();
        if let Ok(item) = this.rx.try_recv() {
            return Poll::Ready(Some(item));
        }
        if let Some(p) = this.producer.as_mut().as_pin_mut() {
            if p.poll(cx).is_ready() {
                this.producer.set(None);
            }
        }
        // The stream ends once the producer is done and every sender is
        // gone (the producer may have handed its sender on, to a task say,
        // and the receiver's waker catches that sender's items). Otherwise
        // the producer is pending, and its waker is ours too.
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Ready(None) if this.producer.is_none() => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered = self.rx.len();
        if self.producer.is_none() {
            (buffered, Some(buffered))
        } else {
            (buffered, None)
        }
    }
}

pin_project_lite::pin_project! {
    /// The stream of a [`try_generator`]: items as `Ok`, then the
    /// producer's error, if any, as a last `Err`.
    pub struct TryGenerator<T, E, F> {
        rx: mpsc::Receiver<T>,
        #[pin]
        producer: Option<F>,
        error: Option<E>,
    }
}

impl<T, E, F> fmt::Debug for TryGenerator<T, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGenerator")
            .field("buffered", &self.rx.len())
            .field("producer_done", &self.producer.is_none())
            .finish()
    }
}

/// A [`generator`] whose producer can fail: the stream yields its items as
/// `Ok`, then its error as a last `Err` (after the items it sent before
/// failing).
///
/// # Panics
///
/// If `capacity` is zero. A capacity above tokio's
/// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS) is
/// capped at it.
///
/// ```
/// use futures::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = aqueduct_flow::channel::try_generator(2, |tx| async move {
///     tx.send(1).await.ok();
///     Err::<(), _>("disk on fire")
/// });
/// assert_eq!(s.collect::<Vec<_>>().await, [Ok(1), Err("disk on fire")]);
/// # }
/// ```
pub fn try_generator<T, E, F, Fut>(capacity: usize, producer: F) -> TryGenerator<T, E, Fut>
where
    F: FnOnce(GeneratorSender<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let (tx, rx) = mpsc::channel(super::capped(capacity));
    TryGenerator {
        rx,
        producer: Some(producer(GeneratorSender { tx })),
        error: None,
    }
}

impl<T, E, F: Future<Output = Result<(), E>>> Stream for TryGenerator<T, E, F> {
    type Item = Result<T, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if let Ok(item) = this.rx.try_recv() {
            return Poll::Ready(Some(Ok(item)));
        }
        if let Some(p) = this.producer.as_mut().as_pin_mut() {
            if let Poll::Ready(r) = p.poll(cx) {
                this.producer.set(None);
                *this.error = r.err();
            }
        }
        // As in `Generator`; the error comes after every item.
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) if this.producer.is_none() => Poll::Ready(this.error.take().map(Err)),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, F: Future<Output = ()>> futures_core::stream::FusedStream for Generator<T, F> {
    /// `true` once the producer is done, every sender is gone and every
    /// item was given out.
    fn is_terminated(&self) -> bool {
        self.producer.is_none() && self.rx.is_closed() && self.rx.is_empty()
    }
}

impl<T, E, F: Future<Output = Result<(), E>>> futures_core::stream::FusedStream
    for TryGenerator<T, E, F>
{
    /// `true` once the producer is done, every sender is gone, and every
    /// item and the producer's error, if any, were given out.
    fn is_terminated(&self) -> bool {
        self.producer.is_none() && self.error.is_none() && self.rx.is_closed() && self.rx.is_empty()
    }
}
