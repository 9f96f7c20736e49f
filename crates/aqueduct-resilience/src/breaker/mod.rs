//! A lock-free circuit breaker.
//!
//! A breaker stops calling a dependency that keeps failing, gives it time
//! to recover, then lets a few probe calls test it before letting traffic
//! back:
//!
//! ```text
//!            failures reach the threshold
//!   Closed ─────────────────────────────────▶ Open
//!     ▲                                        │ open duration passed
//!     │ N probes succeeded                     ▼ (checked on the next call)
//!     └──────────────────────────────────── HalfOpen ──▶ Open (a probe failed)
//! ```
//!
//! The whole state lives in one atomic word (state, counters and a
//! generation), the outcome windows in atomic rings, so no call takes a
//! lock. Transitions happen on calls, never on a timer: an open breaker
//! that nobody calls costs nothing. A closed breaker's successful call in
//! consecutive-failures mode is one atomic load; in count-window mode one
//! `fetch_add` and one `swap`; in time-window mode one clock read, one
//! load and one compare-and-swap. None allocates.
//!
//! Half-open admits at most N probes at a time; every other call is
//! rejected with [`Rejected::HalfOpenFull`] (no stampede onto a
//! recovering service). A probe dropped before it records an outcome (a
//! cancelled call) frees its slot without counting as success or failure.
//! A probe that never ends holds its slot for good, and the breaker stays
//! half-open: give the calls it guards a timeout (a
//! [`timeout`](fn@crate::timeout) or a [`Deadline`](crate::Deadline) inside
//! [`call`](CircuitBreaker::call)), so that a hung probe ends as a failure.

mod config;
mod state;
#[cfg(not(loom))]
mod window;
// Under `--cfg loom` the time window is public, for the models in
// `tests/loom.rs` to drive it with epochs of their choosing.
#[cfg(loom)]
#[doc(hidden)]
pub mod window;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use self::config::Builder;
use self::config::{Config, Mode, OpenFor};
use self::state::{
    CLOSED, DISABLED, FIELD_MAX, FORCED_CLOSED, FORCED_OPEN, HALF_OPEN, OPEN, UNTIL_MAX, Word,
};
pub use self::state::{State, StateChange};
use self::window::{CountWindow, FAILURE, SLOW, TimeWindow, Totals};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Decides which errors count as failures. Implemented by every
/// `Fn(&E) -> bool` and by [`AllErrors`].
///
/// ```
/// use aqueduct_resilience::breaker::IsFailure;
/// let server_errors = |status: &u16| *status >= 500;
/// assert!(server_errors.is_failure(&503));
/// assert!(!server_errors.is_failure(&404));
/// ```
pub trait IsFailure<E> {
    /// `true` if `error` should count against the dependency.
    ///
    /// ```
    /// use aqueduct_resilience::breaker::IsFailure;
    /// // Timeouts count against the dependency; a refused request does not.
    /// let not_refused = |e: &std::io::Error| e.kind() != std::io::ErrorKind::PermissionDenied;
    /// assert!(not_refused.is_failure(&std::io::ErrorKind::TimedOut.into()));
    /// assert!(!not_refused.is_failure(&std::io::ErrorKind::PermissionDenied.into()));
    /// ```
    fn is_failure(&self, error: &E) -> bool;
}

/// The default classifier: every error is a failure.
///
/// ```
/// use aqueduct_resilience::breaker::{AllErrors, IsFailure};
/// assert!(AllErrors.is_failure(&"anything"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllErrors;

impl<E> IsFailure<E> for AllErrors {
    #[inline]
    fn is_failure(&self, _: &E) -> bool {
        true
    }
}

impl<E, F: Fn(&E) -> bool> IsFailure<E> for F {
    #[inline]
    fn is_failure(&self, error: &E) -> bool {
        self(error)
    }
}

/// Why the breaker turned a call away.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{CircuitBreaker, breaker::Rejected};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = CircuitBreaker::builder().build();
/// b.force_open();
/// assert_eq!(b.try_acquire().unwrap_err(), Rejected::ForcedOpen);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The breaker is open; it will admit a probe in `retry_in`.
    #[error("circuit open, next probe in {retry_in:?}")]
    Open {
        /// Time until the breaker moves to half-open.
        retry_in: Duration,
    },
    /// Half-open, and `max_probes` probes are already in flight.
    #[error("circuit half-open and all {max_probes} probe slots are taken")]
    HalfOpenFull {
        /// Probes allowed at a time.
        max_probes: u32,
    },
    /// Forced open by [`CircuitBreaker::force_open`].
    #[error("circuit forced open")]
    ForcedOpen,
}

/// The error of [`CircuitBreaker::call`].
///
/// ```
/// use aqueduct_resilience::{CircuitBreaker, breaker::BreakerError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = CircuitBreaker::builder().consecutive_failures(1).build();
/// let first = b.call(|| async { Err::<(), _>("boom") }).await;
/// assert!(matches!(first, Err(BreakerError::Inner("boom"))));
/// let second = b.call(|| async { Ok::<_, &str>(()) }).await;
/// assert!(matches!(second, Err(BreakerError::Rejected(_))));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker did not let the call through.
    #[error("call rejected by the circuit breaker")]
    Rejected(#[source] Rejected),
    /// The call ran and failed.
    #[error("call failed")]
    Inner(#[source] E),
}

/// Counters of a breaker at one moment. From [`CircuitBreaker::snapshot`].
///
/// ```
/// use aqueduct_resilience::CircuitBreaker;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = CircuitBreaker::builder().count_window(10).build();
/// b.try_acquire().unwrap().failure();
/// b.try_acquire().unwrap().success();
/// let s = b.snapshot();
/// assert_eq!((s.calls, s.failures), (2, 1));
/// assert_eq!(s.failure_rate(), 0.5);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The state.
    pub state: State,
    /// Calls in the window (count and time modes).
    pub calls: u64,
    /// Failures in the window (count and time modes).
    pub failures: u64,
    /// Slow calls in the window (count and time modes).
    pub slow_calls: u64,
    /// Failures in a row (consecutive mode, closed state).
    pub consecutive_failures: u32,
    /// Probes in flight (half-open).
    pub probes_in_flight: u32,
    /// Probe successes so far (half-open).
    pub probe_successes: u32,
    /// Trips since the breaker last closed.
    pub consecutive_trips: u32,
    /// Time left open (open state).
    pub open_remaining: Option<Duration>,
}

impl Snapshot {
    /// Failures over calls in the window (0 when empty).
    ///
    /// ```
    /// let s = aqueduct_resilience::CircuitBreaker::builder().build().snapshot();
    /// assert_eq!(s.failure_rate(), 0.0);
    /// ```
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn failure_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failures as f64 / self.calls as f64
        }
    }
}

enum WindowKind {
    Consecutive(u32),
    Count(CountWindow),
    Time(TimeWindow),
}

/// The shared state of a breaker and all its clones.
pub(crate) struct Core {
    word: AtomicU64,
    window: WindowKind,
    trips: AtomicU32,
    base: Instant,
    config: Config,
    slow: Option<Duration>,
    /// Consecutive mode without slow-call tracking: the cheapest success.
    quiet: bool,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("state", &Word(self.word.load(Ordering::Relaxed)).state())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What a permit records into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Track {
    /// A closed-state call.
    Closed,
    /// A forced-closed call: recorded, never trips.
    Metrics,
    /// A half-open probe.
    Probe,
    /// A disabled breaker's call: nothing recorded.
    None,
    /// The outcome was recorded already.
    Done,
}

/// A permit's identity, in two plain words (no partial writes for the
/// processor to stall on when it is copied).
#[derive(Debug, Clone, Copy)]
struct Token {
    /// `generation << 8 | track`.
    bits: u64,
    /// When the call started, in nanoseconds since the breaker was built,
    /// or `NOT_TIMED`.
    started: u64,
}

const NOT_TIMED: u64 = u64::MAX;

impl Token {
    #[inline]
    fn new(generation: u64, track: Track, started: u64) -> Self {
        Self {
            bits: generation << 8 | track as u64,
            started,
        }
    }

    #[inline]
    fn generation(self) -> u64 {
        self.bits >> 8
    }

    #[inline]
    fn track(self) -> Track {
        match self.bits & 0xff {
            0 => Track::Closed,
            1 => Track::Metrics,
            2 => Track::Probe,
            3 => Track::None,
            _ => Track::Done,
        }
    }

    /// This token, leaving `Done` in its place.
    #[inline]
    fn take(&mut self) -> Token {
        let t = *self;
        self.bits |= 0xff;
        t
    }
}

fn nanos_since(base: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
}

/// Milliseconds, rounded down: an open breaker may admit its probe up to
/// 1 ms before the open duration is over, never later.
fn floor_ms(nanos: u64) -> u64 {
    nanos / 1_000_000
}

impl Core {
    fn new(config: Config) -> Self {
        let window = match config.mode {
            Mode::Consecutive(n) => WindowKind::Consecutive(n),
            Mode::Count(n) => WindowKind::Count(CountWindow::new(n as usize)),
            Mode::Time { window, buckets } => WindowKind::Time(TimeWindow::new(
                u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
                buckets as usize,
            )),
        };
        Self {
            word: AtomicU64::new(Word::new(CLOSED, 0, 0, 0).0),
            window,
            trips: AtomicU32::new(0),
            base: Instant::now(),
            slow: config.slow_call.map(|(d, _)| d),
            quiet: matches!(config.mode, Mode::Consecutive(_)) && config.slow_call.is_none(),
            config,
        }
    }

    #[inline]
    fn started(&self) -> u64 {
        match self.slow {
            Some(_) => nanos_since(self.base, Instant::now()),
            None => NOT_TIMED,
        }
    }

    #[inline]
    fn try_acquire(&self) -> Result<Token, Rejected> {
        let w = Word(self.word.load(Ordering::Acquire));
        if w.kind() == CLOSED && self.slow.is_none() {
            return Ok(Token::new(w.generation(), Track::Closed, NOT_TIMED));
        }
        self.try_acquire_slow(w)
    }

    #[inline(never)]
    fn try_acquire_slow(&self, mut w: Word) -> Result<Token, Rejected> {
        let mut now_ms = None;
        loop {
            let (next, track) = match w.kind() {
                CLOSED => {
                    return Ok(Token::new(w.generation(), Track::Closed, self.started()));
                }
                FORCED_CLOSED => {
                    return Ok(Token::new(w.generation(), Track::Metrics, self.started()));
                }
                DISABLED => {
                    return Ok(Token::new(w.generation(), Track::None, NOT_TIMED));
                }
                FORCED_OPEN => return Err(self.reject(Rejected::ForcedOpen)),
                OPEN => {
                    let now = *now_ms
                        .get_or_insert_with(|| floor_ms(nanos_since(self.base, Instant::now())));
                    let until = w.until_ms();
                    if now < until {
                        return Err(self.reject(Rejected::Open {
                            retry_in: Duration::from_millis(until - now),
                        }));
                    }
                    (Word::new(HALF_OPEN, w.next_gen(), 1, 0), Track::Probe)
                }
                HALF_OPEN => {
                    if w.a() >= u64::from(self.config.probes) {
                        return Err(self.reject(Rejected::HalfOpenFull {
                            max_probes: self.config.probes,
                        }));
                    }
                    (
                        Word::new(HALF_OPEN, w.generation(), w.a() + 1, w.b()),
                        Track::Probe,
                    )
                }
                _ => unreachable!("invalid breaker state word"),
            };
            match self
                .word
                .compare_exchange_weak(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if w.kind() == OPEN {
                        self.notify(w, next);
                    }
                    return Ok(Token::new(next.generation(), track, self.started()));
                }
                Err(actual) => w = Word(actual),
            }
        }
    }

    #[cold]
    fn reject(&self, r: Rejected) -> Rejected {
        crate::trace_event!(reason = %r, "circuit breaker rejected a call");
        r
    }

    fn notify(&self, from: Word, to: Word) {
        let change = StateChange {
            from: from.state(),
            to: to.state(),
        };
        if change.from == change.to {
            return;
        }
        crate::trace_event!(from = ?change.from, to = ?change.to, "circuit breaker state change");
        if let Some(l) = &self.config.listener {
            l(change);
        }
    }

    fn open_duration(&self, trip: u32) -> Duration {
        match &self.config.open_for {
            OpenFor::Fixed(d) => *d,
            OpenFor::Growing(b) => b
                .iter()
                .nth(trip.saturating_sub(1) as usize)
                .unwrap_or_default(),
        }
    }

    /// Tries to move from `from` to open. Returns whether this call did it.
    fn trip(&self, from: Word, now: Option<Instant>) -> bool {
        let trip = self.trips.load(Ordering::Relaxed).saturating_add(1);
        let now = now.unwrap_or_else(Instant::now);
        let until = nanos_since(self.base, now)
            .saturating_add(u64::try_from(self.open_duration(trip).as_nanos()).unwrap_or(u64::MAX));
        let next = Word::open(from.next_gen(), floor_ms(until).min(UNTIL_MAX));
        if self
            .word
            .compare_exchange(from.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.trips.fetch_add(1, Ordering::Relaxed);
            self.notify(from, next);
            true
        } else {
            false
        }
    }

    fn reset_window(&self) {
        match &self.window {
            WindowKind::Consecutive(_) => {}
            WindowKind::Count(w) => w.reset(),
            WindowKind::Time(w) => w.reset(),
        }
    }

    /// Moves to `kind` unconditionally (the manual controls).
    fn set(&self, kind: u64) {
        if matches!(kind, CLOSED | FORCED_CLOSED) {
            self.reset_window();
            self.trips.store(0, Ordering::Relaxed);
        }
        let mut w = Word(self.word.load(Ordering::Acquire));
        loop {
            let next = Word::new(kind, w.next_gen(), 0, 0);
            match self
                .word
                .compare_exchange_weak(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.notify(w, next);
                    return;
                }
                Err(actual) => w = Word(actual),
            }
        }
    }

    /// The outcome bits of a finished call.
    #[inline]
    fn outcome(&self, token: &Token, failed: bool) -> (u8, Option<Instant>) {
        let mut bits = if failed { FAILURE } else { 0 };
        let mut now = None;
        if let (Some(threshold), true) = (self.slow, token.started != NOT_TIMED) {
            let n = Instant::now();
            let took = nanos_since(self.base, n).saturating_sub(token.started);
            if Duration::from_nanos(took) >= threshold {
                bits |= SLOW;
            }
            now = Some(n);
        }
        (bits, now)
    }

    #[inline]
    fn record(&self, token: Token, failed: bool) {
        if !failed && self.quiet && token.track() == Track::Closed {
            // Consecutive mode, no slow-call tracking: a success only has
            // to reset a run of failures, and there is none.
            let w = Word(self.word.load(Ordering::Relaxed));
            if w.kind() == CLOSED && w.a() == 0 {
                return;
            }
        }
        self.record_slow(token, failed);
    }

    #[inline(never)]
    fn record_slow(&self, token: Token, failed: bool) {
        match token.track() {
            Track::Closed | Track::Metrics => self.record_closed(token, failed),
            Track::Probe => {
                // In consecutive mode a slow call is a failure, a probe too:
                // a probe as slow as the calls that tripped the breaker must
                // not close it.
                let failed = match self.window {
                    WindowKind::Consecutive(_) => self.outcome(&token, failed).0 != 0,
                    _ => failed,
                };
                self.record_probe(token, failed);
            }
            Track::None | Track::Done => {}
        }
    }

    #[inline]
    fn record_closed(&self, token: Token, failed: bool) {
        let (bits, now) = self.outcome(&token, failed);
        let can_trip = token.track() == Track::Closed;
        match &self.window {
            WindowKind::Consecutive(n) => {
                let mut w = Word(self.word.load(Ordering::Acquire));
                let bad = bits != 0;
                loop {
                    if w.kind() != CLOSED || w.generation() != token.generation() {
                        return;
                    }
                    if !bad {
                        if w.a() == 0 {
                            return;
                        }
                        let next = Word::new(CLOSED, w.generation(), 0, 0);
                        match self.word.compare_exchange_weak(
                            w.0,
                            next.0,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => return,
                            Err(actual) => w = Word(actual),
                        }
                        continue;
                    }
                    let failures = w.a() + 1;
                    if failures >= u64::from(*n) {
                        if self.trip(w, now) {
                            return;
                        }
                        w = Word(self.word.load(Ordering::Acquire));
                        continue;
                    }
                    let next = Word::new(CLOSED, w.generation(), failures.min(FIELD_MAX), 0);
                    match self.word.compare_exchange_weak(
                        w.0,
                        next.0,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return,
                        Err(actual) => w = Word(actual),
                    }
                }
            }
            WindowKind::Count(win) => {
                let w = Word(self.word.load(Ordering::Relaxed));
                if w.generation() != token.generation() {
                    return;
                }
                win.record(bits);
                if bits != 0 && can_trip {
                    self.evaluate(w, win.totals(), now);
                }
            }
            WindowKind::Time(win) => {
                let w = Word(self.word.load(Ordering::Relaxed));
                if w.generation() != token.generation() {
                    return;
                }
                let now = now.unwrap_or_else(Instant::now);
                let at = nanos_since(self.base, now);
                win.record(at, bits);
                if bits != 0 && can_trip {
                    self.evaluate(w, win.totals(at), Some(now));
                }
            }
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn evaluate(&self, w: Word, t: Totals, now: Option<Instant>) {
        if t.calls < u64::from(self.config.minimum_calls) || w.kind() != CLOSED {
            return;
        }
        let calls = t.calls as f64;
        let failing = t.failures as f64 / calls >= self.config.failure_rate;
        let slow = self
            .config
            .slow_call
            .is_some_and(|(_, rate)| t.slow as f64 / calls >= rate);
        if failing || slow {
            self.trip(w, now);
        }
    }

    fn record_probe(&self, token: Token, failed: bool) {
        let mut w = Word(self.word.load(Ordering::Acquire));
        loop {
            if w.kind() != HALF_OPEN || w.generation() != token.generation() {
                return;
            }
            if failed {
                if self.trip(w, None) {
                    return;
                }
                w = Word(self.word.load(Ordering::Acquire));
                continue;
            }
            let successes = w.b() + 1;
            if successes >= u64::from(self.config.probes) {
                // Clear the window before publishing closed: nothing records
                // into it while half-open.
                self.reset_window();
                let next = Word::new(CLOSED, w.next_gen(), 0, 0);
                match self
                    .word
                    .compare_exchange(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        self.trips.store(0, Ordering::Relaxed);
                        self.notify(w, next);
                        return;
                    }
                    Err(actual) => w = Word(actual),
                }
                continue;
            }
            let next = Word::new(
                HALF_OPEN,
                w.generation(),
                w.a().saturating_sub(1),
                successes,
            );
            match self
                .word
                .compare_exchange_weak(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => w = Word(actual),
            }
        }
    }

    /// A probe dropped without an outcome gives its slot back.
    #[inline(never)]
    fn release_probe(&self, token: Token) {
        let mut w = Word(self.word.load(Ordering::Acquire));
        loop {
            if w.kind() != HALF_OPEN || w.generation() != token.generation() || w.a() == 0 {
                return;
            }
            let next = Word::new(HALF_OPEN, w.generation(), w.a() - 1, w.b());
            match self
                .word
                .compare_exchange_weak(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => w = Word(actual),
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let w = Word(self.word.load(Ordering::Acquire));
        let now = Instant::now();
        let totals = match &self.window {
            WindowKind::Consecutive(_) => Totals::default(),
            WindowKind::Count(win) => win.totals(),
            WindowKind::Time(win) => win.totals(nanos_since(self.base, now)),
        };
        let field = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let (consecutive, in_flight, successes, remaining) = match w.kind() {
            CLOSED => (field(w.a()), 0, 0, None),
            HALF_OPEN => (0, field(w.a()), field(w.b()), None),
            OPEN => {
                let now_ms = floor_ms(nanos_since(self.base, now));
                (
                    0,
                    0,
                    0,
                    Some(Duration::from_millis(w.until_ms().saturating_sub(now_ms))),
                )
            }
            _ => (0, 0, 0, None),
        };
        Snapshot {
            state: w.state(),
            calls: totals.calls,
            failures: totals.failures,
            slow_calls: totals.slow,
            consecutive_failures: consecutive,
            probes_in_flight: in_flight,
            probe_successes: successes,
            consecutive_trips: self.trips.load(Ordering::Relaxed),
            open_remaining: remaining,
        }
    }
}

/// A circuit breaker. Cheap to clone: clones share the state.
///
/// Use [`call`](CircuitBreaker::call) around an async operation, or
/// [`try_acquire`](CircuitBreaker::try_acquire) and then
/// [`Permit::success`] / [`Permit::failure`] by hand.
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{CircuitBreaker, breaker::{BreakerError, State}};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder()
///     .consecutive_failures(2)
///     .open_duration(Duration::from_secs(10))
///     .build();
/// for _ in 0..2 {
///     let _ = breaker.call(|| async { Err::<(), _>("refused") }).await;
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert!(matches!(
///     breaker.call(|| async { Ok::<_, &str>(()) }).await,
///     Err(BreakerError::Rejected(_))
/// ));
///
/// tokio::time::sleep(Duration::from_secs(10)).await;
/// // The next call is the probe; its success closes the breaker.
/// breaker.call(|| async { Ok::<_, &str>(()) }).await.unwrap();
/// assert_eq!(breaker.state(), State::Closed);
/// # }
/// ```
pub struct CircuitBreaker<C = AllErrors> {
    core: Arc<Core>,
    classifier: C,
}

impl<C: Clone> Clone for CircuitBreaker<C> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
            classifier: self.classifier.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// Starts a [`Builder`] with the defaults.
    ///
    /// ```
    /// let b = aqueduct_resilience::CircuitBreaker::builder().consecutive_failures(3).build();
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl<C> CircuitBreaker<C> {
    pub(crate) fn from_parts(config: Config, classifier: C) -> Self {
        Self {
            core: Arc::new(Core::new(config)),
            classifier,
        }
    }

    /// The classifier deciding which errors count as failures.
    pub(crate) fn classifier(&self) -> &C {
        &self.classifier
    }

    /// Asks to make a call. In the closed state this is one atomic load
    /// (plus a clock read if slow calls are tracked); when open, it moves
    /// the breaker to half-open once the open duration has passed.
    ///
    /// Record the outcome with [`Permit::success`] or [`Permit::failure`];
    /// dropping the permit records nothing (and frees a half-open probe
    /// slot).
    ///
    /// # Errors
    ///
    /// [`Rejected`] if the breaker is open, forced open, or half-open with
    /// every probe slot taken.
    ///
    /// ```
    /// use aqueduct_resilience::CircuitBreaker;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder().build();
    /// let permit = breaker.try_acquire().expect("closed");
    /// permit.success();
    /// # }
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let token = self.core.try_acquire()?;
        Ok(Permit {
            core: &self.core,
            token,
        })
    }

    /// Like [`try_acquire`](CircuitBreaker::try_acquire), with a permit that
    /// owns a handle on the breaker (for futures that must be `'static`).
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](CircuitBreaker::try_acquire).
    ///
    /// ```
    /// use aqueduct_resilience::CircuitBreaker;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder().build();
    /// let permit = breaker.try_acquire_owned().unwrap();
    /// tokio::spawn(async move { permit.success() }).await.unwrap();
    /// # }
    /// ```
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, Rejected> {
        let token = self.core.try_acquire()?;
        Ok(OwnedPermit {
            core: Arc::clone(&self.core),
            token,
        })
    }

    /// Runs `f` through the breaker: rejected at once if open, otherwise
    /// run, and its outcome recorded (an error counts as a failure if the
    /// classifier says so, and as a success otherwise).
    ///
    /// The breaker is asked, and `f` called, when `call` is called; the
    /// returned future then drives the operation.
    ///
    /// # Errors
    ///
    /// [`BreakerError::Rejected`] if the breaker turned the call away,
    /// [`BreakerError::Inner`] with the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future records nothing and, for a
    /// half-open probe, frees its slot.
    ///
    /// ```
    /// use aqueduct_resilience::CircuitBreaker;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = CircuitBreaker::builder().build();
    /// assert_eq!(b.call(|| async { Ok::<_, ()>(5) }).await.unwrap(), 5);
    /// # }
    /// ```
    #[inline]
    pub fn call<F, Fut, T, E>(&self, f: F) -> Call<'_, Fut, C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: IsFailure<E>,
    {
        match self.try_acquire() {
            Ok(permit) => Call {
                fut: Some(f()),
                permit: Some(permit),
                rejected: None,
                classifier: &self.classifier,
            },
            Err(rejected) => Call {
                fut: None,
                permit: None,
                rejected: Some(rejected),
                classifier: &self.classifier,
            },
        }
    }

    /// The state now. Does not move an expired open breaker to half-open
    /// (only a call does).
    ///
    /// ```
    /// use aqueduct_resilience::{CircuitBreaker, breaker::State};
    /// assert_eq!(CircuitBreaker::builder().build().state(), State::Closed);
    /// ```
    #[must_use]
    pub fn state(&self) -> State {
        Word(self.core.word.load(Ordering::Acquire)).state()
    }

    /// The counters now.
    ///
    /// ```
    /// use aqueduct_resilience::{CircuitBreaker, breaker::State};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = CircuitBreaker::builder().consecutive_failures(5).build();
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.snapshot().consecutive_failures, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    /// Rejects every call until [`reset`](CircuitBreaker::reset).
    ///
    /// ```
    /// use aqueduct_resilience::CircuitBreaker;
    /// let b = CircuitBreaker::builder().build();
    /// b.force_open();
    /// assert!(b.try_acquire().is_err());
    /// ```
    pub fn force_open(&self) {
        self.core.set(FORCED_OPEN);
    }

    /// Admits every call and records it, but never trips, until
    /// [`reset`](CircuitBreaker::reset).
    ///
    /// ```
    /// use aqueduct_resilience::{CircuitBreaker, breaker::State};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = CircuitBreaker::builder().consecutive_failures(1).build();
    /// b.force_closed();
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.state(), State::ForcedClosed);
    /// # }
    /// ```
    pub fn force_closed(&self) {
        self.core.set(FORCED_CLOSED);
    }

    /// Admits every call and records nothing, until
    /// [`reset`](CircuitBreaker::reset).
    ///
    /// ```
    /// use aqueduct_resilience::{CircuitBreaker, breaker::State};
    /// let b = CircuitBreaker::builder().build();
    /// b.disable();
    /// assert_eq!(b.state(), State::Disabled);
    /// assert!(b.try_acquire().is_ok());
    /// ```
    pub fn disable(&self) {
        self.core.set(DISABLED);
    }

    /// Back to closed with an empty window, whatever the state.
    ///
    /// ```
    /// use aqueduct_resilience::{CircuitBreaker, breaker::State};
    /// let b = CircuitBreaker::builder().build();
    /// b.force_open();
    /// b.reset();
    /// assert_eq!(b.state(), State::Closed);
    /// ```
    pub fn reset(&self) {
        self.core.set(CLOSED);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CircuitBreaker::call`].
    ///
    /// ```
    /// use aqueduct_resilience::{CircuitBreaker, breaker::Call};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b = CircuitBreaker::builder().build();
    /// let call: Call<'_, _, _> = b.call(|| async { Ok::<_, ()>(1) });
    /// assert_eq!(call.await.unwrap(), 1);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, Fut, C> {
        #[pin]
        fut: Option<Fut>,
        permit: Option<Permit<'a>>,
        rejected: Option<Rejected>,
        classifier: &'a C,
    }
}

impl<Fut, C> fmt::Debug for Call<'_, Fut, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("permit", &self.permit)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<Fut, C, T, E> Future for Call<'_, Fut, C>
where
    Fut: Future<Output = Result<T, E>>,
    C: IsFailure<E>,
{
    type Output = Result<T, BreakerError<E>>;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = self.project();
        let Some(fut) = this.fut.as_pin_mut() else {
            return Poll::Ready(Err(BreakerError::Rejected(
                this.rejected.take().unwrap_or(Rejected::ForcedOpen),
            )));
        };
        let out = match fut.poll(cx) {
            Poll::Ready(out) => out,
            Poll::Pending => return Poll::Pending,
        };
        if let Some(permit) = this.permit.take() {
            match &out {
                Ok(_) => permit.success(),
                Err(e) => permit.record(this.classifier.is_failure(e)),
            }
        }
        Poll::Ready(out.map_err(BreakerError::Inner))
    }
}

/// Leave to make one call, from [`CircuitBreaker::try_acquire`]. Record
/// the outcome with [`success`](Permit::success) or
/// [`failure`](Permit::failure); dropping it records nothing.
///
/// ```
/// use aqueduct_resilience::CircuitBreaker;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = CircuitBreaker::builder().consecutive_failures(1).build();
/// b.try_acquire().unwrap().failure();
/// assert!(b.try_acquire().is_err());
/// # }
/// ```
#[must_use = "record the outcome with `success()` or `failure()`"]
pub struct Permit<'a> {
    core: &'a Core,
    token: Token,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("token", &self.token)
            .finish()
    }
}

impl Permit<'_> {
    /// Records a success.
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// b.try_acquire().unwrap().success();
    /// ```
    #[inline]
    pub fn success(mut self) {
        let t = self.token.take();
        self.core.record(t, false);
    }

    /// Records a failure.
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.snapshot().consecutive_failures, 1);
    /// ```
    #[inline]
    pub fn failure(mut self) {
        let t = self.token.take();
        self.core.record(t, true);
    }

    /// Records a failure if `failed`, else a success.
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// b.try_acquire().unwrap().record(false);
    /// ```
    #[inline]
    pub fn record(self, failed: bool) {
        if failed {
            self.failure();
        } else {
            self.success();
        }
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.token.track() == Track::Probe {
            let t = self.token.take();
            self.core.release_probe(t);
        }
    }
}

/// A [`Permit`] that owns a handle on its breaker. From
/// [`CircuitBreaker::try_acquire_owned`].
///
/// ```
/// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
/// let p: aqueduct_resilience::breaker::OwnedPermit = b.try_acquire_owned().unwrap();
/// p.success();
/// ```
#[must_use = "record the outcome with `success()` or `failure()`"]
pub struct OwnedPermit {
    core: Arc<Core>,
    token: Token,
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("token", &self.token)
            .finish()
    }
}

impl OwnedPermit {
    /// Records a success.
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// b.try_acquire_owned().unwrap().success();
    /// ```
    pub fn success(mut self) {
        let t = self.token.take();
        self.core.record(t, false);
    }

    /// Records a failure.
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// b.try_acquire_owned().unwrap().failure();
    /// ```
    pub fn failure(mut self) {
        let t = self.token.take();
        self.core.record(t, true);
    }

    /// Records a failure if `failed`, else a success.
    ///
    /// ```
    /// # let b = aqueduct_resilience::CircuitBreaker::builder().build();
    /// b.try_acquire_owned().unwrap().record(true);
    /// ```
    pub fn record(self, failed: bool) {
        if failed {
            self.failure();
        } else {
            self.success();
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if self.token.track() == Track::Probe {
            let t = self.token.take();
            self.core.release_probe(t);
        }
    }
}
