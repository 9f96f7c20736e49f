//! The atomics behind [`Homes`](crate::homes::Homes), swapped for loom's
//! under `cfg(loom)` so the model checks the real code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
