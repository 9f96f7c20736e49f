//! Walkthrough `rate_limit`: token-bucket rate limiting with GCRA.
//!
//! 60 tasks share one `flow::RateLimiter` of 40 per second with a burst of
//! 8. Each `acquire().await` reserves its slot the moment it is called and
//! sleeps exactly until it: no polling, no retry loop, first come first
//! served. The picture counts the permits granted in each 100 ms: the burst
//! first, then a flat 4 per 100 ms, never more, even across window edges
//! (a fixed-window counter would allow twice the rate there). Then the
//! quota is raised to 80 per second at runtime with `set_quota` and 36 more
//! tasks go through at the new pace. Then `acquire_by` gives up
//! at once when the predicted wait passes a deadline (a rate limiter with a
//! timeout), and a `KeyedRateLimiter` gives every client its own budget.
//!
//! Run it with `cargo xtask demo rate_limit`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aqueduct::flow::{KeyedRateLimiter, Quota, RateLimitError, RateLimiter};
use aqueduct_examples::{bar, ms, section};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. 60 tasks through 40/s with a burst of 8, then 36 more at 80/s");
    let limiter = RateLimiter::new(Quota::per_second(40).burst(8));
    let start = tokio::time::Instant::now();
    let grants = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (limiter, grants) = (limiter.clone(), Arc::clone(&grants));
        tasks.push(tokio::spawn(async move {
            let permit = limiter.acquire(); // the slot is reserved here
            let slot = start.elapsed() + permit.wait();
            permit.await;
            grants.lock().unwrap().push((start.elapsed(), slot));
        }));
    }
    // Every reservation above was made at 40/s; calls made after
    // `set_quota` use the new quota.
    for t in tasks {
        t.await?;
    }
    let first_phase = start.elapsed();
    limiter.set_quota(Quota::per_second(80).burst(8));
    let mut tasks = Vec::new();
    for _ in 0..36 {
        let (limiter, grants) = (limiter.clone(), Arc::clone(&grants));
        tasks.push(tokio::spawn(async move {
            let permit = limiter.acquire(); // the slot is reserved here
            let slot = start.elapsed() + permit.wait();
            permit.await;
            grants.lock().unwrap().push((start.elapsed(), slot));
        }));
    }
    for t in tasks {
        t.await?;
    }
    let mut both = grants.lock().unwrap().clone();
    both.sort();
    // What the tasks saw, and the slots the limiter gave them (the check
    // uses the slots: a busy machine may wake a task late, never early).
    let grants: Vec<Duration> = both.iter().map(|(seen, _)| *seen).collect();
    let mut slots: Vec<Duration> = both.iter().map(|(_, slot)| *slot).collect();
    slots.sort();
    let buckets = (grants.last().copied().unwrap_or_default().as_millis() / 100 + 1) as usize;
    let mut per_100ms = vec![0u64; buckets];
    for g in &grants {
        per_100ms[(g.as_millis() / 100) as usize] += 1;
    }
    println!("   permits per 100 ms:");
    for (i, n) in per_100ms.iter().enumerate() {
        let quota = if Duration::from_millis(i as u64 * 100) < first_phase {
            "40/s"
        } else {
            "80/s"
        };
        println!("   {:>5} ms |{}| {n:>2}  {quota}", i * 100, bar(*n, 12, 24));
    }
    println!(
        "   60 permits at 40/s took {} (8 at once, then one every 25 ms)",
        ms(first_phase)
    );
    // Check every sliding window of 100 ms against burst + rate.
    let mut worst = 0;
    for (i, t0) in slots.iter().enumerate() {
        let n = slots[i..]
            .iter()
            .take_while(|t| **t < *t0 + Duration::from_millis(100))
            .count();
        worst = worst.max(n);
    }
    // No task may get through before its slot (2 ms of slack for timers).
    let early = both
        .iter()
        .filter(|(seen, slot)| *seen + Duration::from_millis(2) < *slot)
        .count();
    println!(
        "   busiest sliding 100 ms window of granted slots: {worst} permits \
         (bound: 8 burst + 8 at 80/s); {early} tasks woke before their slot"
    );
    let expected = Duration::from_millis(52 * 25);
    if worst > 16 || early > 0 || first_phase < expected || grants.len() != 96 {
        return Err("the limiter let more through than its quota".into());
    }

    section("2. acquire_by: give up at once when the wait would pass a deadline");
    let strict = RateLimiter::new(Quota::per_second(5).burst(1));
    strict.try_acquire()?;
    let t = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
    match strict.acquire_by(deadline).await {
        Err(RateLimitError::DeadlineExceeded { wait, budget }) => println!(
            "   refused after {}: the next slot is {} away, the deadline {}",
            ms(t.elapsed()),
            ms(wait),
            ms(budget)
        ),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    strict.acquire_by(deadline).await?;
    println!(
        "   with 300 ms of budget it waited {} and went through",
        ms(t.elapsed())
    );

    section("3. KeyedRateLimiter: a budget per client, memory bounded by active clients");
    let per_client = KeyedRateLimiter::new(Quota::per_second(2).burst(3));
    for client in ["alice", "bob"] {
        let ok = (0..5)
            .filter(|_| per_client.try_acquire(&client).is_ok())
            .count();
        println!("   {client}: 5 requests at once, {ok} admitted (burst 3)");
        if ok != 3 {
            return Err("keyed burst not applied per client".into());
        }
    }
    println!(
        "   {} keys stored; a key back to full is dropped lazily",
        per_client.len()
    );
    Ok(())
}
