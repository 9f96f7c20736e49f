//! The [`Manager`] trait: how a pool creates, checks and recycles its objects.

use std::future::Future;

use crate::object::Meta;

/// Creates and checks the objects of a [`Pool`](crate::Pool).
///
/// A manager is the only code a user writes to pool a new kind of object: a
/// database connection, a TCP stream, a buffer. The pool calls
///
/// - [`create`](Manager::create) when it needs a new object (bounded by the
///   pool's `create_timeout`),
/// - [`recycle`](Manager::recycle) at every checkout of an idle object by
///   [`Pool::get`](crate::Pool::get), a health check or reset (bounded by
///   `recycle_timeout`; an error or a timeout discards the object and the
///   caller gets another one). [`Pool::try_get`](crate::Pool::try_get),
///   which cannot wait, hands out an idle object without it: a pool whose
///   objects must be reset before every reuse should be served by `get`
///   only;
/// - [`is_broken`](Manager::is_broken) when an object comes back, a cheap
///   synchronous check that keeps a dead object out of the idle set.
///
/// The same manager also runs on deadpool through
/// `deadpool::Adapter` (feature `deadpool`).
///
/// # Examples
///
/// ```
/// use aqueduct_pool::{Manager, Meta};
///
/// /// Pools growable byte buffers, cleared before each reuse.
/// struct Buffers;
///
/// impl Manager for Buffers {
///     type Object = Vec<u8>;
///     type Error = std::convert::Infallible;
///
///     async fn create(&self) -> Result<Vec<u8>, Self::Error> {
///         Ok(Vec::with_capacity(4096))
///     }
///
///     async fn recycle(&self, buf: &mut Vec<u8>, _meta: &Meta) -> Result<(), Self::Error> {
///         buf.clear();
///         Ok(())
///     }
///
///     fn is_broken(&self, buf: &Vec<u8>) -> bool {
///         // A buffer that grew huge is not worth keeping.
///         buf.capacity() > 1 << 20
///     }
/// }
/// # let _ = Buffers;
/// ```
pub trait Manager: Send + Sync + 'static {
    /// The pooled object.
    type Object: Send + 'static;
    /// The error of [`create`](Manager::create) and [`recycle`](Manager::recycle).
    type Error: Send + Sync + 'static;

    /// Creates a new object.
    ///
    /// # Errors
    ///
    /// Whatever stopped the object from being made; the pool hands it to the
    /// caller of `get` as `PoolError::Create`.
    fn create(&self) -> impl Future<Output = Result<Self::Object, Self::Error>> + Send;

    /// Checks (and resets) an idle object before [`Pool::get`](crate::Pool::get)
    /// hands it out again. [`Pool::try_get`](crate::Pool::try_get) does not
    /// call it: it hands out only clean objects ([`Meta::is_dirty`] false),
    /// as they came back.
    ///
    /// `meta` tells how old the object is, how often it was used, and whether
    /// its last holder panicked ([`Meta::is_dirty`]). The default accepts
    /// every object.
    ///
    /// # Errors
    ///
    /// An error means the object is unfit: the pool discards it and serves
    /// the caller with another object. The error is not shown to the caller.
    ///
    /// # Panics
    ///
    /// A panic here goes on to the caller of [`Pool::get`](crate::Pool::get),
    /// and the object is discarded, as on an error.
    fn recycle(
        &self,
        obj: &mut Self::Object,
        meta: &Meta,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (obj, meta);
        std::future::ready(Ok(()))
    }

    /// A cheap, synchronous check run when an object comes back: `true`
    /// discards it at once. It must not block. The default is `false`.
    ///
    /// On deadpool, which has no check on return, `deadpool::Adapter`
    /// runs it at checkout instead, just before `recycle`.
    fn is_broken(&self, obj: &Self::Object) -> bool {
        let _ = obj;
        false
    }
}
