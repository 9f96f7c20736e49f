//! The [`Pool`]: one short lock around the idle objects and a FIFO queue of
//! waiters; a returned object goes straight to the oldest waiter.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::config::{Builder, Config, Order};
use crate::error::PoolError;
use crate::manager::Manager;
use crate::object::{Entry, Meta, Pooled};
use crate::status::{Holder, Status, WaitHistogram};

/// What a waiter (or a fresh checkout) is given: an object, or the right to
/// create one (a slot counted in `size`).
enum Grant<T> {
    Object(Box<Entry<T>>),
    Slot,
}

enum WaitState<T> {
    Waiting,
    Granted(Grant<T>),
    Closed,
    /// The pool's alarm found the deadline passed and took the waiter out
    /// of the queue.
    TimedOut,
    /// The `get` went away while queued; the entry is freed when the queue
    /// reaches it.
    Cancelled,
    Vacant,
}

struct Waiter<T> {
    state: WaitState<T>,
    waker: Option<Waker>,
    /// When this waiter gives up (set by its first poll). All waiters share
    /// one `wait_timeout`, so deadlines grow along the queue and only the
    /// head's matters.
    deadline: Option<Instant>,
}

struct HolderSlot {
    location: &'static Location<'static>,
    since: Option<Instant>,
    warned: bool,
    live: bool,
}

pub(crate) struct State<T, E> {
    idle: VecDeque<Box<Entry<T>>>,
    /// Objects alive plus slots granted for creation.
    size: usize,
    max_size: usize,
    closed: bool,
    /// Keys into `waiters`, oldest first (cancelled ones are skipped lazily).
    queue: VecDeque<usize>,
    waiters: Vec<Waiter<T>>,
    free_waiters: Vec<usize>,
    /// Live (not cancelled) queued waiters.
    waiting: usize,
    /// The shared alarm is set for the head's deadline (or an earlier one).
    alarm_armed: bool,
    holders: Vec<HolderSlot>,
    free_holders: Vec<usize>,
    created: u64,
    recycled: u64,
    discarded: u64,
    timeouts: u64,
    hist: WaitHistogram,
    rng: u64,
    /// The latest create error no caller received (a top-up).
    last_create_error: Option<Arc<E>>,
}

/// What `begin` found.
enum Begin<T> {
    Ready(Grant<T>, usize, bool),
    /// Queued under this key, the waker already registered: when the wait
    /// began, and the deadline the alarm must be set for, if it is not set.
    Queued(usize, Instant, Option<Instant>),
    Closed,
}

impl<T, E> State<T, E> {
    fn alloc_holder(
        &mut self,
        location: &'static Location<'static>,
        now: Option<Instant>,
    ) -> usize {
        let slot = HolderSlot {
            location,
            since: now,
            warned: false,
            live: true,
        };
        if let Some(i) = self.free_holders.pop() {
            self.holders[i] = slot;
            i
        } else {
            self.holders.push(slot);
            self.holders.len() - 1
        }
    }

    fn free_holder(&mut self, i: usize) -> HolderSlot {
        let slot = &mut self.holders[i];
        slot.live = false;
        self.free_holders.push(i);
        HolderSlot { ..*slot }
    }

    fn enqueue(&mut self) -> usize {
        let w = Waiter {
            state: WaitState::Waiting,
            waker: None,
            deadline: None,
        };
        let key = if let Some(k) = self.free_waiters.pop() {
            self.waiters[k] = w;
            k
        } else {
            self.waiters.push(w);
            self.waiters.len() - 1
        };
        self.queue.push_back(key);
        self.waiting += 1;
        key
    }

    /// The deadline of the oldest live waiter (cancelled ones at the head
    /// are freed on the way).
    fn head_deadline(&mut self) -> Option<Instant> {
        while let Some(&key) = self.queue.front() {
            match self.waiters[key].state {
                WaitState::Cancelled => {
                    self.queue.pop_front();
                    self.free_waiter(key);
                }
                _ => return self.waiters[key].deadline,
            }
        }
        None
    }

    fn free_waiter(&mut self, key: usize) {
        self.waiters[key].state = WaitState::Vacant;
        self.waiters[key].waker = None;
        self.free_waiters.push(key);
    }

    /// Hands `grant` to the oldest live waiter; gives it back if none.
    fn grant_oldest(&mut self, grant: Grant<T>) -> Result<Option<Waker>, Grant<T>> {
        while let Some(key) = self.queue.pop_front() {
            match self.waiters[key].state {
                WaitState::Waiting => {
                    self.waiting -= 1;
                    let w = &mut self.waiters[key];
                    w.state = WaitState::Granted(grant);
                    return Ok(w.waker.take());
                }
                WaitState::Cancelled => self.free_waiter(key),
                _ => unreachable!("only waiting or cancelled keys are queued"),
            }
        }
        Err(grant)
    }

    /// Hands each slot below `max_size` to a waiter (who creates in it),
    /// oldest first, collecting the wakers to call once the lock is gone.
    fn grant_free_slots(&mut self, wakers: &mut Vec<Waker>) {
        while !self.closed && self.size < self.max_size && self.waiting > 0 {
            self.size += 1;
            match self.grant_oldest(Grant::Slot) {
                Ok(waker) => wakers.extend(waker),
                Err(_) => {
                    self.size -= 1;
                    break;
                }
            }
        }
    }

    /// Gives a healthy object back: to the oldest waiter, else to the idle set.
    fn put_object(&mut self, entry: Box<Entry<T>>) -> Option<Waker> {
        if self.waiting == 0 {
            self.idle.push_back(entry);
            return None;
        }
        match self.grant_oldest(Grant::Object(entry)) {
            Ok(waker) => waker,
            Err(Grant::Object(entry)) => {
                self.idle.push_back(entry);
                None
            }
            Err(Grant::Slot) => unreachable!(),
        }
    }

    /// Frees a slot: the oldest waiter may create in it, else `size` shrinks.
    fn put_slot(&mut self) -> Option<Waker> {
        if self.waiting > 0 && !self.closed && self.size <= self.max_size {
            if let Ok(waker) = self.grant_oldest(Grant::Slot) {
                return waker;
            }
        }
        self.size -= 1;
        None
    }

    fn pop_idle(&mut self, order: Order) -> Option<Box<Entry<T>>> {
        match order {
            Order::Lifo => self.idle.pop_back(),
            _ => self.idle.pop_front(),
        }
    }

    fn next_random(&mut self) -> u64 {
        // SplitMix64: a tiny, seedable generator for lifetime jitter.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    config: Config,
    timed: bool,
    state: Mutex<State<M::Object, M::Error>>,
    /// The latest `get` had to queue: the next one probably will too, so it
    /// reads the clock (for its wait's start) before taking the lock rather
    /// than under it. Only a hint; written only when it changes.
    queuing: AtomicBool,
    drained: Notify,
    /// One timer for the whole queue, set for the head's deadline. Waiters
    /// register no timer of their own.
    alarm: Mutex<Option<Pin<Box<Sleep>>>>,
    /// Wakes [`Shared::on_alarm`].
    alarm_waker: Waker,
}

/// The waker of the pool's alarm: it expires the waiters whose deadline
/// passed.
struct AlarmWaker<M: Manager> {
    shared: Weak<Shared<M>>,
}

impl<M: Manager> Wake for AlarmWaker<M> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.on_alarm();
        }
    }
}

impl<M: Manager> Shared<M> {
    /// Sets the alarm for `deadline`.
    ///
    /// A fresh sleep is made each time (on the current runtime): the alarm
    /// is set only by the first waiter and after it fired, so this is rare,
    /// and a pool used from several runtimes one after another never polls
    /// a sleep of a runtime that has gone (a runtime that shuts down fires
    /// its timers, which hands the alarm on to the next waiter).
    fn arm(&self, deadline: Instant) {
        let mut alarm = self.alarm.lock().unwrap_or_else(PoisonError::into_inner);
        let sleep = alarm.insert(Box::pin(tokio::time::sleep_until(deadline)));
        let mut cx = Context::from_waker(&self.alarm_waker);
        // Registers the alarm's waker with the timer; the task's cooperative
        // budget must not make the timer skip that.
        let fired = pin!(tokio::task::unconstrained(sleep.as_mut()))
            .poll(&mut cx)
            .is_ready();
        drop(alarm);
        if fired {
            self.on_alarm();
        }
    }

    /// Times out the waiters at the head of the queue whose deadline passed,
    /// then wakes the new head so that it sets the alarm again.
    fn on_alarm(&self) {
        let now = Instant::now();
        let mut wakers = Vec::new();
        let mut st = self.lock();
        st.alarm_armed = false;
        while let Some(&key) = st.queue.front() {
            let waiter = &mut st.waiters[key];
            match waiter.state {
                WaitState::Cancelled => {
                    st.queue.pop_front();
                    st.free_waiter(key);
                }
                WaitState::Waiting if waiter.deadline.is_some_and(|d| d <= now) => {
                    waiter.state = WaitState::TimedOut;
                    wakers.extend(waiter.waker.take());
                    st.queue.pop_front();
                    st.waiting -= 1;
                }
                WaitState::Waiting => {
                    wakers.extend(waiter.waker.clone());
                    break;
                }
                _ => unreachable!("only waiting or cancelled keys are queued"),
            }
        }
        drop(st);
        for w in wakers {
            w.wake();
        }
    }

    /// Counts a wait that ran out and names the latest create failure no
    /// caller received.
    fn timed_out(&self) -> PoolError<M::Error> {
        let mut st = self.lock();
        st.timeouts += 1;
        let last_create_error = st.last_create_error.clone();
        PoolError::Timeout {
            waited: self.config.wait_timeout,
            last_create_error,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<M::Object, M::Error>> {
        // No user code runs under the lock but `retain`'s predicate; if it
        // panicked, the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_if_timed(&self) -> Option<Instant> {
        if self.timed {
            Some(Instant::now())
        } else {
            None
        }
    }

    /// Takes an idle object or a slot, or queues the caller with `waker`
    /// (in the same critical section, so a queued `get` locks once to get in
    /// line and once to take what it is handed).
    ///
    /// `early` is a clock reading taken before the lock, if the caller
    /// expected to queue.
    fn begin(
        &self,
        location: &'static Location<'static>,
        now: Option<Instant>,
        early: Option<Instant>,
        expired: &mut Vec<Box<Entry<M::Object>>>,
        waker: &Waker,
    ) -> Begin<M::Object> {
        let mut st = self.lock();
        if st.closed {
            return Begin::Closed;
        }
        let begun = self.begin_locked(&mut st, location, now, expired);
        if let Some(begun) = begun {
            if early.is_some() {
                self.queuing.store(false, Ordering::Relaxed);
            }
            return begun;
        }
        if early.is_none() && now.is_none() {
            self.queuing.store(true, Ordering::Relaxed);
        }
        let key = st.enqueue();
        let start = early.or(now).unwrap_or_else(Instant::now);
        let arm = self.register(&mut st, key, waker, start);
        Begin::Queued(key, start, arm)
    }

    /// An idle object or a slot for a caller who need not queue.
    fn begin_locked(
        &self,
        st: &mut State<M::Object, M::Error>,
        location: &'static Location<'static>,
        now: Option<Instant>,
        expired: &mut Vec<Box<Entry<M::Object>>>,
    ) -> Option<Begin<M::Object>> {
        let cfg = &self.config;
        if st.waiting == 0 {
            if let (Some(now), Order::Lifo) = (now, cfg.order) {
                self.reap(st, now, expired);
            }
            while let Some(entry) = st.pop_idle(cfg.order) {
                if let Some(now) = now {
                    if self.is_expired(&entry, now, st.size) {
                        st.size -= 1;
                        st.discarded += 1;
                        expired.push(entry);
                        continue;
                    }
                }
                st.recycled += 1;
                return Some(self.grant_now(st, Grant::Object(entry), location, now));
            }
            if st.size < st.max_size {
                st.size += 1;
                return Some(self.grant_now(st, Grant::Slot, location, now));
            }
        }
        None
    }

    /// Hands `grant` to a caller who did not wait: records a zero wait,
    /// registers the holder, and reserves one more slot if the pool is
    /// below `min_idle` (the caller fills it after serving itself).
    fn grant_now(
        &self,
        st: &mut State<M::Object, M::Error>,
        grant: Grant<M::Object>,
        location: &'static Location<'static>,
        now: Option<Instant>,
    ) -> Begin<M::Object> {
        st.hist.buckets[0] += 1;
        let holder = st.alloc_holder(location, now);
        let topup = st.size < self.config.min_idle && st.size < st.max_size;
        if topup {
            st.size += 1;
        }
        Begin::Ready(grant, holder, topup)
    }

    /// Records a queued waiter's waker (and, at its first registration, its
    /// deadline); returns the deadline to set the alarm for if it is not set.
    fn register(
        &self,
        st: &mut State<M::Object, M::Error>,
        key: usize,
        waker: &Waker,
        start: Instant,
    ) -> Option<Instant> {
        let waiter = &mut st.waiters[key];
        let mine = *waiter
            .deadline
            .get_or_insert(start + self.config.wait_timeout);
        match &mut waiter.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        if st.alarm_armed {
            None
        } else {
            st.alarm_armed = true;
            // A head not polled yet has no deadline: it is within a hair of
            // this one.
            Some(st.head_deadline().unwrap_or(mine))
        }
    }

    /// Past its lifetime, or idle too long while the pool is above `min_idle`.
    fn is_expired(&self, entry: &Entry<M::Object>, now: Instant, size: usize) -> bool {
        if entry.expires.is_some_and(|e| now >= e) {
            return true;
        }
        match self.config.idle_timeout {
            Some(idle) => {
                let last = entry.meta.last_used.unwrap_or(entry.meta.created);
                size > self.config.min_idle && now >= last + idle
            }
            None => false,
        }
    }

    /// Discards up to two expired objects from the long-idle end of the idle
    /// set, so expiry progresses even when checkouts only meet fresh objects
    /// (LIFO order).
    fn reap(
        &self,
        st: &mut State<M::Object, M::Error>,
        now: Instant,
        out: &mut Vec<Box<Entry<M::Object>>>,
    ) {
        for _ in 0..2 {
            match st.idle.pop_front() {
                Some(entry) if self.is_expired(&entry, now, st.size) => {
                    st.size -= 1;
                    st.discarded += 1;
                    out.push(entry);
                }
                Some(entry) => {
                    st.idle.push_front(entry);
                    break;
                }
                None => break,
            }
        }
    }

    /// Gives a returned object back (called by `Pooled::drop`).
    pub(crate) fn give_back(&self, mut entry: Box<Entry<M::Object>>, holder: usize) {
        let broken = self.manager.is_broken(&entry.obj);
        let now = self.now_if_timed();
        let mut expired = false;
        if let Some(now) = now {
            entry.meta.last_used = Some(now);
            expired = entry.expires.is_some_and(|e| now >= e);
        }
        let mut st = self.lock();
        let slot = st.free_holder(holder);
        if broken || expired || st.closed || st.size > st.max_size {
            st.discarded += 1;
            let waker = st.put_slot();
            self.unlock_and_wake(st, waker, entry);
        } else {
            let waker = st.put_object(entry);
            let mut expired = Vec::new();
            if let Some(now) = now {
                self.reap(&mut st, now, &mut expired);
            }
            self.unlock_and_wake(st, waker, expired);
        }
        self.note_leak_on_return(&slot, now);
    }

    /// Forgets a detached object: its slot is freed.
    pub(crate) fn forget(&self, holder: usize) {
        self.free_slot(holder, false);
    }

    /// Forgets an object its holder discarded.
    pub(crate) fn forget_discarded(&self, holder: usize) {
        self.free_slot(holder, true);
    }

    fn free_slot(&self, holder: usize, discarded: bool) {
        let mut st = self.lock();
        if discarded {
            st.discarded += 1;
        }
        st.free_holder(holder);
        let waker = st.put_slot();
        self.unlock_and_wake(st, waker, ());
    }

    /// Lets the lock go, then drops what the caller took out of the pool
    /// (user code, never run under the lock), wakes the waiter that was
    /// handed a slot or an object, and tells `close` once a closed pool
    /// has emptied.
    fn unlock_and_wake<G>(
        &self,
        st: MutexGuard<'_, State<M::Object, M::Error>>,
        waker: Option<Waker>,
        garbage: G,
    ) {
        let drained = st.closed && st.size == 0;
        drop(st);
        drop(garbage);
        if let Some(w) = waker {
            w.wake();
        }
        if drained {
            self.drained.notify_waiters();
        }
    }

    /// Releases a grant that will not be used (a cancelled or failed checkout).
    fn release(&self, grant: Grant<M::Object>, holder: Option<usize>, discarded: bool) {
        let mut st = self.lock();
        if let Some(h) = holder {
            st.free_holder(h);
        }
        if discarded {
            st.discarded += 1;
        }
        let (waker, dropped) = match grant {
            Grant::Object(entry) if !st.closed && st.size <= st.max_size => {
                (st.put_object(entry), None)
            }
            Grant::Object(entry) => (st.put_slot(), Some(entry)),
            Grant::Slot => (st.put_slot(), None),
        };
        self.unlock_and_wake(st, waker, dropped);
    }

    #[cfg_attr(not(feature = "tracing"), allow(clippy::unused_self))]
    fn note_leak_on_return(&self, slot: &HolderSlot, now: Option<Instant>) {
        #[cfg(feature = "tracing")]
        if let (Some(limit), Some(since), Some(now)) = (self.config.leak_threshold, slot.since, now)
        {
            let held = now.saturating_duration_since(since);
            if held > limit && !slot.warned {
                tracing::warn!(
                    location = %slot.location,
                    held_ms = held.as_millis(),
                    limit_ms = limit.as_millis(),
                    "pooled object came back after the leak threshold"
                );
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (slot, now);
    }

    /// Lists the holders, flagging those past `leak_threshold`; the second
    /// list holds the leaks not reported before (to warn about once the
    /// lock is released).
    fn scan_leaks(
        &self,
        st: &mut State<M::Object, M::Error>,
        now: Instant,
    ) -> (Vec<Holder>, Vec<Holder>) {
        let limit = self.config.leak_threshold;
        let mut out = Vec::new();
        let mut fresh = Vec::new();
        for slot in st.holders.iter_mut().filter(|s| s.live) {
            let held_for = slot.since.map(|s| now.saturating_duration_since(s));
            let leaked = matches!((held_for, limit), (Some(h), Some(l)) if h > l);
            let holder = Holder {
                location: slot.location,
                held_for,
                leaked,
            };
            if leaked && !slot.warned {
                slot.warned = true;
                fresh.push(holder);
            }
            out.push(holder);
        }
        (out, fresh)
    }

    /// With feature `tracing`, one warning per newly found leak.
    #[cfg_attr(not(feature = "tracing"), allow(clippy::unused_self))]
    fn warn_leaks(&self, fresh: &[Holder]) {
        #[cfg(feature = "tracing")]
        for h in fresh {
            tracing::warn!(
                location = %h.location,
                held_ms = h.held_for.unwrap_or_default().as_millis(),
                limit_ms = self.config.leak_threshold.unwrap_or_default().as_millis(),
                "pooled object held past the leak threshold"
            );
        }
        #[cfg(not(feature = "tracing"))]
        let _ = fresh;
    }

    fn new_entry(&self, obj: M::Object) -> Box<Entry<M::Object>> {
        let created = Instant::now();
        let mut st = self.lock();
        st.created += 1;
        let expires = self.config.max_lifetime.map(|life| {
            let jitter = self.config.lifetime_jitter.min(life);
            let cut = if jitter.is_zero() {
                Duration::ZERO
            } else {
                let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(st.next_random() % nanos.saturating_add(1))
            };
            created + (life - cut)
        });
        drop(st);
        Box::new(Entry {
            obj,
            meta: Meta::new(created),
            expires,
        })
    }

    /// Creates one object in a slot the caller owns.
    async fn create(&self) -> Result<Box<Entry<M::Object>>, PoolError<M::Error>> {
        let timeout = self.config.create_timeout;
        match tokio::time::timeout(timeout, self.manager.create()).await {
            Ok(Ok(obj)) => Ok(self.new_entry(obj)),
            Ok(Err(e)) => Err(PoolError::Create(e)),
            Err(_) => Err(PoolError::CreateTimeout { timeout }),
        }
    }
}

/// Owns a grant while a checkout makes it ready; gives it back if the
/// checkout fails or is cancelled.
struct Checkout<'a, M: Manager> {
    shared: &'a Shared<M>,
    grant: Option<Grant<M::Object>>,
    holder: Option<usize>,
}

impl<M: Manager> Checkout<'_, M> {
    /// Runs `recycle` on the held object. On failure (or timeout) the object
    /// is discarded and the guard holds its slot instead.
    async fn recycle(&mut self) -> bool {
        let shared = self.shared;
        let Some(Grant::Object(entry)) = &mut self.grant else {
            unreachable!("recycle needs an object")
        };
        entry.meta.use_count += 1;
        let done = lazy_timeout(
            shared.config.recycle_timeout,
            shared.manager.recycle(&mut entry.obj, &entry.meta),
        )
        .await;
        if matches!(done, Some(Ok(()))) {
            return true;
        }
        let old = self.grant.replace(Grant::Slot);
        shared.lock().discarded += 1;
        drop(old);
        false
    }
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        if let Some(mut grant) = self.grant.take() {
            if let Grant::Object(entry) = &mut grant {
                // Cancelled inside `recycle`: the object may be half reset.
                entry.meta.dirty = true;
            }
            self.shared.release(grant, self.holder.take(), false);
        } else if let Some(h) = self.holder.take() {
            self.shared.lock().free_holder(h);
        }
    }
}

/// How a queued `get` ended.
enum Waited<T> {
    /// Handed a grant; the holder slot booked for it.
    Taken(Grant<T>, usize),
    Closed,
    TimedOut,
}

/// A queued `get`; dropping it leaves the queue without losing a grant.
struct Wait<'a, M: Manager> {
    shared: &'a Shared<M>,
    key: Option<usize>,
    /// When the caller was queued.
    start: Instant,
    /// The waker was registered when the caller was queued, in the poll
    /// that polls this future first: that first poll has nothing to do.
    registered: bool,
    location: &'static Location<'static>,
}

impl<M: Manager> Wait<'_, M> {
    /// Books a grant taken under the lock: wait-time histogram, holder.
    fn accept(
        &self,
        st: &mut State<M::Object, M::Error>,
        grant: Grant<M::Object>,
        now: Instant,
    ) -> Waited<M::Object> {
        let waited = now.saturating_duration_since(self.start);
        st.hist.buckets[WaitHistogram::bucket_of(waited)] += 1;
        if matches!(grant, Grant::Object(_)) {
            st.recycled += 1;
        }
        let holder = st.alloc_holder(self.location, self.shared.timed.then_some(now));
        Waited::Taken(grant, holder)
    }

    /// Leaves the queue; a grant that arrived meanwhile is returned.
    fn cancel(&mut self) -> Option<Grant<M::Object>> {
        let key = self.key.take()?;
        let mut st = self.shared.lock();
        match std::mem::replace(&mut st.waiters[key].state, WaitState::Vacant) {
            WaitState::Waiting => {
                st.waiting -= 1;
                st.waiters[key].state = WaitState::Cancelled;
                st.waiters[key].waker = None;
                None
            }
            WaitState::Granted(grant) => {
                st.free_waiter(key);
                Some(grant)
            }
            WaitState::Closed | WaitState::TimedOut => {
                st.free_waiter(key);
                None
            }
            WaitState::Cancelled | WaitState::Vacant => unreachable!("a live wait owns its key"),
        }
    }
}

impl<M: Manager> Future for Wait<'_, M> {
    type Output = Waited<M::Object>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let key = this.key.expect("polled after completion");
        if std::mem::take(&mut this.registered) {
            // Polled in the same task poll that queued the caller and
            // registered this very waker: a grant since then has woken it.
            return Poll::Pending;
        }
        // Read outside the lock: when the wait ended (a queued get reads
        // the clock twice: when it queues and when it is served).
        let now = Instant::now();
        let mut st = this.shared.lock();
        let waiter = &mut st.waiters[key];
        match std::mem::replace(&mut waiter.state, WaitState::Vacant) {
            WaitState::Waiting => {
                waiter.state = WaitState::Waiting;
                let arm = this.shared.register(&mut st, key, cx.waker(), this.start);
                drop(st);
                if let Some(deadline) = arm {
                    this.shared.arm(deadline);
                }
                Poll::Pending
            }
            WaitState::Granted(grant) => {
                st.free_waiter(key);
                this.key = None;
                if st.closed {
                    drop(st);
                    this.shared.release(grant, None, false);
                    return Poll::Ready(Waited::Closed);
                }
                Poll::Ready(this.accept(&mut st, grant, now))
            }
            WaitState::Closed => {
                st.free_waiter(key);
                this.key = None;
                Poll::Ready(Waited::Closed)
            }
            WaitState::TimedOut => {
                st.free_waiter(key);
                this.key = None;
                Poll::Ready(Waited::TimedOut)
            }
            WaitState::Cancelled | WaitState::Vacant => unreachable!("a live wait owns its key"),
        }
    }
}

impl<M: Manager> Drop for Wait<'_, M> {
    fn drop(&mut self) {
        if let Some(grant) = self.cancel() {
            self.shared.release(grant, None, false);
        }
    }
}

/// Polls `fut` once; only if it is not ready at once is a timer armed (and
/// the clock read).
async fn lazy_timeout<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Some(v);
    }
    let mut timer = Box::pin(tokio::time::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// A fair, cancel-safe pool of objects made by a [`Manager`].
///
/// Cloning a `Pool` is cheap and gives another handle to the same pool.
///
/// - Waiters are served first come, first served: a returned object goes
///   straight to the oldest queued `get`, so nobody is starved and no herd of
///   tasks wakes up to fight over one object.
/// - Giving back is synchronous ([`Pooled`]'s `Drop`): no task is spawned.
/// - A `get` dropped at any point leaks no object and no slot.
/// - Lifetimes, idle expiry and leak reports are checked lazily at checkout
///   and return; there is no background task. The clock is read only when
///   such a limit is set, at most once per checkout or return (a checkout
///   that has to queue reads it when it queues and when it is served).
/// - Waiting is bounded (`wait_timeout`) without a timer per waiter: all
///   waiters share the same timeout and are served in order, so the pool
///   keeps one alarm for the oldest waiter's deadline.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_pool::{Manager, Pool};
///
/// struct Counter;
/// impl Manager for Counter {
///     type Object = u32;
///     type Error = std::convert::Infallible;
///     async fn create(&self) -> Result<u32, Self::Error> { Ok(0) }
/// }
///
/// let pool = Pool::builder(Counter).max_size(2).build().await.unwrap();
/// let mut a = pool.get().await.unwrap();
/// *a += 1;
/// drop(a);
/// let s = pool.status();
/// assert_eq!((s.size, s.idle, s.in_use), (1, 1, 0));
/// # }
/// ```
pub struct Pool<M: Manager> {
    shared: Arc<Shared<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Pool<M> {
    /// Starts configuring a pool of objects made by `manager`.
    ///
    /// ```
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(4).build_lazy().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder(manager: M) -> Builder<M> {
        Builder::new(manager)
    }

    pub(crate) fn from_parts(manager: M, config: Config) -> Self {
        let state = State {
            idle: VecDeque::with_capacity(config.max_size),
            size: 0,
            max_size: config.max_size,
            closed: false,
            queue: VecDeque::new(),
            waiters: Vec::new(),
            free_waiters: Vec::new(),
            waiting: 0,
            alarm_armed: false,
            holders: Vec::with_capacity(config.max_size),
            free_holders: Vec::with_capacity(config.max_size),
            created: 0,
            recycled: 0,
            discarded: 0,
            timeouts: 0,
            hist: WaitHistogram::default(),
            rng: config.seed,
            last_create_error: None,
        };
        Self {
            shared: Arc::new_cyclic(|weak| Shared {
                manager,
                timed: config.timed(),
                config,
                state: Mutex::new(state),
                queuing: AtomicBool::new(false),
                drained: Notify::new(),
                alarm: Mutex::new(None),
                alarm_waker: Waker::from(Arc::new(AlarmWaker {
                    shared: weak.clone(),
                })),
            }),
        }
    }

    /// The manager.
    ///
    /// ```
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// let _unit: &Unit = pool.manager();
    /// ```
    #[must_use]
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// Creates one object into the idle set if there is room (used by
    /// `build` and by checkout top-ups).
    pub(crate) async fn add_idle(&self) -> Result<(), PoolError<M::Error>> {
        {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(PoolError::Closed);
            }
            if st.size >= st.max_size {
                return Ok(());
            }
            st.size += 1;
        }
        self.fill_slot().await
    }

    /// Creates objects until the pool holds `min_idle` idle ones (or is
    /// full); returns how many were made.
    ///
    /// The pool never runs this on its own in the background: checkouts top
    /// up lazily (one object per checkout that finds the pool below
    /// `min_idle`). Call it from a task of your own to keep spare objects
    /// warm after a burst of discards.
    ///
    /// # Errors
    ///
    /// The first failed create: [`PoolError::Create`] or
    /// [`PoolError::CreateTimeout`]; [`PoolError::Closed`] after `close`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an object being created when the future is dropped is
    /// not made, and its slot is freed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).min_idle(3).build_lazy().unwrap();
    /// assert_eq!(pool.replenish().await.unwrap(), 3);
    /// assert_eq!(pool.status().idle, 3);
    /// # }
    /// ```
    pub async fn replenish(&self) -> Result<usize, PoolError<M::Error>> {
        let mut made = 0;
        loop {
            {
                let mut st = self.shared.lock();
                if st.closed {
                    return Err(PoolError::Closed);
                }
                if st.idle.len() >= self.shared.config.min_idle
                    || st.size >= st.max_size
                    || st.waiting > 0
                {
                    return Ok(made);
                }
                st.size += 1;
            }
            self.fill_slot().await?;
            made += 1;
        }
    }

    /// Creates an object into a slot already counted in `size`.
    async fn fill_slot(&self) -> Result<(), PoolError<M::Error>> {
        let mut guard = Checkout {
            shared: &self.shared,
            grant: Some(Grant::Slot),
            holder: None,
        };
        let entry = self.shared.create().await?;
        guard.grant = None;
        self.shared.release(Grant::Object(entry), None, false);
        Ok(())
    }

    /// Checks an object out, waiting (first come, first served) up to
    /// `wait_timeout` when none is idle and the pool is full.
    ///
    /// An idle object is recycled first ([`Manager::recycle`]); one that
    /// fails, times out, or is past its lifetime is discarded and replaced.
    /// The caller's source location is recorded for [`holders`](Pool::holders).
    ///
    /// # Errors
    ///
    /// - [`PoolError::Timeout`] after `wait_timeout` in the queue,
    /// - [`PoolError::Create`] / [`PoolError::CreateTimeout`] if a new object
    ///   was needed and could not be made (the error is not hidden),
    /// - [`PoolError::Closed`] once [`close`](Pool::close) was called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future at any `.await` leaks no object and
    /// no slot: a queued caller leaves the queue, an object handed to it
    /// meanwhile goes on to the next waiter, a half-recycled object comes
    /// back marked dirty, and a slot reserved for creation is freed.
    ///
    /// # Cooperative scheduling
    ///
    /// A checkout spends one unit of the task's tokio budget, as a semaphore
    /// permit does, so a task looping on `get` while objects are free still
    /// lets the other tasks on its worker run.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(1).build_lazy().unwrap();
    /// let obj = pool.get().await.unwrap();
    /// assert_eq!(pool.status().in_use, 1);
    /// drop(obj);
    /// # }
    /// ```
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<Pooled<M>, PoolError<M::Error>>> + Send + '_ {
        let location = Location::caller();
        self.acquire(location)
    }

    async fn acquire(
        &self,
        location: &'static Location<'static>,
    ) -> Result<Pooled<M>, PoolError<M::Error>> {
        let shared = &*self.shared;
        let now = shared.now_if_timed();
        let early = match now {
            None if shared.queuing.load(Ordering::Relaxed) => Some(Instant::now()),
            _ => None,
        };
        let mut expired = Vec::new();
        // Begins inside this task poll, to register its waker if queued.
        // A checkout spends the task's cooperative budget, as tokio's own
        // primitives do: a task that loops on `get` while objects are free
        // never waits, and would otherwise hold its worker for good.
        let begun = poll_fn(|cx| {
            let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
            let begun = shared.begin(location, now, early, &mut expired, cx.waker());
            if matches!(begun, Begin::Ready(..)) {
                coop.made_progress();
            }
            Poll::Ready(begun)
        })
        .await;
        drop(expired);
        let (grant, holder, topup) = match begun {
            Begin::Ready(grant, holder, topup) => (grant, holder, topup),
            Begin::Queued(key, start, arm) => {
                // Queued: wait in line, in place (no allocation).
                let waited = {
                    let mut wait = Wait {
                        shared,
                        key: Some(key),
                        start,
                        registered: true,
                        location,
                    };
                    if let Some(deadline) = arm {
                        shared.arm(deadline);
                    }
                    if shared.config.leak_threshold.is_some() {
                        let fresh = shared.scan_leaks(&mut shared.lock(), Instant::now()).1;
                        shared.warn_leaks(&fresh);
                    }
                    (&mut wait).await
                };
                match waited {
                    Waited::Taken(grant, holder) => (grant, holder, false),
                    Waited::Closed => return Err(PoolError::Closed),
                    Waited::TimedOut => return Err(shared.timed_out()),
                }
            }
            Begin::Closed => return Err(PoolError::Closed),
        };
        let mut guard = Checkout {
            shared,
            grant: Some(grant),
            holder: Some(holder),
        };
        if !topup && matches!(guard.grant, Some(Grant::Object(_))) {
            // The quiet path: an object, recycled in place. Nothing here
            // allocates, and a timer is armed only if `recycle` does not
            // finish at once.
            if guard.recycle().await {
                return Ok(self.hand_out(&mut guard));
            }
            return Box::pin(self.finish(guard, None)).await;
        }
        let topup = Checkout {
            shared,
            grant: topup.then_some(Grant::Slot),
            holder: None,
        };
        Box::pin(self.finish(guard, Some(topup))).await
    }

    /// Turns a ready grant into the caller's guard.
    fn hand_out(&self, guard: &mut Checkout<'_, M>) -> Pooled<M> {
        let Some(Grant::Object(mut entry)) = guard.grant.take() else {
            unreachable!("hand_out needs an object")
        };
        entry.meta.dirty = false;
        Pooled {
            entry: Some(entry),
            shared: Arc::clone(&self.shared),
            holder: guard.holder.take().expect("holder kept until done"),
        }
    }

    /// Recycles or creates until the guard holds a ready object, then fills
    /// a top-up slot if one was reserved.
    async fn finish(
        &self,
        mut guard: Checkout<'_, M>,
        topup: Option<Checkout<'_, M>>,
    ) -> Result<Pooled<M>, PoolError<M::Error>> {
        let shared = &*self.shared;
        let pooled = loop {
            match guard.grant {
                Some(Grant::Object(_)) => {
                    if guard.recycle().await {
                        break self.hand_out(&mut guard);
                    }
                }
                Some(Grant::Slot) => {
                    let mut entry = shared.create().await?;
                    entry.meta.use_count = 1;
                    guard.grant = Some(Grant::Object(entry));
                    break self.hand_out(&mut guard);
                }
                None => unreachable!("the guard holds a grant until done"),
            }
        };
        if let Some(mut topup) = topup {
            if topup.grant.take().is_some() {
                self.top_up().await;
            }
        }
        Ok(pooled)
    }

    /// Fills a slot reserved by a checkout; a failure is kept for
    /// `PoolError::Timeout::last_create_error`.
    async fn top_up(&self) {
        if let Err(PoolError::Create(e)) = self.fill_slot().await {
            let mut st = self.shared.lock();
            st.last_create_error = Some(Arc::new(e));
        }
    }

    /// Checks out an idle object at once, without waiting, creating or
    /// running [`Manager::recycle`]. Dirty objects (see [`Meta::is_dirty`])
    /// are skipped: they wait for a `get`, which recycles them.
    ///
    /// # Errors
    ///
    /// [`PoolError::Exhausted`] when no clean idle object is there (or other
    /// callers are queued: they come first), [`PoolError::Closed`] after
    /// [`close`](Pool::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool, PoolError};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(1).min_idle(1).build().await.unwrap();
    /// let first = pool.try_get().unwrap();
    /// assert!(matches!(pool.try_get(), Err(PoolError::Exhausted { in_use: 1, max_size: 1 })));
    /// drop(first);
    /// # }
    /// ```
    #[track_caller]
    pub fn try_get(&self) -> Result<Pooled<M>, PoolError<M::Error>> {
        let location = Location::caller();
        let shared = &*self.shared;
        let now = shared.now_if_timed();
        let mut expired = Vec::new();
        let mut st = shared.lock();
        if st.closed {
            return Err(PoolError::Closed);
        }
        let mut found = None;
        if st.waiting == 0 {
            let len = st.idle.len();
            let mut i = 0;
            while i < len - expired.len() {
                let idx = match shared.config.order {
                    Order::Lifo => st.idle.len() - 1 - i,
                    _ => i,
                };
                let size = st.size;
                let entry = &st.idle[idx];
                if now.is_some_and(|now| shared.is_expired(entry, now, size)) {
                    if let Some(entry) = st.idle.remove(idx) {
                        st.size -= 1;
                        st.discarded += 1;
                        expired.push(entry);
                    }
                    continue;
                }
                if !entry.meta.dirty {
                    found = st.idle.remove(idx);
                    break;
                }
                i += 1;
            }
        }
        let Some(mut entry) = found else {
            let err = PoolError::Exhausted {
                in_use: st.size - st.idle.len(),
                max_size: st.max_size,
            };
            drop(st);
            drop(expired);
            return Err(err);
        };
        st.recycled += 1;
        st.hist.buckets[0] += 1;
        let holder = st.alloc_holder(location, now);
        drop(st);
        drop(expired);
        entry.meta.use_count += 1;
        Ok(Pooled {
            entry: Some(entry),
            shared: Arc::clone(&self.shared),
            holder,
        })
    }

    /// A snapshot of the pool's counters.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(3).build_lazy().unwrap();
    /// drop(pool.get().await.unwrap());
    /// let s = pool.status();
    /// assert_eq!((s.size, s.idle, s.created, s.wait_time.total()), (1, 1, 1, 1));
    /// # }
    /// ```
    #[must_use]
    pub fn status(&self) -> Status {
        let st = self.shared.lock();
        Status {
            size: st.size,
            idle: st.idle.len(),
            in_use: st.size - st.idle.len(),
            waiting: st.waiting,
            max_size: st.max_size,
            created: st.created,
            recycled: st.recycled,
            discarded: st.discarded,
            timeouts: st.timeouts,
            wait_time: st.hist,
        }
    }

    /// Every checked-out object: where it was checked out and, when the pool
    /// keeps times, for how long. Holders past `leak_threshold` are flagged
    /// (and, with feature `tracing`, reported once with a warning).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// let held = pool.get().await.unwrap();
    /// let line = line!() - 1;
    /// assert_eq!(pool.holders()[0].location.line(), line);
    /// assert_eq!(pool.holders()[0].held_for, None); // no time limit set
    /// # drop(held);
    /// # }
    /// ```
    #[must_use]
    pub fn holders(&self) -> Vec<Holder> {
        let now = Instant::now();
        let mut st = self.shared.lock();
        let (all, fresh) = self.shared.scan_leaks(&mut st, now);
        drop(st);
        self.shared.warn_leaks(&fresh);
        all
    }

    /// Changes `max_size`. Shrinking discards idle objects at once and
    /// borrowed ones as they come back, until the pool fits; growing lets
    /// queued callers create objects in the new room. `0` is taken as `1`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(4).min_idle(4).build().await.unwrap();
    /// pool.resize(2);
    /// assert_eq!(pool.status().size, 2);
    /// # }
    /// ```
    pub fn resize(&self, max_size: usize) {
        let max_size = max_size.max(1);
        let mut dropped = Vec::new();
        let mut wakers = Vec::new();
        let mut st = self.shared.lock();
        st.max_size = max_size;
        while st.size > max_size {
            let Some(entry) = st.pop_idle(Order::Fifo) else {
                break;
            };
            st.size -= 1;
            st.discarded += 1;
            dropped.push(entry);
        }
        st.grant_free_slots(&mut wakers);
        drop(st);
        drop(dropped);
        for w in wakers {
            w.wake();
        }
    }

    /// Keeps only the idle objects for which `keep` returns `true`; returns
    /// how many were discarded. Borrowed objects are not seen.
    ///
    /// `keep` runs under the pool's lock: make it quick and do not call the
    /// pool from it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).max_size(4).min_idle(3).build().await.unwrap();
    /// let removed = pool.retain(|_obj, meta| meta.use_count() > 0);
    /// assert_eq!(removed, 3);
    /// assert_eq!(pool.status().size, 0);
    /// # }
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&M::Object, &Meta) -> bool) -> usize {
        let mut st = self.shared.lock();
        // Decide first, then move: a panicking `keep` leaves the pool as it was.
        let verdicts: Vec<bool> = st.idle.iter().map(|e| keep(&e.obj, &e.meta)).collect();
        let mut removed = Vec::new();
        let mut kept = VecDeque::with_capacity(st.idle.len());
        for (entry, keep) in st.idle.drain(..).zip(verdicts) {
            if keep {
                kept.push_back(entry);
            } else {
                removed.push(entry);
            }
        }
        st.idle = kept;
        let n = removed.len();
        st.size -= n;
        st.discarded += n as u64;
        let mut wakers = Vec::new();
        st.grant_free_slots(&mut wakers);
        drop(st);
        drop(removed);
        for w in wakers {
            w.wake();
        }
        n
    }

    /// `true` once [`close`](Pool::close) was called.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use aqueduct_pool::{Manager, Pool};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// pool.close().await.unwrap();
    /// assert!(pool.is_closed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Closes the pool: new and queued `get` calls fail with
    /// [`PoolError::Closed`], idle objects are dropped, and the call waits
    /// (up to `close_timeout`) for borrowed objects to come back; they are
    /// dropped on return.
    ///
    /// # Errors
    ///
    /// [`PoolError::CloseTimeout`] if objects are still borrowed when
    /// `close_timeout` ends (the pool stays closed; they are dropped when
    /// they come back).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pool is closed by the first poll; dropping the
    /// future only stops the waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// # use aqueduct_pool::{Manager, Pool, PoolError};
    /// # struct Unit;
    /// # impl Manager for Unit { type Object = (); type Error = ();
    /// #     async fn create(&self) -> Result<(), ()> { Ok(()) } }
    /// let pool = Pool::builder(Unit).build_lazy().unwrap();
    /// let held = pool.get().await.unwrap();
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    ///     drop(held);
    /// });
    /// pool.close().await.unwrap(); // returns once `held` is back
    /// assert!(matches!(pool.get().await, Err(PoolError::Closed)));
    /// # }
    /// ```
    pub async fn close(&self) -> Result<(), PoolError<M::Error>> {
        let shared = &*self.shared;
        let (idle, wakers) = {
            let mut st = shared.lock();
            st.closed = true;
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.size -= idle.len();
            st.discarded += idle.len() as u64;
            let mut wakers = Vec::new();
            while let Some(key) = st.queue.pop_front() {
                if matches!(st.waiters[key].state, WaitState::Cancelled) {
                    st.free_waiter(key);
                } else {
                    st.waiters[key].state = WaitState::Closed;
                    wakers.extend(st.waiters[key].waker.take());
                }
            }
            st.waiting = 0;
            (idle, wakers)
        };
        drop(idle);
        for w in wakers {
            w.wake();
        }
        let limit = shared.config.close_timeout;
        let deadline = Instant::now() + limit;
        loop {
            let notified = shared.drained.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            let size = shared.lock().size;
            if size == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let outstanding = shared.lock().size;
                if outstanding == 0 {
                    return Ok(());
                }
                return Err(PoolError::CloseTimeout {
                    outstanding,
                    waited: limit,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State<u64, ()> {
        State {
            idle: VecDeque::new(),
            size: 1,
            max_size: 1,
            closed: false,
            queue: VecDeque::new(),
            waiters: Vec::new(),
            free_waiters: Vec::new(),
            waiting: 0,
            alarm_armed: false,
            holders: Vec::new(),
            free_holders: Vec::new(),
            created: 0,
            recycled: 0,
            discarded: 0,
            timeouts: 0,
            hist: WaitHistogram::default(),
            rng: 1,
            last_create_error: None,
        }
    }

    #[test]
    fn a_grant_skips_cancelled_waiters_and_frees_their_entries() {
        let mut st = state();
        let a = st.enqueue();
        let b = st.enqueue();
        st.waiters[a].state = WaitState::Cancelled;
        st.waiting -= 1;
        assert!(st.grant_oldest(Grant::Slot).is_ok());
        assert!(matches!(
            st.waiters[b].state,
            WaitState::Granted(Grant::Slot)
        ));
        assert!(matches!(st.waiters[a].state, WaitState::Vacant));
        assert_eq!(st.free_waiters, vec![a]);
        assert_eq!((st.waiting, st.queue.len()), (0, 0));
        // Nobody left: the grant comes back.
        assert!(st.grant_oldest(Grant::Slot).is_err());
    }

    #[test]
    fn a_freed_slot_shrinks_the_pool_when_nobody_waits() {
        let mut st = state();
        assert!(st.put_slot().is_none());
        assert_eq!(st.size, 0);
    }

    #[test]
    fn the_head_deadline_is_that_of_the_oldest_live_waiter() {
        let mut st = state();
        let now = Instant::now();
        let a = st.enqueue();
        let b = st.enqueue();
        st.waiters[a].state = WaitState::Cancelled;
        st.waiters[b].deadline = Some(now);
        assert_eq!(st.head_deadline(), Some(now));
        assert_eq!(st.queue.len(), 1, "the cancelled head was dropped");
    }

    #[test]
    fn holder_slots_are_reused() {
        let mut st = state();
        let here = Location::caller();
        let a = st.alloc_holder(here, None);
        let b = st.alloc_holder(here, None);
        st.free_holder(a);
        assert_eq!(st.alloc_holder(here, None), a);
        assert_ne!(a, b);
        assert_eq!(st.holders.len(), 2);
    }

    #[test]
    fn the_jitter_generator_is_seeded() {
        let mut x = state();
        let mut y = state();
        let xs: Vec<_> = (0..4).map(|_| x.next_random()).collect();
        let ys: Vec<_> = (0..4).map(|_| y.next_random()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
    }
}
