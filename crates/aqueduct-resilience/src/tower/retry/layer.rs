use std::sync::Arc;

use tower_layer::Layer;

use super::RetryService;
use crate::retry::{NoHook, NoTimeout, Retry, RetryAll};

/// Makes the copy of a request that a retry sends.
///
/// ```
/// use aqueduct_resilience::tower::retry::{ByClone, CloneRequest};
/// assert_eq!(ByClone.clone_request(&"GET /"), Some("GET /"));
/// let never = |_: &Vec<u8>| None::<Vec<u8>>;
/// assert_eq!(never.clone_request(&vec![1]), None);
/// ```
pub trait CloneRequest<Req> {
    /// A copy of `req` to send again, or `None` if it cannot be sent again.
    fn clone_request(&self, req: &Req) -> Option<Req>;
}

/// Copies requests with `Clone` (the default).
///
/// ```
/// use aqueduct_resilience::tower::retry::{ByClone, CloneRequest};
/// assert_eq!(ByClone.clone_request(&5u8), Some(5));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ByClone;

impl<Req: Clone> CloneRequest<Req> for ByClone {
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

impl<Req, F: Fn(&Req) -> Option<Req>> CloneRequest<Req> for F {
    fn clone_request(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}

/// Wraps services in a [`RetryService`].
///
/// ```
/// use aqueduct_resilience::{Retry, tower::RetryLayer};
/// let layer = RetryLayer::new(Retry::new().max_attempts(3));
/// # let _ = layer;
/// ```
#[derive(Debug)]
pub struct RetryLayer<C = RetryAll, H = NoHook, R = ByClone> {
    retry: Arc<Retry<C, H, NoTimeout>>,
    cloner: R,
}

impl<C, H, R: Clone> Clone for RetryLayer<C, H, R> {
    fn clone(&self) -> Self {
        Self {
            retry: Arc::clone(&self.retry),
            cloner: self.cloner.clone(),
        }
    }
}

impl<C, H> RetryLayer<C, H> {
    /// A layer retrying with `retry`, copying requests with `Clone`.
    ///
    /// ```
    /// let layer = aqueduct_resilience::tower::RetryLayer::new(aqueduct_resilience::Retry::new());
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new(retry: Retry<C, H, NoTimeout>) -> Self {
        Self {
            retry: Arc::new(retry),
            cloner: ByClone,
        }
    }
}

impl<C, H, R> RetryLayer<C, H, R> {
    /// Copies requests with `cloner` instead of `Clone` (see the
    /// [module docs](super)).
    ///
    /// ```
    /// use aqueduct_resilience::{Retry, tower::RetryLayer};
    /// struct Upload { body: Option<Vec<u8>> } // not Clone
    /// let layer = RetryLayer::new(Retry::new()).clone_request(|u: &Upload| {
    ///     // A buffered body can be sent again; a streamed one cannot.
    ///     u.body.as_ref().map(|b| Upload { body: Some(b.clone()) })
    /// });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn clone_request<R2>(self, cloner: R2) -> RetryLayer<C, H, R2> {
        RetryLayer {
            retry: self.retry,
            cloner,
        }
    }
}

impl<S, C, H, R: Clone> Layer<S> for RetryLayer<C, H, R> {
    type Service = RetryService<S, C, H, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::new(inner, Arc::clone(&self.retry), self.cloner.clone())
    }
}
