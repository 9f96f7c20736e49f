use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use tokio::task::{JoinError, JoinSet};
use tokio_util::task::AbortOnDropHandle;

/// A task that did not give back its result: its panic is resumed. The
/// only other way, as nothing here aborts a task it still waits on, is a
/// cancellation by the runtime shutting down; that is a panic too, rather
/// than an end of stream that would pass the lost items off as done.
fn resume<T>(e: JoinError) -> T {
    match e.try_into_panic() {
        Ok(payload) => std::panic::resume_unwind(payload),
        Err(e) => panic!("a mapped item's task was cancelled, its runtime shutting down ({e})"),
    }
}

pin_project_lite::pin_project! {
    /// The stream of [`FlowStreamExt::map_concurrent`](super::FlowStreamExt::map_concurrent).
    #[must_use = "streams do nothing unless polled"]
    pub struct MapConcurrent<S, F, T> {
        #[pin]
        stream: S,
        f: F,
        limit: usize,
        in_flight: VecDeque<AbortOnDropHandle<T>>,
        upstream_done: bool,
    }
}

impl<S, F, T> fmt::Debug for MapConcurrent<S, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapConcurrent")
            .field("limit", &self.limit)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl<S, F, T> MapConcurrent<S, F, T> {
    pub(super) fn new(stream: S, limit: usize, f: F) -> Self {
        Self {
            stream,
            f,
            limit: limit.max(1),
            in_flight: VecDeque::new(),
            upstream_done: false,
        }
    }
}

impl<S, F, Fut> Stream for MapConcurrent<S, F, Fut::Output>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.upstream_done && this.in_flight.len() < *this.limit {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    let task = tokio::spawn((this.f)(item));
                    this.in_flight.push_back(AbortOnDropHandle::new(task));
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        let Some(front) = this.in_flight.front_mut() else {
            return if *this.upstream_done {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        };
        match Pin::new(front).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.in_flight.pop_front();
                Poll::Ready(Some(r.unwrap_or_else(resume)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = if self.upstream_done {
            (0, Some(0))
        } else {
            self.stream.size_hint()
        };
        let n = self.in_flight.len();
        (lo.saturating_add(n), hi.and_then(|h| h.checked_add(n)))
    }
}

pin_project_lite::pin_project! {
    /// The stream of
    /// [`FlowStreamExt::map_concurrent_unordered`](super::FlowStreamExt::map_concurrent_unordered).
    #[must_use = "streams do nothing unless polled"]
    pub struct MapConcurrentUnordered<S, F, T> {
        #[pin]
        stream: S,
        f: F,
        limit: usize,
        in_flight: JoinSet<T>,
        upstream_done: bool,
    }
}

impl<S, F, T> fmt::Debug for MapConcurrentUnordered<S, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapConcurrentUnordered")
            .field("limit", &self.limit)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl<S, F, T> MapConcurrentUnordered<S, F, T> {
    pub(super) fn new(stream: S, limit: usize, f: F) -> Self {
        Self {
            stream,
            f,
            limit: limit.max(1),
            in_flight: JoinSet::new(),
            upstream_done: false,
        }
    }
}

impl<S, F, Fut> Stream for MapConcurrentUnordered<S, F, Fut::Output>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.upstream_done && this.in_flight.len() < *this.limit {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    this.in_flight.spawn((this.f)(item));
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        match this.in_flight.poll_join_next(cx) {
            Poll::Ready(Some(r)) => Poll::Ready(Some(r.unwrap_or_else(resume))),
            Poll::Ready(None) if *this.upstream_done => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<S, F, Fut> FusedStream for MapConcurrent<S, F, Fut::Output>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// `true` once the input has ended and every result was given out.
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.in_flight.is_empty()
    }
}

impl<S, F, Fut> FusedStream for MapConcurrentUnordered<S, F, Fut::Output>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// `true` once the input has ended and every result was given out.
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.in_flight.is_empty()
    }
}
