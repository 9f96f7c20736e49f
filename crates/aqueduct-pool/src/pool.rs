//! The [`Pool`]: idle objects parked lock-free, one per cache line
//! ([`Homes`], in [`Order::Local`]), and one short lock around everything
//! else: the FIFO queue of waiters, the strictly ordered idle set, creation
//! and the counters. A returned object goes straight to the oldest waiter.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::config::{Builder, Config, Order};
use crate::error::PoolError;
use crate::homes::{Homes, wrap};
use crate::manager::Manager;
use crate::object::{Entry, Meta, Pooled, Track};
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
    /// When this waiter gives up (set when it queues). All waiters share
    /// one `wait_timeout` and are queued in deadline order (see
    /// [`State::enqueue`]), so deadlines grow along the queue and only the
    /// head's matters.
    deadline: Instant,
    /// The runtime the waiter was last polled on, if it was looked up
    /// (only while the alarm is on a current-thread runtime, or when the
    /// waiter set it).
    runtime: Option<tokio::runtime::Id>,
}

impl<T> Waiter<T> {
    /// Frees this entry, `key` in the waiter list, for reuse.
    fn vacate(&mut self, key: usize, free: &mut Vec<usize>) {
        self.state = WaitState::Vacant;
        self.waker = None;
        free.push(key);
    }

    /// Whether the waiter may not be on the runtime `on` the alarm is set
    /// on: it was last polled on another one, or on one not known.
    fn elsewhere_than(&self, on: Option<tokio::runtime::Id>) -> bool {
        self.runtime.is_none() || self.runtime != on
    }
}

pub(crate) struct State<T, E> {
    idle: VecDeque<Box<Entry<T>>>,
    /// Objects alive plus slots granted for creation.
    size: usize,
    max_size: usize,
    /// The configured `min_idle` (fixed).
    min_idle: usize,
    closed: bool,
    /// Keys into `waiters`, oldest first (cancelled ones are skipped lazily,
    /// or pruned once they pile up).
    queue: VecDeque<usize>,
    waiters: Vec<Waiter<T>>,
    free_waiters: Vec<usize>,
    /// Live (not cancelled) queued waiters.
    waiting: usize,
    /// Slots (counted in `size`) reserved for top-ups that have not
    /// started yet: from when a checkout below `min_idle` reserves one
    /// (its task is spawned only once the checkout has served itself) to
    /// when that task starts. A caller who finds no object and no room
    /// takes one rather than queue: the checkout may still be creating its
    /// own object, and the task may be on a runtime nobody drives.
    top_ups: usize,
    /// The deadline the shared alarm is set for, if it is set: the head's
    /// (or an earlier one).
    alarm_at: Option<Instant>,
    /// The current-thread runtime the alarm is set on, if it is set on
    /// one: its timers run only while a thread drives it (in `block_on`),
    /// so a waiter on another runtime sets the alarm again on its own.
    /// `None` for a multi-thread runtime, whose timers run while it lives
    /// (and fire as it shuts down).
    alarm_on: Option<tokio::runtime::Id>,
    /// The waiter that set the alarm on the current-thread runtime
    /// `alarm_on`. Once it leaves, that runtime may never run again (its
    /// `block_on` returned): if the head waits on another one, the alarm is
    /// handed on to it ([`State::leave_alarm`]). While it stays, it is woken
    /// with the head when the alarm fires ([`Shared::on_alarm`]).
    alarm_key: Option<usize>,
    /// Counts the times the alarm was set: of two settings on their way
    /// to [`Shared::arm`], the later one wins.
    alarm_gen: u64,
    /// The track of every object alive (and of some dropped since: pruned
    /// as the list grows).
    tracks: Vec<Weak<Track>>,
    created: u64,
    recycled: u64,
    discarded: u64,
    timeouts: u64,
    hist: WaitHistogram,
    rng: u64,
    /// The latest create error no caller received (a top-up).
    last_create_error: Option<Arc<E>>,
}

/// What a checkout found in the homes.
enum Fast<T> {
    /// An object, from the home of this index: the checkout it serves is
    /// counted there ([`Homes::served`]).
    Taken(Box<Entry<T>>, usize),
    /// An object that may have expired: the lock decides.
    Stale(Box<Entry<T>>),
    Empty,
}

/// A setting of the alarm, decided under the lock, made by [`Shared::arm`]
/// once the lock is released.
#[derive(Clone, Copy)]
struct Arm {
    at: Instant,
    /// [`State::alarm_gen`] when it was decided.
    generation: u64,
}

/// What `begin` found.
enum Begin<T> {
    /// A grant, and whether a top-up slot was reserved.
    Ready(Grant<T>, bool),
    /// Queued under this key, the waker already registered: when the wait
    /// began, and the deadline the alarm must be set for, if it is not set.
    Queued(usize, Instant, Option<Arm>),
    Closed,
}

impl<T, E> State<T, E> {
    /// Lists a new object's track, pruning those of dropped objects once
    /// they are as many as the list had room for.
    fn add_track(&mut self, track: &Arc<Track>) {
        if self.tracks.len() == self.tracks.capacity() {
            self.tracks.retain(|t| t.strong_count() > 0);
        }
        self.tracks.push(Arc::downgrade(track));
    }

    /// An object coming back is not kept: the pool is closed, or above a
    /// reduced `max_size`.
    fn keeps_none(&self) -> bool {
        self.closed || self.size > self.max_size
    }

    /// The pool should make one more object: it is open, below `min_idle`
    /// and below `max_size`, and nobody waits (a waiter is handed a freed
    /// slot and creates in it). Checkouts and the top-up task ask this.
    fn wants_top_up(&self) -> bool {
        !self.closed && self.waiting == 0 && self.size < self.min_idle.min(self.max_size)
    }

    /// The gate of the homes: closed (non-zero) while anyone waits, the
    /// pool is closed, it is above `max_size`, or it wants a top-up (so that
    /// checkouts go through the lock, which makes it).
    fn gate(&self) -> usize {
        self.waiting + usize::from(self.keeps_none()) + usize::from(self.wants_top_up())
    }

    /// Queues a caller whose wait ends at `deadline`, behind every waiter
    /// whose wait ends no later (see [`place`](Self::place)).
    fn enqueue(&mut self, deadline: Instant) -> usize {
        let w = Waiter {
            state: WaitState::Waiting,
            waker: None,
            deadline,
            runtime: None,
        };
        let key = if let Some(k) = self.free_waiters.pop() {
            self.waiters[k] = w;
            k
        } else {
            self.waiters.push(w);
            self.waiters.len() - 1
        };
        self.place(key, false);
        key
    }

    /// Queues the waiter `key` in deadline order: behind every waiter whose
    /// wait ends earlier, and behind those whose wait ends at the same time
    /// too unless `ahead_of_ties`. As all share one `wait_timeout`, that is
    /// the order in which they first queued: a `get` that takes a new turn
    /// (its object failed `recycle` above a reduced `max_size`) keeps the
    /// deadline of its first, and so its place ahead of those who queued
    /// after it; a waiter that gives back a slot handed to it before a
    /// resize down goes back to its place, which is at the head unless a
    /// caller who queued before it took a new turn meanwhile. Deadlines
    /// then grow along the queue, which the one alarm, set for the head's,
    /// relies on; a waiter that becomes the head with a deadline earlier
    /// than the alarm's has the alarm set afresh for it.
    fn place(&mut self, key: usize, ahead_of_ties: bool) {
        let mine = self.waiters[key].deadline;
        let waiters = &self.waiters;
        let behind = |k: usize| {
            let d = waiters[k].deadline;
            if ahead_of_ties { d < mine } else { d <= mine }
        };
        // Almost always at the back: a caller that queues for the first
        // time has the latest deadline but for a few read just before it.
        if self.queue.back().is_none_or(|&k| behind(k)) {
            self.queue.push_back(key);
        } else {
            let at = self
                .queue
                .iter()
                .rposition(|&k| behind(k))
                .map_or(0, |i| i + 1);
            self.queue.insert(at, key);
        }
        self.waiting += 1;
        let earlier = self.alarm_at.is_some_and(|at| mine < at);
        if earlier && self.live_head() == Some(key) {
            self.alarm_at = None;
            self.alarm_key = None;
        }
    }

    /// The key of the oldest live waiter (cancelled ones at the head are
    /// freed on the way).
    fn live_head(&mut self) -> Option<usize> {
        while let Some(&key) = self.queue.front() {
            match self.waiters[key].state {
                WaitState::Cancelled => {
                    self.queue.pop_front();
                    self.free_waiter(key);
                }
                _ => return Some(key),
            }
        }
        None
    }

    /// The deadline of the oldest live waiter.
    fn head_deadline(&mut self) -> Option<Instant> {
        self.live_head().map(|key| self.waiters[key].deadline)
    }

    /// The waiter `key` leaves the queue: if it set the alarm on a
    /// current-thread runtime and the head waits on another (or on one not
    /// known), the alarm is marked unset, for [`alarm_duty`](Self::alarm_duty)
    /// to hand on to the head, which sets it on its own runtime.
    fn leave_alarm(&mut self, key: usize) {
        if self.alarm_key != Some(key) {
            return;
        }
        self.alarm_key = None;
        if self.alarm_at.is_none() {
            return;
        }
        let on = self.alarm_on;
        if let Some(head) = self.live_head() {
            if self.waiters[head].elsewhere_than(on) {
                self.alarm_at = None;
            }
        }
    }

    /// The waker of the oldest live waiter, if the alarm is not set: the
    /// waiter that leaves the queue calls it to hand on the duty of setting
    /// the alarm, which [`Shared::on_alarm`] gave the head it woke (a head
    /// served or cancelled before it is polled would otherwise leave every
    /// waiter behind it without a timeout).
    fn alarm_duty(&mut self) -> Option<Waker> {
        if self.alarm_at.is_some() {
            return None;
        }
        self.live_head()
            .and_then(|key| self.waiters[key].waker.clone())
    }

    /// The alarm decided as of `generation` was not set after all: it is
    /// recorded as unset, unless a later decision replaced that one.
    fn unset_alarm(&mut self, generation: u64) {
        if self.alarm_gen == generation {
            self.alarm_at = None;
            self.alarm_key = None;
        }
    }

    fn free_waiter(&mut self, key: usize) {
        self.waiters[key].vacate(key, &mut self.free_waiters);
    }

    /// Marks the queued waiter `key` cancelled. Its entry is freed when the
    /// queue reaches it, or sooner: behind a head that keeps waiting, gets
    /// that give up (say, raced against a short timer) would otherwise
    /// pile up until the head leaves, however many come. Once the
    /// cancelled entries outnumber the live ones by [`PRUNE_SLACK`], they
    /// are all freed at once: each cancel pays for it in turn.
    fn cancel_waiting(&mut self, key: usize) {
        self.waiting -= 1;
        self.waiters[key].state = WaitState::Cancelled;
        self.waiters[key].waker = None;
        if self.queue.len() <= 2 * self.waiting + PRUNE_SLACK {
            return;
        }
        let Self {
            queue,
            waiters,
            free_waiters,
            ..
        } = self;
        queue.retain(|&key| {
            let cancelled = matches!(waiters[key].state, WaitState::Cancelled);
            if cancelled {
                waiters[key].vacate(key, free_waiters);
            }
            !cancelled
        });
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
            Order::Fifo => self.idle.pop_front(),
            _ => self.idle.pop_back(),
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

/// How many more cancelled waiters than live ones the queue may hold
/// before [`State::cancel_waiting`] frees them.
const PRUNE_SLACK: usize = 32;

/// How far ahead a deadline that `Instant` cannot hold is put: a duration
/// such as `Duration::MAX` means no limit.
const NEVER: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// `t + d`, or [`NEVER`] after `t` if that is past the end of `Instant`.
fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(|| t + NEVER)
}

/// Room made up front for idle objects and tracks: a `max_size` meant as
/// "no limit" must not allocate (or overflow) at build.
const PREALLOCATED: usize = 64;

/// The most homes a pool keeps; idle objects beyond them wait under the
/// lock. Enough for every core of a large machine to have its own.
const MAX_HOMES: usize = 64;

thread_local! {
    /// The home this thread used last (in any pool): where its next
    /// checkout or give-back looks first. Threads start spread out;
    /// `usize::MAX` until the first use.
    static HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn hint() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    HINT.with(|h| {
        let hint = h.get();
        if hint != usize::MAX {
            return hint;
        }
        let first = NEXT.fetch_add(1, Ordering::Relaxed) % MAX_HOMES;
        h.set(first);
        first
    })
}

thread_local! {
    /// The home this thread's next timed checkout looks at for an expired
    /// object: each one looks at the next, so every home is seen in turn.
    static REAP: Cell<usize> = const { Cell::new(0) };
}

fn next_reap() -> usize {
    REAP.with(|r| {
        let next = r.get().wrapping_add(1);
        r.set(next);
        next
    })
}

fn set_hint(home: usize) {
    HINT.with(|h| h.set(home));
}

/// What keeps the pool alive for a checked-out object ([`Pooled`] holds
/// one).
pub(crate) enum Keep<M: Manager> {
    /// The anchor of a home. Its reference count lives on a line of its
    /// own, written only by the threads that use that home: checkouts on
    /// different cores do not all write the pool's own count.
    Home(Arc<Anchor<M>>),
    /// The pool itself (a pool without homes).
    Pool(Arc<Shared<M>>),
}

impl<M: Manager> Keep<M> {
    pub(crate) fn shared(&self) -> &Shared<M> {
        match self {
            Keep::Home(anchor) => &anchor.shared,
            Keep::Pool(shared) => shared,
        }
    }
}

/// One reference to the pool, shared by the objects checked out through a
/// home.
pub(crate) struct Anchor<M: Manager> {
    shared: Arc<Shared<M>>,
}

/// A home's anchor, made at its first checkout. The [`Pool`] handles hold
/// the anchors, not the pool itself: no reference cycle, so the pool is
/// freed once its last handle and its last checked-out object are gone.
/// Written once; read without a lock or a write.
#[repr(align(128))]
struct AnchorSlot<M: Manager>(OnceLock<Arc<Anchor<M>>>);

/// The pool's lock held: the state, and on release the homes' gate set
/// from it, so no change to the waiters, `closed` or `size` can leave the
/// gate stale.
pub(crate) struct Locked<'a, T, E> {
    st: MutexGuard<'a, State<T, E>>,
    homes: &'a Homes<Entry<T>>,
    top_up: &'a OnceLock<Arc<Notify>>,
}

impl<T, E> Deref for Locked<'_, T, E> {
    type Target = State<T, E>;

    fn deref(&self) -> &State<T, E> {
        &self.st
    }
}

impl<T, E> DerefMut for Locked<'_, T, E> {
    fn deref_mut(&mut self) -> &mut State<T, E> {
        &mut self.st
    }
}

impl<T, E> Drop for Locked<'_, T, E> {
    fn drop(&mut self) {
        // Still under the lock: `st` is released after this.
        self.homes.set_gate(self.st.gate());
        if self.st.wants_top_up() {
            wake_top_up(self.top_up);
        }
    }
}

/// Wakes the task of [`Pool::top_up_in_background`], if one was started.
fn wake_top_up(top_up: &OnceLock<Arc<Notify>>) {
    if let Some(wake) = top_up.get() {
        wake.notify_one();
    }
}

pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    config: Config,
    timed: bool,
    /// What track times are counted from.
    epoch: Instant,
    state: Mutex<State<M::Object, M::Error>>,
    /// The idle objects of a pool in `Order::Local` (none otherwise).
    homes: Homes<Entry<M::Object>>,
    /// The latest `get` had to queue: the next one probably will too, so it
    /// reads the clock (for its wait's start) before taking the lock rather
    /// than under it. Only a hint; written only when it changes.
    queuing: AtomicBool,
    /// Set by `close` (under the lock, with the state's own flag), for
    /// readers that hold no lock: [`is_closed`](Self::is_closed), and a
    /// checkout whose create, or recycle, did not finish at once, before it
    /// hands the object out (`close` may have run meanwhile, and the object
    /// then goes back to the closed pool, which drops it, instead).
    closed: AtomicBool,
    drained: Notify,
    /// Wakes the task of [`Pool::top_up_in_background`], if one was started.
    top_up: OnceLock<Arc<Notify>>,
    /// One timer for the whole queue, set for the head's deadline. Waiters
    /// register no timer of their own.
    alarm: Mutex<Alarm>,
    /// Wakes [`Shared::on_alarm`].
    alarm_waker: Waker,
    /// This, for the task that sets the alarm again ([`SetAlarm`]).
    me: Weak<Shared<M>>,
}

impl<M: Manager> Drop for Shared<M> {
    fn drop(&mut self) {
        // A background top-up finds the pool gone and ends.
        wake_top_up(&self.top_up);
    }
}

/// The pool's one timer.
#[derive(Default)]
struct Alarm {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The [`Arm::generation`] of the sleep.
    generation: u64,
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

/// The task that sets the alarm again on the multi-thread runtime it fired
/// on ([`Shared::on_alarm`]). Dropped before it ran (its runtime shut
/// down), it undoes the record that the alarm is set and hands the duty to
/// the head, which sets it on its own runtime.
struct SetAlarm<M: Manager> {
    shared: Weak<Shared<M>>,
    arm: Option<Arm>,
}

impl<M: Manager> Future for SetAlarm<M> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if let (Some(arm), Some(shared)) = (self.arm.take(), self.shared.upgrade()) {
            shared.arm(arm);
        }
        Poll::Ready(())
    }
}

impl<M: Manager> Drop for SetAlarm<M> {
    fn drop(&mut self) {
        if let (Some(arm), Some(shared)) = (self.arm.take(), self.shared.upgrade()) {
            shared.alarm_not_set(arm.generation);
        }
    }
}

impl<M: Manager> Shared<M> {
    /// Sets the alarm as [`register`](Self::register) decided, unless a
    /// later decision was made already (two callers, each on a runtime of
    /// its own, may both set it; the later one's runtime is the one
    /// recorded).
    ///
    /// A fresh sleep is made each time (on the current runtime): the alarm
    /// is set only by the first waiter, after it fired, and by a waiter on
    /// another runtime than the current-thread one it is set on, so this is
    /// rare, and a pool used from several runtimes one after another never
    /// polls a sleep of a runtime that has gone (a runtime that shuts down
    /// fires its timers, which hands the alarm on to the next waiter).
    ///
    /// Outside a runtime with timers (or on one whose timers shut down),
    /// making or polling the sleep panics: the record that the alarm is set
    /// is undone before the panic goes on, so that the next waiter sets it
    /// (else no later waiter would ever time out).
    fn arm(&self, arm: Arm) {
        let mut alarm = self.alarm.lock().unwrap_or_else(PoisonError::into_inner);
        if alarm.generation > arm.generation {
            return;
        }
        alarm.generation = arm.generation;
        let set = panic::catch_unwind(AssertUnwindSafe(|| {
            let sleep = alarm
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(arm.at)));
            let mut cx = Context::from_waker(&self.alarm_waker);
            // Registers the alarm's waker with the timer; the task's
            // cooperative budget must not make the timer skip that.
            pin!(tokio::task::unconstrained(sleep.as_mut()))
                .poll(&mut cx)
                .is_ready()
        }));
        match set {
            Ok(fired) => {
                drop(alarm);
                if fired {
                    self.on_alarm();
                }
            }
            Err(panic) => {
                alarm.sleep = None;
                drop(alarm);
                self.lock().unset_alarm(arm.generation);
                panic::resume_unwind(panic);
            }
        }
    }

    /// Times out the waiters at the head of the queue whose deadline passed,
    /// then sees that the alarm is set again for the new head's deadline.
    ///
    /// If it fired at its deadline on a multi-thread runtime, it is set
    /// again there, by a task (see [`SetAlarm`]): that runtime's timers run
    /// while it lives, whoever the head is. Otherwise (it fired early, as a
    /// runtime that shuts down fires its timers, or on a current-thread
    /// runtime) the new head is woken to set it on its own runtime.
    ///
    /// The waiter that set the alarm on the current-thread runtime it fired
    /// on is woken too, if it still waits behind a head that waits on
    /// another runtime (or on one not known): that may be a current-thread
    /// runtime nobody drives any more, whose waiter would never set the
    /// alarm again, while the runtime that fired runs.
    fn on_alarm(&self) {
        let now = Instant::now();
        let mut wakers = Vec::new();
        let mut st = self.lock();
        let on_time = st.alarm_at.is_some_and(|at| at <= now);
        st.alarm_at = None;
        let setter = st.alarm_key.take();
        let on = st.alarm_on;
        // Looked up only when the alarm fired at its deadline on a
        // multi-thread runtime, the one it fires on.
        let here = (on_time && on.is_none())
            .then(tokio::runtime::Handle::try_current)
            .and_then(Result::ok)
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let mut again = None;
        while let Some(&key) = st.queue.front() {
            let waiter = &mut st.waiters[key];
            match waiter.state {
                WaitState::Cancelled => {
                    st.queue.pop_front();
                    st.free_waiter(key);
                }
                WaitState::Waiting if waiter.deadline <= now => {
                    waiter.state = WaitState::TimedOut;
                    wakers.extend(waiter.waker.take());
                    st.queue.pop_front();
                    st.waiting -= 1;
                }
                WaitState::Waiting if here.is_some() => {
                    let at = waiter.deadline;
                    st.alarm_at = Some(at);
                    st.alarm_gen += 1;
                    again = Some(Arm {
                        at,
                        generation: st.alarm_gen,
                    });
                    break;
                }
                WaitState::Waiting => {
                    wakers.extend(waiter.waker.clone());
                    let elsewhere = waiter.elsewhere_than(on);
                    if let Some(setter) = setter.filter(|&s| s != key && elsewhere) {
                        let setter = &st.waiters[setter];
                        if matches!(setter.state, WaitState::Waiting) {
                            wakers.extend(setter.waker.clone());
                        }
                    }
                    break;
                }
                _ => unreachable!("only waiting or cancelled keys are queued"),
            }
        }
        drop(st);
        for w in wakers {
            w.wake();
        }
        if let (Some(arm), Some(here)) = (again, here) {
            // Not set from here: this may be the timer driver of a runtime
            // that has begun to shut down, whose timers panic when polled.
            // Its tasks are dropped instead of run, and the drop hands the
            // duty to the head.
            drop(here.spawn(SetAlarm {
                shared: self.me.clone(),
                arm: Some(arm),
            }));
        }
    }

    /// The alarm [`on_alarm`](Self::on_alarm) recorded as set, as of
    /// `generation`, was not set after all: the record is undone, unless a
    /// later setting replaced it, and the head is woken to set it on its
    /// own runtime.
    fn alarm_not_set(&self, generation: u64) {
        let mut st = self.lock();
        st.unset_alarm(generation);
        let duty = st.alarm_duty();
        drop(st);
        if let Some(w) = duty {
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

    /// Keeps the error of a create no caller waited for (a top-up) for
    /// [`PoolError::Timeout`]'s `last_create_error`.
    fn keep_create_error(&self, err: PoolError<M::Error>) {
        if let PoolError::Create(e) = err {
            self.lock().last_create_error = Some(Arc::new(e));
        }
    }

    /// Idle objects: under the lock and in the homes. Objects move between
    /// homes while they are counted, so one can be seen twice: the sum is
    /// capped by `size`.
    fn idle(&self, st: &State<M::Object, M::Error>) -> usize {
        (st.idle.len() + self.homes.occupied()).min(st.size)
    }

    fn lock(&self) -> Locked<'_, M::Object, M::Error> {
        // No user code runs under the lock but `retain`'s predicate; if it
        // panicked, the state is still consistent.
        self.locked(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether the pool is closed: the flag `close` sets beside the state's
    /// own, read without a lock.
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The lock, if nobody holds it.
    fn try_lock(&self) -> Option<Locked<'_, M::Object, M::Error>> {
        match self.state.try_lock() {
            Ok(st) => Some(self.locked(st)),
            Err(TryLockError::Poisoned(poisoned)) => Some(self.locked(poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn locked<'a>(
        &'a self,
        st: MutexGuard<'a, State<M::Object, M::Error>>,
    ) -> Locked<'a, M::Object, M::Error> {
        Locked {
            st,
            homes: &self.homes,
            top_up: &self.top_up,
        }
    }

    /// Brings every object parked in the homes under the lock: to the
    /// oldest waiters, else to the idle set; the pool discards those it no
    /// longer keeps (closed, or above `max_size`). Closes the gate first
    /// (see [`Homes::drain`]); the lock's release sets it again.
    fn absorb_homes(
        &self,
        st: &mut State<M::Object, M::Error>,
        garbage: &mut Vec<Box<Entry<M::Object>>>,
        wakers: &mut Vec<Waker>,
    ) {
        self.homes.drain(|entry| {
            if st.keeps_none() {
                st.size -= 1;
                st.discarded += 1;
                garbage.push(entry);
            } else {
                wakers.extend(st.put_object(entry));
            }
        });
    }

    /// Takes an idle object from the homes without the lock, if one is there
    /// and nobody waits. With `now` (the pool keeps times), an object that
    /// may have expired is left to the lock ([`Fast::Stale`]), which knows `size` and
    /// `min_idle`; with an expiry configured, one more home is looked at
    /// (the next one each time), so that objects no thread comes back to
    /// still expire. One such look in `homes + 1` goes to the objects idling
    /// under the lock instead (while the homes serve every checkout, no
    /// other checkout looks there), if the lock is free.
    fn take_fast(&self, now: Option<Instant>) -> Fast<M::Object> {
        let Some((entry, home)) = self.homes.take(hint()) else {
            return Fast::Empty;
        };
        set_hint(home);
        let Some(now) = now else {
            return Fast::Taken(entry, home);
        };
        let expiring = self.config.idle_timeout.is_some() || self.config.max_lifetime.is_some();
        let n = self.homes.len();
        let look = if expiring {
            next_reap() % (n + 1)
        } else {
            home
        };
        // The look may discard an expired object, whose `Drop` (user code)
        // runs here. If that panics, `entry`, taken but not handed out yet,
        // goes back before the panic goes on: the unwinding must not take
        // it and its slot along.
        let looked = panic::catch_unwind(AssertUnwindSafe(|| {
            if look == n {
                if let Some(mut st) = self.try_lock() {
                    let mut expired = Vec::new();
                    self.reap(&mut st, now, &mut expired);
                    self.unlock_and_wake(st, None, expired);
                }
            }
            let other = if look == home || look == n {
                None
            } else {
                self.homes.take_at(look)
            };
            if let Some(other) = other {
                if self.may_have_expired(&other, now) {
                    self.settle(other, Some(now));
                } else {
                    self.park(other, look);
                }
            }
        }));
        if let Err(panic) = looked {
            self.release(Grant::Object(entry));
            panic::resume_unwind(panic);
        }
        if self.may_have_expired(&entry, now) {
            return Fast::Stale(entry);
        }
        Fast::Taken(entry, home)
    }

    /// Gives back an object [`take_fast`](Self::take_fast) found possibly
    /// expired: the lock discards it if it is, else it goes back.
    fn settle(&self, entry: Box<Entry<M::Object>>, now: Option<Instant>) {
        let mut st = self.lock();
        let mut garbage = Vec::new();
        let waker = self.settle_locked(&mut st, entry, now, &mut garbage);
        self.unlock_and_wake(st, waker, garbage);
    }

    /// [`settle`](Self::settle) under the lock: an object discarded is left
    /// in `garbage`, to drop once the lock is gone.
    fn settle_locked(
        &self,
        st: &mut State<M::Object, M::Error>,
        entry: Box<Entry<M::Object>>,
        now: Option<Instant>,
        garbage: &mut Vec<Box<Entry<M::Object>>>,
    ) -> Option<Waker> {
        if now.is_some_and(|now| self.is_expired(&entry, now, st.size)) || st.keeps_none() {
            st.discarded += 1;
            garbage.push(entry);
            st.put_slot()
        } else {
            st.put_object(entry)
        }
    }

    /// [`Pool::try_get`] under the lock: the first clean idle object in
    /// the reuse order, discarding expired ones on the way. `back` is an
    /// object the fast path took but cannot hand out (dirty, or possibly
    /// expired): it is settled first, in the same critical section, rather
    /// than under a lock of its own. Brings the homes under the lock too
    /// (they may hold clean objects the fast path passed over).
    fn try_take_locked(
        &self,
        now: Option<Instant>,
        back: Option<Box<Entry<M::Object>>>,
    ) -> Result<Box<Entry<M::Object>>, PoolError<M::Error>> {
        let (mut expired, mut garbage, mut wakers) = (Vec::new(), Vec::new(), Vec::new());
        let mut st = self.lock();
        if let Some(entry) = back {
            wakers.extend(self.settle_locked(&mut st, entry, now, &mut garbage));
        }
        if st.closed {
            self.unlock_and_wake(st, wakers, garbage);
            return Err(PoolError::Closed);
        }
        self.absorb_homes(&mut st, &mut garbage, &mut wakers);
        let mut found = None;
        if st.waiting == 0 {
            let len = st.idle.len();
            let mut i = 0;
            while i < len - expired.len() {
                let idx = match self.config.order {
                    Order::Fifo => i,
                    _ => st.idle.len() - 1 - i,
                };
                let size = st.size;
                let entry = &st.idle[idx];
                if now.is_some_and(|now| self.is_expired(entry, now, size)) {
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
        let taken = match found {
            Some(entry) => {
                st.recycled += 1;
                st.hist.buckets[0] += 1;
                Ok(entry)
            }
            None => Err(PoolError::Exhausted {
                in_use: st.size - st.idle.len(),
                max_size: st.max_size,
            }),
        };
        // The objects discarded on the way run the user's `Drop`, outside
        // the lock. If one panics, the object found goes back (and its
        // checkout is not counted) before the panic goes on: the unwinding
        // must not take it and its slot along.
        if let Err(panic) = self.unlock_and_wake_caught(st, wakers, (expired, garbage)) {
            if let Ok(entry) = taken {
                self.unserve(Grant::Object(entry));
            }
            panic::resume_unwind(panic);
        }
        taken
    }

    /// Without knowing `size`: past its lifetime, or idle past
    /// `idle_timeout` (which spares objects that keep the pool at
    /// `min_idle`: the lock decides).
    fn may_have_expired(&self, entry: &Entry<M::Object>, now: Instant) -> bool {
        self.is_expired(entry, now, usize::MAX)
    }

    /// Gives an idle object back to the homes (the first empty one from
    /// `start`), or under the lock if they are closed or full (or were
    /// closed meanwhile: the rescue of the module docs of [`Homes`]).
    /// Returns the home it was parked in.
    fn park(&self, entry: Box<Entry<M::Object>>, start: usize) -> Option<usize> {
        match self.homes.put(entry, start) {
            Ok(parked) if !parked.rescue => Some(parked.home),
            Ok(_) => {
                let (mut garbage, mut wakers) = (Vec::new(), Vec::new());
                let mut st = self.lock();
                self.absorb_homes(&mut st, &mut garbage, &mut wakers);
                self.unlock_and_wake(st, wakers, garbage);
                None
            }
            Err(entry) => {
                self.give_back_locked(entry, false, None);
                None
            }
        }
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
    /// `back` is an object the fast path took but found possibly expired
    /// ([`Fast::Stale`]): it is settled first, in the same critical section
    /// (discarded into `expired`, or put back), rather than under a lock of
    /// its own. If the pool was closed meanwhile, it is dropped here, as any
    /// object coming back to a closed pool is, telling `close` if the pool
    /// is then empty.
    ///
    /// `early` is a clock reading taken before the lock, if the caller
    /// expected to queue, or when an earlier turn of the same `get` queued
    /// (a caller that queues again keeps that deadline). With no idle object under the lock and nobody
    /// queued yet, the homes are drained first: that closes their gate
    /// before the caller may become the first to queue (see [`Homes`]).
    /// Once someone waits the gate is closed already and give-backs come
    /// through the lock, so later callers skip the drain. Objects a drain
    /// finds for waiters leave their wakers in `wakers`, to wake once the
    /// lock is released.
    fn begin(
        &self,
        back: Option<Box<Entry<M::Object>>>,
        now: Option<Instant>,
        early: Option<Instant>,
        expired: &mut Vec<Box<Entry<M::Object>>>,
        wakers: &mut Vec<Waker>,
        waker: &Waker,
    ) -> Begin<M::Object> {
        let mut st = self.lock();
        if st.closed {
            // `close` ran since the fast path took `back`: it is dropped
            // here, and if it was the last object out, `close` hears that
            // the pool emptied.
            let mut garbage = Vec::new();
            let waker =
                back.and_then(|entry| self.settle_locked(&mut st, entry, now, &mut garbage));
            self.unlock_and_wake(st, waker, garbage);
            return Begin::Closed;
        }
        if let Some(entry) = back {
            wakers.extend(self.settle_locked(&mut st, entry, now, expired));
        }
        if st.idle.is_empty() && st.waiting == 0 {
            self.absorb_homes(&mut st, expired, wakers);
        }
        let begun = self.begin_locked(&mut st, now, expired);
        if let Some(begun) = begun {
            if early.is_some() {
                self.queuing.store(false, Ordering::Relaxed);
            }
            return begun;
        }
        if early.is_none() && now.is_none() {
            self.queuing.store(true, Ordering::Relaxed);
        }
        let start = early.or(now).unwrap_or_else(Instant::now);
        let key = st.enqueue(after(start, self.config.wait_timeout));
        let arm = self.register(&mut st, key, waker);
        Begin::Queued(key, start, arm)
    }

    /// An idle object or a slot for a caller who need not queue.
    fn begin_locked(
        &self,
        st: &mut State<M::Object, M::Error>,
        now: Option<Instant>,
        expired: &mut Vec<Box<Entry<M::Object>>>,
    ) -> Option<Begin<M::Object>> {
        let cfg = &self.config;
        if st.waiting == 0 {
            if let (Some(now), Order::Lifo | Order::Local) = (now, cfg.order) {
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
                return Some(self.grant_now(st, Grant::Object(entry)));
            }
            if st.size < st.max_size {
                st.size += 1;
                return Some(self.grant_now(st, Grant::Slot));
            }
            if st.top_ups > 0 {
                // A top-up task has not started: its slot is this caller's.
                st.top_ups -= 1;
                return Some(self.grant_now(st, Grant::Slot));
            }
        }
        None
    }

    /// Hands `grant` to a caller who did not wait: records a zero wait, and
    /// reserves one more slot if the pool is below `min_idle` (the caller
    /// has a task fill it once it has served itself).
    fn grant_now(
        &self,
        st: &mut State<M::Object, M::Error>,
        grant: Grant<M::Object>,
    ) -> Begin<M::Object> {
        st.hist.buckets[0] += 1;
        let topup = st.wants_top_up();
        if topup {
            st.size += 1;
            st.top_ups += 1;
        }
        Begin::Ready(grant, topup)
    }

    /// Records a queued waiter's waker; returns the deadline to set the
    /// alarm for if it is not
    /// set, or if it is set on a current-thread runtime other than the
    /// caller's (nothing may drive that one: a test's runtime kept after
    /// its `block_on`, or one made for a blocking task).
    fn register(
        &self,
        st: &mut State<M::Object, M::Error>,
        key: usize,
        waker: &Waker,
    ) -> Option<Arm> {
        let waiter = &mut st.waiters[key];
        let mine = waiter.deadline;
        match &mut waiter.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        if st.alarm_at.is_some() && st.alarm_on.is_none() {
            // Set on a multi-thread runtime: it fires.
            return None;
        }
        let here = tokio::runtime::Handle::try_current().ok();
        st.waiters[key].runtime = here.as_ref().map(tokio::runtime::Handle::id);
        if st.alarm_at.is_some() && here.as_ref().is_none_or(|h| Some(h.id()) == st.alarm_on) {
            // Set on this runtime, which is driven while this waiter is
            // polled; or there is no runtime here to set it on.
            return None;
        }
        st.alarm_on = here
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
            .map(|h| h.id());
        st.alarm_key = st.alarm_on.map(|_| key);
        // `key` is queued, so there is a head: `mine` is only a fallback.
        let at = st.head_deadline().unwrap_or(mine);
        st.alarm_at = Some(at);
        st.alarm_gen += 1;
        Some(Arm {
            at,
            generation: st.alarm_gen,
        })
    }

    /// Past its lifetime, or idle too long while the pool is above `min_idle`.
    fn is_expired(&self, entry: &Entry<M::Object>, now: Instant, size: usize) -> bool {
        if entry.expires.is_some_and(|e| now > e) {
            return true;
        }
        match self.config.idle_timeout {
            Some(idle) => {
                let last = entry.meta.last_used.unwrap_or(entry.meta.created);
                size > self.config.min_idle && now.saturating_duration_since(last) > idle
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

    /// Gives back what [`begin`](Self::begin) handed a checkout that ends
    /// before it got further. `begin` counted a ready grant as a checkout
    /// that did not wait (and an object as recycled): the count is taken
    /// back, as nobody got it.
    fn abandon(&self, begun: Begin<M::Object>) {
        match begun {
            Begin::Ready(grant, topup) => {
                self.unserve(grant);
                if topup {
                    self.unreserve_top_up();
                }
            }
            Begin::Queued(key, start, _) => drop(Wait {
                shared: self,
                key: Some(key),
                start,
                registered: false,
            }),
            Begin::Closed => {}
        }
    }

    /// Gives back a slot reserved for a top-up (counted in
    /// [`State::top_ups`]) that will not be filled, unless a caller took it
    /// meanwhile (or `close` or `resize` already took it back).
    fn unreserve_top_up(&self) {
        let mut st = self.lock();
        if st.top_ups > 0 {
            st.top_ups -= 1;
            self.release_locked(st, Grant::Slot);
        }
    }

    /// Gives a returned object back (called by `Pooled::drop`).
    pub(crate) fn give_back(&self, mut entry: Box<Entry<M::Object>>) {
        let checked = panic::catch_unwind(AssertUnwindSafe(|| self.manager.is_broken(&entry.obj)));
        let broken = match checked {
            Ok(broken) => broken,
            Err(panic) => {
                // The object is discarded and its slot freed; the panic
                // goes on.
                entry.track.check_in();
                self.give_back_locked(entry, true, None);
                panic::resume_unwind(panic);
            }
        };
        let now = self.now_if_timed();
        let mut expired = false;
        if let Some(now) = now {
            entry.meta.last_used = Some(now);
            expired = entry.expires.is_some_and(|e| now > e);
        }
        self.note_leak_on_return(&entry.track, now);
        entry.track.check_in();
        let discard = broken || expired;
        if !discard && !self.homes.is_empty() {
            if let Some(home) = self.park(entry, hint()) {
                set_hint(home);
            }
            return;
        }
        self.give_back_locked(entry, discard, now);
    }

    /// Gives a returned object back under the lock: to the oldest waiter or
    /// the idle set, or discards it (`discard`, or the pool is closed or
    /// above `max_size`).
    fn give_back_locked(&self, entry: Box<Entry<M::Object>>, discard: bool, now: Option<Instant>) {
        let mut st = self.lock();
        if discard || st.keeps_none() {
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
    }

    /// Forgets a detached object: its slot is freed. A checkout held past
    /// `leak_threshold` ends here, as on a return: it is warned about if
    /// it was not before.
    pub(crate) fn forget(&self, track: &Track) {
        self.note_leak_on_end(track);
        self.free_slot(false, ());
    }

    /// Drops an object its holder discarded and frees its slot. The object
    /// is dropped before the waiter handed the slot is woken (and before
    /// `close` hears that the pool emptied), as on any other discard. A
    /// checkout held past `leak_threshold` is warned about, as on a return.
    pub(crate) fn forget_discarded(&self, entry: Box<Entry<M::Object>>) {
        self.note_leak_on_end(&entry.track);
        self.free_slot(true, entry);
    }

    /// [`note_leak_on_return`](Self::note_leak_on_return) for a checkout
    /// that ends without a return: the clock is read only if a warning may
    /// come of it.
    fn note_leak_on_end(&self, track: &Track) {
        if cfg!(feature = "tracing") && self.config.leak_threshold.is_some() {
            self.note_leak_on_return(track, Some(Instant::now()));
        }
    }

    fn free_slot<G>(&self, discarded: bool, garbage: G) {
        let mut st = self.lock();
        if discarded {
            st.discarded += 1;
        }
        let waker = st.put_slot();
        self.unlock_and_wake(st, waker, garbage);
    }

    /// Lets the lock go, then drops what the caller took out of the pool
    /// (user code, never run under the lock), wakes the waiter that was
    /// handed a slot or an object, and tells `close` once a closed pool
    /// has emptied.
    ///
    /// A panic in the garbage's `Drop` goes on only after that: the state
    /// already hands the waiter its grant and counts `close`'s last object
    /// gone, so skipping the wake would leave the waiter asleep for good
    /// (no alarm wakes a waiter out of the queue) and `close` waiting out
    /// its timeout.
    fn unlock_and_wake<G>(
        &self,
        st: Locked<'_, M::Object, M::Error>,
        wakers: impl IntoIterator<Item = Waker>,
        garbage: G,
    ) {
        if let Err(panic) = self.unlock_and_wake_caught(st, wakers, garbage) {
            panic::resume_unwind(panic);
        }
    }

    /// [`unlock_and_wake`](Self::unlock_and_wake) for a caller that holds
    /// something it must put back if the garbage's `Drop` (user code)
    /// panics: the panic is returned, not passed on, once the wakers were
    /// called. The garbage is dropped before the wakers are called, so
    /// that (say) a connection is closed before a waiter handed its slot
    /// opens another.
    fn unlock_and_wake_caught<G>(
        &self,
        st: Locked<'_, M::Object, M::Error>,
        wakers: impl IntoIterator<Item = Waker>,
        garbage: G,
    ) -> std::thread::Result<()> {
        let drained = st.closed && st.size == 0;
        drop(st);
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(garbage)));
        for w in wakers {
            w.wake();
        }
        if drained {
            self.drained.notify_waiters();
        }
        dropped
    }

    /// Releases a grant that will not be used (a cancelled or failed
    /// checkout): an object goes to the oldest waiter or the idle set, or is
    /// discarded (and counted) if it expired meanwhile (a waiter handed it
    /// does not look again) or the pool keeps none; a slot goes to the
    /// oldest waiter.
    fn release(&self, grant: Grant<M::Object>) {
        self.release_locked(self.lock(), grant);
    }

    /// Gives back a grant a checkout was handed, and counted as served
    /// without a wait, when a panic stopped it before the caller got it:
    /// the checkout is uncounted, the grant released.
    fn unserve(&self, grant: Grant<M::Object>) {
        let mut st = self.lock();
        st.hist.buckets[0] -= 1;
        if matches!(grant, Grant::Object(_)) {
            st.recycled -= 1;
        }
        self.release_locked(st, grant);
    }

    /// [`release`](Self::release) with the lock held (and released here).
    fn release_locked(&self, mut st: Locked<'_, M::Object, M::Error>, grant: Grant<M::Object>) {
        let mut dropped = Vec::new();
        let waker = match grant {
            Grant::Object(entry) => {
                let now = self.now_if_timed();
                self.settle_locked(&mut st, entry, now, &mut dropped)
            }
            Grant::Slot => st.put_slot(),
        };
        self.unlock_and_wake(st, waker, dropped);
    }

    #[cfg_attr(not(feature = "tracing"), allow(clippy::unused_self))]
    fn note_leak_on_return(&self, track: &Track, now: Option<Instant>) {
        #[cfg(feature = "tracing")]
        if let (Some(limit), Some(now), Some((location, Some(since), warned))) =
            (self.config.leak_threshold, now, track.holder(self.epoch))
        {
            let held = now.saturating_duration_since(since);
            if held > limit && !warned.load(Ordering::Relaxed) {
                tracing::warn!(
                    location = %location,
                    held_ms = held.as_millis(),
                    limit_ms = limit.as_millis(),
                    "pooled object came back after the leak threshold"
                );
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (track, now);
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
        st.tracks.retain(|t| t.strong_count() > 0);
        for track in st.tracks.iter().filter_map(Weak::upgrade) {
            let Some((location, since, warned)) = track.holder(self.epoch) else {
                continue;
            };
            let held_for = since.map(|s| now.saturating_duration_since(s));
            let leaked = matches!((held_for, limit), (Some(h), Some(l)) if h > l);
            let holder = Holder {
                location,
                held_for,
                leaked,
            };
            if leaked && !warned.swap(true, Ordering::Relaxed) {
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
            after(created, life - cut)
        });
        let track = Arc::new(Track::new());
        st.add_track(&track);
        drop(st);
        Box::new(Entry {
            obj,
            meta: Meta::new(created),
            expires,
            track,
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

/// How [`Checkout::recycle`] ended.
enum Recycled {
    /// The object passed: hand it out.
    Passed,
    /// The object was discarded; the guard holds its slot, to create in.
    Replace,
    /// The object was discarded and its slot freed, the pool being above a
    /// reduced `max_size`: the guard holds nothing, and the checkout takes
    /// a new turn.
    Shed,
}

/// Owns a grant while a checkout makes it ready; gives it back if the
/// checkout fails or is cancelled.
struct Checkout<'a, M: Manager> {
    shared: &'a Shared<M>,
    grant: Option<Grant<M::Object>>,
}

impl<M: Manager> Checkout<'_, M> {
    /// Runs `recycle` on the held object. On failure (or timeout) the
    /// object is discarded and the guard holds its slot instead, to create
    /// a replacement in; if the pool was closed meanwhile, the slot is
    /// freed too and nothing is created. If the pool is above a reduced
    /// `max_size`, the slot is freed too (a replacement would keep the pool
    /// above it) and the guard holds nothing: the checkout starts again.
    ///
    /// `since` is when the checkout is held from, if the pool keeps times:
    /// a recycle that did not finish at once moves it to its end, as the
    /// time spent recycling is not part of the checkout.
    async fn recycle(
        &mut self,
        since: &mut Option<Instant>,
    ) -> Result<Recycled, PoolError<M::Error>> {
        let shared = self.shared;
        let Some(Grant::Object(entry)) = &mut self.grant else {
            unreachable!("recycle needs an object")
        };
        // `recycle` sees the checkout it checks counted; the object keeps
        // the count only if the checkout reaches the caller (a cancelled
        // recycle gives the object back as it was).
        let meta = Meta {
            use_count: entry.meta.use_count + 1,
            ..entry.meta
        };
        let (done, waited) = lazy_timeout(
            shared.config.recycle_timeout,
            shared.manager.recycle(&mut entry.obj, &meta),
        )
        .await;
        if matches!(done, Some(Ok(()))) {
            if waited && shared.is_closed() {
                // Closed while it recycled: the guard gives the object back
                // to the closed pool, which drops it.
                return Err(PoolError::Closed);
            }
            entry.meta.use_count = meta.use_count;
            if waited && since.is_some() {
                *since = Some(Instant::now());
            }
            return Ok(Recycled::Passed);
        }
        let old = self.grant.take();
        let mut st = shared.lock();
        st.discarded += 1;
        if st.closed || st.size > st.max_size {
            let closed = st.closed;
            let waker = st.put_slot();
            shared.unlock_and_wake(st, waker, old);
            if closed {
                return Err(PoolError::Closed);
            }
            return Ok(Recycled::Shed);
        }
        drop(st);
        self.grant = Some(Grant::Slot);
        drop(old);
        Ok(Recycled::Replace)
    }
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        if let Some(mut grant) = self.grant.take() {
            if let Grant::Object(entry) = &mut grant {
                if std::thread::panicking() {
                    // `recycle` panicked on this object: checking it again
                    // would most likely panic again, at every checkout that
                    // meets it. It is discarded and its slot freed. Its
                    // `Drop` is user code: a second panic out of this
                    // `Drop` while unwinding would abort, so it ends here
                    // (the slot is settled first) and the first goes on.
                    let shared = self.shared;
                    let _ = panic::catch_unwind(AssertUnwindSafe(move || {
                        shared.free_slot(true, grant);
                    }));
                    return;
                }
                // Cancelled inside `recycle`: the object may be half reset.
                entry.meta.dirty = true;
            }
            self.shared.release(grant);
        }
    }
}

/// Who checks out, and when (if the pool keeps times).
#[derive(Clone, Copy)]
struct Stamp {
    location: &'static Location<'static>,
    since: Option<Instant>,
}

/// How a queued `get` ended.
enum Waited<T> {
    /// Handed a grant; when, if the pool keeps times.
    Taken(Grant<T>, Option<Instant>),
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
}

impl<M: Manager> Wait<'_, M> {
    /// Books a grant taken under the lock in the wait-time histogram.
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
        Waited::Taken(grant, self.shared.timed.then_some(now))
    }

    /// Leaves the queue; a grant that arrived meanwhile is returned.
    fn cancel(&mut self) -> Option<Grant<M::Object>> {
        let key = self.key.take()?;
        let mut st = self.shared.lock();
        let grant = match std::mem::replace(&mut st.waiters[key].state, WaitState::Vacant) {
            WaitState::Waiting => {
                st.cancel_waiting(key);
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
        };
        st.leave_alarm(key);
        let duty = st.alarm_duty();
        self.shared.unlock_and_wake(st, duty, ());
        grant
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
        let over = !st.closed && st.size > st.max_size;
        let waiter = &mut st.waiters[key];
        match std::mem::replace(&mut waiter.state, WaitState::Vacant) {
            WaitState::Waiting => {
                waiter.state = WaitState::Waiting;
                let arm = this.shared.register(&mut st, key, cx.waker());
                drop(st);
                if let Some(arm) = arm {
                    this.shared.arm(arm);
                }
                Poll::Pending
            }
            WaitState::Granted(Grant::Slot) if over => {
                // A resize took the pool below its size since the slot was
                // handed over: an object made in it would be dropped as it
                // came back. The slot goes, and the caller waits in the
                // queue again, keeping its turn and its deadline: at the
                // head, as it was the oldest waiter, unless a caller who
                // queued before it took a new turn meanwhile.
                st.size -= 1;
                st.waiters[key].state = WaitState::Waiting;
                st.place(key, true);
                let arm = this.shared.register(&mut st, key, cx.waker());
                drop(st);
                if let Some(arm) = arm {
                    this.shared.arm(arm);
                }
                Poll::Pending
            }
            WaitState::Granted(grant) => {
                st.free_waiter(key);
                this.key = None;
                st.leave_alarm(key);
                let duty = st.alarm_duty();
                let (waited, unused) = if st.closed {
                    (Waited::Closed, Some(grant))
                } else {
                    (this.accept(&mut st, grant, now), None)
                };
                this.shared.unlock_and_wake(st, duty, ());
                if let Some(grant) = unused {
                    this.shared.release(grant);
                }
                Poll::Ready(waited)
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
            self.shared.release(grant);
        }
    }
}

/// A slot a checkout reserved for a top-up (counted in [`State::top_ups`]
/// until the task that fills it starts), held by the checkout while it
/// serves itself and then by that task: given back if either is dropped
/// before the task runs, unless a caller took it meanwhile. Empty when no
/// top-up was reserved.
struct TopUpSlot<M: Manager>(Option<Arc<Shared<M>>>);

impl<M: Manager> TopUpSlot<M> {
    /// Fills the slot in a task of its own, so that the checkout does not
    /// wait for the create (nor for `create_timeout`, if the backend is
    /// down); a failure is kept for `PoolError::Timeout::last_create_error`.
    /// Without a runtime to run the task on, if a caller queued since (the
    /// slot is theirs now, to create in), or if the pool, closed or resized
    /// below its size, would drop the object as soon as it was made, the
    /// slot is given back instead.
    ///
    /// From its reservation until the task starts, the slot is no one's: a
    /// caller queued when it is handed over gets it at once, and so does a
    /// caller who finds no object and no room meanwhile (rather than queue
    /// behind a slot nobody uses while the checkout still creates). The
    /// task may sit on a runtime nobody drives (a current-thread one whose
    /// `block_on` returned), where it would keep the slot for good.
    fn spawn(self) {
        let Some(shared) = &self.0 else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let st = shared.lock();
            // `top_ups == 0`: a caller took the slot while the checkout
            // served itself (or `close` or `resize` took it back).
            if st.top_ups == 0 || st.waiting > 0 || st.keeps_none() {
                // Dropping `self` gives the slot back, if it is still ours.
                return;
            }
        }
        runtime.spawn(async move {
            let Some(shared) = self.claim() else {
                return;
            };
            let pool = Pool::from_shared(shared);
            // `fill_slot` guards the slot from its first poll, which is
            // this one: it is never unguarded.
            if let Err(e) = pool.fill_slot().await {
                pool.shared.keep_create_error(e);
            }
        });
    }

    /// The pool, with the slot now in the caller's hands; `None` if a
    /// caller took the slot meanwhile, or if the pool, closed or above its
    /// `max_size`, would drop the object as soon as it was made (the slot
    /// is then given back).
    fn claim(mut self) -> Option<Arc<Shared<M>>> {
        let shared = self.0.take()?;
        let mut st = shared.lock();
        if st.top_ups == 0 {
            return None;
        }
        st.top_ups -= 1;
        if st.keeps_none() {
            shared.release_locked(st, Grant::Slot);
            return None;
        }
        drop(st);
        Some(shared)
    }
}

impl<M: Manager> Drop for TopUpSlot<M> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.unreserve_top_up();
        }
    }
}

/// The loop of [`Pool::top_up_in_background`].
async fn top_up_task<M: Manager>(weak: Weak<Shared<M>>, wake: Arc<Notify>) {
    const FIRST_PAUSE: Duration = Duration::from_millis(100);
    let mut pause = FIRST_PAUSE;
    loop {
        wake.notified().await;
        loop {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let pool = Pool::from_shared(shared);
            // A create that panics counts as one that failed: the slot it
            // held is freed as its future is dropped, and the task pauses
            // and tries again rather than end for good.
            let tried = {
                let mut one = pin!(pool.top_up_one());
                poll_fn(|cx| {
                    match panic::catch_unwind(AssertUnwindSafe(|| one.as_mut().poll(cx))) {
                        Ok(polled) => polled.map(Some),
                        Err(_) => Poll::Ready(None),
                    }
                })
                .await
            };
            match tried {
                Some(Ok(true)) => pause = FIRST_PAUSE,
                Some(Ok(false)) => break,
                Some(Err(PoolError::Closed)) => return,
                failed => {
                    if let Some(Err(e)) = failed {
                        pool.shared.keep_create_error(e);
                    }
                    drop(pool);
                    if !rest(&weak, &wake, pause).await {
                        return;
                    }
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// The pause of the top-up task after a failed create: `false` as soon as
/// the pool is closed or dropped meanwhile (both wake the task), `true`
/// once the pause is over. Other wake-ups (the pool is still below
/// `min_idle`) do not cut the pause short.
async fn rest<M: Manager>(weak: &Weak<Shared<M>>, wake: &Notify, pause: Duration) -> bool {
    let mut sleep = pin!(tokio::time::sleep(pause));
    loop {
        let mut notified = pin!(wake.notified());
        let woken = poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            notified.as_mut().poll(cx).map(|()| true)
        })
        .await;
        if !woken {
            return true;
        }
        let open = weak.upgrade().is_some_and(|shared| !shared.is_closed());
        if !open {
            return false;
        }
    }
}

/// Polls `fut` once; only if it is not ready at once is a timer armed (and
/// the clock read). Also says whether it was not ready at once.
async fn lazy_timeout<F: Future>(limit: Duration, fut: F) -> (Option<F::Output>, bool) {
    let mut fut = pin!(fut);
    if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return (Some(v), false);
    }
    let mut timer = Box::pin(tokio::time::sleep(limit));
    let done = poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await;
    (done, true)
}

/// A fair, cancel-safe pool of objects made by a [`Manager`].
///
/// Cloning a `Pool` is cheap and gives another handle to the same pool; a
/// handle is `Send + Sync`, to share between tasks and threads.
///
/// - An idle object is checked out and given back without a lock (in the
///   default [`Order::Local`]): idle objects sit one per cache line and each
///   thread looks first where it parked its last one, so checkouts on
///   different cores do not contend. The pool's lock is taken only to wait,
///   to create, and by pool-wide operations.
/// - Waiters are served first come, first served: a returned object goes
///   straight to the oldest queued `get`, so nobody is starved and no herd of
///   tasks wakes up to fight over one object. While anyone waits, checkouts
///   and give-backs all go through the lock, so nobody overtakes the queue.
/// - Giving back is synchronous ([`Pooled`]'s `Drop`): no task is spawned.
/// - A `get` dropped at any point leaks no object and no slot.
/// - Lifetimes, idle expiry and leak reports are checked lazily at checkout
///   and return; there is no background task. The clock is read only when
///   such a limit is set, at most once per checkout or return (a checkout
///   that has to queue reads it when it queues and when it is served, and
///   one whose `recycle` does not finish at once reads it again after).
/// - Waiting is bounded (`wait_timeout`) without a timer per waiter: all
///   waiters share the same timeout and are served in order, so the pool
///   keeps one alarm for the oldest waiter's deadline.
///
/// # Runtimes
///
/// A pool belongs to no runtime: it can be built on one and used on
/// others, one after another or side by side, and objects can be given
/// back on any thread, with or without a runtime. A `get` served by an idle
/// object (whose `recycle` finishes at once), [`try_get`](Pool::try_get)
/// and giving back need no runtime; a `get` that waits or creates needs
/// one with timers (see [`get`](Pool::get)'s panics).
///
/// The alarm is set on the runtime of the waiter that sets it. A runtime
/// that shuts down fires it, which hands it on to the next waiter. A
/// current-thread runtime runs its timers only while a thread drives it
/// (in `block_on`): a waiter on another runtime does not rely on an alarm
/// set there, but sets it again on its own; and once the waiter that set
/// it leaves the queue, the alarm goes to the head's runtime if that is
/// another one. When the alarm fires at its deadline on a multi-thread
/// runtime, that runtime sets it again for the new head, whatever runtime
/// the head waits on. When it fires on a current-thread runtime (or early,
/// as a runtime that shuts down fires it), the head sets it again; so does
/// the waiter that set it on a current-thread runtime, if the head waits on
/// another one.
///
/// What is left are tasks queued on a current-thread runtime that stops
/// being driven (its `block_on` returned, the runtime is kept). Such a
/// task may be the one left to set the alarm again: as the head when the
/// alarm fires on a current-thread runtime, or when the waiter that set the
/// alarm there leaves the queue. The waiters behind it then time out only
/// once a later waiter sets the alarm again, or that runtime is driven
/// again or dropped; and so do the waiters on another current-thread
/// runtime that queued before such a task that set the alarm. Waiters with
/// no such task among them time out on time, and so do all waiters while
/// the alarm is on a multi-thread runtime.
///
/// The task a checkout below `min_idle` starts to make one more object
/// runs on the checkout's runtime; until it starts, a caller who finds no
/// object and no room takes its slot, so a task stuck on a runtime nobody
/// drives holds nothing up. The task of
/// [`top_up_in_background`](Pool::top_up_in_background) ends with its
/// runtime: a pool that outlives it needs it started again on the next.
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
    /// One per home, shared by the handles.
    anchors: Arc<[AnchorSlot<M>]>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            anchors: Arc::clone(&self.anchors),
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
            idle: VecDeque::with_capacity(config.max_size.min(PREALLOCATED)),
            size: 0,
            max_size: config.max_size,
            min_idle: config.min_idle,
            closed: false,
            queue: VecDeque::new(),
            waiters: Vec::new(),
            free_waiters: Vec::new(),
            waiting: 0,
            top_ups: 0,
            alarm_at: None,
            alarm_on: None,
            alarm_key: None,
            alarm_gen: 0,
            tracks: Vec::with_capacity(config.max_size.min(PREALLOCATED)),
            created: 0,
            recycled: 0,
            discarded: 0,
            timeouts: 0,
            hist: WaitHistogram::default(),
            rng: config.seed,
            last_create_error: None,
        };
        let homes = match config.order {
            Order::Local => config.max_size.min(MAX_HOMES),
            _ => 0,
        };
        Self {
            shared: Arc::new_cyclic(|weak| Shared {
                manager,
                timed: config.timed(),
                config,
                epoch: Instant::now(),
                state: Mutex::new(state),
                homes: Homes::new(homes),
                queuing: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                drained: Notify::new(),
                top_up: OnceLock::new(),
                alarm: Mutex::new(Alarm::default()),
                alarm_waker: Waker::from(Arc::new(AlarmWaker {
                    shared: weak.clone(),
                })),
                me: weak.clone(),
            }),
            anchors: (0..homes).map(|_| AnchorSlot(OnceLock::new())).collect(),
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
    /// full, or callers are queued: they create what they need
    /// themselves); returns how many were made.
    ///
    /// The pool never runs this on its own: checkouts top up lazily (one
    /// object per checkout that finds fewer than `min_idle` objects alive).
    /// Call it when spare objects should be ready now, say after
    /// [`retain`](Pool::retain) removed some, or start
    /// [`top_up_in_background`](Pool::top_up_in_background) to replace
    /// discarded objects as soon as they go.
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
        let shared = &*self.shared;
        let mut made = 0;
        while self.reserve_slot(|st| {
            shared.idle(st) < shared.config.min_idle && st.size < st.max_size && st.waiting == 0
        })? {
            self.fill_slot().await?;
            made += 1;
        }
        Ok(made)
    }

    /// Starts a task on the current runtime that keeps the pool at
    /// `min_idle` objects: each time a discard takes the pool below it (a
    /// broken or expired object coming back, say), the task creates the
    /// missing objects at once instead of leaving that to the next checkout.
    /// A failed create is retried after a pause that doubles from 100 ms to
    /// 10 s, and is kept for [`PoolError::Timeout`]'s `last_create_error`;
    /// a create that panics is retried the same way (its slot is freed),
    /// so the task does not end with it.
    ///
    /// This is the pool's only background task, and only if asked for. It
    /// holds no strong reference while it waits: it ends when the pool is
    /// closed or dropped (or when the returned handle is aborted), or when
    /// the runtime it runs on shuts down. Start it once per pool, and again
    /// on the next runtime if the pool outlives that one.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
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
    /// let pool = Pool::builder(Unit).max_size(4).min_idle(2).build().await.unwrap();
    /// let task = pool.top_up_in_background();
    /// pool.get().await.unwrap().discard(); // below min_idle
    /// tokio::task::yield_now().await; // the task runs
    /// assert_eq!(pool.status().size, 2); // with no checkout since
    /// drop(pool);
    /// task.await.unwrap(); // ended with the pool
    /// # }
    /// ```
    pub fn top_up_in_background(&self) -> tokio::task::JoinHandle<()> {
        let wake = Arc::clone(self.shared.top_up.get_or_init(|| Arc::new(Notify::new())));
        // Look once at the start: the pool may be below already.
        wake.notify_one();
        tokio::spawn(top_up_task(Arc::downgrade(&self.shared), wake))
    }

    /// Creates one object if the pool is below `min_idle`: `Ok(false)` if it
    /// is not (or is full, or has waiters, who create for themselves).
    async fn top_up_one(&self) -> Result<bool, PoolError<M::Error>> {
        if !self.reserve_slot(State::wants_top_up)? {
            return Ok(false);
        }
        self.fill_slot().await.map(|()| true)
    }

    /// Counts one more object in `size`, for the caller to create with
    /// [`fill_slot`](Self::fill_slot), if the pool is open and `wanted`
    /// says so under the lock: `Ok(false)` if it does not.
    fn reserve_slot(
        &self,
        wanted: impl FnOnce(&State<M::Object, M::Error>) -> bool,
    ) -> Result<bool, PoolError<M::Error>> {
        let mut st = self.shared.lock();
        if st.closed {
            return Err(PoolError::Closed);
        }
        if !wanted(&st) {
            return Ok(false);
        }
        st.size += 1;
        Ok(true)
    }

    /// Creates an object into a slot already counted in `size`.
    async fn fill_slot(&self) -> Result<(), PoolError<M::Error>> {
        let mut guard = Checkout {
            shared: &self.shared,
            grant: Some(Grant::Slot),
        };
        let entry = self.shared.create().await?;
        guard.grant = None;
        self.shared.release(Grant::Object(entry));
        Ok(())
    }

    /// Checks an object out, waiting (first come, first served) up to
    /// `wait_timeout` when none is idle and the pool is full.
    ///
    /// An idle object is recycled first ([`Manager::recycle`]); one that
    /// fails, times out, or is past its lifetime is discarded and replaced.
    /// While the pool is above a reduced `max_size` (see
    /// [`resize`](Pool::resize)), an object that fails `recycle` is not
    /// replaced: the caller waits in line again for another one, until the
    /// deadline it got when it first queued, if it did, and in the place
    /// that first queueing gave it (ahead of the callers who queued after
    /// it).
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
    /// # Panics
    ///
    /// A panic in [`Manager::create`] or [`Manager::recycle`] goes on to the
    /// caller, and leaks no slot: the slot of a panicking create is freed,
    /// and an object whose recycle panicked is discarded (not given back,
    /// where it would make the next checkout that meets it panic too).
    ///
    /// A `get` that has to wait, or to create, needs a tokio runtime with
    /// timers (for `wait_timeout` and `create_timeout`): outside one, it
    /// panics as [`tokio::time::sleep`] does, and leaves the pool as it
    /// was (it is not left in the queue, where it would take the next
    /// object given back). So does one whose `recycle` does not finish at
    /// once (for `recycle_timeout`); its object is then discarded, as after
    /// a `recycle` that panicked. A `get` served by an idle object whose
    /// `recycle` finishes at once needs no timer.
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
        // When the caller first got in line: a new turn keeps its deadline.
        let mut queued_at = None;
        loop {
            if let Some(pooled) = self.attempt(location, &mut queued_at).await? {
                return Ok(pooled);
            }
        }
    }

    /// One turn of a checkout: `None` if the object it was handed failed
    /// `recycle` while the pool was above a reduced `max_size`, so that it
    /// gave up its slot rather than create a replacement and must take a
    /// new turn.
    ///
    /// `queued_at` is when an earlier turn got in line, if one did: a turn
    /// that queues again waits until the same deadline, so the caller waits
    /// no longer in all than `wait_timeout`. Set when this turn queues.
    async fn attempt(
        &self,
        location: &'static Location<'static>,
        queued_at: &mut Option<Instant>,
    ) -> Result<Option<Pooled<M>>, PoolError<M::Error>> {
        let shared = &*self.shared;
        let now = shared.now_if_timed();
        // A new turn has its first queueing time already: no clock read.
        let early = queued_at.or_else(|| match now {
            None if shared.queuing.load(Ordering::Relaxed) => Some(Instant::now()),
            _ => None,
        });
        let (mut expired, mut wakers) = (Vec::new(), Vec::new());
        // Begins inside this task poll, to register its waker if queued.
        // A checkout spends the task's cooperative budget, as tokio's own
        // primitives do: a task that loops on `get` while objects are free
        // never waits, and would otherwise hold its worker for good.
        let begun = poll_fn(|cx| {
            let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
            let begun = match shared.take_fast(now) {
                Fast::Taken(entry, home) => {
                    shared.homes.served(home);
                    Begin::Ready(Grant::Object(entry), false)
                }
                taken => {
                    let back = match taken {
                        Fast::Stale(entry) => Some(entry),
                        _ => None,
                    };
                    shared.begin(back, now, early, &mut expired, &mut wakers, cx.waker())
                }
            };
            if matches!(begun, Begin::Ready(..)) {
                coop.made_progress();
            }
            Poll::Ready(begun)
        })
        .await;
        for w in wakers {
            w.wake();
        }
        // `begin` recorded the alarm as set when it asked for it: it is set
        // now, before any user code runs, so that no panic below can leave
        // the record without the alarm (later waiters would never time out).
        // Setting it panics outside a runtime with timers: the caller then
        // leaves the queue before the panic goes on (a waiter nobody polls
        // would take the next object given back, and keep it for good).
        if let Begin::Queued(_, _, Some(arm)) = begun {
            if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| shared.arm(arm))) {
                shared.abandon(begun);
                panic::resume_unwind(panic);
            }
        }
        // Expired objects run the user's `Drop`: if one panics, what `begin`
        // handed out goes back before the panic goes on. (Only `begin` finds
        // expired objects: a grant from the homes, counted there, never
        // comes to `abandon`.)
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(move || drop(expired))) {
            shared.abandon(begun);
            panic::resume_unwind(panic);
        }
        let mut stamp = Stamp {
            location,
            since: now,
        };
        let (grant, topup) = match begun {
            Begin::Ready(grant, topup) => (grant, topup),
            Begin::Queued(key, start, _) => {
                *queued_at = Some(start);
                // Queued: wait in line, in place (no allocation).
                let waited = {
                    let mut wait = Wait {
                        shared,
                        key: Some(key),
                        start,
                        registered: true,
                    };
                    if shared.config.leak_threshold.is_some() {
                        let fresh = shared.scan_leaks(&mut shared.lock(), Instant::now()).1;
                        shared.warn_leaks(&fresh);
                    }
                    (&mut wait).await
                };
                match waited {
                    Waited::Taken(grant, since) => {
                        stamp.since = since;
                        (grant, false)
                    }
                    Waited::Closed => return Err(PoolError::Closed),
                    Waited::TimedOut => return Err(shared.timed_out()),
                }
            }
            Begin::Closed => return Err(PoolError::Closed),
        };
        let mut guard = Checkout {
            shared,
            grant: Some(grant),
        };
        if !topup && matches!(guard.grant, Some(Grant::Object(_))) {
            // The quiet path: an object, recycled in place. Nothing here
            // allocates, and a timer is armed only if `recycle` does not
            // finish at once.
            return match guard.recycle(&mut stamp.since).await? {
                Recycled::Passed => Ok(Some(self.hand_out(&mut guard, stamp))),
                Recycled::Replace => Box::pin(self.finish(guard, TopUpSlot(None), stamp)).await,
                Recycled::Shed => Ok(None),
            };
        }
        let topup = TopUpSlot(topup.then(|| Arc::clone(&self.shared)));
        Box::pin(self.finish(guard, topup, stamp)).await
    }

    /// Turns a ready grant into the caller's guard.
    fn hand_out(&self, guard: &mut Checkout<'_, M>, stamp: Stamp) -> Pooled<M> {
        let Some(Grant::Object(mut entry)) = guard.grant.take() else {
            unreachable!("hand_out needs an object")
        };
        entry.meta.dirty = false;
        entry
            .track
            .check_out(stamp.location, stamp.since, self.shared.epoch);
        Pooled {
            entry: Some(entry),
            keep: self.keep(),
        }
    }

    /// A handle to `shared` without anchors, for the top-up task (which
    /// checks nothing out).
    fn from_shared(shared: Arc<Shared<M>>) -> Self {
        Self {
            shared,
            anchors: Arc::new([]),
        }
    }

    /// What keeps the pool alive for an object checked out now: the anchor
    /// of this thread's home (made at its first use), or the pool itself.
    fn keep(&self) -> Keep<M> {
        let n = self.anchors.len();
        if n == 0 {
            return Keep::Pool(Arc::clone(&self.shared));
        }
        let anchor = self.anchors[wrap(hint(), n)].0.get_or_init(|| {
            Arc::new(Anchor {
                shared: Arc::clone(&self.shared),
            })
        });
        Keep::Home(Arc::clone(anchor))
    }

    /// Recycles or creates until the guard holds a ready object, then has a
    /// top-up slot, if one was reserved, filled in a task of its own.
    async fn finish(
        &self,
        mut guard: Checkout<'_, M>,
        topup: TopUpSlot<M>,
        mut stamp: Stamp,
    ) -> Result<Option<Pooled<M>>, PoolError<M::Error>> {
        let shared = &*self.shared;
        let pooled = loop {
            match guard.grant {
                Some(Grant::Object(_)) => match guard.recycle(&mut stamp.since).await? {
                    Recycled::Passed => break self.hand_out(&mut guard, stamp),
                    Recycled::Replace => {}
                    Recycled::Shed => return Ok(None),
                },
                Some(Grant::Slot) => {
                    let mut entry = shared.create().await?;
                    if shared.is_closed() {
                        // Closed while it was made: the guard gives it back
                        // to the closed pool, which drops it.
                        guard.grant = Some(Grant::Object(entry));
                        return Err(PoolError::Closed);
                    }
                    entry.meta.use_count = 1;
                    // Held from when the caller has it: the create, timed
                    // at its end, is not part of the checkout.
                    if stamp.since.is_some() {
                        stamp.since = Some(entry.meta.created);
                    }
                    guard.grant = Some(Grant::Object(entry));
                    break self.hand_out(&mut guard, stamp);
                }
                None => unreachable!("the guard holds a grant until done"),
            }
        };
        topup.spawn();
        Ok(Some(pooled))
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
        let mut entry = match shared.take_fast(now) {
            Fast::Taken(entry, home) if !entry.meta.dirty => {
                shared.homes.served(home);
                entry
            }
            Fast::Taken(entry, _) | Fast::Stale(entry) => {
                shared.try_take_locked(now, Some(entry))?
            }
            Fast::Empty => shared.try_take_locked(now, None)?,
        };
        entry.meta.use_count += 1;
        entry.track.check_out(location, now, shared.epoch);
        Ok(Pooled {
            entry: Some(entry),
            keep: self.keep(),
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
        let shared = &*self.shared;
        let st = shared.lock();
        let idle = shared.idle(&st);
        let fast = shared.homes.taken();
        let mut wait_time = st.hist;
        wait_time.buckets[0] += fast;
        Status {
            size: st.size,
            idle,
            in_use: st.size - idle,
            waiting: st.waiting,
            max_size: st.max_size,
            created: st.created,
            recycled: st.recycled + fast,
            discarded: st.discarded,
            timeouts: st.timeouts,
            wait_time,
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
    /// borrowed ones as they come back, until the pool fits (meanwhile no
    /// `get` creates an object the pool would drop: one whose object fails
    /// `recycle` waits in line for another, ahead of those who queued after
    /// it, and a waiter handed a free slot just before the resize gives it
    /// up and keeps its place in line, ahead of those who queued after it);
    /// growing lets queued callers create objects in the new room. `0` is
    /// taken as `1`.
    ///
    /// # Panics
    ///
    /// If a discarded object's `Drop` panics, the panic goes on once the
    /// callers handed a slot or an object were woken: the pool stays
    /// consistent and goes on serving.
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
        // Top-ups not started yet go first: they would make objects only
        // to drop them.
        while st.size > max_size && st.top_ups > 0 {
            st.size -= 1;
            st.top_ups -= 1;
        }
        self.shared.absorb_homes(&mut st, &mut dropped, &mut wakers);
        while st.size > max_size {
            let Some(entry) = st.pop_idle(Order::Fifo) else {
                break;
            };
            st.size -= 1;
            st.discarded += 1;
            dropped.push(entry);
        }
        st.grant_free_slots(&mut wakers);
        self.shared.unlock_and_wake(st, wakers, dropped);
    }

    /// Keeps only the idle objects for which `keep` returns `true`; returns
    /// how many were discarded. Borrowed objects are not seen.
    ///
    /// `keep` runs under the pool's lock: make it quick and do not call the
    /// pool from it.
    ///
    /// # Panics
    ///
    /// If `keep` panics, the panic goes on and none of its verdicts is
    /// applied: the idle objects stay in the pool, which goes on serving
    /// as before (a waiter already handed an object is woken first). If a
    /// discarded object's `Drop` panics, the panic goes on
    /// once the callers handed a slot or an object were woken.
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
        let (mut garbage, mut wakers) = (Vec::new(), Vec::new());
        let mut st = self.shared.lock();
        self.shared.absorb_homes(&mut st, &mut garbage, &mut wakers);
        // Decide first, then move: a panicking `keep` leaves the idle
        // objects as they were. The drain above may have handed a parked
        // object to a waiter: its waker is called before the panic goes on,
        // or that waiter would sleep with its object until it timed out.
        let decided = panic::catch_unwind(AssertUnwindSafe(|| {
            st.idle
                .iter()
                .map(|e| keep(&e.obj, &e.meta))
                .collect::<Vec<bool>>()
        }));
        let verdicts = match decided {
            Ok(verdicts) => verdicts,
            Err(panic) => {
                self.shared.unlock_and_wake(st, wakers, garbage);
                panic::resume_unwind(panic);
            }
        };
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
        st.grant_free_slots(&mut wakers);
        self.shared.unlock_and_wake(st, wakers, (removed, garbage));
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
        self.shared.is_closed()
    }

    /// Closes the pool: new and queued `get` calls fail with
    /// [`PoolError::Closed`], and so does a `get` still creating or
    /// recycling its object (once that ends: the object is dropped, not
    /// handed out). Idle objects are dropped, and the call waits
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
    /// # Panics
    ///
    /// With objects still borrowed, the wait for them needs a tokio runtime
    /// with timers (for `close_timeout`): outside one, the call panics as
    /// [`tokio::time::timeout`] does, once the pool is closed. It stays
    /// closed, and the borrowed objects are dropped when they come back.
    /// If an idle object's `Drop` panics, the panic goes on once the queued
    /// callers were told of the close.
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
        let dropped = {
            let mut st = shared.lock();
            st.closed = true;
            shared.closed.store(true, Ordering::Release);
            // Top-ups not started yet make nothing now.
            st.size -= st.top_ups;
            st.top_ups = 0;
            let mut idle: Vec<_> = st.idle.drain(..).collect();
            st.size -= idle.len();
            st.discarded += idle.len() as u64;
            // Closed: what the homes hold is discarded too, nothing granted.
            let mut wakers = Vec::new();
            shared.absorb_homes(&mut st, &mut idle, &mut wakers);
            while let Some(key) = st.queue.pop_front() {
                if matches!(st.waiters[key].state, WaitState::Cancelled) {
                    st.free_waiter(key);
                } else {
                    st.waiters[key].state = WaitState::Closed;
                    wakers.extend(st.waiters[key].waker.take());
                }
            }
            st.waiting = 0;
            // The idle objects' `Drop` is user code: if it panics, the
            // waiters told of the close are woken all the same.
            shared.unlock_and_wake_caught(st, wakers, idle)
        };
        // A background top-up sees the pool closed and ends (it is not
        // woken otherwise: a closed pool wants no top-up).
        wake_top_up(&shared.top_up);
        if let Err(panic) = dropped {
            panic::resume_unwind(panic);
        }
        let limit = shared.config.close_timeout;
        let deadline = after(Instant::now(), limit);
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
            min_idle: 0,
            closed: false,
            queue: VecDeque::new(),
            waiters: Vec::new(),
            free_waiters: Vec::new(),
            waiting: 0,
            top_ups: 0,
            alarm_at: None,
            alarm_on: None,
            alarm_key: None,
            alarm_gen: 0,
            tracks: Vec::new(),
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
        let a = st.enqueue(Instant::now());
        let b = st.enqueue(Instant::now());
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

    struct Unit;

    impl Manager for Unit {
        type Object = ();
        type Error = std::convert::Infallible;
        async fn create(&self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// Gets that give up behind a head that keeps waiting leave no entry
    /// behind for long: the queue and the waiter list stay bounded by the
    /// live waiters, not by how many gets came and went.
    #[tokio::test(start_paused = true)]
    async fn cancelled_waiters_behind_a_waiting_head_do_not_pile_up() {
        let pool = Pool::builder(Unit).max_size(1).build_lazy().unwrap();
        let held = pool.get().await.unwrap();
        let mut head = pin!(pool.get());
        assert!(futures::poll!(head.as_mut()).is_pending());
        let mut live = Vec::new();
        for i in 0..10_000 {
            let mut get = Box::pin(pool.get());
            assert!(futures::poll!(get.as_mut()).is_pending());
            // Every hundredth one stays: live waiters are never pruned.
            if i % 100 == 0 {
                live.push(get);
            }
        }
        {
            let st = pool.shared.lock();
            assert_eq!(st.waiting, 101);
            assert!(
                st.queue.len() <= 2 * 101 + PRUNE_SLACK,
                "{}",
                st.queue.len()
            );
            assert!(st.waiters.len() <= 2 * 101 + PRUNE_SLACK + 1);
        }
        // The queue order holds: the head, then the others in turn.
        drop(held);
        assert!(futures::poll!(head.as_mut()).is_ready());
        for mut get in live {
            assert!(futures::poll!(get.as_mut()).is_ready());
        }
        assert_eq!(pool.status().waiting, 0);
    }

    /// A `get` on another thread takes the last object out of its home
    /// (possibly expired: left to the lock) just as `close` runs; under the
    /// lock it finds the pool closed and drops the object. That empties the
    /// pool: `close` hears of it then, not at its timeout.
    #[tokio::test(start_paused = true)]
    async fn a_get_that_meets_close_with_the_last_object_in_hand_ends_close() {
        let pool = Pool::builder(Unit)
            .max_size(1)
            .max_lifetime(Duration::from_secs(1))
            .build_lazy()
            .unwrap();
        drop(pool.get().await.unwrap());
        tokio::time::advance(Duration::from_secs(2)).await;
        let now = Instant::now();
        // The fast path of a `get`...
        let Fast::Stale(entry) = pool.shared.take_fast(Some(now)) else {
            panic!("an expired object is left to the lock");
        };
        // ... then `close`, before that `get` takes the lock.
        let mut close = pin!(pool.close());
        assert!(
            futures::poll!(close.as_mut()).is_pending(),
            "one object out"
        );
        let (mut expired, mut wakers) = (Vec::new(), Vec::new());
        let begun = pool.shared.begin(
            Some(entry),
            Some(now),
            None,
            &mut expired,
            &mut wakers,
            Waker::noop(),
        );
        assert!(matches!(begun, Begin::Closed));
        drop((expired, wakers));
        assert_eq!(pool.status().size, 0);
        let ended = tokio::time::timeout(Duration::from_secs(1), close).await;
        assert!(matches!(ended, Ok(Ok(()))), "close waited on");
    }

    #[test]
    fn waiters_queue_in_deadline_order_and_an_earlier_head_resets_the_alarm() {
        let mut st = state();
        let now = Instant::now();
        let secs = |n| now + Duration::from_secs(n);
        let a = st.enqueue(secs(2));
        let b = st.enqueue(secs(5));
        st.alarm_at = Some(secs(2)); // for `a`
        let c = st.enqueue(secs(3)); // queued first, at 3 s - 10 s
        let d = st.enqueue(secs(5)); // behind `b`: same deadline, later
        assert_eq!(st.queue, [a, c, b, d]);
        assert_eq!(st.alarm_at, Some(secs(2)), "`a` is still the head");
        let e = st.enqueue(secs(1));
        assert_eq!(st.queue, [e, a, c, b, d]);
        assert_eq!(st.alarm_at, None, "to be set again, for the new head");
        assert_eq!(st.head_deadline(), Some(secs(1)));
        assert_eq!(st.waiting, 5);
        // A waiter that gives back a slot goes ahead of those whose
        // deadline is the same (they queued after it), not of earlier ones.
        let f = st.enqueue(secs(5));
        st.queue.pop_back();
        st.waiting -= 1;
        st.place(f, true);
        assert_eq!(st.queue, [e, a, c, f, b, d]);
        assert_eq!(st.waiting, 6);
        // A head that comes after an alarm set for an earlier deadline
        // leaves it: it goes off first, and hands the duty on.
        let mut st = state();
        st.alarm_at = Some(secs(2));
        st.enqueue(secs(4));
        assert_eq!(st.alarm_at, Some(secs(2)));
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
        let a = st.enqueue(now);
        st.enqueue(now + Duration::from_secs(1));
        st.waiters[a].state = WaitState::Cancelled;
        assert_eq!(st.head_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(st.queue.len(), 1, "the cancelled head was dropped");
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A caller queues just as two objects are parked (the race the homes'
    /// gate closes behind it); `retain` drains the homes, which hands one
    /// object to that waiter and leaves the other idle, and then its
    /// predicate panics on the idle one. The waiter is woken all the same.
    #[tokio::test]
    async fn a_panicking_retain_predicate_still_wakes_a_waiter_it_served() {
        let pool = Pool::builder(Unit).max_size(2).build_lazy().unwrap();
        let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
        drop((a, b));
        assert_eq!(pool.shared.homes.occupied(), 2, "parked");
        let wakes = Arc::new(Wakes::default());
        let key = {
            let mut st = pool.shared.lock();
            let key = st.enqueue(Instant::now());
            st.waiters[key].waker = Some(Waker::from(Arc::clone(&wakes)));
            key
        };
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.retain(|(), _| panic!("predicate"));
        }));
        assert!(panicked.is_err());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        let st = pool.shared.lock();
        assert!(matches!(
            st.waiters[key].state,
            WaitState::Granted(Grant::Object(_))
        ));
    }

    #[test]
    fn tracks_of_dropped_objects_are_pruned_as_the_list_grows() {
        let mut st = state();
        let kept = Arc::new(Track::new());
        st.add_track(&kept);
        for _ in 0..100 {
            st.add_track(&Arc::new(Track::new()));
        }
        let live = st.tracks.iter().filter(|t| t.strong_count() > 0).count();
        assert_eq!(live, 1);
        assert!(st.tracks.len() <= 64, "{} tracks kept", st.tracks.len());
    }

    #[test]
    fn the_gate_closes_while_anyone_waits_or_the_pool_is_closed_or_over_size() {
        let mut st = state();
        assert_eq!(st.gate(), 0);
        st.enqueue(Instant::now());
        assert_ne!(st.gate(), 0);
        let mut st = state();
        st.closed = true;
        assert_ne!(st.gate(), 0);
        let mut st = state();
        st.size = 2;
        assert_ne!(st.gate(), 0);
        let mut st = state();
        (st.max_size, st.min_idle) = (3, 2);
        assert_ne!(st.gate(), 0, "below min_idle: checkouts top up");
        st.max_size = 1;
        st.min_idle = 5;
        assert_eq!(st.gate(), 0, "min_idle counts up to max_size");
    }

    #[test]
    fn a_top_up_is_wanted_only_where_one_can_be_made() {
        let mut st = state();
        (st.max_size, st.min_idle) = (3, 2);
        assert!(st.wants_top_up());
        st.size = 2;
        assert!(!st.wants_top_up(), "at min_idle");
        (st.size, st.max_size) = (1, 1);
        assert!(!st.wants_top_up(), "full, though below min_idle");
        st.max_size = 3;
        st.enqueue(Instant::now());
        assert!(!st.wants_top_up(), "a waiter takes the room");
        let mut st = state();
        (st.max_size, st.min_idle, st.closed) = (3, 2, true);
        assert!(!st.wants_top_up(), "closed");
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
