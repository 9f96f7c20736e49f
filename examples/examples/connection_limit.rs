//! Walkthrough `connection_limit`: a TCP server that holds its connection
//! limit under four times the load.
//!
//! `Server::builder().max_connections(4)`: 16 clients arrive at once, each
//! needing 100 ms of work. With `LimitPolicy::Wait` (the default) the server
//! stops accepting while 4 are in progress; the others wait in the listen
//! backlog and are served as slots free up: nobody is refused, concurrency
//! never passes 4, and the whole batch takes about 16 / 4 x 100 ms. With
//! `LimitPolicy::Refuse(reply)` the excess is told so at once instead. The
//! timeline below is sampled in this run.
//!
//! Run it with `cargo xtask demo connection_limit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aqueduct::io::net::{self, Connection, LimitPolicy, Server};
use aqueduct_examples::{bar, check, ms, section};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: usize = 4;
const CLIENTS: usize = 16;

/// Reads one byte, works 100 ms, answers.
async fn work(mut conn: Connection<TcpStream>) -> std::io::Result<()> {
    let mut b = [0u8; 1];
    conn.read_exact(&mut b).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.write_all(b"done\n").await
}

async fn client(
    addr: std::net::SocketAddr,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut s = net::tcp::connect(addr, Duration::from_secs(2)).await?;
    let _ = s.write_all(b"?").await;
    let mut reply = String::new();
    match s.read_to_string(&mut reply).await {
        Ok(_) => Ok(reply),
        // A refused client that wrote before the server closed may see a reset.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok("reset".to_owned()),
        Err(e) => Err(e.into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. limit 4, policy Wait, 16 clients at once");
    let handle = Server::builder()
        .max_connections(LIMIT)
        .bind("127.0.0.1:0")
        .await?
        .serve(work);
    let addr = handle.local_addr();
    let t = Instant::now();
    let clients: Vec<_> = (0..CLIENTS).map(|_| tokio::spawn(client(addr))).collect();
    // Sample the number of active connections every 25 ms.
    let mut timeline = Vec::new();
    let sampler_done = Arc::new(AtomicU64::new(0));
    while sampler_done.load(Ordering::Relaxed) == 0 && t.elapsed() < Duration::from_secs(3) {
        timeline.push((t.elapsed(), handle.stats().active));
        if clients.iter().all(tokio::task::JoinHandle::is_finished) {
            sampler_done.store(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut served = 0;
    for c in clients {
        if c.await?.map_err(|e| e.to_string())? == "done\n" {
            served += 1;
        }
    }
    let took = t.elapsed();
    for (at, active) in timeline.iter().step_by(2) {
        println!(
            "   {:>8}  {} {active}",
            ms(*at),
            bar(*active, LIMIT as u64, 2 * LIMIT)
        );
    }
    let stats = handle.stats();
    println!(
        "   served {served}/{CLIENTS} in {} (ideal {}), peak active {}, refused {}",
        ms(took),
        ms(Duration::from_millis(100 * (CLIENTS / LIMIT) as u64)),
        stats.peak_active,
        stats.refused
    );
    check(
        served == CLIENTS && stats.peak_active == LIMIT as u64 && stats.refused == 0,
        "all served, never more than 4 at once",
    )?;
    handle.shutdown().await;

    section("2. limit 4, policy Refuse: the excess is answered at once");
    let handle = Server::builder()
        .max_connections(LIMIT)
        .on_limit(LimitPolicy::Refuse("busy, try later\n".into()))
        .bind("127.0.0.1:0")
        .await?
        .serve(work);
    let addr = handle.local_addr();
    let t = Instant::now();
    let clients: Vec<_> = (0..CLIENTS).map(|_| tokio::spawn(client(addr))).collect();
    let (mut done, mut busy, mut reset) = (0, 0, 0);
    for c in clients {
        match c.await?.map_err(|e| e.to_string())?.as_str() {
            "done\n" => done += 1,
            "busy, try later\n" => busy += 1,
            "reset" => reset += 1,
            _ => {}
        }
    }
    let stats = handle.stats();
    println!(
        "   in {}: {done} served, {busy} told \"busy\", {reset} reset (server counted {} refused, peak {})",
        ms(t.elapsed()),
        stats.refused,
        stats.peak_active
    );
    check(
        done + busy + reset == CLIENTS
            && (busy + reset) as u64 == stats.refused
            && stats.peak_active <= LIMIT as u64,
        "the excess refused, never more than 4",
    )?;
    handle.shutdown().await;
    println!("\nconnection_limit: done");
    Ok(())
}
