//! TCP, UDP and Unix clients and echo handlers on loopback.
// Under `--cfg loom` tokio has no sockets, files or signals to test.
#![cfg(not(loom))]

use std::net::SocketAddr;
use std::time::Duration;

use aqueduct_io::net::{self, NetError, Server, udp, unix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A UDP echo server on loopback: its address, its stop token and its task.
async fn udp_echo_server() -> (
    SocketAddr,
    CancellationToken,
    JoinHandle<Result<u64, NetError>>,
) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(udp::echo(socket, stop.clone()));
    (addr, stop, server)
}

/// A UDP client of `addr` that waits a second for each reply.
async fn udp_client(addr: SocketAddr) -> udp::Client {
    udp::Client::connect(addr, Duration::from_secs(1))
        .await
        .unwrap()
}

#[tokio::test]
async fn tcp_echo_handles_large_payloads_in_both_directions() {
    let handle = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(net::tcp::echo);
    let client = net::tcp::connect(handle.local_addr(), Duration::from_secs(1))
        .await
        .unwrap();
    let (mut r, mut w) = client.into_split();
    let payload: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    let expect = payload.clone();
    // Write 4 MB without reading: the echo must cope with a peer that is not
    // reading yet (its writes block, it keeps the bytes until they go).
    let writer = tokio::spawn(async move {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert!(
        got == expect,
        "echoed bytes differ ({} vs {})",
        got.len(),
        expect.len()
    );
}

#[tokio::test(start_paused = true)]
async fn tcp_connect_times_out() {
    // A non-routable address (TEST-NET-1) never answers; with paused time the
    // timeout fires without waiting. Some sandboxes reject it at once instead.
    match net::tcp::connect("192.0.2.1:9", Duration::from_millis(300)).await {
        Err(NetError::ConnectTimeout { timeout, addr }) => {
            assert_eq!(timeout, Duration::from_millis(300));
            assert_eq!(addr, "192.0.2.1:9");
        }
        Err(NetError::Connect { .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn udp_echo_and_client() {
    let (addr, stop, server) = udp_echo_server().await;
    let (a, b) = (udp_client(addr).await, udp_client(addr).await);
    for i in 0..10u8 {
        assert_eq!(&a.request(&[i; 100]).await.unwrap()[..], &[i; 100]);
        assert_eq!(&b.request(&[i; 1000]).await.unwrap()[..], &[i; 1000]);
    }
    let big = vec![0u8; udp::MAX_DATAGRAM + 1];
    assert!(matches!(
        a.request(&big).await,
        Err(NetError::DatagramTooLarge { max, .. }) if max == a.max_payload()
    ));
    stop.cancel();
    assert_eq!(server.await.unwrap().unwrap(), 20);
}

#[tokio::test]
async fn unix_server_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let handle = Server::builder()
        .max_connections(4)
        .bind_unix(&path)
        .unwrap()
        .serve(unix::echo);
    let mut clients = Vec::new();
    for i in 0..4u8 {
        let mut c = unix::connect(&path, Duration::from_secs(1)).await.unwrap();
        c.write_all(&[i; 3]).await.unwrap();
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut b = [0u8; 3];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(b, [i as u8; 3]);
    }
    assert_eq!(handle.stats().peak_active, 4);
    let report = handle.shutdown().await;
    assert_eq!(
        (report.finished, report.aborted),
        (4, 0),
        "idle echo connections end on the signal"
    );
    assert!(matches!(
        unix::connect(dir.path().join("absent.sock"), Duration::from_secs(1)).await,
        Err(NetError::Connect { .. })
    ));
}

#[tokio::test]
async fn a_udp_reply_holds_only_its_own_bytes() {
    // Replies are often kept (cached, queued): a 2-byte reply must not pin
    // the 64 KiB receive buffer.
    let (addr, stop, server) = udp_echo_server().await;
    let client = udp_client(addr).await;
    let reply = client.request(b"hi").await.unwrap();
    assert_eq!(&reply[..], b"hi");
    let owned = reply.try_into_mut().expect("the reply is not shared");
    assert!(owned.capacity() < 1024, "capacity {}", owned.capacity());
    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_udp_request_over_the_ip_payload_limit_is_datagram_too_large() {
    let (addr, stop, server) = udp_echo_server().await;
    let client = udp_client(addr).await;
    // The largest UDP payload over IPv4 goes through...
    let largest = vec![7u8; 65_507];
    assert_eq!(client.request(&largest).await.unwrap().len(), 65_507);
    // ...one byte more cannot be sent, and the error names the limit.
    let err = client.request(&[7u8; 65_508]).await.unwrap_err();
    assert!(
        matches!(
            err,
            NetError::DatagramTooLarge {
                len: 65_508,
                max: 65_507
            }
        ),
        "{err:?}"
    );
    stop.cancel();
    server.await.unwrap().unwrap();
}
