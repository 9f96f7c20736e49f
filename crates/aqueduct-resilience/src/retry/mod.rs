//! Retries: backoff with jitter, a classifier, a shared budget, and
//! deadline-aware sleeps.
//!
//! [`Retry`] runs an operation until it succeeds, an error is classified
//! [`Action::Stop`], `max_attempts` attempts were made, `max_elapsed` or
//! the task's [`Deadline`] would be passed by the next sleep, or the shared
//! [`RetryBudget`] cannot afford another retry. It never sleeps past the
//! deadline: when the next delay plus the configured minimum attempt time
//! would not fit, it returns [`RetryError::DeadlineExceeded`] at once.
//!
//! The deadline bounds the retry's own waits; it does not cut an attempt
//! short. Run the whole under [`Deadline::run`] to enforce it, or set
//! [`Retry::attempt_timeout`], which is clamped to the deadline.
//!
//! A first attempt that succeeds costs one call of the operation and
//! little else: no allocation, no random number, no clock read unless a
//! budget, `max_elapsed` or a deadline asks for one. The retry loop proper
//! is boxed (one allocation) only once the first attempt has failed.

mod backoff;
mod budget;
mod classify;
mod jitter;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

pub use self::backoff::{Backoff, BackoffIter};
pub use self::budget::RetryBudget;
pub use self::classify::{Action, Classify, NoHook, OnRetry, RetryAll};
pub use self::jitter::Jitter;
use crate::deadline::Deadline;
use crate::timeout::{Elapsed, timeout};

/// Why [`Retry::run`] gave up. Every variant says how many attempts were
/// made and keeps the last error.
///
/// ```
/// use aqueduct_resilience::{Retry, RetryError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let err = Retry::new().max_attempts(2).run(|| async { Err::<(), _>("down") }).await.unwrap_err();
/// assert!(matches!(err, RetryError::Exhausted { attempts: 2, last: "down" }));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// `max_attempts` attempts failed, or the next sleep would pass
    /// `max_elapsed`.
    #[error("gave up after {attempts} attempts")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The error of the last one.
        #[source]
        last: E,
    },
    /// The classifier said [`Action::Stop`]; or, in the tower retry layer,
    /// the error would have been retried but the request could not be
    /// copied for the retry (its `clone_request` function returned `None`;
    /// see the `tower::retry` module, feature `tower`).
    #[error("attempt {attempts} failed with an error that is not retried")]
    Stopped {
        /// Attempts made.
        attempts: u32,
        /// The permanent error.
        #[source]
        error: E,
    },
    /// The shared [`RetryBudget`] could not afford another retry.
    #[error("retry budget exhausted after {attempts} attempts")]
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The error of the last one.
        #[source]
        last: E,
    },
    /// The next attempt would not fit before the task's deadline (with the
    /// minimum time left an attempt needs).
    #[error("deadline exceeded after {attempts} attempts")]
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// The last error, if an attempt finished with one.
        #[source]
        last: Option<E>,
    },
}

impl<E> RetryError<E> {
    /// Attempts made.
    ///
    /// ```
    /// use aqueduct_resilience::RetryError;
    /// let e = RetryError::Stopped { attempts: 1, error: "bad request" };
    /// assert_eq!(e.attempts(), 1);
    /// ```
    #[must_use]
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Exhausted { attempts, .. }
            | Self::Stopped { attempts, .. }
            | Self::BudgetExhausted { attempts, .. }
            | Self::DeadlineExceeded { attempts, .. } => *attempts,
        }
    }

    /// The last error of the operation, if any.
    ///
    /// ```
    /// use aqueduct_resilience::RetryError;
    /// let e = RetryError::Exhausted { attempts: 3, last: "refused" };
    /// assert_eq!(e.into_last(), Some("refused"));
    /// ```
    #[must_use]
    pub fn into_last(self) -> Option<E> {
        match self {
            Self::Exhausted { last, .. } | Self::BudgetExhausted { last, .. } => Some(last),
            Self::Stopped { error, .. } => Some(error),
            Self::DeadlineExceeded { last, .. } => last,
        }
    }
}

/// No per-attempt timeout (a type-state of [`Retry`]).
///
/// ```
/// use aqueduct_resilience::Retry;
/// use aqueduct_resilience::retry::{NoHook, NoTimeout, RetryAll};
/// // A new retry has no per-attempt timeout: attempts run as long as they take.
/// let _: Retry<RetryAll, NoHook, NoTimeout> = Retry::new();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTimeout;

/// A per-attempt timeout (a type-state of [`Retry`], set by
/// [`Retry::attempt_timeout`]); the operation's error must then be
/// `From<Elapsed>` so a timed-out attempt has an error to classify.
///
/// ```
/// use aqueduct_resilience::Retry;
/// use aqueduct_resilience::retry::{AttemptTimeout, NoHook, RetryAll};
/// use std::time::Duration;
/// let r: Retry<RetryAll, NoHook, AttemptTimeout> =
///     Retry::new().attempt_timeout(Duration::from_millis(250));
/// # let _ = r;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AttemptTimeout(pub Duration);

/// The settings every [`Retry`] has, whatever its classifier and hook.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) backoff: Backoff,
    pub(crate) max_attempts: u32,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) min_remaining: Duration,
    pub(crate) budget: Option<RetryBudget>,
}

/// A retry policy: run an operation again on failure, with backoff.
///
/// Defaults: 3 attempts, exponential backoff from 50 ms with full jitter
/// capped at 5 s, every error retried, no budget, no per-attempt timeout,
/// and no attempt started with less than 1 ms left before the deadline.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use aqueduct_resilience::{Backoff, Retry, retry::Action};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = AtomicU32::new(0);
/// let retry = Retry::new()
///     .max_attempts(5)
///     .backoff(Backoff::exponential(Duration::from_millis(100)))
///     .classify(|e: &&str| if *e == "busy" { Action::Retry } else { Action::Stop });
/// let v = retry
///     .run(|| async {
///         if calls.fetch_add(1, Ordering::Relaxed) < 2 { Err("busy") } else { Ok(42) }
///     })
///     .await;
/// assert_eq!(v.unwrap(), 42);
/// assert_eq!(calls.load(Ordering::Relaxed), 3);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Retry<C = RetryAll, H = NoHook, T = NoTimeout> {
    policy: Policy,
    classifier: C,
    hook: H,
    timeout: T,
}

impl Default for Retry {
    fn default() -> Self {
        Self::new()
    }
}

impl Retry {
    /// A policy with the defaults.
    ///
    /// ```
    /// let r = aqueduct_resilience::Retry::new();
    /// assert_eq!(r.get_max_attempts(), 3);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            policy: Policy {
                backoff: Backoff::exponential(Duration::from_millis(50))
                    .jitter(Jitter::Full)
                    .max_delay(Duration::from_secs(5)),
                max_attempts: 3,
                max_elapsed: None,
                min_remaining: Duration::from_millis(1),
                budget: None,
            },
            classifier: RetryAll,
            hook: NoHook,
            timeout: NoTimeout,
        }
    }
}

impl<C, H, T> Retry<C, H, T> {
    /// Attempts in all, the first included (at least 1).
    ///
    /// ```
    /// let r = aqueduct_resilience::Retry::new().max_attempts(0);
    /// assert_eq!(r.get_max_attempts(), 1);
    /// ```
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.policy.max_attempts = n.max(1);
        self
    }

    /// The configured number of attempts.
    ///
    /// ```
    /// assert_eq!(aqueduct_resilience::Retry::new().max_attempts(7).get_max_attempts(), 7);
    /// ```
    #[must_use]
    pub fn get_max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    /// Gives up rather than sleep past `d` since the first attempt started.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, Retry, RetryError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = Retry::new()
    ///     .max_attempts(100)
    ///     .backoff(Backoff::constant(Duration::from_secs(1)))
    ///     .max_elapsed(Duration::from_millis(3500));
    /// let err = r.run(|| async { Err::<(), _>(()) }).await.unwrap_err();
    /// assert_eq!(err.attempts(), 4); // at 0, 1, 2 and 3 s
    /// # }
    /// ```
    #[must_use]
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.policy.max_elapsed = Some(d);
        self
    }

    /// The backoff between attempts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, Retry};
    /// let r = Retry::new().backoff(Backoff::constant(Duration::from_millis(10)));
    /// # let _ = r;
    /// ```
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.policy.backoff = backoff;
        self
    }

    /// Starts no attempt with less than `d` left before the task's deadline
    /// (default 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = aqueduct_resilience::Retry::new().min_remaining(Duration::from_millis(20));
    /// # let _ = r;
    /// ```
    #[must_use]
    pub fn min_remaining(mut self, d: Duration) -> Self {
        self.policy.min_remaining = d;
        self
    }

    /// Shares `budget` with every other policy holding a clone of it: a
    /// call deposits, a retry withdraws.
    ///
    /// ```
    /// use aqueduct_resilience::{Retry, RetryBudget};
    /// let budget = RetryBudget::default();
    /// let a = Retry::new().budget(budget.clone());
    /// let b = Retry::new().budget(budget);
    /// # let _ = (a, b);
    /// ```
    #[must_use]
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.policy.budget = Some(budget);
        self
    }

    /// Chooses, per error, [`Action::Retry`], [`Action::RetryAfter`] or
    /// [`Action::Stop`].
    ///
    /// ```
    /// use aqueduct_resilience::{Retry, RetryError, retry::Action};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = Retry::new().classify(|_: &&str| Action::Stop);
    /// let err = r.run(|| async { Err::<(), _>("bad request") }).await.unwrap_err();
    /// assert!(matches!(err, RetryError::Stopped { attempts: 1, .. }));
    /// # }
    /// ```
    #[must_use]
    pub fn classify<C2>(self, classifier: C2) -> Retry<C2, H, T> {
        Retry {
            policy: self.policy,
            classifier,
            hook: self.hook,
            timeout: self.timeout,
        }
    }

    /// Calls `hook(attempt, &error, delay)` before each retry's sleep.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use std::time::Duration;
    /// use aqueduct_resilience::{Backoff, Retry};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let seen = Mutex::new(Vec::new());
    /// let r = Retry::new()
    ///     .backoff(Backoff::constant(Duration::from_millis(5)))
    ///     .on_retry(|n: u32, _: &&str, d: Duration| seen.lock().unwrap().push((n, d)));
    /// let _ = r.run(|| async { Err::<(), _>("x") }).await;
    /// assert_eq!(seen.lock().unwrap().len(), 2); // 3 attempts, 2 retries
    /// # }
    /// ```
    #[must_use]
    pub fn on_retry<H2>(self, hook: H2) -> Retry<C, H2, T> {
        Retry {
            policy: self.policy,
            classifier: self.classifier,
            hook,
            timeout: self.timeout,
        }
    }

    /// Bounds each attempt by `d` (clamped to the deadline). A timed-out
    /// attempt fails with `E::from(Elapsed)` and is classified like any
    /// other error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Retry;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = Retry::new().attempt_timeout(Duration::from_millis(100));
    /// let err = r
    ///     .run(|| async {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.into_last().unwrap().kind(), std::io::ErrorKind::TimedOut);
    /// # }
    /// ```
    #[must_use]
    pub fn attempt_timeout(self, d: Duration) -> Retry<C, H, AttemptTimeout> {
        Retry {
            policy: self.policy,
            classifier: self.classifier,
            hook: self.hook,
            timeout: AttemptTimeout(d),
        }
    }

    pub(crate) fn parts(&self) -> (&Policy, &C, &H, &T) {
        (&self.policy, &self.classifier, &self.hook, &self.timeout)
    }
}

impl<C, H> Retry<C, H, NoTimeout> {
    /// Runs `f` until it succeeds or the policy gives up.
    ///
    /// # Errors
    ///
    /// [`RetryError`], saying why it gave up, with the last error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as far as the retry goes (dropping it mid-sleep or
    /// mid-attempt leaks nothing); the operation itself is dropped at its
    /// current `.await`.
    ///
    /// ```
    /// use aqueduct_resilience::Retry;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// assert_eq!(Retry::new().run(|| async { Ok::<_, ()>(1) }).await.unwrap(), 1);
    /// # }
    /// ```
    #[inline]
    pub fn run<F, Fut, T, E>(&self, f: F) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<E>,
        H: OnRetry<E>,
    {
        // Not an `async fn`: returning the loop's future itself keeps `f`
        // from being stored twice (once here, once in the loop).
        drive(&self.policy, f, &self.classifier, &self.hook)
    }
}

impl<C, H> Retry<C, H, AttemptTimeout> {
    /// Runs `f` until it succeeds or the policy gives up, each attempt
    /// bounded by the per-attempt timeout.
    ///
    /// # Errors
    ///
    /// [`RetryError`], saying why it gave up, with the last error (an
    /// `E::from(Elapsed)` if the last attempt timed out).
    ///
    /// # Cancel safety
    ///
    /// As for the policy without a per-attempt timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aqueduct_resilience::Retry;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = Retry::new().attempt_timeout(Duration::from_secs(1));
    /// assert_eq!(r.run(|| async { Ok::<_, std::io::Error>(1) }).await.unwrap(), 1);
    /// # }
    /// ```
    pub async fn run<F, Fut, T, E>(&self, mut f: F) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Elapsed>,
        C: Classify<E>,
        H: OnRetry<E>,
    {
        let d = self.timeout.0;
        let attempt = move || {
            let fut = f();
            async move {
                match timeout(d, fut).await {
                    Ok(r) => r,
                    Err(e) => Err(E::from(e)),
                }
            }
        };
        drive(&self.policy, attempt, &self.classifier, &self.hook).await
    }
}

/// Gets the next attempt ready once the retry loop has decided to make it:
/// after the classifier, `max_attempts`, `max_elapsed`, the deadline and
/// the budget (its retry withdrawn) have all let it through, and before
/// the hook and the backoff's sleep.
pub(crate) trait Prepare {
    /// Readies attempt number `attempt` (2 for the first retry); `false`
    /// if it cannot be made, which ends the loop with
    /// [`RetryError::Stopped`] and gives the budget its retry back.
    fn prepare(&self, attempt: u32) -> bool;
}

/// Nothing to get ready: every attempt calls the operation afresh.
pub(crate) struct Unprepared;

impl Prepare for Unprepared {
    #[inline]
    fn prepare(&self, _: u32) -> bool {
        true
    }
}

/// The retry loop shared by [`Retry`] and the [`Pipeline`](crate::Pipeline).
///
/// The first attempt runs inline, in a small hand-written future; only
/// when it fails is the rest of the loop (backoff state, sleeps) boxed, so
/// a first-time success moves few bytes and allocates nothing.
pub(crate) fn drive<'a, F, Fut, T, E, C, H>(
    policy: &'a Policy,
    f: F,
    classifier: &'a C,
    hook: &'a H,
) -> impl Future<Output = Result<T, RetryError<E>>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<E>,
    H: OnRetry<E>,
{
    drive_prepared(policy, f, classifier, hook, &Unprepared)
}

/// [`drive`], with `prepare` asked to get each retry ready once it is
/// decided (see [`Prepare`]).
pub(crate) fn drive_prepared<'a, F, Fut, T, E, C, H, P>(
    policy: &'a Policy,
    f: F,
    classifier: &'a C,
    hook: &'a H,
    prepare: &'a P,
) -> impl Future<Output = Result<T, RetryError<E>>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<E>,
    H: OnRetry<E>,
    P: Prepare,
{
    Run {
        policy,
        classifier,
        hook,
        prepare,
        f: Some(f),
        first: None,
        rest: None,
        make_rest: Retrying::<'a, C, H, P>::run::<F, Fut, T, E>,
        started: false,
        start: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`drive`]: the first attempt inline, the rest boxed.
    struct Run<'a, F, Fut, C, H, P, M, R> {
        policy: &'a Policy,
        classifier: &'a C,
        hook: &'a H,
        prepare: &'a P,
        f: Option<F>,
        #[pin]
        first: Option<Fut>,
        rest: Option<std::pin::Pin<Box<R>>>,
        // Makes the rest of the loop; a function item, so `R` (an opaque
        // future type) can be named here as a type parameter.
        make_rest: M,
        started: bool,
        start: Option<Instant>,
    }
}

impl<'a, F, Fut, T, E, C, H, P, M, R> Future for Run<'a, F, Fut, C, H, P, M, R>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    M: Fn(Retrying<'a, C, H, P>, F, E) -> R,
    R: Future<Output = Result<T, RetryError<E>>>,
{
    type Output = Result<T, RetryError<E>>;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let mut this = self.project();
        if let Some(rest) = this.rest.as_mut() {
            return rest.as_mut().poll(cx);
        }
        if !*this.started {
            *this.started = true;
            let policy = *this.policy;
            *this.start = policy.max_elapsed.map(|_| Instant::now());
            if let Some(b) = &policy.budget {
                b.deposit();
            }
            if let Some(dl) = Deadline::current() {
                if let Err(e) = refuse_late(policy, dl, 1, None) {
                    return Poll::Ready(Err(e));
                }
            }
            let Some(f) = this.f.as_mut() else {
                return Poll::Pending;
            };
            this.first.set(Some(f()));
        }
        let Some(first) = this.first.as_mut().as_pin_mut() else {
            // Polled after completion.
            return Poll::Pending;
        };
        let out = match first.poll(cx) {
            Poll::Ready(out) => out,
            Poll::Pending => return Poll::Pending,
        };
        this.first.set(None);
        match out {
            Ok(v) => Poll::Ready(Ok(v)),
            Err(error) => {
                let Some(f) = this.f.take() else {
                    return Poll::Pending;
                };
                let ctx = Retrying {
                    policy: this.policy,
                    classifier: *this.classifier,
                    hook: *this.hook,
                    prepare: *this.prepare,
                    deadline: Deadline::current(),
                    start: *this.start,
                };
                let mut rest = Box::pin((this.make_rest)(ctx, f, error));
                let poll = rest.as_mut().poll(cx);
                *this.rest = Some(rest);
                poll
            }
        }
    }
}

/// Refuses to start attempt `attempt` with less than the policy's minimum
/// left before `dl`.
fn refuse_late<E>(
    policy: &Policy,
    dl: Deadline,
    attempt: u32,
    last: Option<E>,
) -> Result<Option<E>, RetryError<E>> {
    let left = dl.remaining();
    if left.is_zero() || left < policy.min_remaining {
        crate::trace_event!(attempt, "no time left for another attempt");
        return Err(RetryError::DeadlineExceeded {
            attempts: attempt - 1,
            last,
        });
    }
    Ok(last)
}

/// The retry loop after a failed first attempt.
pub(crate) struct Retrying<'a, C, H, P> {
    policy: &'a Policy,
    classifier: &'a C,
    hook: &'a H,
    prepare: &'a P,
    deadline: Option<Deadline>,
    start: Option<Instant>,
}

impl<'a, C, H, P> Retrying<'a, C, H, P> {
    async fn run<F, Fut, T, E>(self, mut f: F, mut error: E) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<E>,
        H: OnRetry<E>,
        P: Prepare,
    {
        let policy = self.policy;
        let mut backoff: Option<BackoffIter> = None;
        let mut attempt: u32 = 1;
        loop {
            let delay = match self.classifier.classify(&error) {
                Action::Stop => {
                    return Err(RetryError::Stopped {
                        attempts: attempt,
                        error,
                    });
                }
                _ if attempt >= policy.max_attempts => {
                    return Err(RetryError::Exhausted {
                        attempts: attempt,
                        last: error,
                    });
                }
                Action::RetryAfter(d) => d,
                Action::Retry => backoff
                    .get_or_insert_with(|| policy.backoff.iter())
                    .next()
                    .unwrap_or_default(),
            };
            if self.start.is_some() || self.deadline.is_some() {
                let now = Instant::now();
                let wake = now.checked_add(delay);
                if let (Some(start), Some(max)) = (self.start, policy.max_elapsed) {
                    if wake.is_none_or(|w| w.duration_since(start) > max) {
                        return Err(RetryError::Exhausted {
                            attempts: attempt,
                            last: error,
                        });
                    }
                }
                if let Some(dl) = self.deadline {
                    let fits = wake
                        .and_then(|w| w.checked_add(policy.min_remaining))
                        .is_some_and(|w| w <= dl.instant());
                    if !fits {
                        return Err(RetryError::DeadlineExceeded {
                            attempts: attempt,
                            last: Some(error),
                        });
                    }
                }
            }
            if let Some(b) = &policy.budget {
                if !b.withdraw() {
                    crate::trace_event!(attempt, "retry budget exhausted");
                    return Err(RetryError::BudgetExhausted {
                        attempts: attempt,
                        last: error,
                    });
                }
            }
            // The retry is decided: only now is it got ready (the tower
            // layer copies the request here), so a retry refused above
            // costs nothing and reports why it was refused.
            if !self.prepare.prepare(attempt + 1) {
                if let Some(b) = &policy.budget {
                    b.refund();
                }
                return Err(RetryError::Stopped {
                    attempts: attempt,
                    error,
                });
            }
            crate::trace_event!(attempt, delay_ms = delay.as_millis(), "retrying");
            self.hook.on_retry(attempt, &error, delay);
            tokio::time::sleep(delay).await;
            attempt += 1;
            if let Some(dl) = self.deadline {
                // Time passed while sleeping and in the hook: check again.
                refuse_late(policy, dl, attempt, Some(error))?;
            }
            let result = f().await;
            match result {
                Ok(v) => return Ok(v),
                Err(e) => error = e,
            }
        }
    }
}
