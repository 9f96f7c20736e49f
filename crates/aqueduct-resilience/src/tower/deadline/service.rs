use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::{DeadlineError, ResponseFuture};
use crate::deadline::Deadline;

/// A service whose calls each have a deadline. From
/// [`DeadlineLayer`](super::DeadlineLayer).
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::tower::deadline::{DeadlineError, DeadlineService};
/// use tower::{Service, ServiceExt};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let slow = tower::service_fn(|()| async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, std::io::Error>(())
/// });
/// let mut svc = DeadlineService::new(slow, Duration::from_millis(100));
/// let r = svc.ready().await.unwrap().call(()).await;
/// assert!(matches!(r, Err(DeadlineError::Exceeded(_))));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    timeout: Duration,
}

impl<S> DeadlineService<S> {
    /// Wraps `inner`, giving each call `timeout`.
    ///
    /// ```
    /// let svc = aqueduct_resilience::tower::deadline::DeadlineService::new((), std::time::Duration::from_secs(1));
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<S, Req> Service<Req> for DeadlineService<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = DeadlineError<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(DeadlineError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut deadline = Deadline::after(self.timeout);
        if let Some(outer) = Deadline::current() {
            deadline = deadline.min(outer);
        }
        if deadline.is_expired() {
            return ResponseFuture::expired(deadline);
        }
        ResponseFuture::new(self.inner.call(req), deadline)
    }
}
