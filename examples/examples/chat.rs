//! Walkthrough `chat`: full-duplex connections split into read and write
//! halves.
//!
//! A chat server reads lines from each client and, at the same time, writes
//! other clients' lines to it. Each connection is split into a read half and
//! a write half (`tokio::io::split` on the server's `Connection`,
//! `into_split` on a client's `TcpStream`), so one task can wait for input
//! while another writes output, without a lock between them. A broadcast
//! channel fans messages out; a slow client that lags behind is told how
//! many messages it missed instead of holding everyone up. Every figure is
//! measured in this run, on loopback.
//!
//! Run it with `cargo xtask demo chat`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aqueduct::io::net::{self, Connection, Server};
use aqueduct_examples::{check, ms, section};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

/// One chat connection: the read half feeds the room, the write half
/// delivers everyone else's lines, both at once.
async fn member(
    conn: Connection<TcpStream>,
    id: u64,
    room: broadcast::Sender<(u64, String)>,
) -> std::io::Result<()> {
    let mut inbox = room.subscribe();
    let stop = conn.shutdown_token().clone();
    let (read_half, mut write_half) = tokio::io::split(conn);
    let reading = async {
        let mut lines = BufReader::new(read_half.take(64 * 1024));
        let mut line = String::new();
        while lines.read_line(&mut line).await? > 0 {
            let _ = room.send((id, line.trim_end().to_owned()));
            line.clear();
        }
        Ok::<_, std::io::Error>(())
    };
    let writing = async {
        loop {
            match inbox.recv().await {
                Ok((from, _)) if from == id => {}
                Ok((_, text)) => write_half.write_all(format!("{text}\n").as_bytes()).await?,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    write_half
                        .write_all(format!("[{missed} messages missed]\n").as_bytes())
                        .await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok::<_, std::io::Error>(()),
            }
        }
    };
    tokio::select! {
        r = reading => r,   // the client left
        r = writing => r,
        () = stop.cancelled() => Ok(()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. a chat server: one broadcast room, each connection split in two");
    let (room, _) = broadcast::channel::<(u64, String)>(256);
    let next_id = Arc::new(AtomicU64::new(0));
    let server = Server::builder()
        .max_connections(64)
        .bind("127.0.0.1:0")
        .await?
        .serve(move |conn| {
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            member(conn, id, room.clone())
        });
    let addr = server.local_addr();

    section("2. three people talk at once");
    let names = ["alice", "bob", "carol"];
    let t = Instant::now();
    let mut people = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let stream = net::tcp::connect(addr, Duration::from_secs(1)).await?;
        let (r, mut w) = stream.into_split();
        people.push(tokio::spawn(async move {
            // Let everyone join before talking.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let talk = async {
                for k in 0..3 {
                    w.write_all(format!("{name}: message {k}\n").as_bytes())
                        .await?;
                    tokio::time::sleep(Duration::from_millis(10 + 5 * i as u64)).await;
                }
                Ok::<_, std::io::Error>(())
            };
            let listen = async {
                let mut heard = Vec::new();
                let mut lines = BufReader::new(r).lines();
                while heard.len() < 6 {
                    match tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await {
                        Ok(Ok(Some(l))) => heard.push(l),
                        _ => break,
                    }
                }
                heard
            };
            let (talked, heard) = tokio::join!(talk, listen);
            talked.map(|()| (name, heard))
        }));
    }
    let mut ok = true;
    for p in people {
        let (name, heard) = p.await??;
        let others = heard.iter().filter(|l| !l.starts_with(name)).count();
        println!(
            "   {name:<6} heard {} lines: {}",
            heard.len(),
            heard.join(" | ")
        );
        ok &= heard.len() == 6 && others == 6;
    }
    println!(
        "   all talking and listening at once took {}",
        ms(t.elapsed())
    );
    check(
        ok,
        "everyone hears the 6 lines of the other two, and not their own",
    )?;

    section("3. close the room");
    let stats = server.stats();
    println!(
        "   peak members {}, {}",
        stats.peak_active,
        server.shutdown().await
    );
    check(stats.peak_active == 3, "three members at once")?;
    println!("\nchat: done");
    Ok(())
}
