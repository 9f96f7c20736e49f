use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Error;
use crate::{AdaptivePermit, ConcurrencyPermit, LimitError, RateLimitError};

pub(crate) enum Rejection {
    Rate(RateLimitError),
    Limit(LimitError),
}

pub(crate) enum Held {
    Fixed(ConcurrencyPermit),
    Adaptive(AdaptivePermit),
}

pin_project_lite::pin_project! {
    /// The response future of the limit services: the inner future with
    /// its permit held until it completes (an adaptive permit reports `Ok`
    /// as success and `Err` as failure), or a rejection.
    ///
    /// ```
    /// use aqueduct_flow::tower::{ConcurrencyLimitLayer, ResponseFuture};
    /// use aqueduct_flow::ConcurrencyLimit;
    /// use tower::{Layer, Service, service_fn};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = ConcurrencyLimitLayer::new(ConcurrencyLimit::new(1))
    ///     .layer(service_fn(|()| async { Ok::<_, std::convert::Infallible>(1) }));
    /// std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    /// let fut: ResponseFuture<_> = svc.call(());
    /// assert_eq!(fut.await.unwrap(), 1);
    /// # }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        rejected: Option<Rejection>,
        permit: Option<Held>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("rejected", &self.rejected.is_some())
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn admitted(inner: F, permit: Option<Held>) -> Self {
        Self {
            inner: Some(inner),
            rejected: None,
            permit,
        }
    }

    pub(crate) fn rejected(r: Rejection) -> Self {
        Self {
            inner: None,
            rejected: Some(r),
            permit: None,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(r) = this.rejected.take() {
            return Poll::Ready(Err(match r {
                Rejection::Rate(e) => Error::RateLimited(e),
                Rejection::Limit(e) => Error::Overloaded(e),
            }));
        }
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Pending; // polled after completion
        };
        let out = match inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        match this.permit.take() {
            Some(Held::Adaptive(p)) if out.is_ok() => p.success(),
            Some(Held::Adaptive(p)) => p.failure(),
            Some(Held::Fixed(p)) => drop(p),
            None => {}
        }
        Poll::Ready(out.map_err(Error::Inner))
    }
}
