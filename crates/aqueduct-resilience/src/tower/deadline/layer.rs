use std::time::Duration;

use tower_layer::Layer;

use super::DeadlineService;

/// Wraps services in a [`DeadlineService`] giving each call `timeout`.
///
/// ```
/// use std::time::Duration;
/// let layer = aqueduct_resilience::tower::DeadlineLayer::new(Duration::from_millis(250));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    timeout: Duration,
}

impl DeadlineLayer {
    /// Each call gets a deadline `timeout` from its start.
    ///
    /// ```
    /// let layer = aqueduct_resilience::tower::DeadlineLayer::new(std::time::Duration::from_secs(1));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService::new(inner, self.timeout)
    }
}
