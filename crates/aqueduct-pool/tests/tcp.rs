//! `TcpManager` against a real loopback echo server that restarts mid-run.
//!
//! These tests use real sockets, so they use real time, but they never
//! sleep: they assert that no checkout takes longer than `wait_timeout`.
#![cfg(all(feature = "tcp", feature = "deadpool"))]

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::DerefMut;
use std::time::Duration;

use aqueduct_pool::deadpool::{Adapter, DeadPool};
use aqueduct_pool::tcp::{TcpError, TcpManager};
use aqueduct_pool::{Manager, Meta, Order, Pool, Pooled};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// A line echo server that closes every connection when stopped.
struct Echo {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Echo {
    async fn start(addr: SocketAddr) -> (Self, SocketAddr) {
        let listener = TcpListener::bind(addr).await.unwrap();
        let local = listener.local_addr().unwrap();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (sock, _) = accepted.unwrap();
                        let stopped = stopped.clone();
                        conns.spawn(serve(sock, stopped));
                    }
                    _ = stopped.changed() => break,
                }
            }
            drop(listener);
            // Every connection closes its socket before the server reports
            // that it stopped.
            while conns.join_next().await.is_some() {}
        });
        (Self { stop, task }, local)
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
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

async fn request(conn: &mut TcpStream, body: &str) -> std::io::Result<String> {
    conn.write_all(format!("{body}\n").as_bytes()).await?;
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    Ok(line.trim_end().to_owned())
}

const WAIT: Duration = Duration::from_secs(2);

/// Runs `n` requests, 4 at a time, each through a pooled connection.
async fn burst<F, Fut>(n: usize, tag: &str, one: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (Duration, std::io::Result<String>)> + Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(one(format!("{tag}-{i}")));
        if set.len() == 4 {
            let (waited, reply) = set.join_next().await.unwrap().unwrap();
            assert!(waited < WAIT, "a checkout waited {waited:?}");
            reply.expect("every request succeeds");
        }
    }
    while let Some(done) = set.join_next().await {
        let (waited, reply) = done.unwrap();
        assert!(waited < WAIT, "a checkout waited {waited:?}");
        reply.expect("every request succeeds");
    }
}

/// Checks out four connections at once, as many as the pools under test
/// hold, so every connection is checked out, and makes a request on each.
async fn all_at_once<C, F, Fut>(get: F)
where
    C: DerefMut<Target = TcpStream>,
    F: Fn() -> Fut,
    Fut: Future<Output = C>,
{
    let mut all = Vec::new();
    for i in 0..4 {
        let start = Instant::now();
        let mut conn = get().await;
        let waited = start.elapsed();
        assert!(waited < WAIT, "a checkout waited {waited:?}");
        let body = format!("all-{i}");
        assert_eq!(request(&mut conn, &body).await.unwrap(), body);
        all.push(conn);
    }
}

fn manager(addr: SocketAddr) -> TcpManager {
    TcpManager::new(addr).connect_timeout(Duration::from_secs(1))
}

/// A fresh loopback listener, a pool of one connection to it, that
/// connection checked out, and the server's end of it.
async fn one_connection() -> (TcpListener, Pool<TcpManager>, Pooled<TcpManager>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pool = Pool::builder(manager(listener.local_addr().unwrap()))
        .max_size(1)
        .build_lazy()
        .unwrap();
    let conn = pool.get().await.unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    (listener, pool, conn, peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_our_pool_recovers() {
    our_pool_recovers(Order::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_our_fifo_pool_recovers() {
    our_pool_recovers(Order::Fifo).await;
}

async fn our_pool_recovers(order: Order) {
    let (server, addr) = Echo::start("127.0.0.1:0".parse().unwrap()).await;
    let pool = Pool::builder(manager(addr))
        .max_size(4)
        .min_idle(4)
        .order(order)
        .wait_timeout(WAIT)
        .build()
        .await
        .unwrap();
    let one = |body: String| {
        let pool = pool.clone();
        async move {
            let start = Instant::now();
            let mut conn = pool.get().await.unwrap();
            let waited = start.elapsed();
            let reply = request(&mut conn, &body).await;
            if let Ok(r) = &reply {
                assert_eq!(*r, body);
            }
            (waited, reply)
        }
    };
    burst(40, "before", one).await;
    assert_eq!(pool.status().created, 4);

    server.stop().await;
    let (server, again) = Echo::start(addr).await;
    assert_eq!(again, addr, "same port");

    burst(40, "after", one).await;
    let s = pool.status();
    assert_eq!(s.timeouts, 0);
    if order == Order::Fifo {
        // Every connection took its turn: all four old ones were found
        // dead and replaced.
        assert_eq!((s.discarded, s.created), (4, 8), "{s:?}");
    } else {
        // The local order reuses the connections its threads used last,
        // so an old one may still be idle, unchecked; each replaced one was
        // replaced once.
        assert_eq!(s.created, 4 + s.discarded, "{s:?}");
    }
    // Any old connection still idle is checked out now, found dead and
    // replaced.
    all_at_once(|| async { pool.get().await.unwrap() }).await;
    let s = pool.status();
    assert_eq!((s.discarded, s.created, s.timeouts), (4, 8, 0), "{s:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_deadpool_recovers() {
    let (server, addr) = Echo::start("127.0.0.1:0".parse().unwrap()).await;
    let pool: DeadPool<TcpManager> = deadpool::managed::Pool::builder(Adapter::new(manager(addr)))
        .max_size(4)
        .wait_timeout(Some(WAIT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .unwrap();
    let one = |body: String| {
        let pool = pool.clone();
        async move {
            let start = Instant::now();
            let mut conn = pool.get().await.unwrap();
            let waited = start.elapsed();
            let reply = request(&mut conn, &body).await;
            (waited, reply)
        }
    };
    burst(40, "before", one).await;
    server.stop().await;
    let (server, _) = Echo::start(addr).await;
    burst(40, "after", one).await;
    all_at_once(|| async { pool.get().await.unwrap() }).await;
    assert_eq!(pool.status().size, 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_are_named() {
    // Bind then drop a listener: nothing listens on that port now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let pool = Pool::builder(manager(addr)).build_lazy().unwrap();
    let err = pool.get().await.unwrap_err();
    match err {
        aqueduct_pool::PoolError::Create(aqueduct_pool::tcp::TcpError::Connect {
            addr: a, ..
        }) => {
            assert_eq!(a, addr);
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_closed_is_broken_on_return() {
    let (_listener, pool, conn, peer) = one_connection().await;
    drop(peer);
    // Wait (without sleeping) until the runtime has seen the close.
    conn.readable().await.unwrap();
    drop(conn);
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1), "{s:?}");
}

/// A holder that spent its task's cooperative budget (many I/O operations
/// in one poll) and then gives back a connection whose peer closed: the
/// check on return still looks, and the connection is discarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_peer_is_broken_on_return_from_a_task_out_of_budget() {
    let (_listener, pool, conn, peer) = one_connection().await;
    drop(peer);
    conn.readable().await.unwrap();
    let mut conn = Some(conn);
    std::future::poll_fn(|cx| {
        // Spend the whole budget, then give the connection back in the
        // same poll.
        while let std::task::Poll::Ready(spent) = tokio::task::coop::poll_proceed(cx) {
            spent.made_progress();
        }
        drop(conn.take());
        std::task::Poll::Ready(())
    })
    .await;
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1), "{s:?}");
}

/// The checkout check of a healthy idle connection passes even when the
/// process has no file descriptor to spare: looking at a socket must not
/// need a new descriptor, or every idle connection would be dropped (and
/// replaced) exactly when descriptors run short.
#[cfg(unix)]
#[test]
fn a_healthy_connection_passes_recycle_with_no_descriptor_to_spare() {
    const CHILD: &str = "AQUEDUCT_POOL_TEST_FD_CHILD";
    const NAME: &str = "a_healthy_connection_passes_recycle_with_no_descriptor_to_spare";
    // Run this test alone, in a child whose descriptor limit is low enough
    // to use up at once.
    if common::ran_in_child(CHILD, NAME, Some("ulimit -n 64")) {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let manager = manager(listener.local_addr().unwrap());
        let mut conn = manager.create().await.unwrap();
        let (_peer, _) = listener.accept().await.unwrap();
        // Every descriptor left is taken.
        let mut taken = Vec::new();
        while let Ok(file) = std::fs::File::open("/dev/null") {
            taken.push(file);
        }
        let meta = Meta::from_parts(Instant::now(), None, 2);
        let checked = manager.recycle(&mut conn, &meta).await;
        let spare = manager.is_broken(&conn);
        drop(taken);
        assert!(
            checked.is_ok(),
            "a healthy connection was refused: {checked:?}"
        );
        assert!(!spare);
    });
}

/// A connection whose holder panicked may be in the middle of a request:
/// its reply can still be on the way, and the next caller would read it as
/// the reply to its own request. It is replaced, not handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_holder_panicked_is_not_handed_out_again() {
    let (_listener, pool, conn, _peer) = one_connection().await;
    let first = conn.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut conn = conn;
        conn.write_all(b"request\n").await.unwrap();
        panic!("the holder fails before it reads the reply");
    });
    assert!(holder.await.unwrap_err().is_panic());
    // The listener's backlog completes a new connection without `accept`.
    let again = pool.get().await.unwrap();
    assert_ne!(again.local_addr().unwrap(), first);
    let s = pool.status();
    assert_eq!((s.created, s.discarded), (2, 1), "{s:?}");
}

/// A holder that shut down the write side of its connection (as a client
/// does to mark the end of a request) gives back a connection that can
/// send nothing more, though its peer has not closed and nothing is
/// unread. The next caller gets a new connection, not one whose first
/// write fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_write_side_was_shut_down_is_replaced() {
    let (_listener, pool, mut conn, _peer) = one_connection().await;
    let first = conn.local_addr().unwrap();
    conn.shutdown().await.unwrap();
    let meta = Meta::from_parts(Instant::now(), None, 2);
    let checked = pool.manager().recycle(&mut conn, &meta).await;
    assert!(
        matches!(checked, Err(aqueduct_pool::tcp::TcpError::WriteClosed { addr }) if addr == pool.manager().addr()),
        "{checked:?}"
    );
    drop(conn);
    let mut again = pool.get().await.unwrap();
    assert_ne!(again.local_addr().unwrap(), first);
    again.write_all(b"request\n").await.unwrap();
    let s = pool.status();
    assert_eq!((s.created, s.discarded), (2, 1), "{s:?}");
}

/// The same on deadpool, through the adapter (which runs our `recycle` at
/// checkout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_write_side_was_shut_down_is_replaced_on_deadpool() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pool: DeadPool<TcpManager> =
        deadpool::managed::Pool::builder(Adapter::new(manager(listener.local_addr().unwrap())))
            .max_size(1)
            .build()
            .unwrap();
    let mut conn = pool.get().await.unwrap();
    let (_peer, _) = listener.accept().await.unwrap();
    let first = conn.local_addr().unwrap();
    conn.shutdown().await.unwrap();
    drop(conn);
    let mut again = pool.get().await.unwrap();
    assert_ne!(again.local_addr().unwrap(), first);
    again.write_all(b"request\n").await.unwrap();
}

/// A healthy connection passes the checkout check however often it runs:
/// the write of no bytes that looks for a shut-down write side sends
/// nothing the peer could read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_check_sends_nothing_to_the_peer() {
    let (_listener, pool, conn, mut peer) = one_connection().await;
    let first = conn.local_addr().unwrap();
    drop(conn);
    for _ in 0..2 {
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.local_addr().unwrap(), first);
    }
    let mut conn = pool.get().await.unwrap();
    assert_eq!(conn.local_addr().unwrap(), first);
    conn.write_all(b"ping").await.unwrap();
    // The first bytes the peer reads are the caller's.
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    drop(conn);
    let s = pool.status();
    assert_eq!((s.created, s.discarded, s.recycled), (1, 0, 3), "{s:?}");
}

/// What the module docs say the checks cannot see, part one: `try_get`
/// runs no `recycle`, so it hands out a connection whose peer closed while
/// it was idle; `get` finds the close and replaces the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_get_hands_out_a_closed_connection_that_get_replaces() {
    let (_listener, pool, conn, peer) = one_connection().await;
    let first = conn.local_addr().unwrap();
    drop(conn);
    drop(peer);
    let mut unchecked = pool.try_get().unwrap();
    assert_eq!(unchecked.local_addr().unwrap(), first);
    let mut byte = [0u8; 1];
    assert_eq!(unchecked.read(&mut byte).await.unwrap(), 0, "closed");
    // Given back after the runtime saw the close: broken on return.
    drop(unchecked);
    let s = pool.status();
    assert_eq!((s.size, s.discarded), (0, 1), "{s:?}");
}

/// Part two: a reply still on its way when the connection comes back
/// passes every check, and the next caller reads it as its own; a holder
/// that gave up on its request discards the connection instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_still_on_its_way_must_be_discarded_by_the_holder() {
    let (_listener, pool, mut conn, peer) = one_connection().await;
    let first = conn.local_addr().unwrap();
    let mut peer = BufReader::new(peer);
    conn.write_all(b"first\n").await.unwrap();
    // The holder gives up before the reply and gives the connection back.
    drop(conn);
    let mut next = pool.get().await.unwrap();
    assert_eq!(next.local_addr().unwrap(), first, "every check passed");
    let mut line = String::new();
    peer.read_line(&mut line).await.unwrap();
    peer.get_mut().write_all(line.as_bytes()).await.unwrap();
    let stale = request(&mut next, "second").await.unwrap();
    assert_eq!(stale, "first", "the next caller read the old reply");

    // Discarded instead, the connection is replaced.
    next.discard();
    let fresh = pool.get().await.unwrap();
    assert_ne!(fresh.local_addr().unwrap(), first);
}

/// Gives `conn` back and checks that the next `get` makes a new
/// connection, the old one discarded, and that the new one works.
async fn replaced_at_next_get(
    listener: &TcpListener,
    pool: &Pool<TcpManager>,
    conn: Pooled<TcpManager>,
) {
    let first = conn.local_addr().unwrap();
    drop(conn);
    let mut again = pool.get().await.unwrap();
    assert_ne!(again.local_addr().unwrap(), first, "the old one was reused");
    let (mut peer, _) = listener.accept().await.unwrap();
    again.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    let s = pool.status();
    assert_eq!((s.created, s.discarded), (2, 1), "{s:?}");
}

/// A caller that read only part of a reply gives back a connection with
/// the rest still unread: the next caller would read it as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_given_back_with_unread_bytes_is_replaced() {
    let (listener, pool, mut conn, mut peer) = one_connection().await;
    peer.write_all(b"0123456789").await.unwrap();
    let mut part = [0u8; 4];
    conn.read_exact(&mut part).await.unwrap();
    replaced_at_next_get(&listener, &pool, conn).await;
}

/// A peer that sent its last bytes and then closed its side: the
/// connection holds data and an end of stream, and is not reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_peer_with_data_left_is_replaced() {
    let (listener, pool, conn, mut peer) = one_connection().await;
    peer.write_all(b"bye").await.unwrap();
    peer.shutdown().await.unwrap();
    conn.readable().await.unwrap();
    replaced_at_next_get(&listener, &pool, conn).await;
}

/// A peer that reset the connection (an abortive close): not reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_connection_is_replaced() {
    let (listener, pool, conn, peer) = one_connection().await;
    peer.set_zero_linger().unwrap();
    drop(peer);
    conn.readable().await.unwrap();
    replaced_at_next_get(&listener, &pool, conn).await;
}

/// Part three: bytes a holder's own buffer read past its reply leave the
/// socket empty, so the connection passes the checks; the holder sees them
/// in its buffer and discards the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_left_in_a_holder_buffer_are_the_holder_to_act_on() {
    let (_listener, pool, mut conn, mut peer) = one_connection().await;
    let first = conn.local_addr().unwrap();
    // A reply, and a second line nobody asked for, in one segment.
    peer.write_all(b"reply\nextra\n").await.unwrap();
    all_arrived(&conn, 12).await;
    {
        let mut reader = BufReader::new(&mut *conn);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "reply\n");
        assert_eq!(reader.buffer(), b"extra\n", "read past the reply");
    }
    drop(conn);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.local_addr().unwrap(), first, "the checks saw nothing");

    // The holder that looks at its buffer discards the connection.
    let mut conn = conn;
    peer.write_all(b"reply\nextra\n").await.unwrap();
    all_arrived(&conn, 12).await;
    let mut reader = BufReader::new(&mut *conn);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let leftover = !reader.buffer().is_empty();
    drop(reader);
    assert!(leftover);
    conn.discard();
    let fresh = pool.get().await.unwrap();
    assert_ne!(fresh.local_addr().unwrap(), first);
}

/// Waits until `n` bytes are readable on `conn`, so that one read takes
/// them all.
async fn all_arrived(conn: &TcpStream, n: usize) {
    let mut buf = vec![0u8; n];
    while conn.peek(&mut buf).await.unwrap() < n {
        tokio::task::yield_now().await;
    }
}

/// A pool kept from one runtime to the next: the connection the first
/// runtime made and left idle cannot read or write once that runtime shut
/// down. The checkout on the next runtime replaces it, and the request
/// through it succeeds. (The server runs on a runtime of its own.)
#[test]
fn a_connection_left_by_a_runtime_that_shut_down_is_replaced() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (_echo, addr) = server.block_on(Echo::start("127.0.0.1:0".parse().unwrap()));
    let pool = Pool::builder(manager(addr))
        .max_size(1)
        .build_lazy()
        .unwrap();
    let first = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let rt = first();
    rt.block_on(async {
        let mut conn = pool.get().await.unwrap();
        assert_eq!(request(&mut conn, "first").await.unwrap(), "first");
    });
    drop(rt);
    let rt = first();
    rt.block_on(async {
        let mut conn = pool.get().await.unwrap();
        let reply = request(&mut conn, "second").await;
        assert_eq!(
            reply.expect("a connection that can read and write"),
            "second"
        );
    });
    let s = pool.status();
    assert_eq!(
        (s.created, s.discarded, s.size, s.idle),
        (2, 1, 1, 1),
        "{s:?}"
    );
    // The check itself, and its error.
    let rt = first();
    let conn = rt.block_on(async { TcpStream::connect(addr).await.unwrap() });
    drop(rt);
    let rt = first();
    rt.block_on(async {
        let mut conn = conn;
        let meta = Meta::from_parts(Instant::now(), None, 2);
        let checked = manager(addr).recycle(&mut conn, &meta).await;
        assert!(
            matches!(checked, Err(TcpError::RuntimeGone { addr: a }) if a == addr),
            "{checked:?}"
        );
        assert!(manager(addr).is_broken(&conn));
    });
}
