use std::task::{Context, Poll};

use tower_service::Service;

use super::ResponseFuture;
use crate::breaker::{BreakerError, CircuitBreaker, IsFailure};

/// A service behind a circuit breaker. From [`BreakerLayer`](super::BreakerLayer).
///
/// ```
/// use aqueduct_resilience::{CircuitBreaker, breaker::BreakerError, tower::breaker::BreakerService};
/// use tower::{Service, ServiceExt};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder().consecutive_failures(1).build();
/// let inner = tower::service_fn(|fail: bool| async move { if fail { Err("down") } else { Ok(()) } });
/// let mut svc = BreakerService::new(inner, breaker);
/// let _ = svc.ready().await.unwrap().call(true).await;
/// // Open now: ready, but the call is rejected without reaching the inner service.
/// let r = svc.ready().await.unwrap().call(false).await;
/// assert!(matches!(r, Err(BreakerError::Rejected(_))));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BreakerService<S, C> {
    inner: S,
    breaker: CircuitBreaker<C>,
}

impl<S, C> BreakerService<S, C> {
    /// Wraps `inner` in `breaker`.
    ///
    /// ```
    /// let svc = aqueduct_resilience::tower::breaker::BreakerService::new(
    ///     tower::service_fn(|x: u8| async move { Ok::<_, ()>(x) }),
    ///     aqueduct_resilience::CircuitBreaker::builder().build(),
    /// );
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, breaker: CircuitBreaker<C>) -> Self {
        Self { inner, breaker }
    }

    /// The breaker.
    ///
    /// ```
    /// # let svc = aqueduct_resilience::tower::breaker::BreakerService::new((), aqueduct_resilience::CircuitBreaker::builder().build());
    /// let _state = svc.breaker().state();
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker<C> {
        &self.breaker
    }
}

impl<S, C, Req> Service<Req> for BreakerService<S, C>
where
    S: Service<Req>,
    C: IsFailure<S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Never reject here: an open breaker answers from `call`.
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire_owned() {
            Ok(permit) => ResponseFuture::admitted(
                self.inner.call(req),
                permit,
                self.breaker.classifier().clone(),
            ),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
