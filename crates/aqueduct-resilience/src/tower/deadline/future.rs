use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep_until};

use super::DeadlineError;
use crate::deadline::{Deadline, DeadlineExceeded, Scope};

pin_project! {
    /// The future of [`DeadlineService`](super::DeadlineService).
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::tower::deadline::{DeadlineService, ResponseFuture};
    /// use tower::Service;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = DeadlineService::new(
    ///     tower::service_fn(|x: u8| std::future::ready(Ok::<_, ()>(x))),
    ///     Duration::from_secs(1),
    /// );
    /// let fut: ResponseFuture<_> = svc.call(3);
    /// assert_eq!(fut.await.unwrap(), 3);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<Scope<F>>,
        #[pin]
        sleep: Sleep,
        deadline: Deadline,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn new(inner: F, deadline: Deadline) -> Self {
        Self {
            inner: Some(Deadline::scope(deadline, inner)),
            sleep: sleep_until(deadline.instant()),
            deadline,
        }
    }

    pub(crate) fn expired(deadline: Deadline) -> Self {
        Self {
            inner: None,
            sleep: sleep_until(deadline.instant()),
            deadline,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, DeadlineError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let exceeded = DeadlineExceeded {
            deadline: *this.deadline,
        };
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(DeadlineError::Exceeded(exceeded)));
        };
        if let Poll::Ready(out) = inner.poll(cx) {
            return Poll::Ready(out.map_err(DeadlineError::Inner));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(DeadlineError::Exceeded(exceeded))),
            Poll::Pending => Poll::Pending,
        }
    }
}
