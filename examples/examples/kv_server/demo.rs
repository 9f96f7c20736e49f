//! The narrated demo: a server and a client in one process, on loopback,
//! with the store's log in a temp dir.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aqueduct::resilience::breaker::State;
use aqueduct_examples::{ms, section};
use bytes::Bytes;

use aqueduct::io::net::tcp;
use futures::{SinkExt, StreamExt};
use tokio_util::codec::Framed;

use crate::client::{ClientConfig, ClientError, KvClient};
use crate::protocol::{Op, Request, Response, Status, codec};
use crate::server::{ServerConfig, start};
use crate::store::Store;

/// Waits until `cond` holds, for at most 2 s; returns how long it took.
async fn wait_for(mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() && t.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

fn ensure(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("   ok: {what}");
        Ok(())
    } else {
        Err(format!("did not happen: {what}"))
    }
}

const SERVER: ServerConfig = ServerConfig {
    max_connections: 4,
    idle_timeout: Duration::from_millis(300),
    shutdown_grace: Duration::from_secs(1),
};

const CLIENT: ClientConfig = ClientConfig {
    pool_size: 4,
    attempts: 3,
    backoff: Duration::from_millis(10),
    breaker_failures: 3,
    breaker_open: Duration::from_millis(300),
};

const TIMEOUT: Duration = Duration::from_millis(500);

/// Runs the demo.
///
/// # Errors
///
/// A step did not do what it narrates.
pub(crate) async fn run() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("kv.log");
    let (store, _) = Store::open(&log).await.map_err(|e| e.to_string())?;
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = start(any, store.clone(), SERVER)
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr();
    println!(
        "   server on {addr}: at most {} connections, idle timeout {}, log {}",
        SERVER.max_connections,
        ms(SERVER.idle_timeout),
        log.display()
    );
    let client = Arc::new(KvClient::new(addr, CLIENT));

    section("puts and gets, each under a 500 ms deadline sent in the frame header");
    let fruit = ["apple", "banana", "cherry", "damson", "elder"];
    let t = Instant::now();
    for (i, f) in fruit.iter().enumerate() {
        let value = Bytes::from(format!("{f} #{i}"));
        client
            .put(f.as_bytes(), value, TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
    }
    let puts = t.elapsed();
    let t = Instant::now();
    let got = client
        .get(b"cherry", TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let get = t.elapsed();
    let missing = client
        .get(b"fig", TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   5 puts (each synced to the log before its ack) in {}; get cherry = {:?} in {}; get fig = {:?}",
        ms(puts),
        got.as_deref().map(String::from_utf8_lossy),
        ms(get),
        missing
    );
    ensure(
        got.as_deref() == Some(b"cherry #2".as_slice()),
        "a put is read back",
    )?;
    ensure(missing.is_none(), "a missing key reads as none")?;

    section("16 tasks, 10 puts each, through a pool of 4 connections");
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..16 {
        let client = Arc::clone(&client);
        tasks.spawn(async move {
            for n in 0..10 {
                let key = format!("task{task}/{n}");
                client
                    .put(key.as_bytes(), Bytes::from(key.clone()), TIMEOUT)
                    .await?;
            }
            Ok::<_, ClientError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    }
    let stats = server.stats();
    let store_stats = store.stats();
    let (connects, _) = client.counters();
    println!(
        "   160 puts in {}: {} connections opened, at most {} active at once on the server",
        ms(t.elapsed()),
        connects,
        stats.peak_active
    );
    println!(
        "   the log committed {} writes in {} syncs (writes waiting together share one sync)",
        store_stats.writes, store_stats.syncs
    );
    ensure(
        stats.peak_active <= SERVER.max_connections as u64,
        "the server never ran more connections than its limit",
    )?;
    ensure(
        connects <= CLIENT.pool_size as u64,
        "the pool reused its connections",
    )?;

    section("the connection limit and the idle timeout");
    // The pool's 4 connections are idle but open: they hold all 4 slots. A
    // fifth connection completes its handshake in the kernel's listen
    // backlog, but the server does not accept it until a slot frees up.
    let t = Instant::now();
    let mut fifth = Framed::new(
        tcp::connect(addr, Duration::from_secs(1))
            .await
            .map_err(|e| e.to_string())?,
        codec(),
    );
    let ask = Request {
        op: Op::Get,
        id: 5,
        timeout: String::new(),
        key: Bytes::from_static(b"apple"),
        value: Bytes::new(),
    };
    fifth.send(ask.encode()).await.map_err(|e| e.to_string())?;
    let early = tokio::time::timeout(Duration::from_millis(100), fifth.next()).await;
    let late = tokio::time::timeout(Duration::from_secs(2), fifth.next()).await;
    let waited = t.elapsed();
    let answer = match late {
        Ok(Some(Ok(frame))) => Response::decode(frame).ok(),
        _ => None,
    };
    // The pool's other connections went idle at the same moment and reach
    // the timeout within a few milliseconds of the first; the next get
    // below must find its own one closed, so wait (bounded) for all four.
    let all_closed = Instant::now() + Duration::from_secs(2);
    while server.stats().closed_idle < CLIENT.pool_size as u64 && Instant::now() < all_closed {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let closed_idle = server.stats().closed_idle;
    println!(
        "   a fifth connection's get had no answer after 100 ms: the 4 slots are held by the pool's idle connections"
    );
    println!(
        "   the idle timeout ({}) closed {closed_idle} of them, the server accepted the fifth, and it was answered after {}: {:?}",
        ms(SERVER.idle_timeout),
        ms(waited),
        answer
            .as_ref()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
    );
    ensure(
        early.is_err(),
        "the connection limit held the fifth connection back",
    )?;
    ensure(
        answer.is_some_and(|r| r.status == Status::Ok && r.body == "apple #0"),
        "the fifth connection was served once a slot freed up",
    )?;
    ensure(
        closed_idle >= CLIENT.pool_size as u64,
        "the idle timeout closed every idle pooled connection",
    )?;
    drop(fifth);

    let t = Instant::now();
    let again = client
        .get(b"apple", TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let (connects_after, _) = client.counters();
    println!(
        "   the client's next get found its pooled connection closed at checkout, opened a new one, and was answered in {}",
        ms(t.elapsed())
    );
    ensure(
        again.is_some() && connects_after > connects,
        "a fresh connection served the next get",
    )?;

    section("a deadline expiring: the disk turns slow (150 ms per sync), a put has 50 ms");
    store.set_disk_delay(Duration::from_millis(150));
    let t = Instant::now();
    let late = client
        .put(
            b"grape",
            Bytes::from_static(b"late"),
            Duration::from_millis(50),
        )
        .await;
    let waited = t.elapsed();
    println!(
        "   put grape: {} after {}",
        late.as_ref()
            .map_or_else(ToString::to_string, |()| "ok".into()),
        ms(waited)
    );
    // Let the writer reach the disk and look at the write's deadline.
    wait_for(|| store.stats().expired >= 1).await;
    store.set_disk_delay(Duration::ZERO);
    let grape = client
        .get(b"grape", TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   the server saw the deadline in the header and dropped the write when its turn came: expired writes {}, get grape = {:?}",
        store.stats().expired,
        grape
    );
    ensure(
        matches!(late, Err(ClientError::DeadlineExceeded)),
        "the client gave up at its deadline",
    )?;
    ensure(
        waited < Duration::from_millis(150),
        "the client waited about its deadline, not for the slow disk",
    )?;
    ensure(
        store.stats().expired == 1 && grape.is_none(),
        "the expired write was never applied",
    )?;

    section("graceful shutdown with a put in flight");
    store.set_disk_delay(Duration::from_millis(100));
    let received = store.stats().received;
    let in_flight = {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            client
                .put(b"honeydew", Bytes::from_static(b"in flight"), TIMEOUT)
                .await
        })
    };
    // Shut down once the put is with the (slow) disk.
    wait_for(|| store.stats().received > received).await;
    let report = server.shutdown().await;
    store.set_disk_delay(Duration::ZERO);
    let acked = in_flight.await.map_err(|e| e.to_string())?;
    println!(
        "   shutdown took {}: {} connections finished their request, {} aborted; the put in flight: {}",
        ms(report.elapsed),
        report.finished,
        report.aborted,
        acked
            .as_ref()
            .map_or_else(ToString::to_string, |()| "acknowledged".into())
    );
    ensure(
        acked.is_ok(),
        "the request in flight was answered before the server stopped",
    )?;
    ensure(report.aborted == 0, "no connection had to be aborted")?;

    section("the server is down: retries, then the breaker opens");
    let mut lines = Vec::new();
    for n in 0..5 {
        let t = Instant::now();
        let r = client.get(b"apple", TIMEOUT).await;
        let outcome = match &r {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        lines.push((n, t.elapsed(), client.breaker().state(), r.is_err()));
        println!(
            "   get {n}: {:>9}  breaker {:?}  {}",
            ms(t.elapsed()),
            client.breaker().state(),
            outcome
        );
    }
    let (_, attempts_before) = client.counters();
    let t = Instant::now();
    let fast = client.get(b"apple", TIMEOUT).await;
    let (_, attempts_after) = client.counters();
    println!(
        "   while open, a call fails in {} and sends nothing: {}",
        ms(t.elapsed()),
        fast.as_ref()
            .map_or_else(ToString::to_string, |_| "ok".into())
    );
    ensure(
        lines.iter().all(|l| l.3),
        "every call failed while the server was down",
    )?;
    ensure(
        client.breaker().state() == State::Open,
        "the breaker opened",
    )?;
    ensure(
        matches!(fast, Err(ClientError::BreakerOpen(_))) && attempts_after == attempts_before,
        "an open breaker rejects without touching the network",
    )?;

    section("restart from the log on the same address; the breaker's probe closes it");
    store.close().await;
    let (store, replay) = Store::open(&log).await.map_err(|e| e.to_string())?;
    let server = start(addr, store.clone(), SERVER)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   replayed {} records ({} torn bytes cut), {} keys",
        replay.records,
        replay.torn_bytes,
        store.len()
    );
    tokio::time::sleep(CLIENT.breaker_open).await;
    let probe = client
        .get(b"honeydew", TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "   after {} the next call is the probe: honeydew = {:?}, breaker {:?}",
        ms(CLIENT.breaker_open),
        probe.as_deref().map(String::from_utf8_lossy),
        client.breaker().state()
    );
    let mut missing = 0;
    for task in 0..16 {
        for n in 0..10 {
            let key = format!("task{task}/{n}");
            let v = client
                .get(key.as_bytes(), TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            if v.as_deref() != Some(key.as_bytes()) {
                missing += 1;
            }
        }
    }
    println!(
        "   160 concurrent puts read back after the restart: {} missing",
        missing
    );
    ensure(
        probe.as_deref() == Some(b"in flight".as_slice()),
        "the put acknowledged during shutdown survived",
    )?;
    ensure(
        client.breaker().state() == State::Closed,
        "the probe closed the breaker",
    )?;
    ensure(
        missing == 0,
        "every acknowledged write survived the restart",
    )?;

    client.close().await;
    let report = server.shutdown().await;
    store.close().await;
    println!(
        "   final shutdown in {} ({} finished, {} aborted)",
        ms(report.elapsed),
        report.finished,
        report.aborted
    );
    Ok(())
}
