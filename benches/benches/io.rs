//! Benchmarks of `aqueduct-io` beside what it replaces.
//!
//! - `io/read_lines`: every line of a 256 MiB file, ours vs std
//!   `BufRead::lines` and tokio `BufReader::lines` over `tokio::fs::File`;
//!   and a file of one 64 MiB line (no line limit), ours vs std.
//! - `io/copy`: a 64 MiB copy, `copy_with_progress` without callback vs
//!   `std::fs::copy`.
//! - `io/echo`: 64-byte round trips over 32 loopback connections, our
//!   `Server` + `echo` vs a bare tokio echo loop.
//!
//! Run with `cargo xtask bench io`, which prints the ratios (and then runs
//! the C10K memory program).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aqueduct_io::fs::{self as aq_fs, Progress};
use aqueduct_io::net::{self, Server};
use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LINES_FILE: u64 = 256 << 20;
const LONG_LINE: usize = 64 << 20;
const COPY_FILE: u64 = 64 << 20;
const CONNECTIONS: usize = 32;
const ROUND_TRIPS: usize = 50;
const MESSAGE: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Writes a text file of about `size` bytes with lines of 1..120 characters.
fn text_file(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join("lines.txt");
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create"));
    let alphabet = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789";
    let mut written = 0u64;
    let mut i = 0usize;
    while written < size {
        let len = 1 + (i * 7919) % 120;
        for k in 0..len {
            out.write_all(&[alphabet[(i + k) % alphabet.len()]])
                .expect("write");
        }
        out.write_all(b"\n").expect("write");
        written += len as u64 + 1;
        i += 1;
    }
    out.flush().expect("flush");
    path
}

fn read_lines(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = text_file(dir.path(), LINES_FILE);
    let rt = runtime();
    let param = "256MiB";
    let mut group = c.benchmark_group("io/read_lines");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(LINES_FILE));

    group.bench_function(BenchmarkId::new("aqueduct", param), |b| {
        b.to_async(&rt).iter(|| async {
            let mut lines = aq_fs::read_lines(&path);
            let (mut n, mut bytes) = (0u64, 0usize);
            while let Some(line) = lines.next().await {
                bytes += line.expect("line").len();
                n += 1;
            }
            std::hint::black_box((n, bytes))
        });
    });
    group.bench_function(BenchmarkId::new("std", param), |b| {
        b.iter(|| {
            let file = std::io::BufReader::new(std::fs::File::open(&path).expect("open"));
            let (mut n, mut bytes) = (0u64, 0usize);
            for line in file.lines() {
                bytes += line.expect("line").len();
                n += 1;
            }
            std::hint::black_box((n, bytes))
        });
    });
    group.bench_function(BenchmarkId::new("tokio", param), |b| {
        b.to_async(&rt).iter(|| async {
            let file = tokio::fs::File::open(&path).await.expect("open");
            let mut lines = tokio::io::BufReader::new(file).lines();
            let (mut n, mut bytes) = (0u64, 0usize);
            while let Some(line) = lines.next_line().await.expect("line") {
                bytes += line.len();
                n += 1;
            }
            std::hint::black_box((n, bytes))
        });
    });

    // One line far longer than a read chunk, with the line limit lifted:
    // the reader must grow one buffer, not copy the line once per chunk.
    let long = dir.path().join("long.txt");
    let mut data = vec![b'a'; LONG_LINE];
    data.push(b'\n');
    std::fs::write(&long, &data).expect("write");
    drop(data);
    let param = "one-64MiB-line";
    group.throughput(Throughput::Bytes(LONG_LINE as u64 + 1));
    group.bench_function(BenchmarkId::new("aqueduct", param), |b| {
        b.to_async(&rt).iter(|| async {
            let opts = aq_fs::LineOptions::new().max_line_length(usize::MAX);
            let mut lines = aq_fs::read_lines_with(&long, opts);
            let mut bytes = 0usize;
            while let Some(line) = lines.next().await {
                bytes += line.expect("line").len();
            }
            std::hint::black_box(bytes)
        });
    });
    group.bench_function(BenchmarkId::new("std", param), |b| {
        b.iter(|| {
            let file = std::io::BufReader::new(std::fs::File::open(&long).expect("open"));
            let bytes: usize = file.lines().map(|l| l.expect("line").len()).sum();
            std::hint::black_box(bytes)
        });
    });
    group.finish();
}

fn copy(c: &mut Criterion) {
    // On tmpfs when there is one: a disk's write-back of the previous
    // iteration's output otherwise dominates, and at random.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir");
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..COPY_FILE).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).expect("write");
    std::fs::File::open(&src)
        .and_then(|f| f.sync_all())
        .expect("sync");
    drop(data);
    let dst = dir.path().join("dst.bin");
    // Untimed warm-up of both sides, so neither pays for going first.
    for _ in 0..2 {
        std::fs::copy(&src, &dst).expect("copy");
        std::fs::remove_file(&dst).expect("remove");
    }
    let rt = runtime();
    let param = "64MiB";
    let mut group = c.benchmark_group("io/copy");
    group
        // Flat: every sample the same few copies, many samples, so one slow
        // copy moves the median little.
        .sampling_mode(SamplingMode::Flat)
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(COPY_FILE));
    // Each copy goes to a fresh file (removing the last one is not timed),
    // so neither side pays for truncating the other's output. The removal
    // runs on a thread of its own: the kernel keeps freed pages on the CPU
    // that freed them, and a copy on that CPU gets them faster. Removing on
    // the bench thread handed that to `std::fs::copy`, which runs there,
    // and not to ours, which runs on a blocking-pool thread: std's own copy
    // run on another thread measured the same 5-15% slower.
    let remover = Remover::spawn();
    let fresh = || remover.remove(&dst);
    group.bench_function(BenchmarkId::new("std", param), |b| {
        b.iter_batched(
            fresh,
            |()| std::fs::copy(&src, &dst).expect("copy"),
            BatchSize::PerIteration,
        );
    });
    group.bench_function(BenchmarkId::new("aqueduct", param), |b| {
        b.to_async(&rt).iter_batched(
            fresh,
            |()| async {
                aq_fs::copy_with_progress(&src, &dst, None::<fn(Progress)>)
                    .await
                    .expect("copy")
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// A thread that removes files on request and says when it is done.
struct Remover {
    tx: std::sync::mpsc::Sender<(PathBuf, std::sync::mpsc::SyncSender<()>)>,
}

impl Remover {
    fn spawn() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<(PathBuf, std::sync::mpsc::SyncSender<()>)>();
        std::thread::spawn(move || {
            for (path, done) in rx {
                let _ = std::fs::remove_file(&path);
                let _ = done.send(());
            }
        });
        Self { tx }
    }

    fn remove(&self, path: &Path) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.tx.send((path.to_path_buf(), done)).expect("remover");
        wait.recv().expect("remover");
    }
}

/// A bare tokio echo server: a task and a 4 KiB buffer per connection.
async fn tokio_echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    aqueduct_benches::spawn_tokio_echo(listener);
    addr
}

async fn clients(addr: std::net::SocketAddr) -> Arc<Vec<tokio::sync::Mutex<TcpStream>>> {
    let mut v = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        v.push(tokio::sync::Mutex::new(s));
    }
    Arc::new(v)
}

/// Every connection does `ROUND_TRIPS` request/response pairs, concurrently.
async fn round_trips(conns: Arc<Vec<tokio::sync::Mutex<TcpStream>>>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        // All clients in this one task: the servers get the runtime's
        // workers to themselves.
        futures::future::join_all(conns.iter().map(|conn| async move {
            let mut s = conn.lock().await;
            let msg = [7u8; MESSAGE];
            let mut reply = [0u8; MESSAGE];
            for _ in 0..ROUND_TRIPS {
                s.write_all(&msg).await.expect("write");
                s.read_exact(&mut reply).await.expect("read");
            }
        }))
        .await;
    }
    start.elapsed()
}

/// A runtime of one worker on its own thread, serving both echo servers for
/// the life of the bench: the servers get one core and the clients the
/// other, so neither side's result depends on where the scheduler happened
/// to put the client task.
fn server_runtime() -> tokio::runtime::Handle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        tx.send(rt.handle().clone()).expect("send handle");
        rt.block_on(std::future::pending::<()>());
    });
    rx.recv().expect("server runtime")
}

fn echo(c: &mut Criterion) {
    let servers = server_runtime();
    let (ours, theirs) = servers.block_on(async {
        let handle = Server::builder()
            .bind("127.0.0.1:0")
            .await
            .expect("bind")
            .serve(net::echo);
        let ours = handle.local_addr();
        std::mem::forget(handle); // serve for the life of the bench
        (ours, tokio_echo_server().await)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ours, theirs) = rt.block_on(async {
        let ours = clients(ours).await;
        let theirs = clients(theirs).await;
        // Untimed warm-up of both sides, so neither pays for going first.
        for _ in 0..3 {
            round_trips(Arc::clone(&theirs), 2).await;
            round_trips(Arc::clone(&ours), 2).await;
        }
        (ours, theirs)
    });
    let param = format!("{CONNECTIONS}conns");
    let mut group = c.benchmark_group("io/echo");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements((CONNECTIONS * ROUND_TRIPS) as u64));
    group.bench_function(BenchmarkId::new("tokio", &param), |b| {
        b.to_async(&rt)
            .iter_custom(|iters| round_trips(Arc::clone(&theirs), iters));
    });
    group.bench_function(BenchmarkId::new("aqueduct", &param), |b| {
        b.to_async(&rt)
            .iter_custom(|iters| round_trips(Arc::clone(&ours), iters));
    });
    group.finish();
}

criterion_group!(benches, read_lines, copy, echo);
criterion_main!(benches);
