//! Pipeline: the stages compose in order and report one typed error.

use std::cell::Cell;
use std::time::Duration;

use aqueduct_resilience::breaker::{Rejected, State};
use aqueduct_resilience::pipeline::Error;
use aqueduct_resilience::retry::Action;
use aqueduct_resilience::{Backoff, Bulkhead, CircuitBreaker, Pipeline, Retry, RetryBudget};
use tokio::time::{Instant, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_the_retries() {
    let breaker = CircuitBreaker::builder().consecutive_failures(2).build();
    let p = Pipeline::builder()
        .retry(
            Retry::new()
                .max_attempts(10)
                .backoff(Backoff::constant(MS(1))),
        )
        .breaker(breaker.clone())
        .build();
    let calls = Cell::new(0);
    let e = p
        .run(|| {
            calls.set(calls.get() + 1);
            async { Err::<(), _>("down") }
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::CircuitOpen(Rejected::Open { .. })),
        "{e:?}"
    );
    assert_eq!(calls.get(), 2);
    assert_eq!(breaker.state(), State::Open);
}

/// An attempt that outlasts every timeout and deadline these tests set.
async fn hang() -> Result<(), ()> {
    sleep(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_a_breaker_failure_and_is_retried() {
    let breaker = CircuitBreaker::builder().consecutive_failures(5).build();
    let p = Pipeline::builder()
        .retry(
            Retry::new()
                .max_attempts(3)
                .backoff(Backoff::constant(MS(10))),
        )
        .breaker(breaker.clone())
        .attempt_timeout(MS(100))
        .build();
    let start = Instant::now();
    let e = p.run(hang).await.unwrap_err();
    match e {
        Error::RetriesExhausted { attempts: 3, last } => {
            assert!(matches!(*last, Error::Timeout(_)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), MS(320));
    assert_eq!(breaker.snapshot().consecutive_failures, 3);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_off_by_the_deadline_is_no_breaker_failure() {
    let breaker = CircuitBreaker::builder().consecutive_failures(1).build();
    // The attempt timeout (1 s) is the dependency's bound; the deadline
    // (50 ms) is the caller's, and it ends the attempt first.
    let p = Pipeline::builder()
        .deadline(MS(50))
        .breaker(breaker.clone())
        .attempt_timeout(Duration::from_secs(1))
        .build();
    let start = Instant::now();
    let e = p.run(hang).await.unwrap_err();
    assert!(matches!(e, Error::DeadlineExceeded), "{e:?}");
    assert_eq!(start.elapsed(), MS(50));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().consecutive_failures, 0);
    // The same without an attempt timeout.
    let p = Pipeline::builder()
        .deadline(MS(50))
        .breaker(breaker.clone())
        .build();
    let e = p.run(hang).await.unwrap_err();
    assert!(matches!(e, Error::DeadlineExceeded), "{e:?}");
    assert_eq!(breaker.state(), State::Closed);
    // The attempt timeout, when it ends the attempt, is a failure.
    let p = Pipeline::builder()
        .deadline(Duration::from_secs(1))
        .breaker(breaker.clone())
        .attempt_timeout(MS(50))
        .build();
    let e = p.run(hang).await.unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_probe_cut_off_by_the_deadline_frees_its_slot_without_a_verdict() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(MS(100))
        .build();
    breaker.try_acquire().unwrap().failure();
    sleep(MS(100)).await;
    let p = Pipeline::builder()
        .deadline(MS(50))
        .breaker(breaker.clone())
        .attempt_timeout(Duration::from_secs(1))
        .build();
    let e = p.run(hang).await.unwrap_err();
    assert!(matches!(e, Error::DeadlineExceeded), "{e:?}");
    let s = breaker.snapshot();
    assert_eq!(s.state, State::HalfOpen);
    assert_eq!(s.probes_in_flight, 0);
    // The next caller probes, and its success closes the breaker.
    p.run(|| async { Ok::<(), ()>(()) }).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_everything() {
    let p = Pipeline::builder()
        .deadline(MS(250))
        .retry(
            Retry::new()
                .max_attempts(100)
                .backoff(Backoff::constant(MS(100))),
        )
        .build();
    let start = Instant::now();
    let e = p.run(|| async { Err::<(), _>(()) }).await.unwrap_err();
    assert!(matches!(e, Error::DeadlineExceeded));
    assert!(start.elapsed() <= MS(250));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried_and_come_back_as_inner() {
    let p = Pipeline::builder()
        .retry(Retry::new().classify(|e: &u16| {
            if *e >= 500 {
                Action::Retry
            } else {
                Action::Stop
            }
        }))
        .build();
    let e = p.run(|| async { Err::<(), u16>(404) }).await.unwrap_err();
    assert!(matches!(e, Error::Inner(404)));
    assert_eq!(e.inner(), Some(&404));
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_rejects() {
    let bulkhead = Bulkhead::builder().max_concurrent(1).max_queue(0).build();
    let p = Pipeline::builder().bulkhead(bulkhead.clone()).build();
    let _held = bulkhead.acquire().await.unwrap();
    let e = p.run(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    assert!(matches!(e, Error::BulkheadFull(_)));
}

#[tokio::test(start_paused = true)]
async fn the_budget_is_reported() {
    let p = Pipeline::builder()
        .retry(
            Retry::new()
                .max_attempts(10)
                .backoff(Backoff::constant(MS(1)))
                .budget(RetryBudget::new(Duration::from_secs(10), 0, 1.0)),
        )
        .build();
    let e = p
        .run(|| async { Err::<(), _>(std::io::Error::other("x")) })
        .await
        .unwrap_err();
    // One call deposits one retry: two attempts, then the budget says no.
    assert!(
        matches!(e, Error::BudgetExhausted { attempts: 2, .. }),
        "{e:?}"
    );
    let src = std::error::Error::source(&e).map(ToString::to_string);
    assert_eq!(src.as_deref(), Some("operation failed"));
}

/// Every future of the crate can be spawned on a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_are_send_and_spawnable() {
    let retry = std::sync::Arc::new(Retry::new());
    let breaker = CircuitBreaker::builder().build();
    let bulkhead = Bulkhead::builder().build();
    let hedge = aqueduct_resilience::Hedge::fixed(MS(5));
    let pipeline = std::sync::Arc::new(
        Pipeline::builder()
            .deadline(Duration::from_secs(1))
            .bulkhead(bulkhead.clone())
            .retry(Retry::new())
            .breaker(breaker.clone())
            .attempt_timeout(MS(100))
            .build(),
    );
    let t1 = tokio::spawn(async move { retry.run(|| async { Ok::<_, ()>(1) }).await.unwrap() });
    let b = breaker.clone();
    let t2 = tokio::spawn(async move { b.call(|| async { Ok::<_, ()>(2) }).await.unwrap() });
    let t3 = tokio::spawn(async move { bulkhead.call(|| async { Ok::<_, ()>(3) }).await.unwrap() });
    let t4 = tokio::spawn(async move { hedge.run(|| async { Ok::<_, ()>(4) }).await.unwrap() });
    let t5 = tokio::spawn(async move { pipeline.run(|| async { Ok::<_, ()>(5) }).await.unwrap() });
    let got = [t1.await, t2.await, t3.await, t4.await, t5.await].map(Result::unwrap);
    assert_eq!(got, [1, 2, 3, 4, 5]);
}
