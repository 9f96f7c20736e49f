//! Walkthrough `hedging`: hedged requests cut tail latency; a health check
//! with a timeout.
//!
//! A backend answers most requests in about 10 ms, but one in ten takes
//! 250 ms (a slow replica, a lost packet). 200 requests are sent plain,
//! then hedged after a fixed 30 ms, then hedged after the observed 90th
//! percentile: a second attempt starts when the first is slower than
//! usual (and a third after another delay), the first answer wins
//! and the other attempts are cancelled. The
//! percentiles and the extra load each costs are measured in this run.
//! Last, a health check probes three backends with a timeout each.
//!
//! Run it with `cargo xtask demo hedging`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aqueduct::resilience::{Hedge, timeout};
use aqueduct_examples::{bar, ms, require, section};
use tokio::time::sleep;

/// A backend whose latency is drawn from a fixed pseudo-random sequence:
/// 10 ms (+ up to 4 ms) nine times in ten, 250 ms once in ten.
#[derive(Clone)]
struct Backend {
    state: Arc<AtomicU64>,
    attempts: Arc<AtomicU32>,
}

impl Backend {
    fn new() -> Self {
        Self {
            state: Arc::new(AtomicU64::new(0x2545_f491_4f6c_dd1d)),
            attempts: Arc::new(AtomicU32::new(0)),
        }
    }

    fn next_latency(&self) -> Duration {
        // xorshift64*, advanced atomically.
        let mut x = self.state.load(Ordering::Relaxed);
        loop {
            let mut y = x;
            y ^= y >> 12;
            y ^= y << 25;
            y ^= y >> 27;
            match self
                .state
                .compare_exchange(x, y, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => x = actual,
            }
        }
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        if r % 10 == 0 {
            Duration::from_millis(250)
        } else {
            Duration::from_millis(10 + r % 5)
        }
    }

    async fn get(&self) -> Result<u32, std::io::Error> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        sleep(self.next_latency()).await;
        Ok(200)
    }
}

struct Stats {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    attempts: u32,
}

async fn load(backend: &Backend, hedge: Option<Hedge>, n: usize) -> Stats {
    backend.attempts.store(0, Ordering::Relaxed);
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (backend, hedge) = (backend.clone(), hedge.clone());
            tokio::spawn(async move {
                // Spread the requests over 200 ms.
                sleep(Duration::from_millis(i as u64)).await;
                let t = Instant::now();
                let r = match &hedge {
                    Some(h) => h.run(|| backend.get()).await.map_err(|e| e.to_string()),
                    None => backend.get().await.map_err(|e| e.to_string()),
                };
                assert_eq!(r, Ok(200));
                t.elapsed()
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await.expect("request task"));
    }
    lat.sort();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    Stats {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: *lat.last().unwrap(),
        attempts: backend.attempts.load(Ordering::Relaxed),
    }
}

fn show(name: &str, s: &Stats, n: usize) {
    println!(
        "   {name:<26} p50 {:>8}  p90 {:>8}  p99 {:>8}  max {:>8}  load {:.2}x",
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        f64::from(s.attempts) / n as f64
    );
    println!(
        "   {:<26} p99 {}",
        "",
        bar(s.p99.as_millis() as u64, 260, 40)
    );
}

#[tokio::main]
async fn main() {
    let n = 200;
    let backend = Backend::new();

    section("200 requests to a backend with a slow 10% (250 ms)");
    let plain = load(&backend, None, n).await;
    show("plain", &plain, n);
    let fixed = load(
        &backend,
        Some(Hedge::fixed(Duration::from_millis(30)).max_extra(2)),
        n,
    )
    .await;
    show("hedged after 30 ms, up to 2", &fixed, n);

    // Warm a percentile hedge up on a first batch, then measure a second.
    let adaptive = Hedge::percentile(0.9, Duration::from_millis(100)).max_extra(2);
    let _ = load(&backend, Some(adaptive.clone()), n).await;
    println!(
        "   (the percentile hedge learned a delay of {} from the first 200 requests)",
        ms(adaptive.delay())
    );
    let learned = load(&backend, Some(adaptive.clone()), n).await;
    show("hedged after p90, up to 2", &learned, n);

    require(
        plain.p99 >= Duration::from_millis(240),
        "the plain tail is the slow replica",
    );
    require(fixed.p99 < plain.p99 / 2, "a fixed hedge cuts the tail");
    require(
        learned.p99 < plain.p99 / 2,
        "a percentile hedge cuts the tail",
    );
    require(
        f64::from(learned.attempts) < 1.3 * n as f64,
        "hedging costs little extra load",
    );
    println!(
        "\n   hedging cut p99 from {} to {} for {:.0}% more requests.",
        ms(plain.p99),
        ms(learned.p99),
        (f64::from(learned.attempts) / n as f64 - 1.0) * 100.0
    );

    section("a health check with a timeout per backend");
    let checks = [("db", 5u64), ("cache", 2), ("search", 10_000)];
    let t = Instant::now();
    let results = futures::future::join_all(checks.iter().map(|(name, took)| async move {
        let probe = async {
            sleep(Duration::from_millis(*took)).await;
            Ok::<_, std::io::Error>(())
        };
        (name, timeout(Duration::from_millis(100), probe).await)
    }))
    .await;
    for (name, r) in &results {
        match r {
            Ok(Ok(())) => println!("   {name:<7} healthy"),
            Ok(Err(e)) => println!("   {name:<7} unhealthy: {e}"),
            Err(e) => println!("   {name:<7} unhealthy: {e}"),
        }
    }
    println!(
        "   all three checked in {} (the hung one did not hold up the others)",
        ms(t.elapsed())
    );
    require(
        results.iter().filter(|(_, r)| r.is_err()).count() == 1,
        "exactly the hung backend timed out",
    );
    require(
        t.elapsed() < Duration::from_millis(300),
        "the check is bounded by its timeout",
    );
}
