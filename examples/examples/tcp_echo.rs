//! Walkthrough `tcp_echo`: a TCP echo server and its clients, then a tiny
//! HTTP-like request handler on the same `Server`.
//!
//! `aqueduct::io::net::Server` accepts connections with a limit, an idle
//! timeout and counters; its `echo` handler holds no buffer while a
//! connection is idle. Clients connect with `tcp::connect`, which has a
//! timeout. Every figure is measured in this run, on loopback.
//!
//! Run it with `cargo xtask demo tcp_echo`.

use std::time::{Duration, Instant};

use aqueduct::io::net::{self, Connection, Server};
use aqueduct_examples::{check, ms, section};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A request line in, a response out: `GET /path` answers `200` with a body,
/// anything else `400`, and the connection closes (HTTP/1.0 style).
async fn http_like(conn: Connection<TcpStream>) -> std::io::Result<()> {
    let mut conn = BufReader::new(conn);
    let mut request = String::new();
    // Bound the request line: a peer cannot make us buffer without limit.
    (&mut conn).take(1024).read_line(&mut request).await?;
    let response = match request.trim_end().split(' ').collect::<Vec<_>>()[..] {
        ["GET", path, ..] => format!(
            "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\nyou asked for {path}",
            14 + path.len()
        ),
        _ => "HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_owned(),
    };
    conn.get_mut().write_all(response.as_bytes()).await?;
    conn.get_mut().shutdown().await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. an echo server: 100 connections max, 10 s idle timeout");
    let server = Server::builder()
        .max_connections(100)
        .idle_timeout(Duration::from_secs(10))
        .bind("127.0.0.1:0")
        .await?;
    let echo = server.serve(net::echo);
    let addr = echo.local_addr();
    println!("   listening on {addr}");

    section("2. 20 clients x 500 round trips of 32 bytes, concurrently");
    let t = Instant::now();
    let clients: Vec<_> = (0..20u8)
        .map(|id| {
            tokio::spawn(async move {
                let mut s = net::tcp::connect(addr, Duration::from_secs(1)).await?;
                let msg = [id; 32];
                let mut reply = [0u8; 32];
                for _ in 0..500 {
                    s.write_all(&msg).await?;
                    s.read_exact(&mut reply).await?;
                    if reply != msg {
                        return Err("wrong echo".into());
                    }
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    for c in clients {
        c.await?.map_err(|e| e.to_string())?;
    }
    let took = t.elapsed();
    let stats = echo.stats();
    println!(
        "   10000 round trips in {} = {:.0} per second",
        ms(took),
        10_000.0 / took.as_secs_f64()
    );
    println!(
        "   server stats: accepted {}, peak active {}, failed {}",
        stats.accepted, stats.peak_active, stats.failed
    );
    check(
        stats.accepted == 20 && stats.failed == 0,
        "20 clean connections",
    )?;

    section("3. connecting to a port nobody listens on fails fast, naming the address");
    match net::tcp::connect("127.0.0.1:1", Duration::from_millis(500)).await {
        Err(e) => println!("   {e}"),
        Ok(_) => return Err("port 1 answered?".into()),
    }

    section("4. HTTP-like request handling on the same Server type");
    let http = Server::builder()
        .bind("127.0.0.1:0")
        .await?
        .serve(http_like);
    for request in ["GET /orders/42 HTTP/1.0\r\n\r\n", "BREW /coffee\r\n\r\n"] {
        let mut s = net::tcp::connect(http.local_addr(), Duration::from_secs(1)).await?;
        s.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        s.read_to_string(&mut response).await?;
        println!(
            "   {:<28} -> {:?}",
            request.trim_end(),
            response.lines().next().unwrap_or("")
        );
        check(response.starts_with("HTTP/1.0 "), "a status line")?;
    }

    section("5. graceful shutdown");
    let report = echo.shutdown().await;
    println!("   echo server: {report}");
    println!("   http server: {}", http.shutdown().await);
    check(report.is_clean(), "nothing aborted")?;
    println!("\ntcp_echo: done");
    Ok(())
}
