use tower_layer::Layer;

use super::HedgeService;
use crate::hedge::Hedge;

/// Wraps services in a [`HedgeService`].
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Hedge, tower::HedgeLayer};
/// let layer = HedgeLayer::new(Hedge::percentile(0.95, Duration::from_millis(50)));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct HedgeLayer {
    hedge: Hedge,
}

impl HedgeLayer {
    /// A layer hedging with `hedge` (clones of a percentile hedge share
    /// their latency record).
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = aqueduct_resilience::tower::HedgeLayer::new(aqueduct_resilience::Hedge::fixed(Duration::from_millis(20)));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new(hedge: Hedge) -> Self {
        Self { hedge }
    }
}

impl<S> Layer<S> for HedgeLayer {
    type Service = HedgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService::new(inner, self.hedge.clone())
    }
}
