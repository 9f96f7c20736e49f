use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::{Held, Rejection, ResponseFuture};
use super::{Error, Limit, Mode};
use crate::rate::gcra::Reservation;
use crate::{Acquire, LimitError, RateLimiter};

/// A service admitted by a shared [`RateLimiter`] (see
/// [`RateLimitLayer`](super::RateLimitLayer)).
///
/// In [`Mode::Wait`], `poll_ready` reserves a cell (FIFO) and waits for it,
/// and `call` spends it; a service dropped while waiting, or ready but not
/// called, gives the cell back by the limiter's [give-back
/// rule](crate::rate#waiting). In [`Mode::Reject`], `call` fails at once
/// when no cell is available.
pub struct RateLimitService<S> {
    inner: S,
    limiter: RateLimiter,
    mode: Mode,
    /// The cell `poll_ready` took and `call` has not spent yet.
    admitted: Option<Reservation>,
    wait: Option<Pin<Box<Acquire>>>,
}

impl<S> Drop for RateLimitService<S> {
    fn drop(&mut self) {
        if let Some(r) = self.admitted.take() {
            self.limiter.give_back(r);
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<S: Clone> Clone for RateLimitService<S> {
    fn clone(&self) -> Self {
        // A clone shares the limiter but not this one's reservation.
        Self::new(self.inner.clone(), self.limiter.clone(), self.mode)
    }
}

impl<S> RateLimitService<S> {
    pub(crate) fn new(inner: S, limiter: RateLimiter, mode: Mode) -> Self {
        Self {
            inner,
            limiter,
            mode,
            admitted: None,
            wait: None,
        }
    }
}

impl<S, R> Service<R> for RateLimitService<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.mode == Mode::Wait && self.admitted.is_none() {
            let wait = match self.wait.as_mut() {
                Some(w) => w,
                None => {
                    if let Some(r) = self.limiter.try_reserve() {
                        self.admitted = Some(r);
                        return self.inner.poll_ready(cx).map_err(Error::Inner);
                    }
                    self.wait.insert(Box::pin(self.limiter.acquire()))
                }
            };
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Done: the future no longer gives the cell back; the service
            // does if it is dropped before `call`.
            self.admitted = Some(wait.reservation());
            self.wait = None;
        }
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if self.mode == Mode::Reject {
            if let Err(e) = self.limiter.try_acquire() {
                return ResponseFuture::rejected(Rejection::Rate(e));
            }
        }
        self.admitted = None;
        ResponseFuture::admitted(self.inner.call(req), None)
    }
}

type PermitFuture = Pin<Box<dyn Future<Output = Result<Held, LimitError>> + Send>>;

/// A service under a shared concurrency limit, fixed or adaptive (see
/// [`ConcurrencyLimitLayer`](super::ConcurrencyLimitLayer)). The permit is
/// held until the response future completes or is dropped.
pub struct ConcurrencyLimitService<S> {
    inner: S,
    limit: Limit,
    mode: Mode,
    permit: Option<Held>,
    wait: Option<PermitFuture>,
}

impl<S: fmt::Debug> fmt::Debug for ConcurrencyLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitService")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<S: Clone> Clone for ConcurrencyLimitService<S> {
    fn clone(&self) -> Self {
        // A clone shares the limit but not this one's permit.
        Self::new(self.inner.clone(), self.limit.clone(), self.mode)
    }
}

impl<S> ConcurrencyLimitService<S> {
    pub(crate) fn new(inner: S, limit: Limit, mode: Mode) -> Self {
        Self {
            inner,
            limit,
            mode,
            permit: None,
            wait: None,
        }
    }

    fn try_take(&self) -> Result<Held, LimitError> {
        match &self.limit {
            Limit::Fixed(l) => l.try_acquire().map(Held::Fixed),
            Limit::Adaptive(l) => l.try_acquire().map(Held::Adaptive),
        }
    }

    fn wait_for_permit(&self) -> PermitFuture {
        match self.limit.clone() {
            Limit::Fixed(l) => Box::pin(async move { l.acquire().await.map(Held::Fixed) }),
            Limit::Adaptive(l) => Box::pin(async move { l.acquire().await.map(Held::Adaptive) }),
        }
    }
}

impl<S, R> Service<R> for ConcurrencyLimitService<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.mode == Mode::Wait && self.permit.is_none() {
            if self.wait.is_none() {
                match self.try_take() {
                    Ok(p) => self.permit = Some(p),
                    Err(LimitError::Closed) => {
                        return Poll::Ready(Err(Error::Overloaded(LimitError::Closed)));
                    }
                    Err(_) => self.wait = Some(self.wait_for_permit()),
                }
            }
            if let Some(w) = self.wait.as_mut() {
                match w.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => {
                        self.wait = None;
                        self.permit = Some(r.map_err(Error::Overloaded)?);
                    }
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let permit = match self.permit.take() {
            Some(p) => p,
            None => match self.try_take() {
                Ok(p) => p,
                Err(e) => return ResponseFuture::rejected(Rejection::Limit(e)),
            },
        };
        ResponseFuture::admitted(self.inner.call(req), Some(permit))
    }
}
