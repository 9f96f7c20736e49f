//! Behaviour of the tower layers.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::time::Duration;

use aqueduct_flow::tower::{ConcurrencyLimitLayer, Error, RateLimitLayer};
use aqueduct_flow::{AdaptiveLimit, ConcurrencyLimit, LimitError, Quota, RateLimiter};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

fn echo() -> impl Service<u32, Response = u32, Error = Infallible, Future = impl Send> + Clone {
    service_fn(|x: u32| async move { Ok::<_, Infallible>(x) })
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_rate_limit_and_wait_in_order() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1));
    let svc = RateLimitLayer::new(limiter).layer(echo());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let s = svc.clone();
        tasks.push(tokio::spawn(async move {
            s.oneshot(i).await.unwrap();
            start.elapsed()
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort();
    let ms: Vec<_> = times.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 100, 200, 300, 400]);
}

#[tokio::test(start_paused = true)]
async fn reject_mode_fails_at_once_with_the_wait() {
    let limiter = RateLimiter::new(Quota::per_second(2).burst(1));
    let svc = RateLimitLayer::new(limiter).reject().layer(echo());
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    match svc.clone().oneshot(2).await {
        Err(Error::RateLimited(e)) => assert!(e.to_string().contains("500ms"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn concurrency_layer_waits_or_rejects() {
    let slow = service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, Infallible>(ms)
    });
    let limit = ConcurrencyLimit::new(1);
    let waiting = ConcurrencyLimitLayer::new(limit.clone()).layer(slow);
    let start = Instant::now();
    let a = tokio::spawn(waiting.clone().oneshot(100));
    let b = tokio::spawn(waiting.clone().oneshot(100));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));

    let rejecting = ConcurrencyLimitLayer::new(limit.clone())
        .reject()
        .layer(slow);
    let held = limit.try_acquire().unwrap();
    assert!(matches!(
        rejecting.clone().oneshot(1).await,
        Err(Error::Overloaded(LimitError::Full { limit: 1 }))
    ));
    drop(held);
    assert_eq!(rejecting.oneshot(1).await.unwrap(), 1);
}

#[tokio::test]
async fn adaptive_layer_reports_outcomes() {
    let limit = AdaptiveLimit::builder().initial(8).build();
    let flaky = service_fn(|fail: bool| async move {
        if fail {
            Err(std::io::Error::other("overloaded"))
        } else {
            Ok(())
        }
    });
    let svc = ConcurrencyLimitLayer::new(limit.clone()).layer(flaky);
    assert!(matches!(
        svc.clone().oneshot(true).await,
        Err(Error::Inner(_))
    ));
    assert_eq!(limit.limit(), 4);
    for _ in 0..4 {
        svc.clone().oneshot(false).await.unwrap();
    }
    assert_eq!(limit.limit(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_rate_service_dropped_after_poll_ready_gives_its_cell_back() {
    // A server polls readiness before the next request arrives; when the
    // connection closes instead, the cell it took must not be lost.
    let limiter = RateLimiter::new(Quota::per_second(1).burst(1));
    let mut svc = RateLimitLayer::new(limiter.clone()).layer(echo());
    svc.ready().await.unwrap();
    drop(svc);
    assert!(
        limiter.try_acquire().is_ok(),
        "the free cell was given back"
    );

    // The same for a cell the service waited for.
    let mut svc = RateLimitLayer::new(limiter.clone()).layer(echo());
    let start = Instant::now();
    svc.ready().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    drop(svc);
    assert!(
        limiter.try_acquire().is_ok(),
        "the awaited cell was given back"
    );

    // A cell used by a call stays spent.
    let mut svc = RateLimitLayer::new(limiter.clone())
        .layer(service_fn(|x: u32| async move { Ok::<_, Infallible>(x) }));
    tokio::time::advance(Duration::from_secs(1)).await;
    svc.ready().await.unwrap();
    assert_eq!(svc.call(5).await.unwrap(), 5);
    drop(svc);
    assert!(limiter.try_acquire().is_err());
}
