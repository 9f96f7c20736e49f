//! Tower layers: composition, rejection from `call`, non-Clone requests.
#![cfg(feature = "tower")]

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use aqueduct_resilience::breaker::{BreakerError, State};
use aqueduct_resilience::bulkhead::CallError;
use aqueduct_resilience::tower::deadline::DeadlineError;
use aqueduct_resilience::tower::{
    BreakerLayer, BulkheadLayer, DeadlineLayer, HedgeLayer, RetryLayer,
};
use aqueduct_resilience::{
    Backoff, Bulkhead, CircuitBreaker, Hedge, Retry, RetryBudget, RetryError,
};
use tokio::time::{Instant, sleep};
use tower::util::ServiceFn;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_ready_and_rejects_from_call() {
    let breaker = CircuitBreaker::builder().consecutive_failures(2).build();
    let reached = Arc::new(AtomicU32::new(0));
    let r2 = reached.clone();
    let mut svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()))
        .service_fn(move |_: ()| {
            r2.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("down") }
        });
    for _ in 0..2 {
        let _ = svc.ready().await.unwrap().call(()).await;
    }
    assert_eq!(breaker.state(), State::Open);
    // poll_ready does not reject...
    let waker = std::task::Waker::noop();
    assert!(matches!(
        svc.poll_ready(&mut Context::from_waker(waker)),
        Poll::Ready(Ok(()))
    ));
    // ...the call does, without reaching the inner service.
    let r = svc.call(()).await;
    assert!(matches!(r, Err(BreakerError::Rejected(_))));
    assert_eq!(reached.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn layers_compose_in_a_service_builder() {
    let breaker = CircuitBreaker::builder().consecutive_failures(10).build();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::from_secs(1)))
        .layer(BulkheadLayer::new(
            Bulkhead::builder().max_concurrent(4).build(),
        ))
        .layer(RetryLayer::new(
            Retry::new()
                .max_attempts(4)
                .backoff(Backoff::constant(MS(10))),
        ))
        .layer(BreakerLayer::new(breaker.clone()))
        .service_fn(move |x: u32| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(std::io::Error::other("flaky"))
                } else {
                    Ok(x * 2)
                }
            }
        });
    let start = Instant::now();
    let v = svc.ready().await.unwrap().call(21).await.unwrap();
    assert_eq!(v, 42);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), MS(20));
    // The breaker saw both failures and the success.
    assert_eq!(breaker.snapshot().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_layer_bounds_retries_below_it() {
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(MS(250)))
        .layer(RetryLayer::new(
            Retry::new()
                .max_attempts(100)
                .backoff(Backoff::constant(MS(100))),
        ))
        .service_fn(|()| async { Err::<(), _>("down") });
    let start = Instant::now();
    let r = svc.ready().await.unwrap().call(()).await;
    // The retry saw the deadline and stopped at 200 ms rather than sleep past it.
    assert!(matches!(
        r,
        Err(DeadlineError::Inner(RetryError::DeadlineExceeded {
            attempts: 3,
            ..
        }))
    ));
    assert_eq!(start.elapsed(), MS(200));

    let mut slow = ServiceBuilder::new()
        .layer(DeadlineLayer::new(MS(50)))
        .service_fn(|()| async {
            sleep(Duration::from_secs(5)).await;
            Ok::<_, ()>(())
        });
    let start = Instant::now();
    let r = slow.ready().await.unwrap().call(()).await;
    assert!(matches!(r, Err(DeadlineError::Exceeded(_))));
    assert_eq!(start.elapsed(), MS(50));
}

/// A request that is not `Clone`.
struct Upload {
    body: Vec<u8>,
    streamed: bool,
}

#[tokio::test(start_paused = true)]
async fn non_clone_requests_retry_through_clone_request() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(
            RetryLayer::new(
                Retry::new()
                    .max_attempts(3)
                    .backoff(Backoff::constant(MS(1))),
            )
            .clone_request(|u: &Upload| {
                (!u.streamed).then(|| Upload {
                    body: u.body.clone(),
                    streamed: false,
                })
            }),
        )
        .service_fn(move |u: Upload| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Err::<usize, _>(format!("{} bytes refused", u.body.len())) }
        });
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Upload {
            body: vec![0; 3],
            streamed: false,
        })
        .await;
    assert!(matches!(r, Err(RetryError::Exhausted { attempts: 3, .. })));
    assert_eq!(calls.swap(0, Ordering::SeqCst), 3);

    // A streamed body cannot be sent twice: one attempt.
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Upload {
            body: vec![0; 3],
            streamed: true,
        })
        .await;
    assert!(matches!(r, Err(RetryError::Stopped { attempts: 1, .. })));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A request that is not `Clone` and says whether it is a copy.
struct Marked {
    copy: bool,
}

#[tokio::test(start_paused = true)]
async fn the_last_attempt_sends_the_request_itself() {
    // A cloner that makes two copies and no more: three attempts need no
    // more, the last one sends the original.
    let copies = Arc::new(AtomicU32::new(0));
    let made = copies.clone();
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sent.clone();
    let mut svc = ServiceBuilder::new()
        .layer(
            RetryLayer::new(
                Retry::new()
                    .max_attempts(3)
                    .backoff(Backoff::constant(MS(1))),
            )
            .clone_request(move |_: &Marked| {
                (made.fetch_add(1, Ordering::SeqCst) < 2).then_some(Marked { copy: true })
            }),
        )
        .service_fn(move |m: Marked| {
            seen.lock().unwrap().push(m.copy);
            async { Err::<(), _>("refused") }
        });
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Marked { copy: false })
        .await;
    assert!(
        matches!(r, Err(RetryError::Exhausted { attempts: 3, .. })),
        "{r:?}"
    );
    assert_eq!(*sent.lock().unwrap(), [true, true, false]);
    assert_eq!(copies.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_single_attempt_asks_for_no_copy() {
    let asked = Arc::new(AtomicU32::new(0));
    let a = asked.clone();
    let mut svc = ServiceBuilder::new()
        .layer(
            RetryLayer::new(Retry::new().max_attempts(1)).clone_request(move |_: &Upload| {
                a.fetch_add(1, Ordering::SeqCst);
                None
            }),
        )
        .service_fn(|u: Upload| async move { Err::<usize, _>(u.body.len()) });
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Upload {
            body: vec![0; 3],
            streamed: true,
        })
        .await;
    // The policy allows one attempt and it was made: exhausted, not
    // stopped for want of a copy.
    assert!(
        matches!(
            r,
            Err(RetryError::Exhausted {
                attempts: 1,
                last: 3
            })
        ),
        "{r:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0);
}

/// The service the copy-counting tests call: every attempt fails.
fn refuse(_: Marked) -> Ready<Result<(), &'static str>> {
    ready(Err("refused"))
}

/// One call, with a fresh request, through `layer` to [`refuse`].
async fn refused_through<L>(layer: L) -> Result<(), <L::Service as Service<Marked>>::Error>
where
    L: Layer<ServiceFn<fn(Marked) -> Ready<Result<(), &'static str>>>>,
    L::Service: Service<Marked, Response = ()>,
{
    let mut svc = layer.layer(service_fn(refuse as fn(Marked) -> _));
    svc.ready().await?.call(Marked { copy: false }).await
}

/// A cloner that makes the first copy it is asked for (the first
/// attempt's) and refuses every later one, counting what it is asked.
fn one_copy(asked: Arc<AtomicU32>) -> impl Fn(&Marked) -> Option<Marked> + Clone {
    move |_: &Marked| (asked.fetch_add(1, Ordering::SeqCst) == 0).then_some(Marked { copy: true })
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_asks_for_no_copy() {
    let asked = Arc::new(AtomicU32::new(0));
    let r = refused_through(
        RetryLayer::new(
            Retry::new()
                .max_attempts(3)
                .backoff(Backoff::constant(MS(1)))
                .budget(RetryBudget::new(Duration::from_secs(10), 0, 0.0)),
        )
        .clone_request(one_copy(asked.clone())),
    )
    .await;
    // The budget refuses the retry: no copy is asked for it, and the error
    // is the budget's, not the cloner's.
    assert!(
        matches!(r, Err(RetryError::BudgetExhausted { attempts: 1, .. })),
        "{r:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_past_max_elapsed_asks_for_no_copy() {
    let asked = Arc::new(AtomicU32::new(0));
    let r = refused_through(
        RetryLayer::new(
            Retry::new()
                .max_attempts(3)
                .backoff(Backoff::constant(MS(10)))
                .max_elapsed(MS(5)),
        )
        .clone_request(one_copy(asked.clone())),
    )
    .await;
    assert!(
        matches!(r, Err(RetryError::Exhausted { attempts: 1, .. })),
        "{r:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_past_the_deadline_asks_for_no_copy() {
    let asked = Arc::new(AtomicU32::new(0));
    let r = refused_through(
        ServiceBuilder::new()
            .layer(DeadlineLayer::new(MS(5)))
            .layer(
                RetryLayer::new(
                    Retry::new()
                        .max_attempts(3)
                        .backoff(Backoff::constant(MS(10))),
                )
                .clone_request(one_copy(asked.clone())),
            )
            .into_inner(),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(DeadlineError::Inner(RetryError::DeadlineExceeded {
                attempts: 1,
                ..
            }))
        ),
        "{r:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_copy_spends_no_retry_and_calls_no_hook() {
    let asked = Arc::new(AtomicU32::new(0));
    let hooked = Arc::new(AtomicU32::new(0));
    let h = hooked.clone();
    // Room for the one retry this call deposits.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0);
    let r = refused_through(
        RetryLayer::new(
            Retry::new()
                .max_attempts(3)
                .backoff(Backoff::constant(MS(1)))
                .budget(budget.clone())
                .on_retry(move |_: u32, _: &&str, _: Duration| {
                    h.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .clone_request(one_copy(asked.clone())),
    )
    .await;
    // Everything allowed the retry but the copy: stopped, with the retry
    // the budget gave back and no retry announced.
    assert!(
        matches!(r, Err(RetryError::Stopped { attempts: 1, .. })),
        "{r:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(budget.available(), 1);
    assert_eq!(hooked.load(Ordering::SeqCst), 0);
}

/// A cloner for requests that can never be sent twice, counting what it
/// is asked.
fn no_copy(asked: Arc<AtomicU32>) -> impl Fn(&Marked) -> Option<Marked> + Clone {
    move |_: &Marked| {
        asked.fetch_add(1, Ordering::SeqCst);
        None
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_deposits_in_the_budget() {
    let asked = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0);
    let r = refused_through(
        RetryLayer::new(
            Retry::new()
                .max_attempts(3)
                .backoff(Backoff::constant(MS(1)))
                .budget(budget.clone()),
        )
        .clone_request(no_copy(asked.clone())),
    )
    .await;
    assert!(
        matches!(r, Err(RetryError::Stopped { attempts: 1, .. })),
        "{r:?}"
    );
    // The call counts as one, like any other, though it cannot be retried;
    // the cloner was asked once, for the first attempt.
    assert_eq!(budget.available(), 1);
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_starts_no_attempt_too_late() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(MS(5)))
        .layer(
            RetryLayer::new(Retry::new().max_attempts(3).min_remaining(MS(10)))
                .clone_request(no_copy(Arc::default())),
        )
        .service_fn(move |_: Marked| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, &str>(()) }
        });
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Marked { copy: false })
        .await;
    // 5 ms left, an attempt needs 10: none is started.
    assert!(
        matches!(
            r,
            Err(DeadlineError::Inner(RetryError::DeadlineExceeded {
                attempts: 0,
                last: None
            }))
        ),
        "{r:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_reports_the_budget_refusing_its_retry() {
    let r = refused_through(
        RetryLayer::new(Retry::new().max_attempts(3).budget(RetryBudget::new(
            Duration::from_secs(10),
            0,
            0.0,
        )))
        .clone_request(no_copy(Arc::default())),
    )
    .await;
    assert!(
        matches!(r, Err(RetryError::BudgetExhausted { attempts: 1, .. })),
        "{r:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn bulkhead_layer_queues_then_rejects() {
    let bulkhead = Bulkhead::builder().max_concurrent(1).max_queue(1).build();
    let svc = ServiceBuilder::new()
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .service_fn(|d: u64| async move {
            sleep(MS(d)).await;
            Ok::<_, ()>(d)
        });
    let mut a = svc.clone();
    let mut b = svc.clone();
    let mut c = svc.clone();
    let fa = a.ready().await.unwrap().call(100);
    let fb = b.ready().await.unwrap().call(10);
    let fc = c.ready().await.unwrap().call(10);
    let start = Instant::now();
    let (ra, rb, rc) = tokio::join!(fa, fb, fc);
    assert_eq!(ra.unwrap(), 100);
    assert_eq!(rb.unwrap(), 10); // queued behind a
    assert!(matches!(rc, Err(CallError::Rejected(_)))); // queue full
    assert_eq!(start.elapsed(), MS(110));
    assert_eq!(bulkhead.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn hedge_layer_answers_with_the_fast_copy() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(Hedge::fixed(MS(20))))
        .service_fn(move |x: u32| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                sleep(MS(if n == 0 { 500 } else { 5 })).await;
                Ok::<_, ()>((x, n))
            }
        });
    let start = Instant::now();
    let v = svc.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(v, (7, 1));
    assert_eq!(start.elapsed(), MS(25));
}

/// A request that counts its clones.
#[derive(Debug)]
struct Counted {
    value: u32,
    clones: Arc<AtomicU32>,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Self {
            value: self.value,
            clones: self.clones.clone(),
        }
    }
}

/// Clones made for one call of 7 through a hedge layer whose inner service
/// answers its attempts after these many milliseconds, and what each
/// attempt was sent.
async fn clones_for(hedge: Hedge, took: &'static [u64]) -> (u32, Vec<u32>) {
    let clones = Arc::new(AtomicU32::new(0));
    let calls = Arc::new(AtomicU32::new(0));
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sent.clone();
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(hedge))
        .service_fn(move |req: Counted| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(req.value);
            async move {
                sleep(MS(took[n as usize])).await;
                Ok::<_, ()>(n)
            }
        });
    let req = Counted {
        value: 7,
        clones: clones.clone(),
    };
    svc.ready().await.unwrap().call(req).await.unwrap();
    let sent = sent.lock().unwrap().clone();
    (clones.load(Ordering::SeqCst), sent)
}

#[tokio::test(start_paused = true)]
async fn a_hedged_call_sends_its_request_itself_on_the_hedge() {
    // The first attempt is slow and the hedge answers: two attempts, the
    // second (the last one allowed) sends the original.
    let (clones, sent) = clones_for(Hedge::fixed(MS(20)), &[500, 5]).await;
    assert_eq!(sent, [7, 7]);
    assert_eq!(clones, 1);
    // With room for two hedges, only the last sends the original.
    let hedge = Hedge::fixed(MS(20)).max_extra(2);
    let (clones, sent) = clones_for(hedge, &[500, 500, 5]).await;
    assert_eq!(sent, [7, 7, 7]);
    assert_eq!(clones, 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_does_not_hedge_keeps_one_copy_at_most() {
    // A hedge may follow, so the first attempt sends a clone and the
    // original waits for it...
    let (clones, sent) = clones_for(Hedge::fixed(MS(20)), &[5]).await;
    assert_eq!(sent, [7]);
    assert_eq!(clones, 1);
    // ...unless no hedge is allowed: then the first attempt is the last.
    let (clones, sent) = clones_for(Hedge::fixed(MS(20)).max_extra(0), &[5]).await;
    assert_eq!(sent, [7]);
    assert_eq!(clones, 0);
}

type Acquiring = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>,
            > + Send,
    >,
>;

/// A service that, like tower's `ConcurrencyLimit` or `Buffer`, reserves a
/// slot in `poll_ready` and spends it in `call`; a clone starts without one.
struct Reserving {
    slots: Arc<tokio::sync::Semaphore>,
    reserved: Option<tokio::sync::OwnedSemaphorePermit>,
    acquiring: Option<Acquiring>,
    calls: Arc<AtomicU32>,
}

impl Reserving {
    fn new(slots: usize, calls: Arc<AtomicU32>) -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            reserved: None,
            acquiring: None,
            calls,
        }
    }
}

impl Clone for Reserving {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
            reserved: None,
            acquiring: None,
            calls: self.calls.clone(),
        }
    }
}

impl Service<()> for Reserving {
    type Response = u32;
    type Error = &'static str;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, &'static str>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.reserved.is_some() {
            return Poll::Ready(Ok(()));
        }
        let slots = self.slots.clone();
        let acquiring = self
            .acquiring
            .get_or_insert_with(|| Box::pin(slots.acquire_owned()));
        match acquiring.as_mut().poll(cx) {
            Poll::Ready(permit) => {
                self.acquiring = None;
                self.reserved = Some(permit.expect("never closed"));
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let permit = self.reserved.take().expect("poll_ready before call");
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let _permit = permit;
            // The first call fails slowly; the others answer quickly.
            if n == 0 {
                sleep(MS(500)).await;
                Err("first call fails")
            } else {
                sleep(MS(5)).await;
                Ok(n)
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn retry_layer_spends_the_reservation_poll_ready_made() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(RetryLayer::new(
            Retry::new()
                .max_attempts(2)
                .backoff(Backoff::constant(MS(10))),
        ))
        .service(Reserving::new(1, calls.clone()));
    let call = svc.ready().await.unwrap().call(());
    // With one slot, an attempt made on a fresh clone waits for the slot
    // the ready service holds: forever.
    let r = tokio::time::timeout(Duration::from_secs(60), call).await;
    assert_eq!(r.expect("the retried call finishes").unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn hedge_layer_spends_the_reservation_poll_ready_made() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(Hedge::fixed(MS(20))))
        .service(Reserving::new(2, calls.clone()));
    let start = Instant::now();
    let call = svc.ready().await.unwrap().call(());
    // Two slots: the first attempt and the hedge each get one.
    let r = tokio::time::timeout(Duration::from_secs(60), call).await;
    assert_eq!(r.expect("the hedged call finishes").unwrap(), 1);
    assert_eq!(start.elapsed(), MS(25));
}
