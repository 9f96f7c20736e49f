//! Walkthrough `unix_echo`: a Unix domain socket server and clients.
//!
//! The same `Server` that serves TCP serves a Unix socket: bind it with
//! `bind_unix(path)`, serve with `unix::echo`, connect with
//! `unix::connect(path, timeout)`. Local processes talk without the TCP/IP
//! stack. Every figure is measured in this run, in a temp dir.
//!
//! Run it with `cargo xtask demo unix_echo`.

use std::time::{Duration, Instant};

use aqueduct::io::net::{Server, unix};
use aqueduct_examples::{check, ms, section};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");

    section("1. serve echo on a Unix socket");
    let handle = Server::builder()
        .max_connections(16)
        .bind_unix(&path)?
        .serve(unix::echo);
    println!("   listening on {}", path.display());

    section("2. 8 clients, 64 KiB each, echoed back");
    let t = Instant::now();
    let mut clients = Vec::new();
    for id in 0..8u8 {
        let path = path.clone();
        clients.push(tokio::spawn(async move {
            let stream = unix::connect(&path, Duration::from_secs(1)).await?;
            let (mut r, mut w) = stream.into_split();
            let data = vec![id; 64 * 1024];
            let expect = data.clone();
            let writer = tokio::spawn(async move {
                w.write_all(&data).await?;
                w.shutdown().await
            });
            let mut back = Vec::new();
            r.read_to_end(&mut back).await?;
            writer.await.map_err(std::io::Error::other)??;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(back == expect)
        }));
    }
    let mut intact = 0;
    for c in clients {
        if c.await?.map_err(|e| e.to_string())? {
            intact += 1;
        }
    }
    let took = t.elapsed();
    println!(
        "   {intact}/8 streams came back intact: 1 MiB round trip in {} ({:.0} MB/s)",
        ms(took),
        2.0 * 8.0 * 65_536.0 / 1e6 / took.as_secs_f64()
    );
    let stats = handle.stats();
    println!(
        "   server: accepted {}, peak active {}",
        stats.accepted, stats.peak_active
    );
    check(intact == 8 && stats.accepted == 8, "8 intact echoes")?;

    section("3. a socket path nobody serves");
    match unix::connect(dir.path().join("nobody.sock"), Duration::from_secs(1)).await {
        Err(e) => println!("   {e}"),
        Ok(_) => return Err("connected to nothing?".into()),
    }

    section("4. shutdown");
    let report = handle.shutdown().await;
    println!("   {report}");
    check(report.is_clean(), "clean shutdown")?;
    println!("\nunix_echo: done");
    Ok(())
}
