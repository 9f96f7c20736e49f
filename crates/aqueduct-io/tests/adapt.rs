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

/// Takes at most 3 bytes per write and fails the second write once.
#[derive(Default)]
struct Flaky {
    out: Vec<u8>,
    calls: usize,
}

impl tokio::io::AsyncWrite for Flaky {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.calls += 1;
        if self.calls == 2 {
            return std::task::Poll::Ready(Err(std::io::ErrorKind::Interrupted.into()));
        }
        let n = buf.len().min(3);
        self.out.extend_from_slice(&buf[..n]);
        std::task::Poll::Ready(Ok(n))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn map_write_neither_loses_nor_repeats_bytes_when_the_inner_writer_fails_midway() {
    let mut w = MapWrite::new(Flaky::default(), |x: &mut [u8]| x.make_ascii_uppercase());
    // Retry each write until it is accepted, as a caller meeting EINTR does.
    let mut rest: &[u8] = b"abcdefgh";
    while !rest.is_empty() {
        match w.write(rest).await {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{e}"),
        }
    }
    loop {
        match w.flush().await {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(w.into_inner().out, b"ABCDEFGH");
}

#[tokio::test]
async fn counting_adapters_keep_vectored_writes() {
    use std::io::IoSlice;
    let mut w = CountingWrite::new(Vec::new());
    assert!(tokio::io::AsyncWrite::is_write_vectored(&w));
    let n = w
        .write_vectored(&[IoSlice::new(b"head "), IoSlice::new(b"body")])
        .await
        .unwrap();
    assert_eq!(n, 9, "both buffers in one call");
    assert_eq!(w.bytes(), 9);
    assert_eq!(w.into_inner(), b"head body");
    // The read counter passes writes through untouched.
    let mut r = CountingRead::new(Vec::new());
    assert!(tokio::io::AsyncWrite::is_write_vectored(&r));
    let n = r
        .write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")])
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(r.bytes(), 0);
}
