//! Walkthrough `workers`: a worker pool and a supervisor.
//!
//! 1. `WorkerPool::new(3, 4)`: three workers over a queue of four jobs.
//!    Submitting 15 jobs waits whenever the queue is full (backpressure on
//!    the submitter). Every job has a handle for its result; one job panics,
//!    its handle reports it, and its worker carries on.
//! 2. `close(grace)`: intake stops, the queue drains, and a job that
//!    outlives the grace period is aborted.
//! 3. `supervise`: a task that crashes is restarted with exponential
//!    backoff, up to a restart limit; the restarts are drawn on a timeline.
//!
//! Run it with `cargo xtask demo workers`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aqueduct::flow::channel::{JobError, WorkerPool};
use aqueduct::flow::supervisor::{Exit, Failure, RestartPolicy, supervise};
use aqueduct_examples::{ms, section};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Report panics in one line (the pool reports them to the job's handle).
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map_or("?", String::as_str);
        println!("   (panic hook) {msg}");
    }));

    section("1. 15 jobs of 40 ms on 3 workers, queue of 4; job 7 panics");
    let pool = WorkerPool::new(3, 4);
    let t = Instant::now();
    let mut handles = Vec::new();
    let mut submit_waits = Vec::new();
    for i in 0..15u32 {
        let before = Instant::now();
        let h = pool
            .submit(async move {
                tokio::time::sleep(Duration::from_millis(40)).await;
                assert!(i != 7, "job {i} hit a bad record");
                i * 10
            })
            .await?;
        submit_waits.push(before.elapsed());
        handles.push(h);
    }
    let submitting = t.elapsed();
    let waited = submit_waits
        .iter()
        .filter(|d| **d > Duration::from_millis(5))
        .count();
    println!(
        "   submitting took {}: {waited} submits found the queue full and waited for a worker",
        ms(submitting)
    );
    let mut ok = 0;
    for (i, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(v) => {
                ok += 1;
                debug_assert_eq!(v, i as u32 * 10);
            }
            Err(JobError::Panicked { message }) => println!("   job {i} panicked: {message}"),
            Err(e) => return Err(e.into()),
        }
    }
    let s = pool.stats();
    println!(
        "   {ok} results, {} panic, {} completed in {} (5 waves of 40 ms)",
        s.panicked,
        s.completed,
        ms(t.elapsed())
    );
    if ok != 14 || s.panicked != 1 || waited < 2 || submitting < Duration::from_millis(80) {
        return Err("the pool did not behave as described".into());
    }

    section("2. close(150 ms): drain the queue, abort what outlives the grace period");
    let quick: Vec<_> = futures_quick(&pool).await?;
    let slow = pool
        .submit(tokio::time::sleep(Duration::from_secs(10)))
        .await?;
    let t = Instant::now();
    let report = pool.close(Duration::from_millis(150)).await;
    let mut drained = 0;
    for h in quick {
        if h.await.is_ok() {
            drained += 1;
        }
    }
    println!(
        "   closed in {}: {drained} queued jobs drained, {} worker aborted",
        ms(t.elapsed()),
        report.aborted
    );
    println!("   the 10 s job's handle says: {}", slow.await.unwrap_err());
    if drained != 3 || report.aborted != 1 {
        return Err("close did not drain and abort as described".into());
    }

    section("3. a supervised task that crashes three times, then runs");
    let events = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let ev = Arc::clone(&events);
    let policy = RestartPolicy::new()
        .max_restarts(5)
        .backoff(Duration::from_millis(50), Duration::from_secs(1));
    let task = supervise(policy, move || {
        let ev = Arc::clone(&ev);
        async move {
            let run = {
                let mut ev = ev.lock().unwrap();
                ev.push(start.elapsed());
                ev.len()
            };
            if run <= 3 {
                return Err(format!("connection lost (run {run})"));
            }
            Ok(())
        }
    });
    let exit = task.join().await;
    let events = events.lock().unwrap().clone();
    let line: String = (0..=((events.last().map_or(0, Duration::as_millis) / 25) as usize))
        .map(|slot| {
            if events.iter().any(|e| (e.as_millis() / 25) as usize == slot) {
                '●'
            } else {
                '─'
            }
        })
        .collect();
    println!("   runs on a 25 ms grid: {line}");
    for (i, e) in events.iter().enumerate() {
        println!("   run {} started at {}", i + 1, ms(*e));
    }
    match exit {
        Exit::Completed { restarts: 3 } => {
            println!("   completed after 3 restarts (50, 100, 200 ms backoff)");
        }
        other => return Err(format!("unexpected exit {other:?}").into()),
    }

    section("4. a task that never recovers hits the restart limit");
    let task = supervise(
        RestartPolicy::new()
            .max_restarts(2)
            .backoff(Duration::from_millis(10), Duration::from_millis(10)),
        || async { Err::<(), _>("disk full") },
    );
    match task.join().await {
        Exit::GaveUp {
            restarts,
            last: Failure::Error(e),
        } => {
            println!("   gave up after {restarts} restarts; last error: {e}");
        }
        other => return Err(format!("unexpected exit {other:?}").into()),
    }
    Ok(())
}

/// Queues three quick jobs (behind nothing: the pool is idle).
async fn futures_quick(
    pool: &WorkerPool,
) -> Result<Vec<aqueduct::flow::channel::JobHandle<()>>, Box<dyn std::error::Error>> {
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(
            pool.submit(tokio::time::sleep(Duration::from_millis(30)))
                .await?,
        );
    }
    Ok(v)
}
