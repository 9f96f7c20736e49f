//! Runs any [`Manager`] on deadpool 0.13 (`deadpool::managed`).
//!
//! [`Adapter`] implements deadpool's `Manager` by calling ours:
//! `create` is forwarded, and deadpool's `recycle` first asks
//! [`Manager::is_broken`] (deadpool has no check on return), then
//! [`Manager::recycle`] with a [`Meta`] built from deadpool's `Metrics`.
//! Deadpool records no return, so that `Meta`'s
//! [`last_used`](crate::Meta::last_used) is when the object was last
//! checked out, not when it came back: an idle check on it counts the
//! time the object was held as idle time. Nor does deadpool see a holder
//! that panicked: it takes the object back as from any other holder, so
//! that `Meta` is never [`is_dirty`](crate::Meta::is_dirty), and a manager
//! that refuses such an object (as `tcp::TcpManager` does, its protocol
//! state being unknown) cannot do so on deadpool: take an object whose
//! use was cut short out of the pool yourself, with
//! [`Object::take`](managed::Object::take).
//!
//! deadpool stamps its objects with the system clock, which tokio's paused
//! time (`start_paused`, in tests) neither stops nor advances: under paused
//! time, this `Meta`'s [`created`](crate::Meta::created) and `last_used`
//! are off the test's clock by the real time the test had run when deadpool
//! stamped them, so ages a manager computes from them there are not the
//! paused clock's.
//!
//! As on our pool, a `create` error reaches the caller of deadpool's `get`
//! (as `PoolError::Backend`), and a `recycle` or `is_broken` that panics
//! goes on to that caller, the object dropped and its slot freed.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use aqueduct_pool::deadpool::{Adapter, DeadPool, managed};
//! use aqueduct_pool::{Manager, Meta};
//!
//! /// Reusable buffers, cleared before each reuse.
//! struct Buffers;
//! impl Manager for Buffers {
//!     type Object = Vec<u8>;
//!     type Error = std::convert::Infallible;
//!     async fn create(&self) -> Result<Vec<u8>, Self::Error> {
//!         Ok(Vec::with_capacity(64))
//!     }
//!     async fn recycle(&self, buf: &mut Vec<u8>, _meta: &Meta) -> Result<(), Self::Error> {
//!         buf.clear();
//!         Ok(())
//!     }
//!     fn is_broken(&self, buf: &Vec<u8>) -> bool {
//!         buf.capacity() > 1024 // grew too big to keep
//!     }
//! }
//!
//! // The same manager, unchanged, on deadpool.
//! let pool: DeadPool<Buffers> = managed::Pool::builder(Adapter::new(Buffers))
//!     .max_size(4)
//!     .build()
//!     .unwrap();
//! let mut buf = pool.get().await.unwrap();
//! buf.extend_from_slice(b"hello");
//! drop(buf);
//! let buf = pool.get().await.unwrap();
//! assert!(buf.is_empty()); // our `recycle` ran
//! drop(buf);
//!
//! let mut big = pool.get().await.unwrap();
//! big.reserve(4096);
//! drop(big);
//! let fresh = pool.get().await.unwrap();
//! assert!(fresh.capacity() < 4096); // `is_broken` dropped the big one
//! # }
//! ```

use std::fmt;

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use tokio::time::Instant;

use crate::manager::Manager;
use crate::object::Meta;

/// deadpool's `managed` module, so the adapter's users need no direct
/// dependency on deadpool to build its pool.
#[doc(no_inline)]
pub use deadpool::managed;

/// A deadpool pool over one of our managers.
pub type DeadPool<M> = managed::Pool<Adapter<M>>;

/// Wraps a [`Manager`] so deadpool can drive it.
///
/// ```
/// use aqueduct_pool::deadpool::Adapter;
/// # struct Unit;
/// # impl aqueduct_pool::Manager for Unit { type Object = (); type Error = ();
/// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
/// let adapter = Adapter::new(Unit);
/// let _unit: &Unit = adapter.manager();
/// let _unit: Unit = adapter.into_inner();
/// ```
pub struct Adapter<M> {
    manager: M,
}

impl<M> fmt::Debug for Adapter<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapter").finish_non_exhaustive()
    }
}

impl<M: Manager> Adapter<M> {
    /// Wraps `manager`.
    ///
    /// ```
    /// # struct Unit;
    /// # impl aqueduct_pool::Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let adapter = aqueduct_pool::deadpool::Adapter::new(Unit);
    /// # drop(adapter);
    /// ```
    pub fn new(manager: M) -> Self {
        Self { manager }
    }

    /// The wrapped manager.
    ///
    /// ```
    /// # struct Unit;
    /// # impl aqueduct_pool::Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let adapter = aqueduct_pool::deadpool::Adapter::new(Unit);
    /// let _: &Unit = adapter.manager();
    /// ```
    pub fn manager(&self) -> &M {
        &self.manager
    }

    /// Unwraps the manager.
    ///
    /// ```
    /// # struct Unit;
    /// # impl aqueduct_pool::Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let _: Unit = aqueduct_pool::deadpool::Adapter::new(Unit).into_inner();
    /// ```
    pub fn into_inner(self) -> M {
        self.manager
    }
}

/// Our view of deadpool's per-object metrics.
fn meta_of(metrics: &Metrics) -> Meta {
    Meta::from_parts(
        Instant::from_std(metrics.created),
        // deadpool records a checkout only once a recycle passed: before
        // that the last checkout is the one that created the object.
        Some(Instant::from_std(
            metrics.recycled.unwrap_or(metrics.created),
        )),
        // deadpool counts finished recycles; we count checkouts, the current
        // one included: the first (creating) checkout, each recycled one,
        // and this one.
        metrics.recycle_count as u64 + 2,
    )
}

impl<M: Manager> managed::Manager for Adapter<M> {
    type Type = M::Object;
    type Error = M::Error;

    async fn create(&self) -> Result<M::Object, M::Error> {
        self.manager.create().await
    }

    async fn recycle(&self, obj: &mut M::Object, metrics: &Metrics) -> RecycleResult<M::Error> {
        if self.manager.is_broken(obj) {
            return Err(RecycleError::message("the manager found the object broken"));
        }
        let meta = meta_of(metrics);
        self.manager
            .recycle(obj, &meta)
            .await
            .map_err(RecycleError::Backend)
    }
}
