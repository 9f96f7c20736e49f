//! How the server tells a connection's task to stop: a set of flags and the
//! task's waker.
//!
//! The server raises a flag, then wakes; the task registers its waker, then
//! reads the flags. Whatever the interleaving, a flag raised while the task
//! polls is either seen by that poll or wakes the waker it just registered,
//! so the task never sleeps through it. The loom models in `tests/loom.rs`
//! check this against these functions, not a copy.
// Public only so the loom models (an outside crate) can reach it; the module
// itself is private in normal builds.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::task::Context;

use crate::sync::{AtomicU8, AtomicWaker, Ordering};

/// The server closed the connection for being idle.
pub const IDLE: u8 = 1;
/// The server dropped the connection at the end of the grace period.
pub const ABORT: u8 = 2;

/// Flags the server raises on one connection, and the waker of the task
/// that watches them.
#[derive(Debug, Default)]
pub struct Signal {
    flags: AtomicU8,
    waker: AtomicWaker,
}

impl Signal {
    /// No flag raised, no waker registered.
    #[must_use]
    pub fn new() -> Self {
        Self {
            flags: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        }
    }

    /// Raises `flag` (it stays raised), then wakes the watching task.
    #[inline]
    pub fn raise(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Wakes the watching task without raising anything (it then polls its
    /// handler, which sees whatever else changed, such as a cancelled token).
    #[inline]
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// The flags raised so far, without registering anything.
    #[inline]
    #[must_use]
    pub fn raised(&self) -> u8 {
        self.flags.load(Ordering::Acquire)
    }

    /// Registers `cx`'s waker, then returns the flags raised so far. A flag
    /// raised after the load wakes the waker registered here: register
    /// first, or a flag raised between the load and the registration would
    /// be lost.
    #[inline]
    #[must_use]
    pub fn poll_flags(&self, cx: &Context<'_>) -> u8 {
        self.waker.register(cx.waker());
        self.flags.load(Ordering::Acquire)
    }
}
