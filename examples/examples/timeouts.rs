//! Walkthrough `timeouts`: bounding how long an operation may take.
//!
//! A timeout with a typed error that names the limit; a timeout with a
//! fallback value and with a fallback computation; and the difference
//! between individual timeouts (each step gets its own budget, so three
//! steps may take three times as long) and a collective one (one deadline
//! for all the steps). Every figure printed is measured in this run.
//!
//! Run it with `cargo xtask demo timeouts`.

use std::time::{Duration, Instant};

use aqueduct::resilience::fallback::{Cause, timeout_or, timeout_or_else};
use aqueduct::resilience::{Deadline, timeout};
use aqueduct_examples::{ms, require, section};
use tokio::time::sleep;

/// A stand-in for a remote call that takes `d`.
async fn call(name: &'static str, d: Duration) -> Result<&'static str, std::io::Error> {
    sleep(d).await;
    Ok(name)
}

#[tokio::main]
async fn main() {
    let fast = Duration::from_millis(30);
    let slow = Duration::from_millis(400);
    let limit = Duration::from_millis(100);

    section("1. timeout(d, fut): the error says which limit was passed");
    let t = Instant::now();
    let ok = timeout(limit, call("fast", fast)).await;
    println!(
        "   fast call under a {} timeout: {ok:?} after {}",
        ms(limit),
        ms(t.elapsed())
    );
    require(matches!(ok, Ok(Ok("fast"))), "the fast call finishes");
    let t = Instant::now();
    let err = timeout(limit, call("slow", slow)).await.unwrap_err();
    let waited = t.elapsed();
    println!("   slow call ({}): `{err}` after {}", ms(slow), ms(waited));
    println!(
        "   err.timeout() = {:?}: the limit is in the error, not only in the log",
        err.timeout()
    );
    require(err.timeout() == limit, "the error carries the limit");
    require(
        waited >= limit && waited < slow,
        "the slow call was cut at the limit",
    );

    section("2. timeout with a fallback value, and with a fallback computation");
    let t = Instant::now();
    let price = timeout_or(limit, call("live price", slow), "cached price").await;
    println!("   timeout_or: got {price:?} after {}", ms(t.elapsed()));
    require(price == "cached price", "the fallback value is used");
    let t = Instant::now();
    let primary = async { call("primary", slow).await.map(str::to_owned) };
    let answer = timeout_or_else(limit, primary, |cause| async move {
        let why = match cause {
            Cause::Timeout(e) => format!("timed out after {:?}", e.timeout()),
            Cause::Error(e) => format!("failed: {e}"),
            _ => "other".to_owned(),
        };
        let replica = call("replica", fast).await.unwrap_or("nothing");
        format!("{replica} (primary {why})")
    })
    .await;
    println!(
        "   timeout_or_else: got {answer:?} after {}",
        ms(t.elapsed())
    );
    require(
        answer.starts_with("replica"),
        "the fallback computation ran",
    );

    section("3. individual timeouts: three steps, each with its own 100 ms");
    let step = Duration::from_millis(90);
    let t = Instant::now();
    for name in ["auth", "load", "render"] {
        let r = timeout(limit, call(name, step)).await;
        require(r.is_ok(), "each step fits its own timeout");
    }
    let individual = t.elapsed();
    println!(
        "   all three steps passed their own timeout, yet the request took {} (3 x 90 ms)",
        ms(individual)
    );

    section("4. a collective timeout: one 150 ms deadline for all three steps");
    let t = Instant::now();
    let mut done = Vec::new();
    let r = Deadline::after(Duration::from_millis(150))
        .run(async {
            for name in ["auth", "load", "render"] {
                // Each step keeps its own 100 ms limit, clamped to the deadline.
                match timeout(limit, call(name, step)).await {
                    Ok(_) => done.push(name),
                    Err(e) => {
                        println!(
                            "   step {name:?} stopped: {e} (by the deadline: {})",
                            e.by_deadline()
                        );
                        break;
                    }
                }
            }
        })
        .await;
    let collective = t.elapsed();
    println!(
        "   finished {done:?} in {}: the deadline bounds the whole request ({r:?})",
        ms(collective)
    );
    require(done == ["auth"], "only the first step fits in the deadline");
    require(collective < individual, "the collective bound is tighter");
    println!("\n   individual limits bound each step; a deadline bounds what the caller waits.");
}
