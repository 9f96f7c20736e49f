//! Benchmarks of `aqueduct-resilience` beside the crates it replaces:
//! failsafe and tower-resilience for the circuit breaker, backon for retry.
//!
//! Run with `cargo xtask bench resilience`, which prints the ratios.
//!
//! Every future here completes on its first poll (but under contention,
//! where an async lock may wait), so each is polled with a no-op waker: no
//! runtime overhead blurs the ratios.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aqueduct_resilience::tower::BreakerLayer;
use aqueduct_resilience::{CircuitBreaker, Retry};
use backon::{ExponentialBuilder, Retryable};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use tower::{Service, ServiceExt, service_fn};
use tower_resilience::circuitbreaker::CircuitBreakerLayer;

/// Polls `fut` once; every future benchmarked here is ready at once.
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("benchmarked future was not ready on its first poll"),
    }
}

fn failsafe_breaker() -> impl failsafe::CircuitBreaker + Clone + Send + Sync {
    let policy = failsafe::failure_policy::consecutive_failures(
        5,
        failsafe::backoff::constant(Duration::from_secs(60)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

type Inner = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, ()>>>;

fn inner() -> Inner {
    service_fn(|x: u64| std::future::ready(Ok::<_, ()>(x)))
}

fn tower_resilience_breaker()
-> impl Service<u64, Response = u64, Error: std::fmt::Debug, Future: Send> + Clone + Send {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(60))
        .build()
        .expect("valid config");
    tower::Layer::layer(&layer, inner())
}

/// Calls `svc` once (readiness, then the call), both ready at once.
fn tower_call<S: Service<u64>>(svc: &mut S, x: u64) -> Result<S::Response, S::Error> {
    now(svc.ready())?;
    now(svc.call(x))
}

/// Polls `fut` until it is ready: under contention an async lock may make
/// a future wait for the other thread (what an executor would do, minus
/// the scheduling).
fn spin<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::hint::spin_loop();
    }
}

fn breaker_closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/closed_success");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);

    let ours = CircuitBreaker::builder().consecutive_failures(5).build();
    g.bench_function(BenchmarkId::new("aqueduct", "consecutive"), |b| {
        b.iter(|| {
            let permit = ours.try_acquire().unwrap();
            black_box(&permit);
            permit.success();
        });
    });
    g.bench_function(BenchmarkId::new("aqueduct-call", "consecutive"), |b| {
        b.iter(|| now(ours.call(|| async { Ok::<_, ()>(black_box(1u64)) })).unwrap());
    });
    let window = CircuitBreaker::builder().count_window(100).build();
    g.bench_function(
        BenchmarkId::new("aqueduct-count-window", "consecutive"),
        |b| {
            b.iter(|| {
                let permit = window.try_acquire().unwrap();
                black_box(&permit);
                permit.success();
            });
        },
    );
    let timed = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .build();
    g.bench_function(
        BenchmarkId::new("aqueduct-time-window", "consecutive"),
        |b| {
            b.iter(|| {
                let permit = timed.try_acquire().unwrap();
                black_box(&permit);
                permit.success();
            });
        },
    );

    let fs = failsafe_breaker();
    g.bench_function(BenchmarkId::new("failsafe", "consecutive"), |b| {
        b.iter(|| fs.call(|| Ok::<_, ()>(black_box(1u64))).unwrap());
    });

    let mut ours_tower = tower::Layer::layer(&BreakerLayer::new(ours.clone()), inner());
    g.bench_function(BenchmarkId::new("aqueduct-tower", "consecutive"), |b| {
        b.iter(|| tower_call(&mut ours_tower, black_box(1)).unwrap());
    });

    let mut tr = tower_resilience_breaker();
    g.bench_function(BenchmarkId::new("tower-resilience", "consecutive"), |b| {
        b.iter(|| tower_call(&mut tr, black_box(1)).unwrap());
    });
    g.finish();
}

fn breaker_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/open_rejection");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);

    let ours = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(3600))
        .build();
    ours.try_acquire().unwrap().failure();
    g.bench_function(BenchmarkId::new("aqueduct", "open"), |b| {
        b.iter(|| black_box(ours.try_acquire()).is_err());
    });

    let fs = failsafe_breaker();
    for _ in 0..5 {
        let _ = fs.call(|| Err::<(), _>(()));
    }
    assert!(!fs.is_call_permitted());
    g.bench_function(BenchmarkId::new("failsafe", "open"), |b| {
        b.iter(|| black_box(fs.call(|| Ok::<_, ()>(1u64))).is_err());
    });

    let mut ours_tower = tower::Layer::layer(
        &BreakerLayer::new(ours.clone()),
        service_fn(|fail: bool| std::future::ready(if fail { Err(()) } else { Ok(()) })),
    );
    g.bench_function(BenchmarkId::new("aqueduct-tower", "open"), |b| {
        b.iter(|| black_box(tower_call_bool(&mut ours_tower, false)).is_err());
    });

    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build()
        .expect("valid config");
    let mut failing = tower::Layer::layer(
        &layer,
        service_fn(|fail: bool| std::future::ready(if fail { Err(()) } else { Ok(()) })),
    );
    let _ = tower_call_bool(&mut failing, true);
    assert!(tower_call_bool(&mut failing, false).is_err());
    g.bench_function(BenchmarkId::new("tower-resilience", "open"), |b| {
        b.iter(|| black_box(tower_call_bool(&mut failing, false)).is_err());
    });
    g.finish();
}

fn tower_call_bool<S: Service<bool>>(svc: &mut S, x: bool) -> Result<S::Response, S::Error> {
    now(svc.ready())?;
    now(svc.call(x))
}

/// Time per operation when two threads run `op` at once on shared state.
fn two_threads<T: Send>(
    iters: u64,
    make: impl Fn() -> T + Sync,
    op: impl Fn(&mut T) + Sync,
) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut state = make();
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        op(&mut state);
                    }
                    t.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

fn breaker_contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/contended");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    let ours = CircuitBreaker::builder().consecutive_failures(5).build();
    g.bench_function(BenchmarkId::new("aqueduct", "2-threads"), |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || ours.clone(),
                |cb| {
                    let permit = cb.try_acquire().unwrap();
                    black_box(&permit);
                    permit.success();
                },
            )
        });
    });
    let window = CircuitBreaker::builder().count_window(100).build();
    g.bench_function(
        BenchmarkId::new("aqueduct-count-window", "2-threads"),
        |b| {
            b.iter_custom(|iters| {
                two_threads(
                    iters,
                    || window.clone(),
                    |cb| {
                        let permit = cb.try_acquire().unwrap();
                        black_box(&permit);
                        permit.success();
                    },
                )
            });
        },
    );

    let ours_tower = tower::Layer::layer(&BreakerLayer::new(ours.clone()), inner());
    g.bench_function(BenchmarkId::new("aqueduct-tower", "2-threads"), |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || ours_tower.clone(),
                |svc| {
                    spin(svc.ready()).unwrap();
                    spin(svc.call(black_box(1))).unwrap();
                },
            )
        });
    });

    let fs = failsafe_breaker();
    g.bench_function(BenchmarkId::new("failsafe", "2-threads"), |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || fs.clone(),
                |cb| {
                    cb.call(|| Ok::<_, ()>(black_box(1u64))).unwrap();
                },
            )
        });
    });

    let tr = tower_resilience_breaker();
    g.bench_function(BenchmarkId::new("tower-resilience", "2-threads"), |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || tr.clone(),
                |svc| {
                    spin(svc.ready()).unwrap();
                    spin(svc.call(black_box(1))).unwrap();
                },
            )
        });
    });
    g.finish();
}

/// The operation retried: an I/O call that succeeds.
async fn op(x: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(x))
}

fn retry_first_success(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry/first_success");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);

    g.bench_function(BenchmarkId::new("bare", "ok"), |b| {
        b.iter(|| now(op(black_box(1))).unwrap());
    });
    let retry = Retry::new().max_attempts(3);
    g.bench_function(BenchmarkId::new("aqueduct", "ok"), |b| {
        b.iter(|| now(retry.run(|| op(black_box(1)))).unwrap());
    });
    g.bench_function(BenchmarkId::new("backon", "ok"), |b| {
        b.iter(|| {
            now((|| op(black_box(1))).retry(ExponentialBuilder::default().with_max_times(2)))
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    breaker_closed,
    breaker_open,
    breaker_contended,
    retry_first_success
);
criterion_main!(benches);
