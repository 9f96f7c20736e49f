//! The load test: many puts (and some gets) from concurrent tasks over
//! loopback, the server stopped gracefully in the middle of it, and then
//! proof that no acknowledged write was lost: the store is reopened from
//! its log, a new server started, and every acknowledged key read back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aqueduct_examples::{bar, ms, section};
use bytes::Bytes;

use crate::client::{ClientConfig, KvClient};
use crate::server::{ServerConfig, start};
use crate::store::Store;

/// How much load, for how long at most.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadConfig {
    /// Requests in all (puts and gets).
    pub(crate) requests: u64,
    /// Tasks sending them, each one request at a time.
    pub(crate) concurrency: usize,
    /// The server is stopped once this share of the requests is done (or
    /// half of `max_time` has passed, whichever comes first).
    pub(crate) stop_at: f64,
    /// The whole load phase stops after this long, done or not.
    pub(crate) max_time: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            requests: 40_000,
            concurrency: 32,
            stop_at: 0.75,
            max_time: Duration::from_secs(10),
        }
    }
}

/// What the load test measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadReport {
    /// Requests answered before the server was stopped.
    pub(crate) answered: u64,
    /// Requests per second while the server was up.
    pub(crate) per_second: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// Writes acknowledged (before and during the shutdown).
    pub(crate) acked: u64,
    /// Requests that failed (nearly all after the server stopped).
    pub(crate) failed: u64,
    /// Acknowledged writes read back with the right value after the restart.
    pub(crate) verified: u64,
    /// Acknowledged writes missing or wrong after the restart.
    pub(crate) lost: u64,
}

fn value_of(i: u64) -> Bytes {
    Bytes::from(format!("value {i:>10} {}", "x".repeat(48)))
}

/// Appends the first bytes of a record, as a crash mid-append leaves them.
pub(crate) fn append_torn_record(log: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Write;
    let torn = [0x12, 0x34, 0x56, 0x78, 0, 9, 0, 0, 0, 20, b'k', b'e', b'y'];
    let mut f = std::fs::OpenOptions::new().append(true).open(log)?;
    f.write_all(&torn)?;
    f.sync_data()?;
    Ok(torn.len() as u64)
}

fn key_of(i: u64) -> String {
    format!("key/{i}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// No grace at the stop: requests in flight are cut off mid-way (their
/// writes may reach the log unacknowledged), the harshest stop short of
/// killing the process.
const SERVER: ServerConfig = ServerConfig {
    max_connections: 64,
    idle_timeout: Duration::from_secs(10),
    shutdown_grace: Duration::ZERO,
};

const TIMEOUT: Duration = Duration::from_secs(1);

/// Runs the load test and prints what it measured.
///
/// # Errors
///
/// Setting up failed, or an acknowledged write was lost.
#[allow(clippy::too_many_lines)]
pub(crate) async fn run(config: LoadConfig) -> Result<LoadReport, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("kv.log");
    let (store, _) = Store::open(&log).await.map_err(|e| e.to_string())?;
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = Arc::new(
        start(any, store.clone(), SERVER)
            .await
            .map_err(|e| e.to_string())?,
    );
    let addr = server.local_addr();
    let client_config = ClientConfig {
        pool_size: config.concurrency,
        attempts: 3,
        backoff: Duration::from_millis(5),
        breaker_failures: 20,
        breaker_open: Duration::from_millis(200),
    };
    let client = Arc::new(KvClient::new(addr, client_config));

    section(&format!(
        "{} requests (4 puts to 1 get) from {} tasks over loopback, for at most {}; the server stops at {:.0}% (or after {})",
        config.requests,
        config.concurrency,
        ms(config.max_time),
        config.stop_at * 100.0,
        ms(config.max_time / 2)
    ));
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let stop_after = (config.requests as f64 * config.stop_at) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    let start_at = Instant::now();
    let until = start_at + config.max_time;

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency {
        let (client, next, done, stopping) = (
            Arc::clone(&client),
            Arc::clone(&next),
            Arc::clone(&done),
            Arc::clone(&stopping),
        );
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut acked = Vec::new();
            let mut failed = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= config.requests || Instant::now() >= until {
                    break;
                }
                let t = Instant::now();
                let ok = if i % 5 == 4 {
                    client.get(key_of(i - 1).as_bytes(), TIMEOUT).await.is_ok()
                } else {
                    let r = client.put(key_of(i).as_bytes(), value_of(i), TIMEOUT).await;
                    if r.is_ok() {
                        acked.push(i);
                    }
                    r.is_ok()
                };
                if ok {
                    // Latency of requests answered while the server was up.
                    if !stopping.load(Ordering::Relaxed) {
                        latencies.push(t.elapsed());
                    }
                } else {
                    failed += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (latencies, acked, failed)
        });
    }

    // Stop the server in the middle of the load.
    let shutdown = {
        let (server, done, stopping) = (
            Arc::clone(&server),
            Arc::clone(&done),
            Arc::clone(&stopping),
        );
        tokio::spawn(async move {
            let stop_by = start_at + config.max_time / 2;
            while done.load(Ordering::Relaxed) < stop_after && Instant::now() < stop_by {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            stopping.store(true, Ordering::Relaxed);
            let at = start_at.elapsed();
            let report = server.shutdown().await;
            (at, report)
        })
    };

    let mut latencies = Vec::new();
    let mut acked = Vec::new();
    let mut failed = 0;
    while let Some(r) = workers.join_next().await {
        let (l, a, f) = r.map_err(|e| e.to_string())?;
        latencies.extend(l);
        acked.extend(a);
        failed += f;
    }
    let total = start_at.elapsed();
    let (stopped_at, report) = shutdown.await.map_err(|e| e.to_string())?;
    store.close().await;
    let store_stats = store.stats();
    latencies.sort_unstable();
    let answered = latencies.len() as u64;
    #[allow(clippy::cast_precision_loss)]
    let per_second = answered as f64 / stopped_at.as_secs_f64().max(1e-9);
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    let sent = done.load(Ordering::Relaxed);
    println!(
        "   {answered} requests answered in {} while the server was up: {per_second:.0} requests/s",
        ms(stopped_at)
    );
    println!(
        "   latency p50 {}  p99 {}  max {}",
        ms(p50),
        ms(p99),
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "   the log committed {} writes in {} syncs ({:.1} writes per sync)",
        store_stats.writes,
        store_stats.syncs,
        store_stats.writes as f64 / store_stats.syncs.max(1) as f64
    );
    println!(
        "   server stopped at {} with no grace period: shutdown took {}, {} connections finished, {} cut off mid-request",
        ms(stopped_at),
        ms(report.elapsed),
        report.finished,
        report.aborted
    );
    println!(
        "   {sent} requests sent in {}: {} writes acknowledged, {} answered during the shutdown, {failed} failed (the server was down)",
        ms(total),
        acked.len(),
        sent.saturating_sub(answered + failed)
    );
    let (connects, attempts) = client.counters();
    println!(
        "   client: {connects} connections opened, {attempts} attempts sent, breaker ends {:?}",
        client.breaker().state()
    );
    client.close().await;

    section("restart from the log and read back every acknowledged write");
    // As if the process had also died in the middle of one more append: a
    // torn record at the end of the log, which the replay must cut off.
    let torn = append_torn_record(&log).map_err(|e| e.to_string())?;
    println!(
        "   {torn} bytes of a torn record appended to the log, as a crash mid-append leaves it"
    );
    let (store, replay) = Store::open(&log).await.map_err(|e| e.to_string())?;
    let server = start(any, store.clone(), SERVER)
        .await
        .map_err(|e| e.to_string())?;
    let reader = Arc::new(KvClient::new(server.local_addr(), client_config));
    println!(
        "   replayed {} records ({} torn bytes cut): {} keys; {} writes reached the log without their answer reaching the client",
        replay.records,
        replay.torn_bytes,
        store.len(),
        replay.records.saturating_sub(acked.len() as u64)
    );
    let t = Instant::now();
    let acked = Arc::new(acked);
    let mut checkers = tokio::task::JoinSet::new();
    for part in 0..config.concurrency {
        let (reader, acked) = (Arc::clone(&reader), Arc::clone(&acked));
        checkers.spawn(async move {
            let (mut verified, mut lost) = (0u64, 0u64);
            for i in acked.iter().skip(part).step_by(config.concurrency) {
                match reader.get(key_of(*i).as_bytes(), TIMEOUT).await {
                    Ok(Some(v)) if v == value_of(*i) => verified += 1,
                    Ok(_) => lost += 1,
                    Err(e) => return Err(format!("reading back key {i}: {e}")),
                }
            }
            Ok((verified, lost))
        });
    }
    let (mut verified, mut lost) = (0, 0);
    while let Some(r) = checkers.join_next().await {
        let (v, l) = r.map_err(|e| e.to_string())??;
        verified += v;
        lost += l;
    }
    println!(
        "   {verified} of {} acknowledged writes read back in {}, {lost} lost",
        acked.len(),
        ms(t.elapsed())
    );
    let width = 40;
    println!(
        "   acknowledged {}  {}",
        bar(acked.len() as u64, acked.len() as u64, width),
        acked.len()
    );
    println!(
        "   read back    {}  {verified}",
        bar(verified, acked.len() as u64, width)
    );
    reader.close().await;
    server.shutdown().await;
    store.close().await;

    let report = LoadReport {
        answered,
        per_second,
        p50,
        p99,
        acked: acked.len() as u64,
        failed,
        verified,
        lost,
    };
    if lost > 0 {
        return Err(format!("{lost} acknowledged writes were lost"));
    }
    if replay.torn_bytes != torn {
        return Err(format!(
            "the replay cut {} bytes, the torn record had {torn}",
            replay.torn_bytes
        ));
    }
    if report.acked == 0 || verified != report.acked {
        return Err("no acknowledged write to check".into());
    }
    if failed == 0 {
        return Err("no request failed: the server was not stopped mid-load".into());
    }
    Ok(report)
}
