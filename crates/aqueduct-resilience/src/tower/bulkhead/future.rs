use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use crate::bulkhead::{BulkheadError, CallError};

type Queued<T, E> = Pin<Box<dyn Future<Output = Result<T, CallError<E>>> + Send + 'static>>;

pin_project! {
    #[project = KindProj]
    enum Kind<F, T, E> {
        Running { #[pin] fut: F, permit: Option<OwnedSemaphorePermit> },
        Queued { fut: Queued<T, E> },
        Rejected { error: Option<BulkheadError> },
    }
}

pin_project! {
    /// The future of [`BulkheadService`](super::BulkheadService).
    ///
    /// ```
    /// use aqueduct_resilience::{Bulkhead, tower::bulkhead::ResponseFuture, tower::BulkheadLayer};
    /// use tower::{Layer, Service};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = BulkheadLayer::new(Bulkhead::builder().build())
    ///     .layer(tower::service_fn(|x: u8| std::future::ready(Ok::<_, ()>(x))));
    /// let fut: ResponseFuture<_, _, _> = svc.call(4);
    /// assert_eq!(fut.await.unwrap(), 4);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, T, E> {
        #[pin]
        kind: Kind<F, T, E>,
    }
}

impl<F, T, E> fmt::Debug for ResponseFuture<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Running { .. } => "running",
            Kind::Queued { .. } => "queued",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, T, E> ResponseFuture<F, T, E> {
    pub(crate) fn running(fut: F, permit: OwnedSemaphorePermit) -> Self {
        Self {
            kind: Kind::Running {
                fut,
                permit: Some(permit),
            },
        }
    }

    pub(crate) fn queued(fut: Queued<T, E>) -> Self {
        Self {
            kind: Kind::Queued { fut },
        }
    }

    pub(crate) fn rejected(error: BulkheadError) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Running { fut, permit } => match fut.poll(cx) {
                Poll::Ready(out) => {
                    drop(permit.take());
                    Poll::Ready(out.map_err(CallError::Inner))
                }
                Poll::Pending => Poll::Pending,
            },
            KindProj::Queued { fut } => fut.as_mut().poll(cx),
            KindProj::Rejected { error } => Poll::Ready(Err(CallError::Rejected(
                error.take().unwrap_or(BulkheadError::DeadlineExceeded),
            ))),
        }
    }
}
