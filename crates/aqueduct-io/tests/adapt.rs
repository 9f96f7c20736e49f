//! The byte adapters over real sockets.
// Under `--cfg loom` tokio has no sockets, files or signals to test.
#![cfg(not(loom))]

use aqueduct_io::adapt::{ByteCounter, CountingRead, CountingWrite, MapRead, MapWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn uppercase_both_ways_and_count() {
    let (a, b) = tokio::net::UnixStream::pair().unwrap();
    let sent = ByteCounter::default();
    let mut writer = CountingWrite::with_counter(
        MapWrite::new(a, |x: &mut [u8]| x.make_ascii_uppercase()),
        sent.clone(),
    );
    let mut reader = CountingRead::new(MapRead::new(b, |x: &mut [u8]| {
        x.iter_mut().for_each(|c| *c ^= 0x20);
    }));
    let text = "the quick brown fox ".repeat(5000);
    let t = text.clone();
    let w = tokio::spawn(async move {
        writer.write_all(t.as_bytes()).await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let mut out = String::new();
    reader.read_to_string(&mut out).await.unwrap();
    w.await.unwrap();
    // Upper-cased on the way out, case-flipped (back to lower) on the way in;
    // spaces flip to NULs.
    assert_eq!(out, text.replace(' ', "\0"));
    assert_eq!(sent.get(), text.len() as u64);
    assert_eq!(reader.bytes(), text.len() as u64);
}
