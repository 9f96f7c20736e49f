use tower_layer::Layer;

use super::BreakerService;
use crate::breaker::{AllErrors, CircuitBreaker};

/// Wraps services in a [`BreakerService`] sharing one breaker.
///
/// ```
/// use aqueduct_resilience::{CircuitBreaker, tower::BreakerLayer};
/// let layer = BreakerLayer::new(CircuitBreaker::builder().consecutive_failures(5).build());
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct BreakerLayer<C = AllErrors> {
    breaker: CircuitBreaker<C>,
}

impl<C> BreakerLayer<C> {
    /// A layer over `breaker` (its clones share its state).
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// let layer = aqueduct_resilience::tower::BreakerLayer::new(b.clone());
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new(breaker: CircuitBreaker<C>) -> Self {
        Self { breaker }
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = BreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService::new(inner, self.breaker.clone())
    }
}
