//! Walkthrough `pool_tcp`: pooled TCP connections survive a server restart.
//!
//! A line echo server runs on loopback. A pool of 4 connections
//! (`TcpManager`) serves 40 requests, then the server is stopped, closing
//! every connection, and started again on the same port. The next 40
//! requests go through the same pool: each dead connection is found at
//! checkout (a non-blocking peek sees the peer's close), dropped, and
//! replaced by a fresh one, so no request fails. The same manager then runs
//! on deadpool through `deadpool::Adapter`, with the same result.
//!
//! The strip of characters is one request each: `+` was the first request
//! on its connection, `.` reused a live one, `x` failed.
//!
//! Run it with `cargo xtask demo pool_tcp`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aqueduct::pool::deadpool::{Adapter, DeadPool, managed};
use aqueduct::pool::tcp::TcpManager;
use aqueduct::pool::{Order, Pool, Pooled};
use aqueduct_examples::{finish_within, ms, section};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A line echo server; `stop` closes every connection before it returns.
struct Echo {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Echo {
    async fn start(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            let mut stop_seen = stopped.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((sock, _)) = accepted {
                            conns.spawn(serve(sock, stopped.clone()));
                        }
                    }
                    _ = stop_seen.changed() => break,
                }
            }
            while conns.join_next().await.is_some() {}
        });
        Ok((Self { stop, task }, local))
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve(sock: TcpStream, mut stopped: watch::Receiver<bool>) {
    let (read, mut write) = sock.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if write.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
            _ = stopped.changed() => return,
        }
    }
}

/// One request/response on a connection; a reply that does not come
/// within [`WAIT`] counts as a failure instead of stalling the run. A
/// connection on which an exchange failed is out of step (its reply may
/// still arrive, to be read by the next caller as its own): the caller
/// discards it rather than giving it back.
async fn echo(conn: &mut TcpStream, body: &str) -> std::io::Result<bool> {
    let exchange = async {
        conn.write_all(format!("{body}\n").as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(conn).read_line(&mut line).await?;
        Ok(line.trim_end() == body)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .unwrap_or(Ok(false))
}

/// What one phase of requests did.
#[derive(Default)]
struct Phase {
    ok: usize,
    failed: usize,
    strip: String,
    slowest_checkout: Duration,
}

/// Sends `n` requests one after another; `checkout` returns the connection
/// and whether it is a new one, `discard` drops one whose exchange failed
/// instead of giving it back to its pool.
async fn run<C, F, G>(n: usize, tag: &str, checkout: F, discard: fn(C)) -> Phase
where
    F: Fn() -> G,
    G: std::future::Future<Output = Option<(C, bool)>>,
    C: std::ops::DerefMut<Target = TcpStream>,
{
    let mut phase = Phase::default();
    for i in 0..n {
        let t = Instant::now();
        let Some((mut conn, fresh)) = checkout().await else {
            phase.failed += 1;
            phase.strip.push('x');
            continue;
        };
        phase.slowest_checkout = phase.slowest_checkout.max(t.elapsed());
        match echo(&mut conn, &format!("{tag}-{i}")).await {
            Ok(true) => {
                phase.ok += 1;
                phase.strip.push(if fresh { '+' } else { '.' });
            }
            _ => {
                phase.failed += 1;
                phase.strip.push('x');
                discard(conn);
            }
        }
    }
    phase
}

/// Drops a deadpool connection without giving it back.
fn take_out(conn: managed::Object<Adapter<TcpManager>>) {
    drop(managed::Object::take(conn));
}

fn report(name: &str, phase: &Phase) {
    println!(
        "   {name:<7} {}  {} ok, {} failed, slowest checkout {}",
        phase.strip,
        phase.ok,
        phase.failed,
        ms(phase.slowest_checkout)
    );
}

/// How long a checkout or a request may take.
const WAIT: Duration = Duration::from_secs(1);

/// How long the whole walkthrough may take: past it, it fails instead of
/// hanging.
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    finish_within(
        DEADLINE,
        walkthrough(),
        "ok: both pools noticed the restart at checkout and no request failed",
    )
    .await
}

/// Runs both halves; `true` if everything shown happened.
async fn walkthrough() -> bool {
    let mut ok = true;
    let Ok((server, addr)) = Echo::start("127.0.0.1:0".parse().expect("an address")).await else {
        println!("   !! could not bind a loopback port");
        return false;
    };
    println!("echo server on {addr}");
    let manager = TcpManager::new(addr).connect_timeout(Duration::from_millis(500));

    section("1. aqueduct pool: 4 connections, 40 requests, restart, 40 requests");
    // FIFO order rotates through all four connections, so the requests
    // after the restart meet every dead one (the default, local order,
    // would keep reusing the one hot connection).
    let pool = Pool::builder(manager.clone())
        .max_size(4)
        .min_idle(4)
        .order(Order::Fifo)
        .wait_timeout(WAIT)
        .build()
        .await
        .expect("the server is up");
    let ours = |pool: Pool<TcpManager>| {
        move || {
            let pool = pool.clone();
            async move {
                let conn = pool.get().await.ok()?;
                let fresh = conn.meta().use_count() == 1;
                Some((conn, fresh))
            }
        }
    };
    let before = run(40, "a", ours(pool.clone()), Pooled::discard).await;
    report("before", &before);
    server.stop().await;
    let (server, _) = Echo::start(addr).await.expect("the same port again");
    println!("   -- server restarted on the same port: every pooled connection is now dead --");
    let after = run(40, "b", ours(pool.clone()), Pooled::discard).await;
    report("after", &after);
    let s = pool.status();
    println!(
        "   {} dead connections found and dropped, {} made in all, {} timeouts",
        s.discarded, s.created, s.timeouts
    );
    if before.failed + after.failed > 0 || s.discarded != 4 || after.slowest_checkout >= WAIT {
        println!("   !! expected every request to succeed and the 4 dead connections replaced");
        ok = false;
    }

    section("2. the same TcpManager on deadpool 0.13, through deadpool::Adapter");
    let dead: DeadPool<TcpManager> = managed::Pool::builder(Adapter::new(manager))
        .max_size(4)
        .build()
        .expect("a deadpool pool");
    let theirs = |pool: DeadPool<TcpManager>| {
        move || {
            let pool = pool.clone();
            async move {
                // deadpool waits for ever by default: bound the checkout
                // here, as our pool's `wait_timeout` does.
                let conn = tokio::time::timeout(WAIT, pool.get()).await.ok()?.ok()?;
                let fresh = managed::Object::metrics(&conn).recycle_count == 0
                    && managed::Object::metrics(&conn).recycled.is_none();
                Some((conn, fresh))
            }
        }
    };
    let before = run(40, "c", theirs(dead.clone()), take_out).await;
    report("before", &before);
    server.stop().await;
    let (server, _) = Echo::start(addr).await.expect("the same port again");
    println!("   -- server restarted again --");
    let after = run(40, "d", theirs(dead.clone()), take_out).await;
    report("after", &after);
    // Requests go one at a time, so deadpool keeps one connection: after
    // the restart, the first checkout must find it dead and make a new one.
    if before.failed + after.failed > 0
        || !after.strip.starts_with('+')
        || after.slowest_checkout >= WAIT
    {
        println!(
            "   !! expected every request to succeed on deadpool too, on a new connection after \
             the restart"
        );
        ok = false;
    }
    server.stop().await;
    ok
}
