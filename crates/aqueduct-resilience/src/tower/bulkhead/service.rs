use std::task::{Context, Poll};

use tower_service::Service;

use super::ResponseFuture;
use crate::bulkhead::{Bulkhead, BulkheadError, CallError};
use crate::tower::ready_call;

/// A service behind a bulkhead. From [`BulkheadLayer`](super::BulkheadLayer).
///
/// ```
/// use aqueduct_resilience::{Bulkhead, bulkhead::CallError, tower::BulkheadLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let bulkhead = Bulkhead::builder().max_concurrent(1).max_queue(0).build();
/// let mut svc = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()))
///     .service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) });
/// let _busy = bulkhead.try_acquire().unwrap();
/// let r = svc.ready().await.unwrap().call(1).await;
/// assert!(matches!(r, Err(CallError::Rejected(_))));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S> BulkheadService<S> {
    pub(crate) fn new(inner: S, bulkhead: Bulkhead) -> Self {
        Self { inner, bulkhead }
    }
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = CallError<S::Error>;
    type Future = ResponseFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CallError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.bulkhead.try_acquire_owned() {
            Ok(permit) => ResponseFuture::running(self.inner.call(req), permit),
            Err(BulkheadError::Full { .. }) if self.bulkhead.max_queue() > 0 => {
                let clone = self.inner.clone();
                let svc = std::mem::replace(&mut self.inner, clone);
                let bulkhead = self.bulkhead.clone();
                ResponseFuture::queued(Box::pin(async move {
                    let _permit = bulkhead
                        .acquire_owned()
                        .await
                        .map_err(CallError::Rejected)?;
                    ready_call(svc, req).await.map_err(CallError::Inner)
                }))
            }
            Err(e) => ResponseFuture::rejected(e),
        }
    }
}
