//! Behaviour of `WorkerPool` and the supervisor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use aqueduct_flow::channel::{JobError, SubmitError, WorkerPool};
use aqueduct_flow::supervisor::{Exit, Failure, RestartPolicy, supervise};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn n_workers_run_n_jobs_at_once_and_submit_waits_when_full() {
    let pool = WorkerPool::new(2, 2);
    let start = Instant::now();
    let mut handles = Vec::new();
    for i in 0..6u64 {
        handles.push(
            pool.submit(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                i
            })
            .await
            .unwrap(),
        );
    }
    // 2 running + 2 queued fit at once; the 5th and 6th submit waited for
    // the first two jobs to finish.
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert!(matches!(
        pool.try_submit(async { 0 }),
        Err(SubmitError::Full { capacity: 2 })
    ));
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), i as u64);
    }
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(pool.stats().completed, 6);
}

#[tokio::test]
async fn a_panicking_job_is_reported_and_the_worker_goes_on() {
    let pool = WorkerPool::new(1, 4);
    let bad = pool.submit(async { panic!("job exploded") }).await.unwrap();
    let good = pool.submit(async { "still alive" }).await.unwrap();
    assert_eq!(
        bad.await,
        Err(JobError::Panicked {
            message: "job exploded".into()
        })
    );
    assert_eq!(good.await, Ok("still alive"));
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn close_drains_within_the_grace_period_then_aborts() {
    let pool = WorkerPool::new(1, 8);
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for ms in [10u64, 10, 10, 5000] {
        let done = Arc::clone(&done);
        handles.push(
            pool.submit(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                done.fetch_add(1, Ordering::SeqCst);
            })
            .await
            .unwrap(),
        );
    }
    let start = Instant::now();
    let report = pool.close(Duration::from_secs(1)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(report.aborted, 1);
    assert_eq!(done.load(Ordering::SeqCst), 3, "queued jobs were drained");
    let last = handles.pop().unwrap();
    assert_eq!(last.await, Err(JobError::Cancelled));
    assert!(matches!(
        pool.submit(async {}).await,
        Err(SubmitError::Closed)
    ));
}

#[tokio::test(start_paused = true)]
async fn supervisor_restarts_with_backoff_up_to_the_limit() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    let start = Instant::now();
    let policy = RestartPolicy::new()
        .max_restarts(3)
        .backoff(Duration::from_millis(10), Duration::from_millis(25));
    let t = supervise(policy, move || {
        let r = Arc::clone(&r);
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("always failing")
        }
    });
    match t.join().await {
        Exit::GaveUp {
            restarts: 3,
            last: Failure::Error("always failing"),
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    // 10 + 20 + 25 (capped) ms of backoff.
    assert_eq!(start.elapsed(), Duration::from_millis(55));
}

#[tokio::test(start_paused = true)]
async fn a_healthy_run_resets_the_restart_budget() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    let policy = RestartPolicy::new()
        .max_restarts(1)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .reset_after(Duration::from_secs(1));
    let t = supervise(policy, move || {
        let r = Arc::clone(&r);
        async move {
            let n = r.fetch_add(1, Ordering::SeqCst);
            // Runs 0..4 last 2 s each (healthy), then fail fast.
            if n < 4 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            if n == 6 { Ok(()) } else { Err(n) }
        }
    });
    match t.join().await {
        // Each healthy run's failure gets a fresh budget of 1 restart; run
        // 4 is the restart after the last healthy run and fails fast too.
        Exit::GaveUp {
            restarts: 4,
            last: Failure::Error(4),
        } => {}
        other => panic!("{other:?}"),
    }
    // Without the reset it would have given up after run 1.
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_supervised_task_is_restarted() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    let t = supervise(RestartPolicy::new(), move || {
        let r = Arc::clone(&r);
        async move {
            assert!(r.fetch_add(1, Ordering::SeqCst) > 0, "first run panics");
            Ok::<(), ()>(())
        }
    });
    assert!(matches!(t.join().await, Exit::Completed { restarts: 1 }));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_pool_after_a_cancelled_close_still_stops_its_workers() {
    let pool = WorkerPool::new(1, 1);
    let stuck = pool.submit(std::future::pending::<()>()).await.unwrap();
    // A shutdown with an overall deadline shorter than the grace period.
    let r = tokio::time::timeout(
        Duration::from_millis(10),
        pool.close(Duration::from_secs(60)),
    )
    .await;
    assert!(r.is_err());
    drop(pool);
    // The pool owned its workers: the stuck job is dropped, not left
    // running detached.
    let cancelled = tokio::time::timeout(Duration::from_secs(1), stuck).await;
    assert_eq!(cancelled, Ok(Err(JobError::Cancelled)));
}

#[tokio::test(start_paused = true)]
async fn a_submit_waiting_when_close_begins_is_refused() {
    let pool = Arc::new(WorkerPool::new(1, 1));
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    // The worker is busy and the queue is full.
    let first = pool
        .submit(async move {
            let _ = hold.await;
        })
        .await
        .unwrap();
    tokio::task::yield_now().await;
    let queued = pool.submit(async {}).await.unwrap();
    let p = Arc::clone(&pool);
    let waiting = tokio::spawn(async move { p.submit(async {}).await.map(drop) });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    let p = Arc::clone(&pool);
    let close = tokio::spawn(async move { p.close(Duration::from_secs(1)).await });
    tokio::task::yield_now().await;
    // The queue drains, which frees a slot for the waiting submit.
    release.send(()).unwrap();
    assert!(matches!(waiting.await.unwrap(), Err(SubmitError::Closed)));
    let report = close.await.unwrap();
    assert_eq!((report.completed, report.aborted), (2, 0));
    assert!(first.await.is_ok() && queued.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_job_cut_short_by_close_is_no_longer_counted_busy() {
    let pool = WorkerPool::new(2, 4);
    for _ in 0..2 {
        drop(pool.submit(std::future::pending::<()>()).await.unwrap());
    }
    tokio::task::yield_now().await;
    assert_eq!(pool.stats().busy, 2);
    let report = pool.close(Duration::from_secs(1)).await;
    assert_eq!(report.aborted, 2);
    assert_eq!(pool.stats().busy, 0);
}

#[tokio::test(start_paused = true)]
async fn a_factory_that_panics_is_restarted_like_a_task_that_panics() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let task = supervise(RestartPolicy::new().max_restarts(3), move || {
        // Panics while making the first task, not while running it.
        assert_ne!(c.fetch_add(1, Ordering::SeqCst), 0, "no connection yet");
        async { Ok::<(), ()>(()) }
    });
    assert!(matches!(task.join().await, Exit::Completed { restarts: 1 }));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
