use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::hedge::{Hedge, HedgeError};
use crate::tower::{attempts, ready_call};

/// A service whose slow calls are hedged. From
/// [`HedgeLayer`](super::HedgeLayer).
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Hedge, tower::HedgeLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut svc = ServiceBuilder::new()
///     .layer(HedgeLayer::new(Hedge::fixed(Duration::from_millis(10))))
///     .service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) });
/// assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 2);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HedgeService<S> {
    inner: S,
    hedge: Hedge,
}

impl<S> HedgeService<S> {
    pub(crate) fn new(inner: S, hedge: Hedge) -> Self {
        Self { inner, hedge }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, Req> Service<Req> for HedgeService<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = HedgeError<S::Error>;
    type Future = BoxFuture<Result<S::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|last| HedgeError::AllFailed { attempts: 0, last })
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let clone = self.inner.clone();
        let svc = std::mem::replace(&mut self.inner, clone);
        let hedge = self.hedge.clone();
        Box::pin(async move {
            let mut next = attempts(svc);
            // Every attempt but the last the hedge can start sends a clone,
            // the original kept for the attempts after it; the last sends
            // the original.
            let last = hedge.extra_attempts();
            let mut started = 0;
            let mut req = Some(req);
            let attempt = move || {
                let req = if started == last {
                    req.take()
                } else {
                    req.clone()
                };
                started += 1;
                let Some(req) = req else {
                    unreachable!("a hedge starts no attempt after its last")
                };
                ready_call(next(), req)
            };
            hedge.run(attempt).await
        })
    }
}
