//! Atomics used by the lock-free state machines, swapped for loom's under
//! `--cfg loom` so the models in `tests/loom.rs` explore every interleaving.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
