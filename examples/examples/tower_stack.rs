//! Walkthrough `tower_stack`: one tower service behind a deadline, a rate
//! limit, a bulkhead, a circuit breaker and retries, and what each layer
//! did to 200 requests against a flaky backend.
//!
//! The stack is put together with `tower::ServiceBuilder`, outermost first:
//!
//! ```text
//! deadline 100 ms → rate limit 140/s → bulkhead 6 (+2 waiting 15 ms) → breaker → retry ×3 → backend
//! ```
//!
//! The rate limit is `aqueduct::flow::tower::RateLimitLayer` in reject
//! mode. The deadline, bulkhead, breaker and retry layers are small tower
//! adapters written below over `aqueduct::resilience`'s plain async API
//! (`Deadline::run`, `Bulkhead::acquire_owned`,
//! `CircuitBreaker::try_acquire_owned`, `Retry::run`).
//!
//! A request arrives every 6 ms (about 167/s) for 1.2 s. The backend goes
//! through four phases: healthy but flaky (one first attempt in six fails
//! and a retry fixes it), slow (50 ms, one call in three 180 ms), down (every
//! call fails), healthy again. The walkthrough counts what happened to each
//! request, draws one cell per request in arrival order, and checks that
//! every layer did its part. All figures are measured in this run.
//!
//! Run it with `cargo xtask demo tower_stack`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aqueduct::flow::tower::{Error as FlowError, RateLimitLayer};
use aqueduct::flow::{Quota, RateLimiter};
use aqueduct::resilience::breaker::{Rejected, State, StateChange};
use aqueduct::resilience::bulkhead::BulkheadError;
use aqueduct::resilience::retry::{Action, Classify, OnRetry};
use aqueduct::resilience::{
    Backoff, Bulkhead, CircuitBreaker, Deadline, Jitter, Retry, RetryError,
};
use aqueduct_examples::{bar, ms, section};
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

const REQUESTS: u32 = 200;
const ARRIVAL: Duration = Duration::from_millis(6);
const DEADLINE: Duration = Duration::from_millis(100);

fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("FAILED: {what}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// The one error type every layer of this stack speaks.

/// Why the backend failed one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendError {
    /// A blip: the next attempt may well succeed.
    Transient,
    /// The backend is down.
    Down,
}

/// What the stack answers instead of a response.
#[derive(Debug)]
enum StackError {
    /// The request's deadline passed (in a wait, an attempt or a backoff).
    Deadline,
    /// The rate limit had no token.
    RateLimited,
    /// The bulkhead was full, or no slot freed up in time.
    Bulkhead(BulkheadError),
    /// The breaker is open (or its half-open probe slot is taken).
    BreakerOpen(Rejected),
    /// Every attempt failed.
    GaveUp { attempts: u32, last: BackendError },
    /// One attempt failed (seen only inside the retry layer).
    Backend(BackendError),
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StackError::Deadline => write!(f, "deadline of {} exceeded", ms(DEADLINE)),
            StackError::RateLimited => write!(f, "rate limited"),
            StackError::Bulkhead(e) => write!(f, "{e}"),
            StackError::BreakerOpen(e) => write!(f, "{e}"),
            StackError::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts, last error {last:?}")
            }
            StackError::Backend(e) => write!(f, "backend error {e:?}"),
        }
    }
}

impl From<FlowError<StackError>> for StackError {
    fn from(e: FlowError<StackError>) -> Self {
        match e {
            FlowError::Inner(e) => e,
            // Reject mode of the rate limit; `Overloaded` cannot come from it.
            _ => StackError::RateLimited,
        }
    }
}

fn from_retry(e: RetryError<StackError>) -> StackError {
    match e {
        RetryError::DeadlineExceeded { .. } => StackError::Deadline,
        RetryError::Stopped { error, .. } => error,
        other => {
            let attempts = other.attempts();
            match other.into_last() {
                Some(StackError::Backend(last)) => StackError::GaveUp { attempts, last },
                Some(e) => e,
                None => StackError::Deadline,
            }
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, StackError>> + Send>>;

// ---------------------------------------------------------------------------
// tower adapters over aqueduct::resilience's async API.

/// Gives every request a deadline `budget` from its arrival; every layer
/// below reads it (`Deadline::current`) and clamps its waits to it.
#[derive(Clone, Debug)]
struct DeadlineLayer(Duration);

#[derive(Clone, Debug)]
struct DeadlineService<S> {
    inner: S,
    budget: Duration,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            budget: self.0,
        }
    }
}

impl<S, R> Service<R> for DeadlineService<S>
where
    S: Service<R>,
    S::Error: Into<StackError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = StackError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let deadline = Deadline::after(self.budget);
        let fut = self.inner.call(req);
        Box::pin(async move {
            match deadline.run(fut).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(StackError::Deadline),
            }
        })
    }
}

/// At most N requests inside at once, a few more waiting briefly.
#[derive(Clone, Debug)]
struct BulkheadLayer(Bulkhead);

#[derive(Clone, Debug)]
struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService {
            inner,
            bulkhead: self.0.clone(),
        }
    }
}

impl<S, R> Service<R> for BulkheadService<S>
where
    S: Service<R, Error = StackError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = StackError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // Take the service that was made ready; leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let bulkhead = self.bulkhead.clone();
        Box::pin(async move {
            let _slot = bulkhead
                .acquire_owned()
                .await
                .map_err(StackError::Bulkhead)?;
            inner.call(req).await
        })
    }
}

/// Rejects at once while the breaker is open; records each outcome.
#[derive(Clone, Debug)]
struct BreakerLayer(CircuitBreaker);

#[derive(Clone, Debug)]
struct BreakerService<S> {
    inner: S,
    breaker: CircuitBreaker,
}

impl<S> Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: self.0.clone(),
        }
    }
}

impl<S, R> Service<R> for BreakerService<S>
where
    S: Service<R, Error = StackError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = StackError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let permit = match self.breaker.try_acquire_owned() {
            Ok(p) => p,
            Err(rejected) => {
                return Box::pin(std::future::ready(Err(StackError::BreakerOpen(rejected))));
            }
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let out = fut.await;
            // A deadline that drops this future records nothing.
            permit.record(out.is_err());
            out
        })
    }
}

/// Retries a failed attempt on a fresh clone of the inner service.
#[derive(Clone, Debug)]
struct RetryLayer<C, H>(Retry<C, H>);

#[derive(Clone, Debug)]
struct RetryService<S, C, H> {
    inner: S,
    policy: Retry<C, H>,
}

impl<S, C: Clone, H: Clone> Layer<S> for RetryLayer<C, H> {
    type Service = RetryService<S, C, H>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: self.0.clone(),
        }
    }
}

impl<S, R, C, H> Service<R> for RetryService<S, C, H>
where
    S: Service<R, Error = StackError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    R: Clone + Send + Sync + 'static,
    C: Classify<StackError> + Clone + Send + Sync + 'static,
    H: OnRetry<StackError> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = StackError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        // Each attempt waits for readiness of its own clone (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let inner = self.inner.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            policy
                .run(|| inner.clone().oneshot(req.clone()))
                .await
                .map_err(from_retry)
        })
    }
}

// ---------------------------------------------------------------------------
// The flaky backend.

#[derive(Clone, Copy, Debug)]
struct Request {
    id: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Flaky,
    Slow,
    Down,
    Recovered,
}

impl Phase {
    fn at(t: Duration) -> Self {
        match t.as_millis() {
            0..300 => Phase::Flaky,
            300..500 => Phase::Slow,
            500..800 => Phase::Down,
            _ => Phase::Recovered,
        }
    }
}

#[derive(Debug)]
struct Backend {
    start: Instant,
    attempts: Vec<AtomicU32>,
    calls: AtomicU64,
}

impl Backend {
    async fn handle(&self, req: Request) -> Result<u32, StackError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let attempt = self.attempts[req.id as usize].fetch_add(1, Ordering::Relaxed) + 1;
        match Phase::at(self.start.elapsed()) {
            Phase::Flaky | Phase::Recovered => {
                tokio::time::sleep(Duration::from_millis(4 + u64::from(req.id % 4))).await;
                if req.id % 6 == 0 && attempt == 1 {
                    Err(StackError::Backend(BackendError::Transient))
                } else {
                    Ok(req.id)
                }
            }
            Phase::Slow => {
                let d = if req.id % 3 == 0 { 180 } else { 50 };
                tokio::time::sleep(Duration::from_millis(d)).await;
                Ok(req.id)
            }
            Phase::Down => {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Err(StackError::Backend(BackendError::Down))
            }
        }
    }
}

fn classify(e: &StackError) -> Action {
    match e {
        StackError::Backend(_) => Action::Retry,
        _ => Action::Stop,
    }
}

// ---------------------------------------------------------------------------
// What happened to each request.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    OkAfterRetry,
    RateLimited,
    Bulkhead,
    BreakerOpen,
    Deadline,
    GaveUp,
}

impl Outcome {
    const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::OkAfterRetry,
        Outcome::RateLimited,
        Outcome::Bulkhead,
        Outcome::BreakerOpen,
        Outcome::Deadline,
        Outcome::GaveUp,
    ];

    fn cell(self) -> char {
        match self {
            Outcome::Ok => '.',
            Outcome::OkAfterRetry => 'r',
            Outcome::RateLimited => 'L',
            Outcome::Bulkhead => 'B',
            Outcome::BreakerOpen => 'O',
            Outcome::Deadline => 'D',
            Outcome::GaveUp => 'x',
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "succeeded first time",
            Outcome::OkAfterRetry => "succeeded after a retry",
            Outcome::RateLimited => "rejected by the rate limit",
            Outcome::Bulkhead => "rejected by the bulkhead",
            Outcome::BreakerOpen => "rejected by the open breaker",
            Outcome::Deadline => "timed out by the deadline",
            Outcome::GaveUp => "failed after every retry",
        }
    }
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    let backend = Arc::new(Backend {
        start,
        attempts: (0..REQUESTS).map(|_| AtomicU32::new(0)).collect(),
        calls: AtomicU64::new(0),
    });

    let retries = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&retries);
    let retry = Retry::new()
        .max_attempts(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(5))
                .jitter(Jitter::Full)
                .max_delay(Duration::from_millis(40))
                .seed(7),
        )
        .classify(classify)
        .on_retry(move |_: u32, _: &StackError, _: Duration| {
            counted.fetch_add(1, Ordering::Relaxed);
        });

    let changes: Arc<Mutex<Vec<(Duration, StateChange)>>> = Arc::default();
    let log = Arc::clone(&changes);
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(4)
        .open_duration(Duration::from_millis(120))
        .half_open_probes(1)
        .on_state_change(move |c| log.lock().unwrap().push((start.elapsed(), c)))
        .build();
    let bulkhead = Bulkhead::builder()
        .max_concurrent(6)
        .max_queue(2)
        .max_wait(Duration::from_millis(15))
        .build();
    let limiter = RateLimiter::new(Quota::per_second(140).burst(4));

    let backend_svc = {
        let backend = Arc::clone(&backend);
        tower::service_fn(move |req: Request| {
            let backend = Arc::clone(&backend);
            async move { backend.handle(req).await }
        })
    };
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer(DEADLINE))
        .layer(RateLimitLayer::new(limiter).reject())
        .layer(BulkheadLayer(bulkhead.clone()))
        .layer(BreakerLayer(breaker.clone()))
        .layer(RetryLayer(retry))
        .service(backend_svc);

    section("the stack, outermost first");
    println!("   deadline {} per request", ms(DEADLINE));
    println!("   rate limit 140/s, burst 4, reject when empty (aqueduct::flow::tower)");
    println!("   bulkhead 6 at once, 2 more waiting at most 15 ms");
    println!("   breaker opens after 4 failures in a row, for 120 ms, 1 probe");
    println!("   retry up to 3 attempts, exponential 5 ms backoff, full jitter");
    println!("   backend: flaky 0-300 ms, slow 300-500 ms, down 500-800 ms, then healthy");

    section("200 requests, one every 6 ms");
    let mut tasks = JoinSet::new();
    let mut tick = interval(ARRIVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut arrivals = Vec::with_capacity(REQUESTS as usize);
    for id in 0..REQUESTS {
        tick.tick().await;
        arrivals.push(start.elapsed());
        let svc = svc.clone();
        let backend = Arc::clone(&backend);
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = svc.oneshot(Request { id }).await;
            let message = result.as_ref().err().map(ToString::to_string);
            let outcome = match result {
                Ok(_) if backend.attempts[id as usize].load(Ordering::Relaxed) > 1 => {
                    Outcome::OkAfterRetry
                }
                Ok(_) => Outcome::Ok,
                Err(StackError::RateLimited) => Outcome::RateLimited,
                Err(StackError::Bulkhead(_)) => Outcome::Bulkhead,
                Err(StackError::BreakerOpen(_)) => Outcome::BreakerOpen,
                Err(StackError::Deadline) => Outcome::Deadline,
                Err(StackError::GaveUp { .. } | StackError::Backend(_)) => Outcome::GaveUp,
            };
            (id, outcome, sent.elapsed(), message)
        });
    }
    let mut outcomes = vec![Outcome::Ok; REQUESTS as usize];
    let mut latencies = vec![Duration::ZERO; REQUESTS as usize];
    let mut messages: Vec<Option<String>> = vec![None; REQUESTS as usize];
    while let Some(joined) = tasks.join_next().await {
        let (id, outcome, latency, message) = joined.expect("a request task panicked");
        outcomes[id as usize] = outcome;
        latencies[id as usize] = latency;
        messages[id as usize] = message;
    }
    let total = start.elapsed();

    section("what happened to each request, in arrival order (one cell each)");
    println!(
        "   legend: . ok   r ok after retry   L rate limit   B bulkhead   O breaker open   D deadline   x gave up"
    );
    println!(
        "   (under each row, the backend's phase at each arrival: f flaky, s slow, d down, h healthy)"
    );
    for (row, chunk) in outcomes.chunks(50).enumerate() {
        let times = &arrivals[row * 50..row * 50 + chunk.len()];
        let cells: String = chunk.iter().map(|o| o.cell()).collect();
        let phases: String = times
            .iter()
            .map(|t| match Phase::at(*t) {
                Phase::Flaky => 'f',
                Phase::Slow => 's',
                Phase::Down => 'd',
                Phase::Recovered => 'h',
            })
            .collect();
        println!("   {:>9}  {cells}", ms(times[0]));
        println!("   {:>9}  {phases}", "");
    }

    section("counts per layer");
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count() as u64;
    for o in Outcome::ALL {
        let n = count(o);
        println!(
            "   {:<30} {:>3}  {}",
            o.label(),
            n,
            bar(n, u64::from(REQUESTS), 40)
        );
    }
    let retried = retries.load(Ordering::Relaxed);
    let calls = backend.calls.load(Ordering::Relaxed);
    println!(
        "   retries made by the retry layer: {retried}; calls that reached the backend: {calls}"
    );
    let served: Vec<Duration> = outcomes
        .iter()
        .zip(&latencies)
        .filter(|(o, _)| matches!(o, Outcome::Ok | Outcome::OkAfterRetry))
        .map(|(_, l)| *l)
        .collect();
    let slowest_answer = latencies.iter().max().copied().unwrap_or_default();
    let slowest_served = served.iter().max().copied().unwrap_or_default();
    println!(
        "   slowest answer of any kind: {} (deadline {}); slowest success: {}; whole run: {}",
        ms(slowest_answer),
        ms(DEADLINE),
        ms(slowest_served),
        ms(total)
    );

    section("one answer of each kind, as the stack reported it");
    for o in Outcome::ALL {
        let first = outcomes
            .iter()
            .zip(&messages)
            .find(|(x, _)| **x == o)
            .and_then(|(_, m)| m.as_deref());
        if let Some(m) = first {
            println!("   {} {m}", o.cell());
        }
    }

    section("breaker state changes");
    let changes = changes.lock().unwrap().clone();
    for (at, c) in &changes {
        println!("   {:>8}  {:?} -> {:?}", ms(*at), c.from, c.to);
    }
    println!("   ends {:?}", breaker.state());

    section("figures");
    println!(
        "   200 requests in {}: {} ok ({} after a retry), {} rate-limited, {} by the bulkhead, {} by the open breaker, {} past the deadline, {} gave up; {} retries, {} backend calls",
        ms(total),
        count(Outcome::Ok) + count(Outcome::OkAfterRetry),
        count(Outcome::OkAfterRetry),
        count(Outcome::RateLimited),
        count(Outcome::Bulkhead),
        count(Outcome::BreakerOpen),
        count(Outcome::Deadline),
        count(Outcome::GaveUp),
        retried,
        calls
    );

    let sum: u64 = Outcome::ALL.iter().map(|o| count(*o)).sum();
    check(sum == u64::from(REQUESTS), "every request is counted once");
    check(
        count(Outcome::RateLimited) > 0,
        "the rate limit rejected requests",
    );
    check(
        count(Outcome::Bulkhead) > 0,
        "the bulkhead rejected requests",
    );
    check(
        count(Outcome::BreakerOpen) > 0,
        "the open breaker rejected requests",
    );
    check(
        count(Outcome::OkAfterRetry) > 0 && retried > 0,
        "retries turned failures into successes",
    );
    check(
        count(Outcome::Deadline) > 0,
        "the deadline cut slow requests",
    );
    check(
        count(Outcome::Ok) + count(Outcome::OkAfterRetry) > u64::from(REQUESTS) / 3,
        "a good share of requests succeeded",
    );
    check(
        changes.iter().any(|(_, c)| c.to == State::Open),
        "the breaker opened",
    );
    check(
        breaker.state() == State::Closed,
        "the breaker closed again after the recovery",
    );
    check(
        slowest_answer < DEADLINE * 3 / 2,
        "no request waited much past its deadline",
    );
}
