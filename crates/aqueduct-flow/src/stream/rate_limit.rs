use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use crate::{Acquire, RateLimiter};

pin_project_lite::pin_project! {
    /// The stream of [`FlowStreamExt::rate_limit`](super::FlowStreamExt::rate_limit).
    ///
    /// An item is pulled from upstream first, then a cell is reserved for
    /// it; dropping the stream while it waits gives the cell back (by the
    /// limiter's give-back rule) and drops the item. Once upstream has
    /// ended, the stream keeps answering `None` without polling it again,
    /// as the other adapters of this module do.
    #[must_use = "streams do nothing unless polled"]
    pub struct RateLimited<S: Stream> {
        #[pin]
        stream: S,
        limiter: RateLimiter,
        item: Option<S::Item>,
        #[pin]
        wait: Option<Acquire>,
        done: bool,
    }
}

impl<S: Stream> fmt::Debug for RateLimited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("limiter", &self.limiter)
            .field("waiting", &self.item.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Stream> RateLimited<S> {
    pub(super) fn new(stream: S, limiter: RateLimiter) -> Self {
        Self {
            stream,
            limiter,
            item: None,
            wait: None,
            done: false,
        }
    }
}

impl<S: Stream> Stream for RateLimited<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        if this.item.is_none() {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.stream.poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    *this.item = Some(item);
                    this.wait.set(Some(this.limiter.acquire()));
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        if let Some(w) = this.wait.as_mut().as_pin_mut() {
            if w.poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.wait.set(None);
        Poll::Ready(this.item.take())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let held = usize::from(self.item.is_some());
        let (lo, hi) = self.stream.size_hint();
        (
            lo.saturating_add(held),
            hi.and_then(|hi| hi.checked_add(held)),
        )
    }
}

impl<S: Stream> FusedStream for RateLimited<S> {
    /// `true` once the input has ended and its last item was given out.
    fn is_terminated(&self) -> bool {
        self.done && self.item.is_none()
    }
}
