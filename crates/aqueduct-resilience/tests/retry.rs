//! Retry behaviour: attempts, classifier, hook, budget, deadline clamping,
//! per-attempt timeouts. All timing under paused time.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use aqueduct_resilience::retry::Action;
use aqueduct_resilience::{Backoff, Deadline, Jitter, Retry, RetryBudget, RetryError};
use tokio::time::{Instant, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn retries_until_success_with_the_backoff_between() {
    let start = Instant::now();
    let calls = RefCell::new(Vec::new());
    let r = Retry::new()
        .max_attempts(5)
        .backoff(Backoff::exponential(MS(100)));
    let v = r
        .run(|| {
            calls.borrow_mut().push(start.elapsed());
            let n = calls.borrow().len();
            async move { if n < 4 { Err("busy") } else { Ok(n) } }
        })
        .await
        .unwrap();
    assert_eq!(v, 4);
    assert_eq!(*calls.borrow(), [MS(0), MS(100), MS(300), MS(700)]);
}

#[tokio::test(start_paused = true)]
async fn exhausted_keeps_the_last_error_and_count() {
    let n = Cell::new(0);
    let err = Retry::new()
        .max_attempts(3)
        .backoff(Backoff::constant(MS(1)))
        .run(|| {
            n.set(n.get() + 1);
            let k = n.get();
            async move { Err::<(), _>(k) }
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RetryError::Exhausted {
            attempts: 3,
            last: 3
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn classifier_stops_and_retry_after_is_honoured() {
    let start = Instant::now();
    let n = Cell::new(0u32);
    let r = Retry::new()
        .max_attempts(10)
        .backoff(Backoff::constant(MS(1)))
        .classify(|e: &&str| match *e {
            "throttled" => Action::RetryAfter(MS(750)),
            "fatal" => Action::Stop,
            _ => Action::Retry,
        });
    let err = r
        .run(|| {
            n.set(n.get() + 1);
            let e = if n.get() == 1 { "throttled" } else { "fatal" };
            async move { Err::<(), _>(e) }
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RetryError::Stopped {
            attempts: 2,
            error: "fatal"
        }
    ));
    assert_eq!(start.elapsed(), MS(750));
}

#[tokio::test(start_paused = true)]
async fn hook_sees_each_retry_with_the_seeded_delays() {
    let backoff = Backoff::exponential(MS(100))
        .jitter(Jitter::Full)
        .max_delay(MS(1000))
        .seed(99);
    let expected: Vec<_> = backoff.iter().take(4).collect();
    let seen = RefCell::new(Vec::new());
    let r = Retry::new()
        .max_attempts(5)
        .backoff(backoff)
        .on_retry(|attempt: u32, _: &(), delay: Duration| seen.borrow_mut().push((attempt, delay)));
    let start = Instant::now();
    let _ = r.run(|| async { Err::<(), ()>(()) }).await;
    let seen = seen.into_inner();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), expected);
    // It really slept those delays (to the millisecond the timer offers).
    let total: Duration = expected.iter().sum();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= total && elapsed <= total + MS(4),
        "{elapsed:?} vs {total:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn never_sleeps_past_the_deadline() {
    let start = Instant::now();
    let n = Cell::new(0);
    let r = Retry::new()
        .max_attempts(100)
        .backoff(Backoff::constant(MS(100)));
    let err = Deadline::scope(Deadline::after(MS(250)), async {
        r.run(|| {
            n.set(n.get() + 1);
            async { Err::<(), _>("down") }
        })
        .await
    })
    .await
    .unwrap_err();
    // Attempts at 0, 100 and 200 ms; the next would start at 300 > 250, so
    // it gives up at 200 ms instead of sleeping to the deadline.
    assert!(matches!(
        err,
        RetryError::DeadlineExceeded {
            attempts: 3,
            last: Some("down")
        }
    ));
    assert_eq!(n.get(), 3);
    assert_eq!(start.elapsed(), MS(200));
}

#[tokio::test(start_paused = true)]
async fn starts_no_attempt_with_less_than_the_minimum_left() {
    let start = Instant::now();
    let r = Retry::new()
        .max_attempts(100)
        .backoff(Backoff::constant(MS(100)))
        .min_remaining(MS(60));
    let err = Deadline::scope(
        Deadline::after(MS(250)),
        r.run(|| async { Err::<(), _>(()) }),
    )
    .await
    .unwrap_err();
    // An attempt at 200 ms would have 50 ms < 60 ms: stop after the one at 100.
    assert_eq!(err.attempts(), 2);
    assert_eq!(start.elapsed(), MS(100));
}

#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_is_clamped_to_the_deadline() {
    let start = Instant::now();
    let r = Retry::new()
        .max_attempts(10)
        .backoff(Backoff::constant(MS(10)))
        .attempt_timeout(Duration::from_secs(5));
    let err = Deadline::scope(
        Deadline::after(MS(300)),
        r.run(|| async {
            sleep(Duration::from_secs(10)).await;
            Ok::<(), std::io::Error>(())
        }),
    )
    .await
    .unwrap_err();
    // The 5 s attempt timeout was cut at the 300 ms deadline, and no
    // attempt followed.
    match err {
        RetryError::DeadlineExceeded {
            attempts: 1,
            last: Some(e),
        } => {
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), MS(300));
}

#[tokio::test(start_paused = true)]
async fn deadline_run_cuts_an_attempt() {
    let start = Instant::now();
    let r = Deadline::after(MS(300))
        .run(Retry::new().run(|| async {
            sleep(Duration::from_secs(10)).await;
            Ok::<(), ()>(())
        }))
        .await;
    assert!(r.is_err());
    assert_eq!(start.elapsed(), MS(300));
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeout_is_retried() {
    let start = Instant::now();
    let n = Cell::new(0);
    let r = Retry::new()
        .max_attempts(3)
        .backoff(Backoff::constant(MS(10)))
        .attempt_timeout(MS(100));
    let v = r
        .run(|| {
            n.set(n.get() + 1);
            let hang = n.get() < 3;
            async move {
                if hang {
                    sleep(Duration::from_secs(60)).await;
                }
                Ok::<_, std::io::Error>("ok")
            }
        })
        .await
        .unwrap();
    assert_eq!(v, "ok");
    assert_eq!(start.elapsed(), MS(220));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_bounds_the_total() {
    let start = Instant::now();
    let err = Retry::new()
        .max_attempts(1000)
        .backoff(Backoff::constant(MS(100)))
        .max_elapsed(MS(450))
        .run(|| async { Err::<(), _>(()) })
        .await
        .unwrap_err();
    assert!(matches!(err, RetryError::Exhausted { attempts: 5, .. }));
    assert_eq!(start.elapsed(), MS(400));
}

#[tokio::test(start_paused = true)]
async fn shared_budget_stops_retry_storms() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5);
    let r = Retry::new()
        .max_attempts(10)
        .backoff(Backoff::constant(MS(1)))
        .budget(budget.clone());
    // Ten calls that succeed deposit 10 * 0.5 = 5 retries.
    for _ in 0..10 {
        r.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    }
    assert_eq!(budget.available(), 5);
    // A failing call deposits 0.5 more and may retry 5 times, then stops.
    let n = Cell::new(0);
    let err = r
        .run(|| {
            n.set(n.get() + 1);
            async { Err::<(), _>("down") }
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RetryError::BudgetExhausted { attempts: 6, .. }
    ));
    assert_eq!(n.get(), 6);
}

#[tokio::test(start_paused = true)]
async fn budget_ratios_are_exact() {
    for (ratio, expected) in [
        (0.1f32, 10u64),
        (0.25, 25),
        (0.6, 60),
        (1.0, 100),
        (2.5, 250),
    ] {
        let b = RetryBudget::new(Duration::from_secs(10), 0, ratio);
        for _ in 0..100 {
            b.deposit();
        }
        let mut allowed = 0;
        while b.withdraw() {
            allowed += 1;
        }
        assert_eq!(allowed, expected, "ratio {ratio}");
    }
}

#[tokio::test(start_paused = true)]
async fn budget_floor_refills_with_time() {
    let b = RetryBudget::new(Duration::from_secs(1), 10, 0.0);
    let mut n = 0;
    while b.withdraw() {
        n += 1;
    }
    assert_eq!(n, 10);
    sleep(Duration::from_millis(1100)).await;
    assert_eq!(b.available(), 10);
}
