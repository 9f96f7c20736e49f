//! C10K: resident memory of an echo server holding 10,000 idle connections.
//!
//! Runs two servers, one after the other, each in its own child process:
//! `aqueduct-io`'s `Server` with its buffer-free `echo` handler (default
//! settings, idle timeout on), and the classic tokio echo loop that keeps a
//! 4 KiB buffer per connection for the connection's life. A third process
//! opens the connections (from several loopback source addresses so
//! ephemeral ports never run out), pings each once, and holds them idle. The
//! figure is the growth of the server's `VmRSS` divided by the number of
//! connections.
//!
//! `cargo run --release -p aqueduct-benches --bin c10k [CONNECTIONS]`
//! (default 10,000; run by `cargo xtask bench io`).

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEFAULT_CONNECTIONS: usize = 10_000;
/// Every child gives up after this long, whatever happens to the parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(90);
/// Connections per loopback source address.
const PER_SOURCE: usize = 1_000;
/// Connections opened concurrently by the client.
const BATCH: usize = 250;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(args.get(2).map_or("aqueduct", String::as_str)),
        Some("client") => client(&args[2], args[3].parse().unwrap_or(DEFAULT_CONNECTIONS)),
        other => {
            let n = other
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_CONNECTIONS);
            orchestrate(n);
        }
    }
}

/// Raises the open-file limit to the hard limit.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid, initialised `rlimit`; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) } != 0 {
        // SAFETY: as above, for reading the limit back.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) };
    }
    lim.rlim_cur
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Exits the process when stdin closes (the parent went away) or after
/// `CHILD_LIFETIME`.
fn exit_with_parent() {
    std::thread::spawn(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(2);
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn serve(kind: &str) {
    raise_nofile();
    exit_with_parent();
    runtime().block_on(async {
        let addr = match kind {
            "aqueduct" => {
                let handle = aqueduct_io::net::Server::builder()
                    .max_connections(100_000)
                    .bind("127.0.0.1:0")
                    .await
                    .expect("bind")
                    .serve(aqueduct_io::net::echo);
                let addr = handle.local_addr();
                // Keep the server alive for the life of the process.
                std::mem::forget(handle);
                addr
            }
            _ => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                aqueduct_benches::spawn_tokio_echo(listener);
                addr
            }
        };
        println!("ADDR {addr}");
        std::io::stdout().flush().expect("stdout");
        std::future::pending::<()>().await;
    });
}

fn client(addr: &str, n: usize) {
    raise_nofile();
    exit_with_parent();
    let addr: SocketAddr = addr.parse().expect("address");
    runtime().block_on(async move {
        let mut held = Vec::with_capacity(n);
        let mut next = 0usize;
        while next < n {
            let batch: Vec<_> = (next..(next + BATCH).min(n))
                .map(|i| {
                    tokio::spawn(async move {
                        let source = Ipv4Addr::new(
                            127,
                            0,
                            0,
                            2 + u8::try_from(i / PER_SOURCE).unwrap_or(200),
                        );
                        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                        socket.set_reuseaddr(true).expect("reuseaddr");
                        socket.bind((source, 0).into()).expect("bind source");
                        let mut s = socket.connect(addr).await.expect("connect");
                        s.write_all(b"p").await.expect("ping");
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).await.expect("pong");
                        s
                    })
                })
                .collect();
            for t in batch {
                held.push(t.await.expect("client task"));
            }
            next = held.len();
        }
        println!("READY {}", held.len());
        std::io::stdout().flush().expect("stdout");
        std::future::pending::<()>().await;
    });
}

fn spawn_child(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    (child, out)
}

fn read_tagged(out: &mut BufReader<std::process::ChildStdout>, tag: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(rest) = line.trim().strip_prefix(tag) {
            return Some(rest.trim().to_owned());
        }
    }
}

struct Measure {
    before: u64,
    after: u64,
    connections: usize,
    elapsed: Duration,
}

fn measure(kind: &str, n: usize) -> Option<Measure> {
    let (mut server, mut server_out) = spawn_child(&["serve", kind]);
    let addr = read_tagged(&mut server_out, "ADDR")?;
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_bytes(server.id());
    let start = Instant::now();
    let (mut client, mut client_out) = spawn_child(&["client", &addr, &n.to_string()]);
    let ready = read_tagged(&mut client_out, "READY");
    let elapsed = start.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_bytes(server.id());
    let _ = client.kill();
    let _ = server.kill();
    let _ = client.wait();
    let _ = server.wait();
    let connections = ready?.parse().ok()?;
    Some(Measure {
        before,
        after,
        connections,
        elapsed,
    })
}

fn orchestrate(n: usize) {
    let limit = raise_nofile();
    println!(
        "C10K: {n} idle echo connections (open-file limit {limit}), server RSS before/after\n"
    );
    println!("| server | connections | RSS before | RSS after | per connection | connect+ping |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut ours = None;
    for (kind, label) in [
        ("aqueduct", "aqueduct-io Server + echo"),
        ("tokio", "tokio echo, 4 KiB buffer each"),
    ] {
        match measure(kind, n) {
            Some(m) => {
                #[allow(clippy::cast_precision_loss)]
                let per = m.after.saturating_sub(m.before) as f64 / m.connections.max(1) as f64;
                println!(
                    "| {label} | {} | {:.1} MB | {:.1} MB | {per:.0} B | {:.2} s |",
                    m.connections,
                    mb(m.before),
                    mb(m.after),
                    m.elapsed.as_secs_f64()
                );
                if kind == "aqueduct" {
                    ours = Some(per);
                }
            }
            None => println!("| {label} | failed | | | | |"),
        }
    }
    match ours {
        Some(per) if per <= 1024.0 => {
            println!("\ngoal (at most 1 KiB per idle connection): met, {per:.0} B");
        }
        Some(per) => println!("\ngoal (at most 1 KiB per idle connection): NOT met, {per:.0} B"),
        None => {
            println!("\ngoal: not measured");
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}
