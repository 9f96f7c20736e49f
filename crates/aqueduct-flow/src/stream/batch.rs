use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_core::stream::FusedStream;
use tokio::time::{Instant, Sleep};

/// The most items a batch makes room for up front; past that its `Vec`
/// grows as items come, so a large `max` (`usize::MAX`: batches cut by
/// time alone) neither overflows nor allocates for items that never come.
const PREALLOC: usize = 1024;

pin_project_lite::pin_project! {
    /// The stream of [`FlowStreamExt::batch`](super::FlowStreamExt::batch).
    #[must_use = "streams do nothing unless polled"]
    pub struct Batch<S: Stream> {
        #[pin]
        stream: S,
        max: usize,
        linger: Duration,
        buf: Vec<S::Item>,
        // When the batch's first item came (for batches of more than one).
        first: Option<Instant>,
        // Armed for `first + linger` once the batch has to wait for more
        // items: a batch filled without waiting never starts a timer.
        #[pin]
        timer: Option<Sleep>,
        done: bool,
    }
}

impl<S: Stream> fmt::Debug for Batch<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("max", &self.max)
            .field("linger", &self.linger)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<S: Stream> Batch<S> {
    pub(super) fn new(stream: S, max: usize, linger: Duration) -> Self {
        let max = max.max(1);
        Self {
            stream,
            max,
            linger,
            buf: Vec::new(),
            first: None,
            timer: None,
            done: false,
        }
    }
}

impl<S: Stream> Stream for Batch<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.done {
                return Poll::Ready((!this.buf.is_empty()).then(|| std::mem::take(this.buf)));
            }
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if *this.max == 1 {
                        return Poll::Ready(Some(vec![item]));
                    }
                    if this.buf.is_empty() {
                        this.buf.reserve_exact((*this.max).min(PREALLOC));
                        *this.first = Some(Instant::now());
                    }
                    this.buf.push(item);
                    if this.buf.len() >= *this.max {
                        this.timer.set(None);
                        return Poll::Ready(Some(std::mem::take(this.buf)));
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    this.timer.set(None);
                }
                Poll::Pending => {
                    if this.buf.is_empty() {
                        return Poll::Pending;
                    }
                    if this.timer.is_none() {
                        let first = this.first.unwrap_or_else(Instant::now);
                        // A linger too long to add is left to `sleep`,
                        // which caps it as it does any such wait.
                        let timer = match first.checked_add(*this.linger) {
                            Some(deadline) => tokio::time::sleep_until(deadline),
                            None => tokio::time::sleep(*this.linger),
                        };
                        this.timer.set(Some(timer));
                    }
                    if let Some(t) = this.timer.as_mut().as_pin_mut() {
                        if t.poll(cx).is_ready() {
                            this.timer.set(None);
                            return Poll::Ready(Some(std::mem::take(this.buf)));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: Stream> FusedStream for Batch<S> {
    /// `true` once the input has ended and the last batch was given out.
    fn is_terminated(&self) -> bool {
        self.done && self.buf.is_empty()
    }
}
