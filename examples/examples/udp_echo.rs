//! Walkthrough `udp_echo`: a UDP echo server and clients with timeouts.
//!
//! UDP has no connection and no delivery promise, so a client must bound
//! every wait: `udp::Client::request` sends a datagram and waits for the
//! reply up to its timeout, then fails with `ReplyTimeout` naming the peer.
//! The server loop `udp::echo` uses one 64 KiB buffer in all and stops on
//! its token. Every figure is measured in this run, on loopback.
//!
//! Run it with `cargo xtask demo udp_echo`.

use std::time::{Duration, Instant};

use aqueduct::io::net::{NetError, udp};
use aqueduct_examples::{check, ms, section};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. an echo server on an ephemeral loopback port");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(udp::echo(socket, stop.clone()));
    println!("   serving on {addr}");

    section("2. three clients, 300 requests each, replies timed");
    let mut worst = Duration::ZERO;
    let t = Instant::now();
    let mut handles = Vec::new();
    for id in 0..3u8 {
        handles.push(tokio::spawn(async move {
            let client = udp::Client::connect(addr, Duration::from_millis(500)).await?;
            let mut worst = Duration::ZERO;
            for i in 0..300u16 {
                let payload = [&[id][..], &i.to_be_bytes()].concat();
                let sent = Instant::now();
                let reply = client.request(&payload).await?;
                worst = worst.max(sent.elapsed());
                if reply[..] != payload[..] {
                    return Err(NetError::DatagramTooLarge { len: 0, max: 0 });
                }
            }
            Ok::<_, NetError>(worst)
        }));
    }
    for h in handles {
        worst = worst.max(h.await??);
    }
    let took = t.elapsed();
    println!(
        "   900 request/reply pairs in {} (average {:.0} µs, slowest {})",
        ms(took),
        took.as_secs_f64() * 1e6 / 900.0 * 3.0,
        ms(worst)
    );

    section("3. a server that never answers: the timeout bounds the wait");
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let client = udp::Client::connect(silent.local_addr()?, Duration::from_millis(200)).await?;
    let t = Instant::now();
    let err = client.request(b"anyone there?").await.err();
    let waited = t.elapsed();
    println!(
        "   {} after {}",
        err.as_ref()
            .map_or_else(|| "a reply?!".into(), ToString::to_string),
        ms(waited)
    );
    check(
        matches!(err, Some(NetError::ReplyTimeout { .. })) && waited >= Duration::from_millis(200),
        "a timeout",
    )?;

    section("4. stop the server");
    stop.cancel();
    let echoed = server.await??;
    println!("   the server echoed {echoed} datagrams");
    check(echoed == 900, "900 datagrams echoed")?;
    println!("\nudp_echo: done");
    Ok(())
}
