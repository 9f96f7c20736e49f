//! Walkthrough `pool`: 20 tasks share 5 pooled objects.
//!
//! Each task checks an object out, works with it for a few milliseconds and
//! drops the guard, which gives the object back at once, to the caller that
//! has waited longest. Shown, all measured in this run: how often each of
//! the 5 objects was reused, how long checkouts waited, and a leak report
//! naming the source line of a checkout that was held too long.
//!
//! Run it with `cargo xtask demo pool`.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aqueduct::pool::{Manager, Pool, WaitHistogram};
use aqueduct_examples::{bar, finish_within, ms, section};
use tokio::task::JoinSet;
use tokio::time::sleep;

/// A stand-in for a costly resource, such as a database session.
#[derive(Debug)]
struct Session {
    id: u32,
}

/// Makes sessions, numbered from 0.
struct Sessions {
    next: AtomicU32,
}

impl Manager for Sessions {
    type Object = Session;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<Session, Self::Error> {
        // Making one is slow; that is why they are pooled.
        sleep(Duration::from_millis(20)).await;
        Ok(Session {
            id: self.next.fetch_add(1, Ordering::Relaxed),
        })
    }
}

const TASKS: usize = 20;
const ROUNDS: usize = 8;
const SIZE: usize = 5;

/// How long the whole walkthrough may take: past it, it fails instead of
/// hanging.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    finish_within(
        DEADLINE,
        walkthrough(),
        "ok: 5 sessions served 161 checkouts, leaks were named, all came back",
    )
    .await
}

/// Runs the walkthrough; `true` if everything shown happened.
async fn walkthrough() -> bool {
    let mut ok = true;

    section("1. a pool of 5 sessions, created up front");
    let t = Instant::now();
    let pool = Pool::builder(Sessions {
        next: AtomicU32::new(0),
    })
    .max_size(SIZE)
    .min_idle(SIZE)
    .wait_timeout(Duration::from_secs(2))
    .leak_threshold(Duration::from_millis(150))
    .build()
    .await
    .expect("the sessions are made");
    let s = pool.status();
    println!(
        "   {} sessions ready in {} (made one after another at build time)",
        s.idle,
        ms(t.elapsed())
    );

    section("2. 20 tasks x 8 requests share them; one task forgets to give back in time");
    let waits = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mut set = JoinSet::new();
    let t = Instant::now();
    for task in 0..TASKS {
        let pool = pool.clone();
        let waits = std::sync::Arc::clone(&waits);
        set.spawn(async move {
            for round in 0..ROUNDS {
                let asked = Instant::now();
                let session = pool.get().await.expect("a session within the wait timeout");
                waits.lock().unwrap().push(asked.elapsed());
                // The work: 2 to 6 ms with the session.
                let work = 2 + (task * 7 + round * 3) % 5;
                sleep(Duration::from_millis(work as u64)).await;
                drop(session);
            }
        });
    }
    // The forgetful caller: holds a session far longer than the others.
    let forgetful = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let held = pool.get().await.expect("a session");
            sleep(Duration::from_millis(300)).await;
            held.id
        })
    };
    let leak_line = line!() - 5;
    sleep(Duration::from_millis(200)).await;
    let holders = pool.holders();
    while let Some(done) = set.join_next().await {
        if done.is_err() {
            ok = false;
        }
    }
    let forgot = forgetful.await.expect("the forgetful task ends");
    let total = t.elapsed();
    println!(
        "   {} checkouts in {} by {TASKS} tasks on {SIZE} sessions",
        TASKS * ROUNDS + 1,
        ms(total)
    );

    section("3. leak report: pool.holders() 200 ms into the run (threshold 150 ms)");
    let mut found_leak = false;
    for h in &holders {
        let held = h.held_for.unwrap_or_default();
        let mark = if h.leaked { "LEAK" } else { "ok  " };
        println!(
            "   {mark} {}:{} held {:>9}",
            h.location.file(),
            h.location.line(),
            ms(held)
        );
        if h.leaked && h.location.line() == leak_line {
            found_leak = true;
        }
    }
    println!(
        "   the forgetful task held session #{forgot}; the report names its line ({leak_line}), \
         and with feature `tracing` a warning is logged once"
    );
    if !found_leak {
        println!("   !! the leak was not reported");
        ok = false;
    }

    section("4. reuse: how many checkouts each session served");
    let mut uses = Vec::new();
    pool.retain(|session, meta| {
        uses.push((session.id, meta.use_count()));
        true
    });
    uses.sort_unstable();
    let max_use = uses.iter().map(|u| u.1).max().unwrap_or(1);
    for (id, n) in &uses {
        println!("   session #{id} {} {n}", bar(*n, max_use, 30));
    }
    let served: u64 = uses.iter().map(|u| u.1).sum();
    let s = pool.status();
    println!(
        "   {} sessions made in all, {served} checkouts: each session reused ~{} times",
        s.created,
        served / s.created.max(1)
    );
    if s.created != SIZE as u64 || served != (TASKS * ROUNDS + 1) as u64 {
        println!("   !! expected {SIZE} sessions serving every checkout");
        ok = false;
    }

    section("5. wait times: how long checkouts queued (FIFO, oldest caller first)");
    let hist = s.wait_time;
    let labels = [
        "no wait", "<=100µs", "<=1ms", "<=10ms", "<=100ms", "<=1s", "<=10s", ">10s",
    ];
    let top = hist.buckets.iter().copied().max().unwrap_or(1);
    for (i, n) in hist.buckets.iter().enumerate() {
        if *n > 0 {
            println!("   {:>8} {} {n}", labels[i], bar(*n, top, 30));
        }
    }
    let mut waits = waits.lock().unwrap().clone();
    waits.sort_unstable();
    let p50 = waits[waits.len() / 2];
    let p99 = waits[waits.len() * 99 / 100];
    let max = waits[waits.len() - 1];
    println!(
        "   p50 {}, p99 {}, max {}: first come, first served keeps the tail near the median",
        ms(p50),
        ms(p99),
        ms(max)
    );
    // 21 callers on 5 sessions must queue, but none for as long as a second.
    if hist.total() != (TASKS * ROUNDS + 1) as u64
        || hist.buckets[0] == hist.total()
        || WaitHistogram::bucket_of(max) >= 6
    {
        println!("   !! expected every checkout counted, some of them queued, none for a second");
        ok = false;
    }
    if s.in_use != 0 || s.idle != SIZE {
        println!("   !! every session should be back: {s:?}");
        ok = false;
    }

    ok
}
