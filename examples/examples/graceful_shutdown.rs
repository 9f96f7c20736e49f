//! Walkthrough `graceful_shutdown`: stopping a server and its background
//! tasks without dropping work on the floor.
//!
//! `ServerHandle::shutdown()` stops accepting, signals every connection's
//! token, waits up to the `shutdown_grace` for requests in flight, then
//! drops what is left and reports how many finished and how many were
//! aborted. `Shutdown` does the same for background tasks. Here six clients
//! send requests taking 100 ms to 3 s; the grace period is 1 s. Every figure
//! is measured in this run, on loopback.
//!
//! Run it with `cargo xtask demo graceful_shutdown`.

use std::time::{Duration, Instant};

use aqueduct::io::Shutdown;
use aqueduct::io::net::{self, Connection, Server};
use aqueduct_examples::{check, ms, section};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Reads "work <ms>", works that long, answers "done <ms>".
async fn worker(conn: Connection<TcpStream>) -> std::io::Result<()> {
    let mut conn = BufReader::new(conn);
    let mut line = String::new();
    (&mut conn).take(64).read_line(&mut line).await?;
    let millis: u64 = line
        .trim()
        .strip_prefix("work ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(millis)).await;
    conn.get_mut()
        .write_all(format!("done {millis}\n").as_bytes())
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. a server with a 1 s grace period, six requests in flight");
    let handle = Server::builder()
        .shutdown_grace(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await?
        .serve(worker);
    let addr = handle.local_addr();
    let durations = [100u64, 300, 600, 900, 2000, 3000];
    let clients: Vec<_> = durations
        .iter()
        .map(|&d| {
            tokio::spawn(async move {
                let mut s = net::tcp::connect(addr, Duration::from_secs(1)).await?;
                s.write_all(format!("work {d}\n").as_bytes()).await?;
                let mut reply = String::new();
                s.read_to_string(&mut reply).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((d, reply))
            })
        })
        .collect();
    while handle.stats().active < durations.len() as u64 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;

    section("2. shutdown: stop accepting, wait up to 1 s, abort the rest");
    let t = Instant::now();
    let report = handle.shutdown().await;
    println!("   {report}");
    let mut answered = 0;
    for c in clients {
        let (d, reply) = c.await?.map_err(|e| e.to_string())?;
        let shown = if reply.is_empty() {
            "(connection closed, no answer)".to_owned()
        } else {
            reply.trim().to_owned()
        };
        println!("   request of {:>6}: {shown}", ms(Duration::from_millis(d)));
        answered += usize::from(!reply.is_empty());
    }
    let late = net::tcp::connect(addr, Duration::from_millis(200))
        .await
        .is_err();
    println!(
        "   shutdown took {}; a new connection is refused: {late}",
        ms(t.elapsed())
    );
    check(
        report.finished == 4 && report.aborted == 2 && answered == 4 && late,
        "4 finished within the grace, 2 aborted",
    )?;

    section("3. background tasks: the same with Shutdown");
    let tasks = Shutdown::new();
    for flush_ms in [50u64, 200, 5000] {
        let token = tasks.token();
        tasks.spawn(async move {
            token.cancelled().await;
            // Flush buffers, close files... some take too long.
            tokio::time::sleep(Duration::from_millis(flush_ms)).await;
        });
    }
    let report = tasks.shutdown(Duration::from_millis(500)).await;
    println!("   {report}");
    check(
        report.finished == 2 && report.aborted == 1,
        "two flushed, one aborted",
    )?;
    println!("\ngraceful_shutdown: done");
    Ok(())
}
