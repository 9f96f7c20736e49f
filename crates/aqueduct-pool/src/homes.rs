//! The lock-free idle set of a pool in [`Order::Local`](crate::Order::Local).
//!
//! Each idle object sits in a *home*: one pointer on a cache line of its
//! own. A checkout swaps an object out of the first occupied home it meets,
//! starting from the home its thread used last; a give-back parks the object
//! in the first empty one. Two threads that each keep coming back to their
//! own home never write a cache line the other reads, which is what makes
//! the pool scale on many cores; the pool's lock is left to waiters,
//! creation and the rare operations over the whole pool.
//!
//! The *gate* says when the homes must not be used: while anyone is queued
//! (a returned object must go to the oldest waiter), the pool is closed, it
//! is above its `max_size`, or below its `min_idle` (checkouts through the
//! lock top it up). It is set under the pool's lock. The one race that
//! matters is a give-back that parks an object just as a caller, under the
//! lock, finds every home empty and becomes the first to queue: the object
//! would idle while the caller waits. [`Homes::drain`] writes the gate,
//! then swaps every home out (acquire-release); [`Homes::put`] exchanges
//! the object in (acquire-release), then reads the gate. Each home is only
//! ever written by such read-modify-writes, so of the drain's swap and the
//! give-back's exchange on the same home, one reads what the other wrote:
//! either the drain finds the object, or the exchange synchronizes with
//! the swap and the give-back sees the gate closed and brings the object
//! to the lock itself (`Parked::rescue`). No fence is needed (and on x86
//! the exchanges are the only barriers).
// Public only for the loom models, which build this module alone.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::ptr;

use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// `i` wrapped to `0..n` (`n > 0`), without a division in the usual case
/// of a hint that is in range already.
#[inline]
pub(crate) fn wrap(i: usize, n: usize) -> usize {
    if i < n { i } else { i % n }
}

/// One idle object's place, alone on its cache line (128 bytes: adjacent
/// lines are prefetched in pairs).
#[repr(align(128))]
struct Home<T> {
    /// A pointer from `Box::into_raw`, or null.
    ptr: AtomicPtr<T>,
    /// Checkouts that took their object from here.
    taken: AtomicU64,
}

/// A fixed set of homes and the gate that closes them.
pub struct Homes<T> {
    homes: Box<[Home<T>]>,
    gate: AtomicUsize,
}

/// Where [`Homes::put`] parked an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parked {
    /// The home's index.
    pub home: usize,
    /// The gate was closed meanwhile: the caller must take the pool's lock
    /// and [`drain`](Homes::drain) the homes.
    pub rescue: bool,
}

impl<T> Homes<T> {
    /// `n` empty homes, the gate open.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            homes: (0..n)
                .map(|_| Home {
                    ptr: AtomicPtr::new(ptr::null_mut()),
                    taken: AtomicU64::new(0),
                })
                .collect(),
            gate: AtomicUsize::new(0),
        }
    }

    /// How many homes there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.homes.len()
    }

    /// `true` if there are no homes at all (the pool keeps a strict order).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.homes.is_empty()
    }

    /// Takes an idle object, searching from home `start`; `None` if the gate
    /// is closed or every home is empty. Also returns the home's index.
    #[must_use]
    pub fn take(&self, start: usize) -> Option<(Box<T>, usize)> {
        let n = self.homes.len();
        if n == 0 || self.gate.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let mut i = wrap(start, n);
        for _ in 0..n {
            if let Some(value) = self.take_at(i) {
                return Some((value, i));
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }

    /// Takes the object in home `i` (below [`len`](Homes::len)), if any,
    /// whatever the gate says.
    #[must_use]
    pub fn take_at(&self, i: usize) -> Option<Box<T>> {
        let home = &self.homes[i];
        // Read before writing: a home found empty costs no cache-line
        // transfer.
        if home.ptr.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let p = home.ptr.swap(ptr::null_mut(), Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: every non-null pointer stored in a home comes from
        // `Box::into_raw` in `put`, and the swap took it out of the home, so
        // this call alone owns it. The acquire pairs with the release that
        // published it: the object's contents are visible here.
        Some(unsafe { Box::from_raw(p) })
    }

    /// Parks `value` in the first empty home from `start`; gives it back if
    /// the gate is closed or every home is full.
    pub fn put(&self, value: Box<T>, start: usize) -> Result<Parked, Box<T>> {
        let n = self.homes.len();
        if n == 0 || self.gate.load(Ordering::Relaxed) != 0 {
            return Err(value);
        }
        let p = Box::into_raw(value);
        let mut i = wrap(start, n);
        for _ in 0..n {
            let home = &self.homes[i];
            if home.ptr.load(Ordering::Relaxed).is_null()
                && home
                    .ptr
                    .compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                // If a drain swapped this home before the exchange, the
                // exchange synchronized with it: its gate is seen here.
                let rescue = self.gate.load(Ordering::Relaxed) != 0;
                return Ok(Parked { home: i, rescue });
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        // SAFETY: `p` comes from `Box::into_raw` above and no home took it
        // (every exchange failed), so it is still owned here alone.
        Err(unsafe { Box::from_raw(p) })
    }

    /// Closes the gate, then takes every parked object out and passes it to
    /// `f`. Call under the pool's lock, and set the gate again
    /// ([`set_gate`](Homes::set_gate)) before releasing it.
    pub fn drain(&self, mut f: impl FnMut(Box<T>)) {
        if self.homes.is_empty() {
            return;
        }
        self.gate.store(usize::MAX, Ordering::Relaxed);
        for home in &self.homes {
            // Always a swap, never a load first: the release publishes the
            // gate to a give-back whose exchange comes after it.
            let p = home.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: as in `take_at`: a pointer from `Box::into_raw`
                // in `put`, taken out of its home by this swap alone.
                f(unsafe { Box::from_raw(p) });
            }
        }
    }

    /// Sets the gate: `0` opens the homes, anything else closes them. Call
    /// under the pool's lock.
    pub fn set_gate(&self, gate: usize) {
        if !self.homes.is_empty() && self.gate.load(Ordering::Relaxed) != gate {
            self.gate.store(gate, Ordering::Relaxed);
        }
    }

    /// How many homes hold an object (a snapshot: objects move meanwhile).
    #[must_use]
    pub fn occupied(&self) -> usize {
        self.homes
            .iter()
            .filter(|h| !h.ptr.load(Ordering::Relaxed).is_null())
            .count()
    }

    /// Counts a checkout served by the object [`take`](Homes::take) found
    /// in home `i`. An object taken only to be looked at and brought to
    /// the lock is not counted: the lock counts the checkout it serves.
    pub fn served(&self, i: usize) {
        self.homes[i].taken.fetch_add(1, Ordering::Relaxed);
    }

    /// Checkouts [`served`](Homes::served) from the homes so far.
    #[must_use]
    pub fn taken(&self) -> u64 {
        self.homes
            .iter()
            .map(|h| h.taken.load(Ordering::Relaxed))
            .sum()
    }
}

impl<T> std::fmt::Debug for Homes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Homes")
            .field("homes", &self.homes.len())
            .field("occupied", &self.occupied())
            .field("gate", &self.gate.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> Drop for Homes<T> {
    fn drop(&mut self) {
        for i in 0..self.homes.len() {
            drop(self.take_at(i));
        }
    }
}

// SAFETY: a `Homes<T>` owns the `T`s parked in it, like a `Mutex<Vec<Box<T>>>`
// would: it hands each to exactly one caller, possibly on another thread, so
// it is `Send` and `Sync` whenever `T` is `Send`.
unsafe impl<T: Send> Send for Homes<T> {}
// SAFETY: as above; `&Homes<T>` only moves whole `T`s between threads, it
// never shares a `&T`.
unsafe impl<T: Send> Sync for Homes<T> {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn homes_hand_each_object_to_one_taker() {
        let homes = Homes::new(3);
        for v in 0..3 {
            assert!(!homes.put(Box::new(v), 0).unwrap().rescue);
        }
        assert_eq!(*homes.put(Box::new(9), 0).unwrap_err(), 9, "all full");
        assert_eq!(homes.occupied(), 3);
        let mut got: Vec<i32> = (0..3)
            .map(|_| {
                let (v, i) = homes.take(1).unwrap();
                homes.served(i);
                *v
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        assert!(homes.take(0).is_none());
        assert_eq!(homes.taken(), 3);
    }

    #[test]
    fn homes_search_from_the_start_they_are_given() {
        let homes = Homes::new(4);
        assert_eq!(homes.put(Box::new(1), 2).unwrap().home, 2);
        assert_eq!(homes.put(Box::new(2), 2).unwrap().home, 3);
        assert_eq!(homes.put(Box::new(3), 3).unwrap().home, 0, "wraps around");
        let (v, i) = homes.take(3).unwrap();
        assert_eq!((*v, i), (2, 3));
    }

    #[test]
    fn a_closed_gate_turns_both_sides_away_and_a_drain_empties_the_homes() {
        let homes = Homes::new(2);
        homes.put(Box::new(String::from("a")), 0).unwrap();
        homes.set_gate(1);
        assert!(homes.take(0).is_none());
        assert!(homes.put(Box::new(String::from("b")), 0).is_err());
        let mut drained = Vec::new();
        homes.drain(|v| drained.push(*v));
        assert_eq!(drained, ["a"]);
        homes.set_gate(0);
        assert!(homes.put(Box::new(String::from("c")), 0).is_ok());
        // Dropping the homes drops what is parked (miri checks for leaks).
    }

    #[test]
    fn no_homes_means_the_lock_does_everything() {
        let homes: Homes<u8> = Homes::new(0);
        assert!(homes.is_empty());
        assert!(homes.take(5).is_none());
        assert!(homes.put(Box::new(1), 5).is_err());
        homes.drain(|_| unreachable!());
    }

    #[test]
    fn homes_share_objects_between_threads() {
        let homes = std::sync::Arc::new(Homes::new(4));
        for v in 0..4_u64 {
            homes.put(Box::new(v), 0).unwrap();
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let homes = std::sync::Arc::clone(&homes);
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        if let Some((mut v, i)) = homes.take(t) {
                            // A scan can miss the empty home as objects
                            // move; the pool then parks under its lock.
                            loop {
                                match homes.put(v, i) {
                                    Ok(parked) => break assert!(!parked.rescue),
                                    Err(back) => v = back,
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut left = Vec::new();
        homes.drain(|v| left.push(*v));
        left.sort_unstable();
        assert_eq!(left, [0, 1, 2, 3], "nothing lost, nothing doubled");
    }
}
