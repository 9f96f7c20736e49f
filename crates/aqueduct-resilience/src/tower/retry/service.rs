use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower_service::Service;

use super::CloneRequest;
use crate::retry::{Classify, NoTimeout, OnRetry, Prepare, Retry, RetryError, drive_prepared};
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

/// The request and its copies. (A mutex, not a cell, so the boxed future
/// stays `Send`; it is never contended: attempts run one after another.)
struct Copies<Req> {
    /// The request as the call got it, sent by the last attempt the policy
    /// allows (or by the first, if it could not be copied).
    original: Option<Req>,
    /// The copy for the next attempt, if it is not the last.
    next: Option<Req>,
}

/// Gets a retry its request once the retry loop has decided to make it
/// (the budget, `max_elapsed` and the deadline all let it through): a copy
/// if it is not the last attempt the policy allows, else the original;
/// none once the original is sent. A retry refused before that costs no
/// copy, and its error says why it was refused.
struct Copier<'a, R, Req> {
    cloner: &'a R,
    max_attempts: u32,
    copies: &'a Mutex<Copies<Req>>,
}

impl<R, Req> Prepare for Copier<'_, R, Req>
where
    R: CloneRequest<Req>,
{
    fn prepare(&self, attempt: u32) -> bool {
        let mut copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        if attempt >= self.max_attempts {
            // The last attempt sends the original.
            return copies.original.is_some();
        }
        let copy = copies
            .original
            .as_ref()
            .and_then(|req| self.cloner.clone_request(req));
        copies.next = copy;
        copies.next.is_some()
    }
}

/// The request for the attempt starting: the copy the call (for the first)
/// or the `Copier` prepared, or the original for the last attempt.
fn prepared<Req>(copies: &Mutex<Copies<Req>>) -> Req {
    let mut copies = copies.lock().unwrap_or_else(PoisonError::into_inner);
    match copies.next.take().or_else(|| copies.original.take()) {
        Some(req) => req,
        None => unreachable!("a request is prepared before every attempt"),
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
            let (policy, classifier, hook, _) = retry.parts();
            // A call allowed one attempt sends the request itself, and so
            // does one whose request cannot be copied: it goes through the
            // policy all the same (its budget deposit, its deadline), and
            // the `Copier`, finding no original left, refuses its retry.
            let first = if policy.max_attempts > 1 {
                cloner.clone_request(&req)
            } else {
                None
            };
            let copies = Mutex::new(Copies {
                original: Some(req),
                next: first,
            });
            let copier = Copier {
                cloner: &cloner,
                max_attempts: policy.max_attempts,
                copies: &copies,
            };
            let shared = &copies;
            let mut next = attempts(svc);
            let attempt = move || ready_call(next(), prepared(shared));
            drive_prepared(policy, attempt, classifier, hook, &copier).await
        })
    }
}
