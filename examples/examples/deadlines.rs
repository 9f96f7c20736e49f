//! Walkthrough `deadlines`: one deadline shared by many operations, and
//! carried across a wire.
//!
//! A request gets 300 ms in all. Its operations run inside
//! `Deadline::scope`, so each one sees the same instant and every wait
//! (timeouts, retry sleeps) is clamped to it; a nested scope can tighten
//! it but never extend it. Then the remaining time travels to a server
//! over a loopback TCP connection as a `grpc-timeout` header value, and
//! the server gives up when the client would. Every figure is measured in
//! this run.
//!
//! Run it with `cargo xtask demo deadlines`.

use std::time::{Duration, Instant};

use aqueduct::resilience::{Backoff, Deadline, Retry, RetryError, timeout};
use aqueduct_examples::{ms, require, section};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;

/// A step of the request that takes `d`, printing how much time is left.
async fn step(name: &str, d: Duration) {
    let left = Deadline::current()
        .map(|dl| dl.remaining())
        .unwrap_or_default();
    println!("   {name:<8} starts with {:>9} left", ms(left));
    sleep(d).await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    section("1. three operations share one 300 ms deadline");
    let t = Instant::now();
    let dl = Deadline::after(Duration::from_millis(300));
    let r = dl
        .run(async {
            step("lookup", Duration::from_millis(100)).await;
            step("fetch", Duration::from_millis(100)).await;
            step("render", Duration::from_millis(100)).await;
            step("audit", Duration::from_millis(100)).await;
        })
        .await;
    let shown = r.as_ref().map_err(ToString::to_string);
    println!("   result {shown:?} after {}", ms(t.elapsed()));
    require(r.is_err(), "the fourth step does not fit");
    require(
        t.elapsed() < Duration::from_millis(350),
        "the deadline bounded the request",
    );

    section("2. a nested scope only tightens");
    let outer = Deadline::after(Duration::from_millis(200));
    let (tight, loose) = Deadline::scope(outer, async {
        let tight = Deadline::scope(Deadline::after(Duration::from_millis(50)), async {
            Deadline::current().unwrap().remaining()
        })
        .await;
        let loose = Deadline::scope(Deadline::after(Duration::from_secs(10)), async {
            Deadline::current().unwrap().remaining()
        })
        .await;
        (tight, loose)
    })
    .await;
    println!(
        "   inner 50 ms scope sees {} left; inner 10 s scope sees {} left",
        ms(tight),
        ms(loose)
    );
    require(
        loose <= Duration::from_millis(200),
        "a nested scope cannot extend the deadline",
    );

    section("3. every wrapper clamps its waits: a 5 s timeout and retry sleeps");
    let t = Instant::now();
    let e = Deadline::scope(
        Deadline::after(Duration::from_millis(120)),
        timeout(Duration::from_secs(5), sleep(Duration::from_secs(5))),
    )
    .await
    .unwrap_err();
    println!(
        "   5 s timeout inside a 120 ms deadline: `{e}` after {}",
        ms(t.elapsed())
    );
    require(e.by_deadline(), "the deadline ended the timeout");
    let t = Instant::now();
    let retry = Retry::new()
        .max_attempts(50)
        .backoff(Backoff::constant(Duration::from_millis(80)));
    let mut attempts = 0;
    let r = Deadline::scope(
        Deadline::after(Duration::from_millis(250)),
        retry.run(|| {
            attempts += 1;
            async { Err::<(), _>("unavailable") }
        }),
    )
    .await;
    let took = t.elapsed();
    println!(
        "   retry every 80 ms inside 250 ms: {} attempts, gave up after {} ({})",
        attempts,
        ms(took),
        r.as_ref().unwrap_err()
    );
    require(
        matches!(r, Err(RetryError::DeadlineExceeded { .. })),
        "retry stopped at the deadline",
    );
    require(
        took < Duration::from_millis(250),
        "retry did not sleep into the deadline",
    );

    section("4. across a wire: the remaining time as a grpc-timeout header");
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await?;
        let (rd, mut wr) = sock.into_split();
        let mut line = String::new();
        BufReader::new(rd).read_line(&mut line).await?;
        let value = line.trim().trim_start_matches("grpc-timeout: ");
        let dl = Deadline::from_header_value(value).map_err(std::io::Error::other)?;
        println!(
            "   server: got `grpc-timeout: {value}`, {} to work with",
            ms(dl.remaining())
        );
        // The server's work would take 500 ms; the client's deadline ends it.
        let t = Instant::now();
        let done = dl.run(sleep(Duration::from_millis(500))).await.is_ok();
        let reply = if done { "done" } else { "gave up" };
        println!("   server: {reply} after {}", ms(t.elapsed()));
        wr.write_all(format!("{reply}\n").as_bytes()).await?;
        Ok::<_, std::io::Error>(done)
    });
    let client_dl = Deadline::after(Duration::from_millis(200));
    let mut sock = TcpStream::connect(addr).await?;
    let header = client_dl.to_header_value();
    println!("   client: sending `grpc-timeout: {header}`");
    sock.write_all(format!("grpc-timeout: {header}\n").as_bytes())
        .await?;
    let mut reply = String::new();
    BufReader::new(&mut sock).read_line(&mut reply).await?;
    println!("   client: server says {:?}", reply.trim());
    let server_done = server.await.expect("server task")?;
    require(!server_done, "the server stopped at the client's deadline");
    println!("\n   the server stopped working when the client stopped waiting.");
    Ok(())
}
