//! Walkthrough `adapters`: transforming and counting bytes in flight.
//!
//! `MapRead` and `MapWrite` wrap any `AsyncRead`/`AsyncWrite` and transform
//! bytes as they pass (here: upper-casing, and a toy XOR "cipher");
//! `CountingRead` and `CountingWrite` count them, readable through a
//! `ByteCounter` even after the stream moved into another task. They stack
//! freely. Every figure is measured in this run, on loopback.
//!
//! Run it with `cargo xtask demo adapters`.

use std::time::Duration;

use aqueduct::io::adapt::{ByteCounter, CountingRead, CountingWrite, MapRead, MapWrite};
use aqueduct::io::net::{self, Server};
use aqueduct_examples::{check, section};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn xor(bytes: &mut [u8]) {
    for b in bytes {
        *b ^= 0x5a;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("1. MapRead: upper-case a reader");
    let input: &[u8] = b"the quick brown fox jumps over the lazy dog";
    let mut shouting = MapRead::new(input, |b: &mut [u8]| b.make_ascii_uppercase());
    let mut out = String::new();
    shouting.read_to_string(&mut out).await?;
    println!("   {out}");
    check(
        out == "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
        "upper case",
    )?;

    section("2. a scrambled, counted conversation through an echo server");
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await?
        .serve(net::echo);
    let stream = net::tcp::connect(server.local_addr(), Duration::from_secs(1)).await?;
    let (r, w) = stream.into_split();
    let on_wire_out = ByteCounter::default();
    let on_wire_in = ByteCounter::default();
    // Writer: plain text -> XOR -> counted -> socket.
    let mut writer = MapWrite::new(CountingWrite::with_counter(w, on_wire_out.clone()), xor);
    // Reader: socket -> counted -> XOR back -> plain text.
    let mut reader = MapRead::new(CountingRead::with_counter(r, on_wire_in.clone()), xor);
    let message = "meet me at the old mill at midnight\n".repeat(1000);
    let to_send = message.clone();
    let sender = tokio::spawn(async move {
        writer.write_all(to_send.as_bytes()).await?;
        writer.shutdown().await
    });
    let mut received = Vec::new();
    let mut first_wire_bytes = [0u8; 12];
    reader.read_to_end(&mut received).await?;
    sender.await??;
    // What the wire carried: the XOR of the text.
    first_wire_bytes.copy_from_slice(&message.as_bytes()[..12]);
    xor(&mut first_wire_bytes);
    println!(
        "   sent {} bytes, on the wire they looked like {:?}",
        on_wire_out.get(),
        String::from_utf8_lossy(&first_wire_bytes)
    );
    println!(
        "   received {} bytes off the wire, decoded back to plain text: {}",
        on_wire_in.get(),
        received == message.as_bytes()
    );
    check(
        received == message.as_bytes()
            && on_wire_out.get() == message.len() as u64
            && on_wire_in.get() == message.len() as u64,
        "an exact round trip",
    )?;
    println!("   server: {}", server.shutdown().await);
    println!("\nadapters: done");
    Ok(())
}
