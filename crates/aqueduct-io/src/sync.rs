//! The atomics and waker behind a connection's `Signal`,
//! swapped for loom's under `cfg(loom)` so the model checks the real code.

#[cfg(not(loom))]
pub(crate) use futures_util::task::AtomicWaker;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};

/// loom's `AtomicWaker` with the `futures` signature (`register` by
/// reference), so the code using it reads the same under both.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        Self(loom::future::AtomicWaker::new())
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }
}
