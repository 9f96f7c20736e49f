//! `Shutdown`: tracked tasks, grace period, report.
// Under `--cfg loom` tokio has no sockets, files or signals to test.
#![cfg(not(loom))]

use std::time::Duration;

use aqueduct_io::Shutdown;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn grace_period_then_abort_with_report() {
    let shutdown = Shutdown::new();
    for i in 1..=4u64 {
        let token = shutdown.token();
        // Each task needs i seconds to wind down after the signal.
        shutdown.spawn(async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_secs(i)).await;
        });
    }
    let done_before = shutdown.spawn(async { 42 });
    assert_eq!(done_before.await.unwrap(), Some(42));
    let start = Instant::now();
    let report = shutdown.shutdown(Duration::from_millis(2500)).await;
    assert_eq!(
        (report.in_flight, report.finished, report.aborted),
        (4, 2, 2)
    );
    assert_eq!(start.elapsed(), Duration::from_millis(2500));
    assert!(!report.is_clean());
    assert_eq!(shutdown.tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn aborted_tasks_yield_none_and_drop_their_state() {
    let shutdown = Shutdown::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = shutdown.spawn(async move {
        let _keep = tx; // dropped when the task is aborted
        std::future::pending::<()>().await;
    });
    let report = shutdown.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.aborted, 1);
    assert_eq!(h.await.unwrap(), None);
    assert!(rx.await.is_err(), "the task's state was dropped");
}

#[tokio::test(start_paused = true)]
async fn tasks_spawned_during_a_shutdown_are_waited_for_until_the_grace_ends() {
    let shutdown = Shutdown::new();
    let token = shutdown.token();
    let s = shutdown.clone();
    // Spawned once the shutdown has begun: waited for like the others.
    let during = shutdown.spawn(async move {
        token.cancelled().await;
        s.spawn(tokio::time::sleep(Duration::from_millis(500)))
            .await
            .unwrap()
    });
    let report = shutdown.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.finished, report.aborted), (2, 0), "{report}");
    assert_eq!(report.elapsed, Duration::from_millis(500));
    assert_eq!(during.await.unwrap(), Some(Some(())));
    // The grace period did not run out: a task spawned now runs.
    let after = shutdown.spawn(async {
        tokio::task::yield_now().await;
        7
    });
    assert_eq!(after.await.unwrap(), Some(7));
}

#[tokio::test(start_paused = true)]
async fn tasks_spawned_after_the_grace_ran_out_stop_when_they_wait() {
    let shutdown = Shutdown::new();
    let token = shutdown.token();
    shutdown.spawn(async move {
        token.cancelled().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let report = shutdown.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.finished, report.aborted), (0, 1), "{report}");
    let start = Instant::now();
    let after = shutdown.spawn(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        7
    });
    assert_eq!(after.await.unwrap(), None);
    assert_eq!(start.elapsed(), Duration::ZERO);
    // One that needs no `.await` still completes.
    assert_eq!(shutdown.spawn(async { 7 }).await.unwrap(), Some(7));
}
