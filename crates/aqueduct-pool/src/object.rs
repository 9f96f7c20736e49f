//! Per-object bookkeeping ([`Meta`]) and the RAII guard [`Pooled`].

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::manager::Manager;
use crate::pool::Keep;

/// What the pool knows about one object, handed to
/// [`Manager::recycle`](crate::Manager::recycle) and to
/// [`Pool::retain`](crate::Pool::retain).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_pool::{Manager, Pool};
/// # struct Unit;
/// # impl Manager for Unit {
/// #     type Object = ();
/// #     type Error = std::convert::Infallible;
/// #     async fn create(&self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// let pool = Pool::builder(Unit).max_size(1).build_lazy().unwrap();
/// drop(pool.get().await.unwrap());
/// let second = pool.get().await.unwrap();
/// assert_eq!(second.meta().use_count(), 2);
/// assert!(!second.meta().is_dirty());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub(crate) created: Instant,
    pub(crate) last_used: Option<Instant>,
    pub(crate) use_count: u64,
    pub(crate) dirty: bool,
}

impl Meta {
    pub(crate) fn new(created: Instant) -> Self {
        Self {
            created,
            last_used: None,
            use_count: 0,
            dirty: false,
        }
    }

    /// Builds a `Meta`, for adapters and for tests of a manager.
    ///
    /// ```
    /// use aqueduct_pool::Meta;
    /// let now = tokio::time::Instant::now();
    /// let meta = Meta::from_parts(now, Some(now), 3);
    /// assert_eq!(meta.use_count(), 3);
    /// ```
    #[must_use]
    pub fn from_parts(created: Instant, last_used: Option<Instant>, use_count: u64) -> Self {
        Self {
            created,
            last_used,
            use_count,
            dirty: false,
        }
    }

    /// When the object was created.
    ///
    /// ```
    /// let now = tokio::time::Instant::now();
    /// assert_eq!(aqueduct_pool::Meta::from_parts(now, None, 0).created(), now);
    /// ```
    #[must_use]
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the object last came back to the pool.
    ///
    /// The pool reads the clock only when it has a time limit to enforce, so
    /// this is kept when `max_lifetime`, `idle_timeout` or `leak_threshold` is
    /// set, and is `None` otherwise (and before the first return).
    ///
    /// ```
    /// let now = tokio::time::Instant::now();
    /// assert_eq!(aqueduct_pool::Meta::from_parts(now, None, 0).last_used(), None);
    /// ```
    #[must_use]
    pub fn last_used(&self) -> Option<Instant> {
        self.last_used
    }

    /// How many checkouts handed the object to a caller, the current one
    /// included. [`Manager::recycle`](crate::Manager::recycle) sees the
    /// checkout it checks counted; a checkout dropped during `recycle`, or
    /// whose `recycle` failed, is not counted on the object.
    ///
    /// ```
    /// let now = tokio::time::Instant::now();
    /// assert_eq!(aqueduct_pool::Meta::from_parts(now, None, 7).use_count(), 7);
    /// ```
    #[must_use]
    pub fn use_count(&self) -> u64 {
        self.use_count
    }

    /// `true` if a holder panicked while it had the object, or a checkout was
    /// cancelled during [`Manager::recycle`](crate::Manager::recycle): the
    /// object may be half-way through an operation. The next checkout runs
    /// `recycle`, which sees this flag and can reset or refuse the object;
    /// [`Pool::try_get`](crate::Pool::try_get) skips dirty objects.
    ///
    /// ```
    /// let now = tokio::time::Instant::now();
    /// assert!(!aqueduct_pool::Meta::from_parts(now, None, 0).is_dirty());
    /// ```
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }
}

/// An object and its bookkeeping, as held in the idle set or by a guard.
pub(crate) struct Entry<T> {
    pub(crate) obj: T,
    pub(crate) meta: Meta,
    /// Created-at plus the (jittered) maximum lifetime.
    pub(crate) expires: Option<Instant>,
    /// Who holds the object, for [`Pool::holders`](crate::Pool::holders).
    pub(crate) track: Arc<Track>,
}

/// Who checked an object out and when; written by its holder without a
/// lock, read by [`Pool::holders`](crate::Pool::holders) through the pool's
/// list of tracks.
#[derive(Debug)]
pub(crate) struct Track {
    location: AtomicPtr<Location<'static>>,
    /// When the checkout began, in nanoseconds since the pool's epoch, plus
    /// one; 0 when the pool keeps no times.
    since: AtomicU64,
    out: AtomicBool,
    warned: AtomicBool,
}

impl Track {
    pub(crate) fn new() -> Self {
        Self {
            location: AtomicPtr::new(std::ptr::null_mut()),
            since: AtomicU64::new(0),
            out: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        }
    }

    /// Records a checkout from `location` (at `since`, if times are kept).
    pub(crate) fn check_out(
        &self,
        location: &'static Location<'static>,
        since: Option<Instant>,
        epoch: Instant,
    ) {
        self.location
            .store(std::ptr::from_ref(location).cast_mut(), Ordering::Relaxed);
        let since = since.map_or(0, |s| {
            u64::try_from(s.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX - 1) + 1
        });
        self.since.store(since, Ordering::Relaxed);
        self.warned.store(false, Ordering::Relaxed);
        self.out.store(true, Ordering::Release);
    }

    /// The object came back.
    pub(crate) fn check_in(&self) {
        self.out.store(false, Ordering::Relaxed);
    }

    /// The current checkout, if the object is out: where, since when, and
    /// whether a leak was reported for it.
    pub(crate) fn holder(
        &self,
        epoch: Instant,
    ) -> Option<(&'static Location<'static>, Option<Instant>, &AtomicBool)> {
        if !self.out.load(Ordering::Acquire) {
            return None;
        }
        let p = self.location.load(Ordering::Relaxed);
        // SAFETY: the pointer is null or was made from a
        // `&'static Location` in `check_out`, and nothing ever writes
        // through it: turning it back into that shared reference is sound.
        let location = unsafe { p.as_ref() }?;
        let since = match self.since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(epoch + Duration::from_nanos(n - 1)),
        };
        Some((location, since, &self.warned))
    }
}

/// An object checked out of a [`Pool`](crate::Pool).
///
/// It dereferences to the object. Dropping it gives the object back at once,
/// synchronously: no task is spawned, nothing blocks, and the oldest waiting
/// `get` (if any) receives it directly. An object whose holder panicked is
/// marked dirty ([`Meta::is_dirty`]) and recycled before reuse; an object the
/// manager finds broken ([`Manager::is_broken`](crate::Manager::is_broken))
/// or past its lifetime is discarded and its slot handed to the next waiter,
/// who creates a replacement. One that comes back while the pool is above a
/// reduced `max_size` (see [`Pool::resize`](crate::Pool::resize)) or closed
/// is discarded with its slot: the pool shrinks.
///
/// A `Pooled` is `Send`, so it can be held across an `.await` in a spawned
/// task or handed to another task, and `Sync` when the object is.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_pool::{Manager, Pool};
/// struct Numbers;
/// impl Manager for Numbers {
///     type Object = u64;
///     type Error = std::convert::Infallible;
///     async fn create(&self) -> Result<u64, Self::Error> { Ok(0) }
/// }
/// let pool = Pool::builder(Numbers).max_size(2).build_lazy().unwrap();
/// {
///     let mut n = pool.get().await.unwrap();
///     *n += 41; // DerefMut
///     *n += 1;
/// } // given back here
/// assert_eq!(*pool.get().await.unwrap(), 42);
/// # }
/// ```
pub struct Pooled<M: Manager> {
    pub(crate) entry: Option<Box<Entry<M::Object>>>,
    /// Keeps the pool alive while the object is out.
    pub(crate) keep: Keep<M>,
}

impl<M: Manager> Pooled<M> {
    /// The object's bookkeeping.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit {
    /// #     type Object = ();
    /// #     type Error = std::convert::Infallible;
    /// #     async fn create(&self) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// assert_eq!(pool.get().await.unwrap().meta().use_count(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn meta(&self) -> &Meta {
        &self.entry().meta
    }

    fn entry(&self) -> &Entry<M::Object> {
        // The entry is only taken by `detach`, `discard` and `drop`, which
        // consume the guard.
        self.entry.as_ref().expect("a live guard holds its object")
    }

    /// Takes the object out of the pool for good. Its slot is freed (the
    /// next waiter may create a replacement).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Numbers;
    /// # impl Manager for Numbers {
    /// #     type Object = u64;
    /// #     type Error = std::convert::Infallible;
    /// #     async fn create(&self) -> Result<u64, Self::Error> { Ok(7) }
    /// # }
    /// let pool = Pool::builder(Numbers).max_size(1).build_lazy().unwrap();
    /// let n: u64 = pool.get().await.unwrap().detach();
    /// assert_eq!(n, 7);
    /// assert_eq!(pool.status().size, 0);
    /// # }
    /// ```
    #[must_use]
    pub fn detach(mut self) -> M::Object {
        let Some(entry) = self.entry.take() else {
            unreachable!("a live guard holds its object")
        };
        self.keep.shared().forget(&entry.track);
        entry.obj
    }

    /// Drops the object instead of giving it back (say, after an I/O error
    /// left it in an unknown state). Its slot is freed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit {
    /// #     type Object = ();
    /// #     type Error = std::convert::Infallible;
    /// #     async fn create(&self) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// pool.get().await.unwrap().discard();
    /// assert_eq!(pool.status().discarded, 1);
    /// assert_eq!(pool.status().size, 0);
    /// # }
    /// ```
    pub fn discard(mut self) {
        if let Some(entry) = self.entry.take() {
            self.keep.shared().forget_discarded(entry);
        }
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Object;

    fn deref(&self) -> &M::Object {
        &self.entry().obj
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Object {
        &mut self
            .entry
            .as_mut()
            .expect("a live guard holds its object")
            .obj
    }
}

impl<M: Manager> AsRef<M::Object> for Pooled<M> {
    fn as_ref(&self) -> &M::Object {
        self
    }
}

impl<M: Manager> AsMut<M::Object> for Pooled<M> {
    fn as_mut(&mut self) -> &mut M::Object {
        self
    }
}

impl<M: Manager> Drop for Pooled<M> {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            if std::thread::panicking() {
                entry.meta.dirty = true;
                // The holder's panic is unwinding: a second panic out of
                // this `Drop` (from `is_broken`, or a discarded object's
                // `Drop`) would abort the process. The object and its slot
                // are settled before such a panic goes on, so it ends here
                // and the holder's panic goes on alone.
                let shared = self.keep.shared();
                let _ = panic::catch_unwind(AssertUnwindSafe(|| shared.give_back(entry)));
                return;
            }
            self.keep.shared().give_back(entry);
        }
    }
}

impl<M: Manager> fmt::Debug for Pooled<M>
where
    M::Object: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(e) => f
                .debug_struct("Pooled")
                .field("object", &e.obj)
                .field("meta", &e.meta)
                .finish(),
            None => f.write_str("Pooled(<given back>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_track_names_its_holder_only_while_the_object_is_out() {
        let epoch = Instant::now();
        let track = Track::new();
        assert!(track.holder(epoch).is_none());
        let here = Location::caller();
        track.check_out(here, Some(epoch + Duration::from_secs(2)), epoch);
        let (location, since, warned) = track.holder(epoch).expect("out");
        assert_eq!(location, here);
        assert_eq!(since, Some(epoch + Duration::from_secs(2)));
        assert!(!warned.swap(true, Ordering::Relaxed));
        track.check_in();
        assert!(track.holder(epoch).is_none());
        // A new checkout starts unwarned; without times it has no start.
        track.check_out(here, None, epoch);
        let (_, since, warned) = track.holder(epoch).expect("out again");
        assert_eq!(since, None);
        assert!(!warned.load(Ordering::Relaxed));
    }
}
