//! Walkthrough `cancellation`: stopping work on purpose.
//!
//! A `CancellationToken` tells many tasks to stop at once (`aqueduct::io::
//! Shutdown` bundles one with a task tracker); `select!` races a piece of
//! work against a token or a timer and drops the loser; `biased;` fixes the
//! order in which ready branches are checked; and dropping a request future
//! cancels it at its current `.await`, which is safe when the operation is
//! cancel safe. Every figure is measured in this run.
//!
//! Run it with `cargo xtask demo cancellation`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aqueduct::io::Shutdown;
use aqueduct::io::net::{self, Server};
use aqueduct_examples::{check, ms, section};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. one token stops 5 workers");
    let shutdown = Shutdown::new();
    let ticks = Arc::new(AtomicU64::new(0));
    for _ in 0..5 {
        let token = shutdown.token();
        let ticks = Arc::clone(&ticks);
        shutdown.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    _ = every.tick() => { ticks.fetch_add(1, Ordering::Relaxed); }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let report = shutdown.shutdown(Duration::from_secs(1)).await;
    println!(
        "   5 workers ticked {} times in 100 ms; stopped in {}: {report}",
        ticks.load(Ordering::Relaxed),
        ms(t.elapsed())
    );
    check(
        report.finished == 5 && report.aborted == 0,
        "all five stopped on the signal",
    )?;

    section("2. select! race: work vs a deadline, the loser is dropped");
    let slow = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        "slow answer"
    };
    let t = Instant::now();
    let outcome = tokio::select! {
        answer = slow => answer,
        () = tokio::time::sleep(Duration::from_millis(50)) => "gave up",
    };
    println!("   {outcome:?} after {}", ms(t.elapsed()));
    check(outcome == "gave up", "the deadline wins")?;

    section("3. biased select: check the stop signal before new work");
    let token = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(100);
    for i in 0..100 {
        tx.send(i).await?;
    }
    token.cancel(); // stop requested while 100 jobs are queued
    let mut fair_taken = 0;
    for _ in 0..1000 {
        // Unbiased: both branches are ready and one is picked at random.
        tokio::select! {
            () = token.cancelled() => break,
            Some(_) = rx.recv() => fair_taken += 1,
        }
    }
    let mut biased_taken = 0;
    tokio::select! {
        biased;
        () = token.cancelled() => {}
        Some(_) = rx.recv() => biased_taken += 1,
    }
    println!(
        "   unbiased select took {fair_taken} more job(s) after the stop (random order); biased took {biased_taken}"
    );
    check(biased_taken == 0, "biased select honours the stop first")?;

    section("4. cancelling a request: drop the future, the connection stays usable");
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await?
        .serve(net::echo);
    let mut s = net::tcp::connect(server.local_addr(), Duration::from_secs(1)).await?;
    let mut buf = [0u8; 4];
    // Waiting for bytes nobody sent: give up after 50 ms. `read_exact` is not
    // cancel safe in general, but nothing had been read, so nothing is lost.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), s.read_exact(&mut buf))
        .await
        .is_err();
    s.write_all(b"ping").await?;
    s.read_exact(&mut buf).await?;
    println!(
        "   the first read was cancelled after 50 ms ({gave_up}); the next request got {:?}",
        std::str::from_utf8(&buf)?
    );
    check(
        gave_up && &buf == b"ping",
        "the connection survived the cancelled read",
    )?;
    drop(s);
    println!("   {}", server.shutdown().await);
    println!("\ncancellation: done");
    Ok(())
}
