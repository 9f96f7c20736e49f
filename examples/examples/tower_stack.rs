//! Walkthrough `tower_stack`: one tower service behind a deadline, a rate
//! limit, a bulkhead, a circuit breaker and retries, and what each layer
//! did to 200 requests against a flaky backend.
//!
//! The stack is put together with `tower::ServiceBuilder` from the crates'
//! own layers, outermost first:
//!
//! ```text
//! DeadlineLayer 100 ms      aqueduct::resilience::tower
//! RateLimitLayer 140/s      aqueduct::flow::tower (reject mode)
//! BulkheadLayer 6 (+2 waiting at most 15 ms)
//! BreakerLayer (opens after 4 failures in a row)
//! RetryLayer ×3             aqueduct::resilience::tower
//! backend                   tower::service_fn
//! ```
//!
//! Every layer keeps the error of the layer below as a typed variant, so
//! the stack's error is one nested enum,
//! `DeadlineError<flow::tower::Error<CallError<BreakerError<RetryError<BackendError>>>>>`,
//! and the walkthrough tells which layer answered with one `match`: no
//! `BoxError`, no downcast.
//!
//! The deadline layer puts each request's deadline in scope for every
//! layer below it: the bulkhead stops waiting for a slot when it passes,
//! and the retry layer gives up at once rather than start a backoff that
//! would end after it.
//!
//! A request arrives every 6 ms (about 167/s) for 1.2 s. The backend goes
//! through four phases: healthy but flaky (one first attempt in six fails
//! and a retry fixes it), slow (50 ms, one call in three 180 ms), down (every
//! call fails), healthy again. The walkthrough counts what happened to each
//! request, draws one cell per request in arrival order, and checks that
//! every layer did its part. All figures are measured in this run.
//!
//! Run it with `cargo xtask demo tower_stack`.

use std::error::Error as StdError;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aqueduct::flow::tower::{Error as FlowError, RateLimitLayer};
use aqueduct::flow::{Quota, RateLimiter};
use aqueduct::resilience::breaker::{BreakerError, State, StateChange};
use aqueduct::resilience::bulkhead::{BulkheadError, CallError};
use aqueduct::resilience::tower::deadline::DeadlineError;
use aqueduct::resilience::tower::{BreakerLayer, BulkheadLayer, DeadlineLayer, RetryLayer};
use aqueduct::resilience::{Backoff, Bulkhead, CircuitBreaker, Jitter, Retry, RetryError};
use aqueduct_examples::{bar, ms, require, section};
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval};
use tower::{ServiceBuilder, ServiceExt};

const REQUESTS: u32 = 200;
const ARRIVAL: Duration = Duration::from_millis(6);
const DEADLINE: Duration = Duration::from_millis(100);

/// Why the backend failed one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendError {
    /// A blip: the next attempt may well succeed.
    Transient,
    /// The backend is down.
    Down,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Transient => write!(f, "backend blip"),
            BackendError::Down => write!(f, "backend down"),
        }
    }
}

impl StdError for BackendError {}

/// What the stack answers instead of a response: each layer wraps the
/// error of the one below it.
type StackError = DeadlineError<FlowError<CallError<BreakerError<RetryError<BackendError>>>>>;

/// An error and its sources, `outer: inner: ...`.
fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(inner) = next {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        next = inner.source();
    }
    out
}

/// Which layer answered, and its own error (with what caused it).
fn classify_error(e: &StackError) -> (Outcome, String) {
    use BreakerError as Br;
    use CallError as Bh;
    use DeadlineError as Dl;
    use FlowError as Fl;
    match e {
        Dl::Exceeded(e) => (
            Outcome::Deadline,
            format!("{e} (deadline layer, {})", ms(DEADLINE)),
        ),
        Dl::Inner(Fl::RateLimited(e)) => (Outcome::RateLimited, chain(e)),
        // The deadline ended the wait for a slot.
        Dl::Inner(Fl::Inner(Bh::Rejected(e @ BulkheadError::DeadlineExceeded))) => {
            (Outcome::Deadline, chain(e))
        }
        Dl::Inner(Fl::Inner(Bh::Rejected(e))) => (Outcome::Bulkhead, chain(e)),
        Dl::Inner(Fl::Inner(Bh::Inner(Br::Rejected(e)))) => (Outcome::BreakerOpen, chain(e)),
        // The deadline came before the next attempt could run.
        Dl::Inner(Fl::Inner(Bh::Inner(Br::Inner(e @ RetryError::DeadlineExceeded { .. })))) => {
            (Outcome::Deadline, chain(e))
        }
        Dl::Inner(Fl::Inner(Bh::Inner(Br::Inner(e)))) => (Outcome::GaveUp, chain(e)),
        // The layers' errors are `#[non_exhaustive]`.
        other => (Outcome::Unexpected, chain(other)),
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
    async fn handle(&self, req: Request) -> Result<u32, BackendError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let attempt = self.attempts[req.id as usize].fetch_add(1, Ordering::Relaxed) + 1;
        match Phase::at(self.start.elapsed()) {
            Phase::Flaky | Phase::Recovered => {
                tokio::time::sleep(Duration::from_millis(4 + u64::from(req.id % 4))).await;
                if req.id % 6 == 0 && attempt == 1 {
                    Err(BackendError::Transient)
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
                Err(BackendError::Down)
            }
        }
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
    /// An error no layer of this stack should give: counted, and a failure.
    Unexpected,
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
            Outcome::Unexpected => '?',
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
            Outcome::Unexpected => "unexpected error",
        }
    }
}

/// Starts a task that sleeps 1 ms at a time and keeps the largest
/// overshoot, in microseconds: how late this runtime woke a timer during
/// the run. On a busy machine every answer can carry that much delay on top
/// of what the layers decided.
fn spawn_lag_probe() -> (tokio::task::JoinHandle<()>, Arc<AtomicU64>) {
    let worst = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&worst);
    let probe = tokio::spawn(async move {
        loop {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            let late = t.elapsed().saturating_sub(Duration::from_millis(1));
            let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
            seen.fetch_max(micros, Ordering::Relaxed);
        }
    });
    (probe, worst)
}

// One thread: a pause of the process or a busy runtime delays the lag probe
// as much as it delays any request, so the probe measures what the requests
// went through.
#[tokio::main(flavor = "current_thread")]
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
        .on_retry(move |_: u32, _: &BackendError, _: Duration| {
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
        .layer(DeadlineLayer::new(DEADLINE))
        .layer(RateLimitLayer::new(limiter).reject())
        .layer(BulkheadLayer::new(bulkhead))
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(RetryLayer::new(retry))
        .service(backend_svc);

    section("the stack, outermost first (tower::ServiceBuilder)");
    println!(
        "   DeadlineLayer   {} per request, in scope for every layer below",
        ms(DEADLINE)
    );
    println!("   RateLimitLayer  140/s, burst 4, reject when empty (aqueduct::flow::tower)");
    println!("   BulkheadLayer   6 at once, 2 more waiting at most 15 ms");
    println!("   BreakerLayer    opens after 4 failures in a row, for 120 ms, 1 probe");
    println!("   RetryLayer      up to 3 attempts, exponential 5 ms backoff, full jitter");
    println!("   backend: flaky 0-300 ms, slow 300-500 ms, down 500-800 ms, then healthy");

    section("200 requests, one every 6 ms");
    let (probe, worst_lag) = spawn_lag_probe();
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
            let result: Result<u32, StackError> = svc.oneshot(Request { id }).await;
            let (outcome, message) = match result {
                Ok(_) if backend.attempts[id as usize].load(Ordering::Relaxed) > 1 => {
                    (Outcome::OkAfterRetry, None)
                }
                Ok(_) => (Outcome::Ok, None),
                Err(e) => {
                    let (outcome, message) = classify_error(&e);
                    (outcome, Some(message))
                }
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
    probe.abort();
    let lag = Duration::from_micros(worst_lag.load(Ordering::Relaxed));

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
    let (slowest_id, slowest_answer) = latencies
        .iter()
        .copied()
        .enumerate()
        .max_by_key(|(_, l)| *l)
        .unwrap_or_default();
    let slowest_served = served.iter().max().copied().unwrap_or_default();
    println!(
        "   slowest answer of any kind: {} (request {slowest_id}, {}; deadline {}); slowest success: {}; whole run: {}",
        ms(slowest_answer),
        outcomes[slowest_id].label(),
        ms(DEADLINE),
        ms(slowest_served),
        ms(total)
    );
    println!(
        "   the runtime woke a timer up to {} late in this run (scheduling delay, not a layer's doing)",
        ms(lag)
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
    let end = breaker.snapshot();
    println!(
        "   ends {:?}, {} failures in a row, {} trips since it last closed",
        end.state, end.consecutive_failures, end.consecutive_trips
    );

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

    if let Some(m) = outcomes
        .iter()
        .zip(&messages)
        .find(|(o, _)| **o == Outcome::Unexpected)
        .and_then(|(_, m)| m.as_deref())
    {
        eprintln!("   unexpected error: {m}");
    }
    require(
        count(Outcome::Unexpected) == 0,
        "every error came from a layer of the stack",
    );
    let sum: u64 = Outcome::ALL.iter().map(|o| count(*o)).sum();
    require(sum == u64::from(REQUESTS), "every request is counted once");
    require(
        count(Outcome::RateLimited) > 0,
        "the rate limit rejected requests",
    );
    require(
        count(Outcome::Bulkhead) > 0,
        "the bulkhead rejected requests",
    );
    require(
        count(Outcome::BreakerOpen) > 0,
        "the open breaker rejected requests",
    );
    require(
        count(Outcome::OkAfterRetry) > 0 && retried > 0,
        "retries turned failures into successes",
    );
    require(
        count(Outcome::Deadline) > 0,
        "the deadline cut slow requests",
    );
    require(
        count(Outcome::Ok) + count(Outcome::OkAfterRetry) > u64::from(REQUESTS) / 3,
        "a good share of requests succeeded",
    );
    require(
        changes.iter().any(|(_, c)| c.to == State::Open),
        "the breaker opened",
    );
    require(
        end.state == State::Closed,
        "the breaker closed again after the recovery",
    );
    require(
        slowest_answer < DEADLINE + lag + Duration::from_millis(20),
        "no request waited past its deadline by more than this run's scheduling delay",
    );
}
