//! Walkthrough `retry`: retries that help instead of hurting.
//!
//! A flaky dependency fails its first calls; a `Retry` with capped
//! exponential backoff and full jitter gets through, and prints every delay
//! it drew. The same seed draws the same delays (for tests and replays).
//! A classifier stops at once on an error that can never succeed. A
//! per-attempt timeout turns a hung call into a retryable one. And a
//! shared `RetryBudget` keeps a hundred callers from multiplying the load
//! on a dead service. Every figure is measured in this run.
//!
//! Run it with `cargo xtask demo retry`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aqueduct::resilience::retry::Action;
use aqueduct::resilience::{Backoff, Jitter, Retry, RetryBudget, RetryError};
use aqueduct_examples::{bar, ms, require, section};
use tokio::time::sleep;

#[derive(Debug)]
enum ApiError {
    Unavailable,
    NotFound,
    TimedOut,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<aqueduct::resilience::Elapsed> for ApiError {
    fn from(_: aqueduct::resilience::Elapsed) -> Self {
        ApiError::TimedOut
    }
}

#[tokio::main]
async fn main() {
    let backoff = Backoff::exponential(Duration::from_millis(20))
        .jitter(Jitter::Full)
        .max_delay(Duration::from_millis(200))
        .seed(2024);

    section(
        "1. the delays a seeded backoff draws (exponential from 20 ms, full jitter, cap 200 ms)",
    );
    for (n, d) in backoff.iter().take(8).enumerate() {
        let nominal = backoff.nominal(u32::try_from(n).unwrap());
        println!(
            "   retry {}: {:>9} of up to {:>9} {}",
            n + 1,
            ms(d),
            ms(nominal),
            bar(d.as_micros() as u64, 200_000, 30)
        );
        require(
            d <= nominal && d <= Duration::from_millis(200),
            "jitter stays within the cap",
        );
    }
    let again: Vec<_> = backoff.iter().take(8).collect();
    require(
        again == backoff.iter().take(8).collect::<Vec<_>>(),
        "a seed replays the same delays",
    );
    println!(
        "   the same seed draws the same eight delays again; without a seed every run differs."
    );

    section("2. a flaky dependency: fails 3 times, then answers");
    let calls = AtomicU32::new(0);
    let retry = Retry::new()
        .max_attempts(6)
        .backoff(backoff.clone())
        .on_retry(|attempt: u32, e: &ApiError, delay: Duration| {
            println!("   attempt {attempt} failed ({e}); sleeping {}", ms(delay));
        });
    let t = Instant::now();
    let v = retry
        .run(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(ApiError::Unavailable)
                } else {
                    Ok("payload")
                }
            }
        })
        .await;
    println!(
        "   -> {v:?} after {} attempts in {}",
        calls.load(Ordering::SeqCst),
        ms(t.elapsed())
    );
    require(
        matches!(v, Ok("payload")) && calls.load(Ordering::SeqCst) == 4,
        "the fourth attempt succeeds",
    );

    section("3. a classifier: NotFound will never succeed, so do not retry it");
    let calls = AtomicU32::new(0);
    let retry = Retry::new()
        .max_attempts(6)
        .backoff(backoff.clone())
        .classify(|e: &ApiError| match e {
            ApiError::NotFound => Action::Stop,
            _ => Action::Retry,
        });
    let r = retry
        .run(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(ApiError::NotFound) }
        })
        .await;
    println!(
        "   -> {} after {} call",
        r.as_ref().unwrap_err(),
        calls.load(Ordering::SeqCst)
    );
    require(
        matches!(r, Err(RetryError::Stopped { attempts: 1, .. })),
        "a permanent error stops at once",
    );

    section("4. a per-attempt timeout turns a hang into a retry");
    let calls = AtomicU32::new(0);
    let retry = Retry::new()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .attempt_timeout(Duration::from_millis(50));
    let t = Instant::now();
    let v = retry
        .run(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    sleep(Duration::from_secs(30)).await; // hung connection
                }
                Ok::<_, ApiError>("answer")
            }
        })
        .await;
    println!(
        "   -> {v:?} in {}: the hung first attempt was cut at 50 ms",
        ms(t.elapsed())
    );
    require(
        v.is_ok() && t.elapsed() < Duration::from_millis(200),
        "the second attempt answers",
    );

    section("5. a retry budget: 100 callers against a dead service");
    let attempts = Arc::new(AtomicU32::new(0));
    let run = |budget: Option<RetryBudget>| {
        let attempts = attempts.clone();
        async move {
            attempts.store(0, Ordering::SeqCst);
            let mut retry = Retry::new()
                .max_attempts(4)
                .backoff(Backoff::constant(Duration::from_millis(5)));
            if let Some(b) = budget {
                retry = retry.budget(b);
            }
            let retry = Arc::new(retry);
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let (retry, attempts) = (retry.clone(), attempts.clone());
                    tokio::spawn(async move {
                        retry
                            .run(|| {
                                attempts.fetch_add(1, Ordering::SeqCst);
                                async { Err::<(), _>(ApiError::Unavailable) }
                            })
                            .await
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
            attempts.load(Ordering::SeqCst)
        }
    };
    let unbounded = run(None).await;
    // 10% retries on top of the calls, no floor.
    let budgeted = run(Some(RetryBudget::new(Duration::from_secs(10), 0, 0.1))).await;
    println!(
        "   without a budget: {unbounded} attempts for 100 calls {}",
        bar(u64::from(unbounded), 400, 40)
    );
    println!(
        "   with a 10% budget: {budgeted} attempts for 100 calls {}",
        bar(u64::from(budgeted), 400, 40)
    );
    require(
        unbounded == 400,
        "without a budget every call retries 3 times",
    );
    require(
        budgeted <= 111,
        "the budget holds retries to about 10% of calls",
    );
    println!(
        "\n   the budget turned a 4x load multiplier into {:.2}x.",
        f64::from(budgeted) / 100.0
    );
}
