//! Behaviour of `net::Server`: limit, refusal, idle timeout, shutdown,
//! bad input, accept back-off.
// Under `--cfg loom` tokio has no sockets, files or signals to test.
#![cfg(not(loom))]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aqueduct_io::net::{self, Connection, LimitPolicy, Server, ServerBuilder, ServerHandle};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

/// Serves `handler` on a loopback port, as `builder` sets it up.
async fn serve<H, F, E>(builder: ServerBuilder, handler: H) -> ServerHandle<SocketAddr>
where
    H: Fn(Connection<TcpStream>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    builder.bind("127.0.0.1:0").await.unwrap().serve(handler)
}

/// Closes connections silent for 10 s.
fn idle_10s() -> ServerBuilder {
    Server::builder().idle_timeout(Duration::from_secs(10))
}

#[tokio::test(start_paused = true)]
async fn limit_is_never_exceeded_under_4x_load() {
    const LIMIT: usize = 8;
    let current = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (c, m) = (Arc::clone(&current), Arc::clone(&max_seen));
    let handle = Server::builder()
        .max_connections(LIMIT)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(move |mut conn: Connection<TcpStream>| {
            let (c, m) = (Arc::clone(&c), Arc::clone(&m));
            async move {
                let now = c.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let mut b = [0u8; 1];
                conn.read_exact(&mut b).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                c.fetch_sub(1, Ordering::SeqCst);
                conn.write_all(&b).await
            }
        });
    let addr = handle.local_addr();
    let clients: Vec<_> = (0..4 * LIMIT)
        .map(|i| {
            tokio::spawn(async move {
                let mut s = net::tcp::connect(addr, SECOND).await.unwrap();
                s.write_all(&[i as u8]).await.unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.unwrap();
                assert_eq!(b[0], i as u8);
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        max_seen.load(Ordering::SeqCst),
        LIMIT,
        "the limit was reached but never passed"
    );
    let stats = handle.stats();
    assert_eq!(stats.peak_active, LIMIT as u64);
    assert_eq!(stats.accepted, 4 * LIMIT as u64);
    assert_eq!(stats.refused, 0);
}

#[tokio::test]
async fn refuse_policy_replies_and_closes() {
    let handle = Server::builder()
        .max_connections(2)
        .on_limit(LimitPolicy::Refuse("busy\n".into()))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(net::echo);
    let addr = handle.local_addr();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = net::tcp::connect(addr, SECOND).await.unwrap();
        s.write_all(b"x").await.unwrap();
        s.read_exact(&mut [0u8; 1]).await.unwrap(); // served, so it holds a slot
        held.push(s);
    }
    let mut third = net::tcp::connect(addr, SECOND).await.unwrap();
    let mut reply = String::new();
    third.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "busy\n");
    let stats = handle.stats();
    assert_eq!((stats.active, stats.refused, stats.accepted), (2, 1, 3));
    // A slot frees up: the next connection is served again.
    drop(held.pop());
    while handle.stats().active > 1 {
        tokio::task::yield_now().await;
    }
    let mut fourth = net::tcp::connect(addr, SECOND).await.unwrap();
    fourth.write_all(b"y").await.unwrap();
    let mut b = [0u8; 1];
    fourth.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"y");
}

#[tokio::test(start_paused = true)]
async fn idle_connection_is_closed_after_idle_timeout() {
    let handle = serve(idle_10s(), net::echo).await;
    let addr = handle.local_addr();
    let start = Instant::now();
    // A silent client and a chatty one.
    let silent = tokio::spawn(async move {
        let mut s = net::tcp::connect(addr, SECOND).await.unwrap();
        let n = s.read(&mut [0u8; 8]).await.unwrap();
        (n, start.elapsed())
    });
    let mut chatty = net::tcp::connect(addr, SECOND).await.unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        chatty.write_all(b"!").await.unwrap();
        chatty.read_exact(&mut [0u8; 1]).await.unwrap();
    }
    let (n, closed_after) = silent.await.unwrap();
    assert_eq!(n, 0, "the silent connection sees EOF");
    assert!(
        closed_after >= Duration::from_secs(10) && closed_after <= Duration::from_millis(10_625),
        "{closed_after:?}"
    );
    // 20 s have passed; the chatty one, never idle for 10 s, is still served.
    assert!(start.elapsed() >= Duration::from_secs(20));
    chatty.write_all(b"?").await.unwrap();
    let mut b = [0u8; 1];
    chatty.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"?");
    assert_eq!(handle.stats().closed_idle, 1);
    // Then it goes quiet and is closed 10 s after its last byte.
    let quiet_from = Instant::now();
    assert_eq!(chatty.read(&mut [0u8; 1]).await.unwrap(), 0);
    let waited = quiet_from.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited <= Duration::from_millis(10_625),
        "{waited:?}"
    );
    assert_eq!(handle.stats().closed_idle, 2);
}

/// A handler that answers each line after `delay`.
fn slow_answer(
    delay: Duration,
) -> impl Fn(Connection<TcpStream>) -> futures_like::BoxFut + Send + Sync + 'static {
    move |conn| {
        Box::pin(async move {
            let mut conn = BufReader::new(conn);
            let mut line = String::new();
            while conn.read_line(&mut line).await? > 0 {
                tokio::time::sleep(delay).await;
                conn.get_mut()
                    .write_all(format!("done {}", line).as_bytes())
                    .await?;
                line.clear();
                if conn.get_ref().is_shutting_down() {
                    break;
                }
            }
            Ok(())
        })
    }
}

mod futures_like {
    pub(crate) type BoxFut =
        std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;
}

#[tokio::test(start_paused = true)]
async fn request_in_flight_at_shutdown_gets_its_response() {
    let handle = Server::builder()
        .shutdown_grace(Duration::from_secs(10))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(slow_answer(Duration::from_secs(2)));
    let mut client = BufReader::new(
        net::tcp::connect(handle.local_addr(), SECOND)
            .await
            .unwrap(),
    );
    client.get_mut().write_all(b"work\n").await.unwrap();
    while handle.stats().active == 0 {
        tokio::task::yield_now().await;
    }
    // Let the handler read the request and start working on it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let (report, answer) = tokio::join!(handle.shutdown(), async {
        let mut line = String::new();
        client.read_line(&mut line).await.unwrap();
        line
    });
    assert_eq!(answer, "done work\n");
    assert_eq!(
        (report.in_flight, report.finished, report.aborted),
        (1, 1, 0)
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(1500),
        "shutdown waited for the answer, no longer"
    );
    // No longer accepting.
    assert!(TcpStream::connect(handle.local_addr()).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn connections_past_the_grace_period_are_aborted() {
    let handle = Server::builder()
        .shutdown_grace(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(slow_answer(Duration::from_secs(3600)));
    let addr = handle.local_addr();
    let mut slow = net::tcp::connect(addr, SECOND).await.unwrap();
    slow.write_all(b"forever\n").await.unwrap();
    // An idle echo-like client that finishes on the signal.
    let _quiet = net::tcp::connect(addr, SECOND).await.unwrap();
    while handle.stats().active < 2 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = handle.shutdown().await;
    assert_eq!(report.elapsed, Duration::from_secs(1));
    assert_eq!(report.aborted, 2, "{report}");
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).await.unwrap();
    assert!(
        rest.is_empty(),
        "the aborted connection is closed without an answer"
    );
    assert_eq!(handle.stats().active, 0);
}

#[tokio::test]
async fn garbage_from_one_client_ends_that_connection_only() {
    // A line protocol: UTF-8 lines of at most 64 bytes, answered in upper case.
    let handle = serve(
        Server::builder(),
        |conn: Connection<TcpStream>| async move {
            let mut conn = BufReader::new(conn);
            loop {
                let mut raw = Vec::new();
                let n = (&mut conn).take(65).read_until(b'\n', &mut raw).await?;
                if n == 0 {
                    return Ok(());
                }
                if raw.last() != Some(&b'\n') {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "line too long",
                    ));
                }
                let text = String::from_utf8(raw)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                conn.get_mut()
                    .write_all(text.to_uppercase().as_bytes())
                    .await?;
            }
        },
    )
    .await;
    let addr = handle.local_addr();
    let mut good = BufReader::new(net::tcp::connect(addr, SECOND).await.unwrap());
    let mut bad = net::tcp::connect(addr, SECOND).await.unwrap();
    let mut long = net::tcp::connect(addr, SECOND).await.unwrap();

    bad.write_all(b"\xff\xfe\xfd\n").await.unwrap();
    assert_eq!(
        bad.read(&mut [0u8; 16]).await.unwrap(),
        0,
        "invalid UTF-8 ends the connection"
    );
    long.write_all(&[b'a'; 1000]).await.unwrap();
    let mut sink = Vec::new();
    let _ = long.read_to_end(&mut sink).await;
    assert!(sink.is_empty(), "an over-long line ends the connection");

    for word in ["hello\n", "still here\n"] {
        good.get_mut().write_all(word.as_bytes()).await.unwrap();
        let mut line = String::new();
        good.read_line(&mut line).await.unwrap();
        assert_eq!(line, word.to_uppercase());
    }
    let stats = handle.stats();
    assert_eq!((stats.failed, stats.active), (2, 1));
}

/// Runs in a child process with a low descriptor limit; see
/// `accept_backs_off_on_emfile`.
#[tokio::test]
#[ignore = "run by accept_backs_off_on_emfile in a child process"]
async fn emfile_child() {
    if std::env::var_os("AQUEDUCT_EMFILE_CHILD").is_none() {
        return;
    }
    let handle = serve(Server::builder(), net::echo).await;
    let addr = handle.local_addr();
    // Use up every descriptor.
    let mut filler = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        filler.push(f);
    }
    assert!(filler.len() < 64, "the descriptor limit is low");
    // Free one for the client: the server's accept now fails with EMFILE.
    drop(filler.pop());
    let client = std::net::TcpStream::connect(addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.stats().accept_errors < 2 {
        assert!(Instant::now() < deadline, "no accept error seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(handle.stats().accepted, 0);
    // Descriptors come back: the server recovers and serves the waiting client.
    filler.truncate(filler.len().saturating_sub(8));
    client.set_nonblocking(true).unwrap();
    let mut client = TcpStream::from_std(client).unwrap();
    client.write_all(b"still alive").await.unwrap();
    let mut reply = [0u8; 11];
    tokio::time::timeout(Duration::from_secs(10), client.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"still alive");
    assert_eq!(handle.stats().accepted, 1);
    println!("EMFILE-OK accept_errors={}", handle.stats().accept_errors);
}

#[test]
fn accept_backs_off_on_emfile() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 48 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "emfile_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AQUEDUCT_EMFILE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("EMFILE-OK"), "{stdout}");
}

#[tokio::test(start_paused = true)]
async fn a_socket_taken_with_into_inner_is_not_closed_as_idle() {
    // The handler takes the raw socket (as a protocol library would) and
    // echoes through it: the server can no longer see the bytes arrive.
    let handle = serve(idle_10s(), |conn: Connection<TcpStream>| async move {
        let mut socket = conn.into_inner();
        let mut b = [0u8; 1];
        while socket.read(&mut b).await? == 1 {
            socket.write_all(&b).await?;
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    let mut client = net::tcp::connect(handle.local_addr(), SECOND)
        .await
        .unwrap();
    // A byte every 4 s for 40 s: never idle for 10 s.
    for i in 0..10u8 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        client.write_all(&[i]).await.unwrap();
        let mut b = [0u8; 1];
        assert_eq!(client.read(&mut b).await.unwrap(), 1, "closed at byte {i}");
        assert_eq!(b[0], i);
    }
    assert_eq!(handle.stats().closed_idle, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_ends_idle_echo_connections() {
    let handle = serve(Server::builder(), net::echo).await;
    let mut client = net::tcp::connect(handle.local_addr(), SECOND)
        .await
        .unwrap();
    client.write_all(b"x").await.unwrap();
    client.read_exact(&mut [0u8; 1]).await.unwrap();
    // The handle goes: the echo handler, idle, is signalled and ends.
    drop(handle);
    let n = tokio::time::timeout(Duration::from_secs(60), client.read(&mut [0u8; 1]))
        .await
        .expect("the idle echo connection outlived its server")
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_still_applies_after_the_handle_is_dropped() {
    // A line handler that does not watch the shutdown token: after the
    // handle is dropped it carries on, but a silent peer is still closed.
    let handle = serve(idle_10s(), slow_answer(Duration::ZERO)).await;
    let mut client = BufReader::new(
        net::tcp::connect(handle.local_addr(), SECOND)
            .await
            .unwrap(),
    );
    client.get_mut().write_all(b"one\n").await.unwrap();
    let mut line = String::new();
    client.read_line(&mut line).await.unwrap();
    assert_eq!(line, "done one\n");
    drop(handle);
    let quiet_from = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(60), client.read(&mut [0u8; 1]))
        .await
        .expect("the silent connection outlived the idle timeout")
        .unwrap();
    assert_eq!(n, 0);
    assert!(
        quiet_from.elapsed() <= Duration::from_millis(10_625),
        "{:?}",
        quiet_from.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_panics_during_shutdown_is_reported_aborted() {
    let handle = serve(
        Server::builder(),
        |conn: Connection<TcpStream>| async move {
            conn.shutdown_token().cancelled().await;
            if conn.is_shutting_down() {
                panic!("a handler bug met at shutdown");
            }
            Ok::<_, std::io::Error>(())
        },
    )
    .await;
    let _client = net::tcp::connect(handle.local_addr(), SECOND)
        .await
        .unwrap();
    while handle.stats().active == 0 {
        tokio::task::yield_now().await;
    }
    let report = handle.shutdown().await;
    assert_eq!(
        (report.in_flight, report.finished, report.aborted),
        (1, 0, 1),
        "{report}"
    );
    assert!(!report.is_clean());
    assert_eq!(handle.stats().active, 0);
}

#[tokio::test]
async fn a_handler_that_panics_fails_its_connection_only() {
    // The first connection panics in the handler itself, the second in its
    // future; the third is served.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let handle = serve(Server::builder(), move |mut conn: Connection<TcpStream>| {
        let call = c.fetch_add(1, Ordering::SeqCst);
        assert_ne!(call, 0, "a handler bug before its future");
        async move {
            assert_ne!(call, 1, "a handler bug in its future");
            conn.write_all(b"served\n").await
        }
    })
    .await;
    let addr = handle.local_addr();
    for _ in 0..2 {
        let mut client = net::tcp::connect(addr, SECOND).await.unwrap();
        let mut rest = Vec::new();
        // The connection is closed without a byte.
        client.read_to_end(&mut rest).await.unwrap_or_default();
        assert!(rest.is_empty());
    }
    let client = net::tcp::connect(addr, SECOND).await.unwrap();
    let mut line = String::new();
    BufReader::new(client).read_line(&mut line).await.unwrap();
    assert_eq!(line, "served\n");
    while handle.stats().active > 0 {
        tokio::task::yield_now().await;
    }
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.failed, stats.active), (3, 2, 0));
    let report = handle.shutdown().await;
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_shutdown_called_again_after_a_dropped_one_waits_for_the_listener() {
    use futures::FutureExt;
    let handle = serve(Server::builder(), net::echo).await;
    let addr = handle.local_addr();
    // Polled once, before the accept loop could see the signal, then
    // dropped.
    assert!(handle.shutdown().now_or_never().is_none());
    let report = handle.shutdown().await;
    assert!(report.is_clean(), "{report}");
    // The listener is closed: nothing accepts at the address any more.
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// Serves `handler` behind a 10 s idle timeout to a client that sends
/// nothing and reads everything; returns what the client read, how long
/// until it saw the end, and the server's idle closes.
async fn download_to_a_silent_peer<H, F>(handler: H) -> (usize, Duration, u64)
where
    H: Fn(Connection<TcpStream>) -> F + Send + Sync + 'static,
    F: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let handle = serve(idle_10s(), handler).await;
    let mut client = net::tcp::connect(handle.local_addr(), SECOND)
        .await
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    (got.len(), start.elapsed(), handle.stats().closed_idle)
}

#[tokio::test(start_paused = true)]
async fn a_handler_writing_to_a_silent_peer_is_not_idle() {
    // A download: 30 chunks, one a second, to a peer that never sends a
    // byte. Bytes move the whole time, so the 10 s idle timeout never
    // fires, whichever way the handler writes.
    let (n, took, closed_idle) =
        download_to_a_silent_peer(|mut conn: Connection<TcpStream>| async move {
            for _ in 0..30 {
                conn.write_all(b"chunk\n").await?;
                tokio::time::sleep(SECOND).await;
            }
            Ok(())
        })
        .await;
    assert_eq!((n, closed_idle), (30 * 6, 0), "closed after {took:?}");
    assert!(took >= Duration::from_secs(30), "{took:?}");

    let (n, took, closed_idle) =
        download_to_a_silent_peer(|mut conn: Connection<TcpStream>| async move {
            for _ in 0..30 {
                let parts = [
                    std::io::IoSlice::new(b"chu"),
                    std::io::IoSlice::new(b"nk\n"),
                ];
                let mut sent = 0;
                while sent < 6 {
                    // A short vectored write is finished with plain writes.
                    sent += match sent {
                        0 => conn.write_vectored(&parts).await?,
                        s => conn.write(&b"chunk\n"[s..]).await?,
                    };
                }
                tokio::time::sleep(SECOND).await;
            }
            Ok(())
        })
        .await;
    assert_eq!((n, closed_idle), (30 * 6, 0), "closed after {took:?}");

    let (n, took, closed_idle) =
        download_to_a_silent_peer(|conn: Connection<TcpStream>| async move {
            for _ in 0..30 {
                let mut rest: &[u8] = b"chunk\n";
                while !rest.is_empty() {
                    conn.writable().await?;
                    match conn.try_write(rest) {
                        Ok(n) => rest = &rest[n..],
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                tokio::time::sleep(SECOND).await;
            }
            Ok(())
        })
        .await;
    assert_eq!((n, closed_idle), (30 * 6, 0), "closed after {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_neither_reads_nor_writes_is_still_idle() {
    // The handler holds the connection and does nothing with it.
    let (n, took, closed_idle) =
        download_to_a_silent_peer(|conn: Connection<TcpStream>| async move {
            conn.shutdown_token().cancelled().await;
            Ok(())
        })
        .await;
    assert_eq!((n, closed_idle), (0, 1));
    assert!(
        took >= Duration::from_secs(10) && took <= Duration::from_millis(10_625),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_handler_whose_writes_stall_on_a_peer_that_stops_reading_is_idle() {
    // The peer neither sends nor reads: once the socket buffers are full
    // the handler's write waits, no byte moves, and the connection is
    // closed as idle however long the handler would have gone on.
    let handle = serve(idle_10s(), |mut conn: Connection<TcpStream>| async move {
        let chunk = vec![b'x'; 64 * 1024];
        loop {
            conn.write_all(&chunk).await?;
        }
        #[allow(unreachable_code)]
        Ok::<_, std::io::Error>(())
    })
    .await;
    let _client = net::tcp::connect(handle.local_addr(), SECOND)
        .await
        .unwrap();
    let start = Instant::now();
    while handle.stats().closed_idle == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "a stalled writer was never closed as idle"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(handle.stats().active, 0);
    assert_eq!(handle.stats().failed, 0);
}
