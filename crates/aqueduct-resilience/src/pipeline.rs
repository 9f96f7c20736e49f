//! A pipeline: deadline, bulkhead, retry, breaker and per-attempt timeout
//! composed in the order that makes each of them right.
//!
//! ```text
//! Deadline ▸ Bulkhead ▸ Retry ▸ CircuitBreaker ▸ attempt timeout ▸ operation
//! ```
//!
//! * The **deadline** is outermost: it bounds everything, including the
//!   queueing in the bulkhead and the sleeps between retries, and every
//!   stage inside clamps its waits to it.
//! * The **bulkhead** holds its slot across the retries, so retries do not
//!   multiply the concurrency the dependency sees.
//! * The **retry** sits outside the **breaker**, so each attempt is one
//!   breaker call (every failure is counted) and an open breaker stops the
//!   retries at once instead of being hammered.
//! * The **per-attempt timeout** is innermost, so a hung attempt counts as
//!   a failure to the breaker and can be retried.
//!
//! An attempt cut off by the **deadline** is not a breaker failure: the
//! deadline is the caller's budget, and a caller running out of time says
//! nothing about the dependency (counting it would let callers short of
//! time trip the breaker on a healthy one, for everyone). The attempt's
//! breaker permit goes back without an outcome, a half-open probe's slot
//! freed, whether the deadline ends the attempt before its timeout would
//! have or drops an attempt that has no timeout. The attempt timeout is
//! the dependency's bound and a failure when it ends an attempt: keep it
//! shorter than the time callers leave, or a dependency that hangs is cut
//! off by their deadlines alone and never counted.
//!
//! Each stage is optional; [`Error`] is the one error type of the whole.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::breaker::{AllErrors, CircuitBreaker, IsFailure, Permit, Rejected};
use crate::bulkhead::{Bulkhead, BulkheadError};
use crate::deadline::Deadline;
use crate::retry::{
    Action, Classify, NoHook, NoTimeout, OnRetry, Retry, RetryAll, RetryError, drive,
};
use crate::timeout::{Elapsed, timeout};

/// The error of a [`Pipeline`], naming the stage that failed.
///
/// ```
/// use aqueduct_resilience::{Pipeline, Retry, pipeline::Error};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let p = Pipeline::builder().retry(Retry::new().max_attempts(2)).build();
/// let err = p.run(|| async { Err::<(), _>("down") }).await.unwrap_err();
/// match err {
///     Error::RetriesExhausted { attempts, last } => {
///         assert_eq!(attempts, 2);
///         assert!(matches!(*last, Error::Inner("down")));
///     }
///     other => panic!("unexpected {other}"),
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The operation failed (and was not retried).
    Inner(E),
    /// An attempt did not finish within the per-attempt timeout.
    Timeout(Elapsed),
    /// The pipeline's (or the task's) deadline passed. An attempt it cut
    /// off is not counted by the breaker.
    DeadlineExceeded,
    /// The circuit breaker turned the call away.
    CircuitOpen(Rejected),
    /// The bulkhead turned the call away, or its wait ran out.
    BulkheadFull(BulkheadError),
    /// Every attempt failed; `last` is the last attempt's error.
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error<E>>,
    },
    /// The retry budget could not afford another attempt.
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error<E>>,
    },
}

impl<E> Error<E> {
    /// The operation's own error, looking through the retry variants.
    ///
    /// ```
    /// use aqueduct_resilience::pipeline::Error;
    /// let e = Error::RetriesExhausted { attempts: 3, last: Box::new(Error::Inner("refused")) };
    /// assert_eq!(e.inner(), Some(&"refused"));
    /// ```
    #[must_use]
    pub fn inner(&self) -> Option<&E> {
        match self {
            Self::Inner(e) => Some(e),
            Self::RetriesExhausted { last, .. } | Self::BudgetExhausted { last, .. } => {
                last.inner()
            }
            _ => None,
        }
    }
}

impl<E> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inner(_) => f.write_str("operation failed"),
            Self::Timeout(e) => write!(f, "attempt {e}"),
            Self::DeadlineExceeded => f.write_str("deadline exceeded"),
            Self::CircuitOpen(r) => write!(f, "{r}"),
            Self::BulkheadFull(b) => write!(f, "{b}"),
            Self::RetriesExhausted { attempts, .. } => {
                write!(f, "gave up after {attempts} attempts")
            }
            Self::BudgetExhausted { attempts, .. } => {
                write!(f, "retry budget exhausted after {attempts} attempts")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Inner(e) => Some(e),
            Self::Timeout(e) => Some(e),
            Self::CircuitOpen(r) => Some(r),
            Self::BulkheadFull(b) => Some(b),
            Self::RetriesExhausted { last, .. } | Self::BudgetExhausted { last, .. } => {
                Some(&**last)
            }
            Self::DeadlineExceeded => None,
        }
    }
}

/// Builds a [`Pipeline`]. From [`Pipeline::builder`].
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{Bulkhead, CircuitBreaker, Pipeline, Retry};
/// let p = Pipeline::builder()
///     .deadline(Duration::from_secs(2))
///     .bulkhead(Bulkhead::builder().max_concurrent(8).build())
///     .retry(Retry::new().max_attempts(3))
///     .breaker(CircuitBreaker::builder().build())
///     .attempt_timeout(Duration::from_millis(300))
///     .build();
/// # let _ = p;
/// ```
#[derive(Debug, Clone)]
pub struct PipelineBuilder<C = RetryAll, H = NoHook, B = AllErrors> {
    inner: Pipeline<C, H, B>,
}

/// Deadline, bulkhead, retry, breaker and per-attempt timeout in one call
/// (see the [module docs](self) for the order and why).
///
/// ```
/// use std::time::Duration;
/// use aqueduct_resilience::{CircuitBreaker, Pipeline, Retry};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pipeline = Pipeline::builder()
///     .deadline(Duration::from_secs(1))
///     .retry(Retry::new().max_attempts(3))
///     .breaker(CircuitBreaker::builder().consecutive_failures(5).build())
///     .attempt_timeout(Duration::from_millis(200))
///     .build();
/// let v = pipeline.run(|| async { Ok::<_, std::io::Error>("pong") }).await.unwrap();
/// assert_eq!(v, "pong");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline<C = RetryAll, H = NoHook, B = AllErrors> {
    deadline: Option<Duration>,
    bulkhead: Option<Bulkhead>,
    retry: Option<Retry<C, H, NoTimeout>>,
    breaker: Option<CircuitBreaker<B>>,
    attempt_timeout: Option<Duration>,
}

impl Pipeline {
    /// Starts an empty [`PipelineBuilder`].
    ///
    /// ```
    /// let p = aqueduct_resilience::Pipeline::builder().build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder {
            inner: Pipeline {
                deadline: None,
                bulkhead: None,
                retry: None,
                breaker: None,
                attempt_timeout: None,
            },
        }
    }
}

impl<C, H, B> PipelineBuilder<C, H, B> {
    /// Every call gets a deadline `d` from its start (tightened by any
    /// deadline already in scope).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = aqueduct_resilience::Pipeline::builder().deadline(Duration::from_secs(1)).build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn deadline(mut self, d: Duration) -> Self {
        self.inner.deadline = Some(d);
        self
    }

    /// Runs every call inside `bulkhead`.
    ///
    /// ```
    /// let p = aqueduct_resilience::Pipeline::builder()
    ///     .bulkhead(aqueduct_resilience::Bulkhead::builder().build())
    ///     .build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.inner.bulkhead = Some(bulkhead);
        self
    }

    /// Retries with `retry` (its classifier sees the operation's errors;
    /// timed-out attempts are always retried, an open breaker never).
    ///
    /// ```
    /// let p = aqueduct_resilience::Pipeline::builder()
    ///     .retry(aqueduct_resilience::Retry::new())
    ///     .build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn retry<C2, H2>(self, retry: Retry<C2, H2, NoTimeout>) -> PipelineBuilder<C2, H2, B> {
        let p = self.inner;
        PipelineBuilder {
            inner: Pipeline {
                deadline: p.deadline,
                bulkhead: p.bulkhead,
                retry: Some(retry),
                breaker: p.breaker,
                attempt_timeout: p.attempt_timeout,
            },
        }
    }

    /// Sends every attempt through `breaker`.
    ///
    /// ```
    /// let p = aqueduct_resilience::Pipeline::builder()
    ///     .breaker(aqueduct_resilience::CircuitBreaker::builder().build())
    ///     .build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn breaker<B2>(self, breaker: CircuitBreaker<B2>) -> PipelineBuilder<C, H, B2> {
        let p = self.inner;
        PipelineBuilder {
            inner: Pipeline {
                deadline: p.deadline,
                bulkhead: p.bulkhead,
                retry: p.retry,
                breaker: Some(breaker),
                attempt_timeout: p.attempt_timeout,
            },
        }
    }

    /// Bounds every attempt by `d`. An attempt that times out is a breaker
    /// failure, and is retried; one that the deadline ends first is
    /// neither (see the [module docs](self)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = aqueduct_resilience::Pipeline::builder().attempt_timeout(Duration::from_millis(100)).build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.inner.attempt_timeout = Some(d);
        self
    }

    /// The pipeline.
    ///
    /// ```
    /// let p = aqueduct_resilience::Pipeline::builder().build();
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn build(self) -> Pipeline<C, H, B> {
        self.inner
    }
}

/// The pipeline's classifier: the user's for the operation's errors,
/// always retry a timeout, never retry a rejection.
struct StageClassifier<'a, C>(&'a C);

impl<E, C: Classify<E>> Classify<Error<E>> for StageClassifier<'_, C> {
    fn classify(&self, error: &Error<E>) -> Action {
        match error {
            Error::Inner(e) => self.0.classify(e),
            Error::Timeout(_) => Action::Retry,
            _ => Action::Stop,
        }
    }
}

impl<C, H, B> Pipeline<C, H, B> {
    /// Runs `f` through every configured stage.
    ///
    /// # Errors
    ///
    /// [`Error`], naming the stage that gave up.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it frees the bulkhead slot and any breaker
    /// probe slot, and drops the attempt in flight.
    ///
    /// ```
    /// use aqueduct_resilience::{Pipeline, pipeline::Error};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let p = Pipeline::builder().build();
    /// assert!(matches!(p.run(|| async { Err::<(), _>(1) }).await, Err(Error::Inner(1))));
    /// # }
    /// ```
    pub async fn run<F, Fut, T, E>(&self, mut f: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<E>,
        H: OnRetry<Error<E>>,
        B: IsFailure<E>,
    {
        let body = async {
            let _slot = match &self.bulkhead {
                Some(b) => Some(b.acquire().await.map_err(|e| match e {
                    BulkheadError::DeadlineExceeded => Error::DeadlineExceeded,
                    other => Error::BulkheadFull(other),
                })?),
                None => None,
            };
            // The breaker is asked before `f` is called, so an open breaker
            // costs the operation nothing.
            let mut attempts = || {
                let admitted = self.admit().map(|permit| (permit, f()));
                self.attempt(admitted)
            };
            let Some(retry) = &self.retry else {
                return attempts().await;
            };
            let (policy, classifier, hook, _) = retry.parts();
            drive(policy, attempts, &StageClassifier(classifier), hook)
                .await
                .map_err(|e| match e {
                    RetryError::Stopped { error, .. } => error,
                    RetryError::Exhausted { attempts, last } => Error::RetriesExhausted {
                        attempts,
                        last: Box::new(last),
                    },
                    RetryError::BudgetExhausted { attempts, last } => Error::BudgetExhausted {
                        attempts,
                        last: Box::new(last),
                    },
                    _ => Error::DeadlineExceeded,
                })
        };
        match self.deadline {
            Some(d) => Deadline::after(d)
                .run(body)
                .await
                .unwrap_or(Err(Error::DeadlineExceeded)),
            None => body.await,
        }
    }

    fn admit(&self) -> Result<Option<Permit<'_>>, Rejected> {
        self.breaker
            .as_ref()
            .map(CircuitBreaker::try_acquire)
            .transpose()
    }

    async fn attempt<Fut, T, E>(
        &self,
        admitted: Result<(Option<Permit<'_>>, Fut), Rejected>,
    ) -> Result<T, Error<E>>
    where
        Fut: Future<Output = Result<T, E>>,
        B: IsFailure<E>,
    {
        let (permit, fut) = admitted.map_err(Error::CircuitOpen)?;
        let result = match self.attempt_timeout {
            Some(d) => match timeout(d, fut).await {
                Ok(r) => r,
                Err(elapsed) if elapsed.by_deadline() => {
                    // The caller's time ran out, not the dependency's: the
                    // permit goes back without an outcome, as it does when
                    // the deadline drops an attempt with no timeout.
                    drop(permit);
                    return Err(Error::DeadlineExceeded);
                }
                Err(elapsed) => {
                    if let Some(p) = permit {
                        p.failure();
                    }
                    return Err(Error::Timeout(elapsed));
                }
            },
            None => fut.await,
        };
        match result {
            Ok(v) => {
                if let Some(p) = permit {
                    p.success();
                }
                Ok(v)
            }
            Err(e) => {
                if let (Some(p), Some(b)) = (permit, &self.breaker) {
                    p.record(b.classifier().is_failure(&e));
                }
                Err(Error::Inner(e))
            }
        }
    }
}
