use tower_layer::Layer;

use super::BulkheadService;
use crate::bulkhead::Bulkhead;

/// Wraps services in a [`BulkheadService`] sharing one bulkhead.
///
/// ```
/// use aqueduct_resilience::{Bulkhead, tower::BulkheadLayer};
/// let layer = BulkheadLayer::new(Bulkhead::builder().max_concurrent(16).max_queue(64).build());
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer over `bulkhead` (its clones share the slots).
    ///
    /// ```
    /// let layer = aqueduct_resilience::tower::BulkheadLayer::new(aqueduct_resilience::Bulkhead::builder().build());
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new(bulkhead: Bulkhead) -> Self {
        Self { bulkhead }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}
