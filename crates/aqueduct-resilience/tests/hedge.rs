//! Hedging: the delay, the winner, the cancellation of the losers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aqueduct_resilience::Hedge;
use aqueduct_resilience::hedge::HedgeError;
use tokio::time::{Instant, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Counts drops, to see that losing attempts are cancelled.
struct DropCount(Arc<AtomicU32>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_fast_first_attempt_starts_no_hedge() {
    let started = AtomicU32::new(0);
    let h = Hedge::fixed(MS(50)).max_extra(2);
    let v = h
        .run(|| {
            started.fetch_add(1, Ordering::SeqCst);
            async {
                sleep(MS(40)).await;
                Ok::<_, ()>("fast")
            }
        })
        .await;
    assert_eq!(v.unwrap(), "fast");
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn first_success_wins_and_the_rest_are_cancelled() {
    let started = AtomicU32::new(0);
    let dropped = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let h = Hedge::fixed(MS(20)).max_extra(3);
    let v = h
        .run(|| {
            let n = started.fetch_add(1, Ordering::SeqCst);
            let guard = DropCount(dropped.clone());
            async move {
                let _guard = guard;
                // Attempt 0 takes 1 s, 1 takes 100 ms, 2 takes 15 ms.
                let took = [1000, 100, 15, 1000][n as usize];
                sleep(MS(took)).await;
                Ok::<_, ()>(n)
            }
        })
        .await;
    // Attempt 2 started at 40 ms and finished at 55 ms, before attempt 1
    // (20 + 100 = 120 ms) and before attempt 3 would start (60 ms).
    assert_eq!(v.unwrap(), 2);
    assert_eq!(start.elapsed(), MS(55));
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_starts_the_next_attempt_at_once() {
    let start = Instant::now();
    let started = AtomicU32::new(0);
    let h = Hedge::fixed(MS(500)).max_extra(1);
    let v = h
        .run(|| {
            let n = started.fetch_add(1, Ordering::SeqCst);
            async move {
                sleep(MS(10)).await;
                if n == 0 { Err("refused") } else { Ok(n) }
            }
        })
        .await;
    assert_eq!(v.unwrap(), 1);
    assert_eq!(start.elapsed(), MS(20));
}

#[tokio::test(start_paused = true)]
async fn all_failed_reports_the_count_and_last_error() {
    let started = AtomicU32::new(0);
    let h = Hedge::fixed(MS(5)).max_extra(2);
    let e = h
        .run(|| {
            let n = started.fetch_add(1, Ordering::SeqCst);
            async move { Err::<(), _>(n) }
        })
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        HedgeError::AllFailed {
            attempts: 3,
            last: 2
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn percentile_delay_follows_observed_latency() {
    let h = Hedge::percentile(0.9, MS(500));
    assert_eq!(h.delay(), MS(500));
    for i in 0..32u64 {
        // Latencies 1..=32 ms (each call's own).
        h.run(|| async move {
            sleep(MS(i + 1)).await;
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
    }
    let d = h.delay();
    assert!(d >= MS(28) && d <= MS(30), "{d:?}");
}
