//! A fair, cancel-safe async object pool with RAII guards.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use aqueduct_pool::{Manager, Pool};
//!
//! struct Ids(std::sync::atomic::AtomicU32);
//! impl Manager for Ids {
//!     type Object = u32;
//!     type Error = std::convert::Infallible;
//!     async fn create(&self) -> Result<u32, Self::Error> {
//!         Ok(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
//!     }
//! }
//!
//! let pool = Pool::builder(Ids(0.into())).max_size(2).build().await.unwrap();
//! let a = pool.get().await.unwrap();
//! let b = pool.get().await.unwrap();
//! assert_eq!((*a, *b), (0, 1));
//! drop(a);
//! assert_eq!(*pool.get().await.unwrap(), 0); // reused, not created
//! # drop(b);
//! # }
//! ```
//!
//! - [`Manager`] says how to create, recycle and check an object.
//! - [`Pool::builder`] sets the limits; every wait is finite by default.
//! - [`Pool::get`] returns a [`Pooled`] guard that gives the object back on
//!   drop, synchronously, straight to the oldest waiter.
//! - An idle object is checked out and given back without a lock: idle
//!   objects sit one per cache line and each thread first takes back the one
//!   it gave back last ([`Order::Local`], the default), so checkouts on
//!   different cores do not contend. [`Order::Fifo`] and [`Order::Lifo`]
//!   keep a strict pool-wide order under the lock instead.
//! - Below `min_idle`, a checkout starts a one-off task that creates the
//!   missing object; the checkout does not wait for it.
//!   [`Pool::top_up_in_background`] is the one long-lived task, started only
//!   when asked for: it replaces discarded objects up to `min_idle` at once.
//! - [`Pool::status`] and [`Pool::holders`] tell what the pool is doing and
//!   who holds what.
//!
//! Feature `deadpool` adds `deadpool::Adapter` (any `Manager` on deadpool
//! 0.13), feature `tcp` adds `tcp::TcpManager`, feature `tracing` emits leak
//! warnings.
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is this workspace's model-checking build, not a user's choice.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]

#[cfg(not(loom))]
mod config;
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
mod homes;
#[cfg(not(loom))]
mod manager;
#[cfg(not(loom))]
mod object;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
mod status;
mod sync;

// Under `--cfg loom` the crate builds only the lock-free idle set, which the
// loom models in `tests/loom.rs` drive directly.
#[cfg(loom)]
#[doc(hidden)]
pub mod homes;

#[cfg(all(feature = "deadpool", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
pub mod deadpool;

#[cfg(all(feature = "tcp", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "tcp")))]
pub mod tcp;

#[cfg(not(loom))]
pub use config::{BuildError, Builder, Order};
#[cfg(not(loom))]
pub use error::PoolError;
#[cfg(not(loom))]
pub use manager::Manager;
#[cfg(not(loom))]
pub use object::{Meta, Pooled};
#[cfg(not(loom))]
pub use pool::Pool;
#[cfg(not(loom))]
pub use status::{Holder, Status, WaitHistogram};

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
