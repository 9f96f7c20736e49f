use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::breaker::{BreakerError, IsFailure, OwnedPermit, Rejected};

pin_project! {
    /// The future of [`BreakerService`](super::BreakerService): the inner
    /// call, whose outcome is recorded when it completes, or a rejection.
    ///
    /// ```
    /// use aqueduct_resilience::tower::breaker::{BreakerService, ResponseFuture};
    /// use tower::Service;
    /// let mut svc = BreakerService::new(
    ///     tower::service_fn(|x: u8| std::future::ready(Ok::<_, ()>(x))),
    ///     aqueduct_resilience::CircuitBreaker::builder().build(),
    /// );
    /// let _fut: ResponseFuture<_, _> = svc.call(1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedPermit>,
        classifier: Option<C>,
        rejected: Option<Rejected>,
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("permit", &self.permit)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn admitted(inner: F, permit: OwnedPermit, classifier: C) -> Self {
        Self {
            inner: Some(inner),
            permit: Some(permit),
            classifier: Some(classifier),
            rejected: None,
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            inner: None,
            permit: None,
            classifier: None,
            rejected: Some(rejected),
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: IsFailure<E>,
{
    type Output = Result<T, BreakerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(BreakerError::Rejected(
                this.rejected.take().unwrap_or(Rejected::ForcedOpen),
            )));
        };
        let out = match inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        let failed = match (&out, this.classifier.as_ref()) {
            (Err(e), Some(c)) => c.is_failure(e),
            _ => false,
        };
        if let Some(p) = this.permit.take() {
            p.record(failed);
        }
        Poll::Ready(out.map_err(BreakerError::Inner))
    }
}
