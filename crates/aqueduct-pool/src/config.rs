//! Pool configuration: [`Builder`], [`Order`] and [`BuildError`].

use std::fmt;
use std::time::Duration;

use crate::error::PoolError;
use crate::manager::Manager;
use crate::pool::Pool;

/// Which idle object a checkout takes.
///
/// ```
/// use aqueduct_pool::Order;
/// assert_eq!(Order::default(), Order::Local);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Order {
    /// The object this thread gave back last, or failing that any idle
    /// object, found without taking the pool's lock (the default).
    ///
    /// Idle objects sit one per cache line (as many places as `max_size`
    /// at build time, up to 64: a pool grown later with
    /// [`resize`](crate::Pool::resize) keeps the extra idle objects under
    /// the lock), and each thread looks first where it parked its
    /// last object: threads checking out at the same time touch no shared
    /// memory, so throughput grows with cores instead of queueing on a
    /// lock. A thread keeps reusing the same hot object, as in
    /// [`Lifo`](Order::Lifo), so the objects nobody needs age out under
    /// `idle_timeout` (each checkout looks at one more idle object for that,
    /// a different one each time). Waiters are still served first come,
    /// first served: while anyone waits, every object goes back through the
    /// lock to the oldest waiter.
    #[default]
    Local,
    /// The object idle the longest: use spreads evenly over all objects, so
    /// every connection stays warm. Every checkout and return takes the
    /// pool's lock.
    Fifo,
    /// The object returned last, pool-wide: hot objects stay hot and the
    /// rest age out under `idle_timeout`, so the pool shrinks when load
    /// drops. Every checkout and return takes the pool's lock.
    Lifo,
}

/// A configuration the pool cannot run with, or a failure to prefill it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_pool::{BuildError, Manager, Pool};
/// # struct Unit;
/// # impl Manager for Unit {
/// #     type Object = ();
/// #     type Error = std::convert::Infallible;
/// #     async fn create(&self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// let err = Pool::builder(Unit).max_size(2).min_idle(3).build().await.unwrap_err();
/// assert!(matches!(err, BuildError::MinIdleAboveMaxSize { min_idle: 3, max_size: 2 }));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError<E> {
    /// `max_size` is zero: no `get` could ever succeed.
    #[error("max_size is 0: it must be at least 1")]
    ZeroMaxSize,
    /// `min_idle` is larger than `max_size`.
    #[error("min_idle {min_idle} is above max_size {max_size}")]
    MinIdleAboveMaxSize {
        /// The configured `min_idle`.
        min_idle: usize,
        /// The configured `max_size`.
        max_size: usize,
    },
    /// Creating the `min_idle` objects at build time failed.
    #[error("prefilling the pool to min_idle {min_idle} failed after {created} objects")]
    Prefill {
        /// Objects created before the failure.
        created: usize,
        /// The configured `min_idle`.
        min_idle: usize,
        /// What went wrong.
        #[source]
        source: PoolError<E>,
    },
}

/// The settings of a pool, fixed at build time (only `max_size` changes
/// later, through [`Pool::resize`](crate::Pool::resize)).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_size: usize,
    pub(crate) min_idle: usize,
    pub(crate) wait_timeout: Duration,
    pub(crate) create_timeout: Duration,
    pub(crate) recycle_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) lifetime_jitter: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) leak_threshold: Option<Duration>,
    pub(crate) order: Order,
    pub(crate) seed: u64,
}

impl Config {
    /// Whether any limit needs the clock at checkout and return.
    pub(crate) fn timed(&self) -> bool {
        self.max_lifetime.is_some() || self.idle_timeout.is_some() || self.leak_threshold.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_size: 16,
            min_idle: 0,
            wait_timeout: Duration::from_secs(30),
            create_timeout: Duration::from_secs(10),
            recycle_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(30),
            max_lifetime: None,
            lifetime_jitter: Duration::ZERO,
            idle_timeout: None,
            leak_threshold: None,
            order: Order::Local,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

/// Configures and builds a [`Pool`]; made by [`Pool::builder`].
///
/// Every wait is finite by default: `wait_timeout` 30 s, `create_timeout`
/// 10 s, `recycle_timeout` 5 s, `close_timeout` 30 s. `max_size` is 16,
/// `min_idle` 0, order [`Order::Local`]; no lifetime, idle or leak limit.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use aqueduct_pool::{Manager, Order, Pool};
/// # struct Unit;
/// # impl Manager for Unit {
/// #     type Object = ();
/// #     type Error = std::convert::Infallible;
/// #     async fn create(&self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// let pool = Pool::builder(Unit)
///     .max_size(8)
///     .min_idle(2)
///     .wait_timeout(Duration::from_millis(500))
///     .max_lifetime(Duration::from_secs(1800))
///     .lifetime_jitter(Duration::from_secs(60))
///     .idle_timeout(Duration::from_secs(300))
///     .order(Order::Lifo)
///     .build()
///     .await
///     .unwrap();
/// assert_eq!(pool.status().idle, 2); // prefilled
/// # }
/// ```
pub struct Builder<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: Config,
}

impl<M: Manager> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => $field:ident) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$field = value;
            self
        }
    };
    ($(#[$doc:meta])* $name:ident: $ty:ty => some $field:ident) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$field = Some(value);
            self
        }
    };
}

impl<M: Manager> Builder<M> {
    pub(crate) fn new(manager: M) -> Self {
        Self {
            manager,
            config: Config::default(),
        }
    }

    setter! {
        /// The most objects alive at once, idle and checked out (default 16).
        ///
        /// ```
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).max_size(4).build_lazy().unwrap();
        /// assert_eq!(pool.status().max_size, 4);
        /// ```
        max_size: usize => max_size
    }

    setter! {
        /// Objects created by [`build`](Builder::build) and kept idle
        /// (default 0). Idle expiry never takes the pool below it; a
        /// [`Pool::get`] that finds fewer objects alive starts a one-off task
        /// that creates one more for the idle set (the checkout does not
        /// wait for it), a slot freed by a discard on return goes to the
        /// oldest waiter, and [`Pool::replenish`] tops up on demand
        /// ([`Pool::try_get`], which never waits nor spawns, leaves the
        /// top-up to the next `get`). No
        /// long-lived task is started unless asked for with
        /// [`Pool::top_up_in_background`], which tops up as soon as a
        /// discard takes the pool below `min_idle`.
        ///
        /// ```
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() {
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).min_idle(3).build().await.unwrap();
        /// assert_eq!(pool.status().idle, 3);
        /// # }
        /// ```
        min_idle: usize => min_idle
    }

    setter! {
        /// How long a `get` waits in the queue for an object before it
        /// fails with `PoolError::Timeout` (default 30 s). Recycling and
        /// creating are bounded by their own timeouts.
        ///
        /// The pool keeps one alarm for all waiters, set for the oldest
        /// one's deadline and handed on by the waiters as they leave the
        /// queue, rather than a timer per waiter. So a `get` future that is
        /// kept but never polled again once queued (rather than dropped)
        /// can hold back the timeouts of the `get`s queued after it: drop a
        /// `get` you stop polling, as `tokio::select!` does with the
        /// branches that lose.
        ///
        /// `Duration::ZERO` turns away at once, with `PoolError::Timeout`, a
        /// `get` that would have to queue (one that finds an idle object or
        /// room to create one is served as usual); `Duration::MAX` waits
        /// without limit.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).wait_timeout(Duration::from_millis(250)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        wait_timeout: std::time::Duration => wait_timeout
    }

    setter! {
        /// How long one [`Manager::create`] may take (default 10 s); past
        /// it the `get` fails with `PoolError::CreateTimeout`.
        ///
        /// `Duration::ZERO` leaves a create no time to wait: only one that
        /// finishes as soon as it is called is sure to succeed.
        /// `Duration::MAX` means no limit.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).create_timeout(Duration::from_secs(2)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        create_timeout: std::time::Duration => create_timeout
    }

    setter! {
        /// How long one [`Manager::recycle`] may take (default 5 s); past it
        /// the object is discarded and the `get` moves on to another one.
        ///
        /// `Duration::ZERO` leaves a recycle no time to wait: only one that
        /// finishes as soon as it is called (as the default one does) is
        /// sure to pass. `Duration::MAX` means no limit.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).recycle_timeout(Duration::from_millis(100)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        recycle_timeout: std::time::Duration => recycle_timeout
    }

    setter! {
        /// How long [`Pool::close`](crate::Pool::close) waits for borrowed
        /// objects to come back (default 30 s).
        ///
        /// With `Duration::ZERO`, `close` closes the pool and returns at
        /// once (`PoolError::CloseTimeout` if objects are still borrowed);
        /// `Duration::MAX` waits without limit.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).close_timeout(Duration::from_secs(5)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        close_timeout: std::time::Duration => close_timeout
    }

    setter! {
        /// The most time an object lives: once older than this (an object
        /// exactly this old is kept), it is discarded at its next checkout
        /// or return (default: no limit). Spread the
        /// deadlines with [`lifetime_jitter`](Builder::lifetime_jitter) so
        /// objects made together do not all expire together.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).max_lifetime(Duration::from_secs(1800)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        max_lifetime: std::time::Duration => some max_lifetime
    }

    setter! {
        /// Each object's lifetime is `max_lifetime` minus a random share of
        /// this (default zero), drawn from a seeded generator
        /// ([`jitter_seed`](Builder::jitter_seed)). A jitter above
        /// `max_lifetime` counts as `max_lifetime`, so some objects may then
        /// be discarded at their first checkout or return. Without
        /// `max_lifetime` it does nothing.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit)
        ///     .max_lifetime(Duration::from_secs(1800))
        ///     .lifetime_jitter(Duration::from_secs(120))
        ///     .build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        lifetime_jitter: std::time::Duration => lifetime_jitter
    }

    setter! {
        /// The seed of the lifetime jitter, for reproducible runs.
        ///
        /// ```
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).jitter_seed(42).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        jitter_seed: u64 => seed
    }

    setter! {
        /// An object idle longer than this is discarded (default: no
        /// limit), unless that would take the pool below `min_idle`. There
        /// is no reaper task: checkouts discard the stale objects they meet,
        /// and every checkout (in LIFO and local order) and return also looks
        /// at the longest-idle objects (local order: at one more idle object,
        /// a different one each time).
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).idle_timeout(Duration::from_secs(300)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        idle_timeout: std::time::Duration => some idle_timeout
    }

    setter! {
        /// A checkout held longer than this is reported as a likely leak:
        /// [`Pool::holders`](crate::Pool::holders) flags it, and with
        /// feature `tracing` a warning names the caller's source location
        /// (once per checkout, emitted when a `get` has to wait, the
        /// holder is listed, or the checkout ends: the object is given
        /// back, discarded or detached). Default: off.
        ///
        /// ```
        /// # use std::time::Duration;
        /// # use aqueduct_pool::{Manager, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).leak_threshold(Duration::from_secs(10)).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        leak_threshold: std::time::Duration => some leak_threshold
    }

    setter! {
        /// Which idle object a checkout takes (default [`Order::Local`]).
        ///
        /// ```
        /// # use aqueduct_pool::{Manager, Order, Pool};
        /// # struct Unit;
        /// # impl Manager for Unit { type Object = (); type Error = ();
        /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
        /// let pool = Pool::builder(Unit).order(Order::Lifo).build_lazy();
        /// # assert!(pool.is_ok());
        /// ```
        order: Order => order
    }

    fn validate(&self) -> Result<(), BuildError<M::Error>> {
        let c = &self.config;
        if c.max_size == 0 {
            return Err(BuildError::ZeroMaxSize);
        }
        if c.min_idle > c.max_size {
            return Err(BuildError::MinIdleAboveMaxSize {
                min_idle: c.min_idle,
                max_size: c.max_size,
            });
        }
        Ok(())
    }

    /// Builds the pool and creates `min_idle` objects before returning.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroMaxSize`] and [`BuildError::MinIdleAboveMaxSize`]
    /// for a bad configuration; [`BuildError::Prefill`] if creating one of
    /// the `min_idle` objects fails or times out (the error is not hidden).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the objects created so far and the pool.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).min_idle(2).build().await.unwrap();
    /// assert_eq!(pool.status().size, 2);
    /// # }
    /// ```
    pub async fn build(self) -> Result<Pool<M>, BuildError<M::Error>> {
        self.validate()?;
        let min_idle = self.config.min_idle;
        let pool = Pool::from_parts(self.manager, self.config);
        let mut created = 0;
        while created < min_idle {
            match pool.add_idle().await {
                Ok(()) => created += 1,
                Err(source) => {
                    return Err(BuildError::Prefill {
                        created,
                        min_idle,
                        source,
                    });
                }
            }
        }
        Ok(pool)
    }

    /// Builds the pool without creating any object: the first checkouts
    /// create them (and top up to `min_idle`).
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroMaxSize`] and [`BuildError::MinIdleAboveMaxSize`].
    ///
    /// ```
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// assert_eq!(pool.status().size, 0);
    /// ```
    pub fn build_lazy(self) -> Result<Pool<M>, BuildError<M::Error>> {
        self.validate()?;
        Ok(Pool::from_parts(self.manager, self.config))
    }
}
