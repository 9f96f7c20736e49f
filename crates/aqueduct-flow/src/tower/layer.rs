use tower_layer::Layer;

use super::Mode;
use super::service::{ConcurrencyLimitService, RateLimitService};
use crate::{AdaptiveLimit, ConcurrencyLimit, RateLimiter};

/// Wraps services in a [`RateLimitService`]; every service it makes, and
/// every clone of those, shares the one limiter.
///
/// ```
/// use aqueduct_flow::tower::RateLimitLayer;
/// use aqueduct_flow::{Quota, RateLimiter};
/// let layer = RateLimitLayer::new(RateLimiter::new(Quota::per_second(100)));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
    mode: Mode,
}

impl RateLimitLayer {
    /// A layer that waits for the limiter ([`Mode::Wait`]).
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter, tower::RateLimitLayer};
    /// let _ = RateLimitLayer::new(RateLimiter::new(Quota::per_second(1)));
    /// ```
    #[must_use]
    pub fn new(limiter: RateLimiter) -> Self {
        Self {
            limiter,
            mode: Mode::Wait,
        }
    }

    /// Rejects instead of waiting ([`Mode::Reject`]).
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter, tower::RateLimitLayer};
    /// let _ = RateLimitLayer::new(RateLimiter::new(Quota::per_second(1))).reject();
    /// ```
    #[must_use]
    pub fn reject(self) -> Self {
        self.mode(Mode::Reject)
    }

    /// Sets the mode.
    ///
    /// ```
    /// use aqueduct_flow::{Quota, RateLimiter, tower::{Mode, RateLimitLayer}};
    /// let _ = RateLimitLayer::new(RateLimiter::new(Quota::per_second(1))).mode(Mode::Wait);
    /// ```
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self.limiter.clone(), self.mode)
    }
}

/// The limit behind a [`ConcurrencyLimitLayer`].
///
/// ```
/// let l: aqueduct_flow::tower::Limit = aqueduct_flow::ConcurrencyLimit::new(4).into();
/// # let _ = l;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Limit {
    /// A fixed (resizable) limit.
    Fixed(ConcurrencyLimit),
    /// An AIMD limit: `Ok` responses count as successes, `Err` as failures.
    Adaptive(AdaptiveLimit),
}

impl From<ConcurrencyLimit> for Limit {
    fn from(l: ConcurrencyLimit) -> Self {
        Self::Fixed(l)
    }
}

impl From<AdaptiveLimit> for Limit {
    fn from(l: AdaptiveLimit) -> Self {
        Self::Adaptive(l)
    }
}

/// Wraps services in a [`ConcurrencyLimitService`] sharing one limit.
///
/// ```
/// use aqueduct_flow::tower::ConcurrencyLimitLayer;
/// use aqueduct_flow::AdaptiveLimit;
/// let layer = ConcurrencyLimitLayer::new(AdaptiveLimit::builder().max(64).build()).reject();
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct ConcurrencyLimitLayer {
    limit: Limit,
    mode: Mode,
}

impl ConcurrencyLimitLayer {
    /// A layer that waits for a permit ([`Mode::Wait`]).
    ///
    /// ```
    /// let _ = aqueduct_flow::tower::ConcurrencyLimitLayer::new(aqueduct_flow::ConcurrencyLimit::new(8));
    /// ```
    #[must_use]
    pub fn new(limit: impl Into<Limit>) -> Self {
        Self {
            limit: limit.into(),
            mode: Mode::Wait,
        }
    }

    /// Rejects instead of waiting ([`Mode::Reject`]).
    ///
    /// ```
    /// let _ = aqueduct_flow::tower::ConcurrencyLimitLayer::new(aqueduct_flow::ConcurrencyLimit::new(8)).reject();
    /// ```
    #[must_use]
    pub fn reject(self) -> Self {
        self.mode(Mode::Reject)
    }

    /// Sets the mode.
    ///
    /// ```
    /// use aqueduct_flow::tower::{ConcurrencyLimitLayer, Mode};
    /// let _ = ConcurrencyLimitLayer::new(aqueduct_flow::ConcurrencyLimit::new(8)).mode(Mode::Reject);
    /// ```
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimitService::new(inner, self.limit.clone(), self.mode)
    }
}
