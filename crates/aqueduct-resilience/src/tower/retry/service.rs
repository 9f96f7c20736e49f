use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower_service::Service;

use super::CloneRequest;
use crate::retry::{Action, Classify, NoTimeout, OnRetry, Retry, RetryError, drive};
use crate::tower::{attempts, ready_call};

/// A service whose failed calls are retried. From
/// [`RetryLayer`](super::RetryLayer).
///
/// ```
/// use std::sync::{Arc, Mutex, PoisonError};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use aqueduct_resilience::{Retry, tower::RetryLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = Arc::new(AtomicU32::new(0));
/// let c = calls.clone();
/// let mut svc = ServiceBuilder::new()
///     .layer(RetryLayer::new(Retry::new().max_attempts(3)))
///     .service_fn(move |req: &'static str| {
///         let n = c.fetch_add(1, Ordering::SeqCst);
///         async move { if n < 2 { Err("busy") } else { Ok(req) } }
///     });
/// assert_eq!(svc.ready().await.unwrap().call("ping").await.unwrap(), "ping");
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
pub struct RetryService<S, C, H, R> {
    inner: S,
    retry: Arc<Retry<C, H, NoTimeout>>,
    cloner: R,
}

impl<S: fmt::Debug, C, H, R> fmt::Debug for RetryService<S, C, H, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("max_attempts", &self.retry.get_max_attempts())
            .finish_non_exhaustive()
    }
}

impl<S: Clone, C, H, R: Clone> Clone for RetryService<S, C, H, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            retry: Arc::clone(&self.retry),
            cloner: self.cloner.clone(),
        }
    }
}

impl<S, C, H, R> RetryService<S, C, H, R> {
    pub(crate) fn new(inner: S, retry: Arc<Retry<C, H, NoTimeout>>, cloner: R) -> Self {
        Self {
            inner,
            retry,
            cloner,
        }
    }
}

/// The user's classifier, plus: no retry without a copy of the request
/// for it. The copy is made here, after a failure, and kept for the next
/// attempt.
struct Refill<'a, C, R, Req> {
    classifier: &'a C,
    cloner: &'a R,
    /// The original request, and the copy for the next attempt.
    copies: &'a Mutex<(Req, Option<Req>)>,
}

impl<E, C, R, Req> Classify<E> for Refill<'_, C, R, Req>
where
    C: Classify<E>,
    R: CloneRequest<Req>,
{
    fn classify(&self, error: &E) -> Action {
        let action = self.classifier.classify(error);
        if action == Action::Stop {
            return action;
        }
        let mut copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        match self.cloner.clone_request(&copies.0) {
            Some(copy) => {
                copies.1 = Some(copy);
                action
            }
            None => Action::Stop,
        }
    }
}

/// The copy prepared for this attempt. `Refill` prepares one before every
/// retry and the call prepares the first, so there always is one. (A
/// mutex, not a cell, so the boxed future stays `Send`; it is never
/// contended: attempts run one after another.)
fn prepared<Req>(copies: &Mutex<(Req, Option<Req>)>) -> Req {
    match copies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .1
        .take()
    {
        Some(req) => req,
        None => unreachable!("a copy of the request is prepared before every attempt"),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, C, H, R, Req> Service<Req> for RetryService<S, C, H, R>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    Req: Send + 'static,
    C: Classify<S::Error> + Send + Sync + 'static,
    H: OnRetry<S::Error> + Send + Sync + 'static,
    R: CloneRequest<Req> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = RetryError<S::Error>;
    type Future = BoxFuture<Result<S::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| RetryError::Stopped { attempts: 0, error })
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let clone = self.inner.clone();
        let svc = std::mem::replace(&mut self.inner, clone);
        let retry = Arc::clone(&self.retry);
        let cloner = self.cloner.clone();
        Box::pin(async move {
            let Some(first) = cloner.clone_request(&req) else {
                // Cannot be sent twice: one attempt.
                return ready_call(svc, req)
                    .await
                    .map_err(|error| RetryError::Stopped { attempts: 1, error });
            };
            let copies = Mutex::new((req, Some(first)));
            let (policy, classifier, hook, _) = retry.parts();
            let refill = Refill {
                classifier,
                cloner: &cloner,
                copies: &copies,
            };
            let shared = &copies;
            let mut next = attempts(svc);
            let attempt = move || ready_call(next(), prepared(shared));
            drive(policy, attempt, &refill, hook).await
        })
    }
}
