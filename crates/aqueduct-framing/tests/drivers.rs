//! Every codec inside tokio-util's drivers, end to end: `FramedWrite` and
//! `FramedRead` over loopback TCP and `tokio::io::duplex`, as users run
//! them.

mod streams;

use std::collections::VecDeque;
use std::fmt::Debug;
use std::pin::Pin;
use std::task::{Context, Poll};

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, LengthPrefixedCodec, LineCodec, Oversize,
    Utf8LineCodec,
};
use bytes::BytesMut;
use futures::{FutureExt, SinkExt, StreamExt};
use proptest::prelude::*;
use streams::{Check, OverLong, each_over_long, every_codec, item, reads, step, steps};
use tokio::io::{AsyncRead, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

/// A `FramedRead` with `codec` on one end of a duplex, and the other end.
fn reader<D: Decoder>(codec: D) -> (DuplexStream, FramedRead<DuplexStream, D>) {
    let (tx, rx) = tokio::io::duplex(1 << 16);
    (tx, FramedRead::new(rx, codec))
}

/// Sends `frames` with a `FramedWrite` over loopback TCP and reads them
/// back with a `FramedRead`, both with `codec`; the stream must end
/// cleanly when the writer closes.
async fn round_trip_over_tcp<C>(codec: C, frames: &[&'static str])
where
    C: Encoder<&'static str, Error = FrameError>
        + Decoder<Error = FrameError>
        + Clone
        + Send
        + 'static,
    <C as Decoder>::Item: AsRef<[u8]> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader_codec = codec.clone();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let frames = FramedRead::new(socket, reader_codec);
        frames
            .map(|frame| String::from_utf8(frame.unwrap().as_ref().to_vec()).unwrap())
            .collect::<Vec<_>>()
            .await
    });
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut writer = FramedWrite::new(socket, codec);
    for &frame in frames {
        writer.send(frame).await.unwrap();
    }
    writer.close().await.unwrap();
    drop(writer);
    assert_eq!(server.await.unwrap(), frames);
}

#[tokio::test]
async fn every_codec_round_trips_over_loopback_tcp_and_ends_cleanly() {
    let frames = ["one", "", "three", "grüß"];
    round_trip_over_tcp(LineCodec::new(), &frames).await;
    round_trip_over_tcp(LineCodec::new().with_crlf(true), &frames).await;
    round_trip_over_tcp(Utf8LineCodec::new(), &frames).await;
    round_trip_over_tcp(LengthPrefixedCodec::new(), &frames).await;
    round_trip_over_tcp(LengthPrefixedCodec::builder().varint().build(), &frames).await;
    round_trip_over_tcp(DelimiterCodec::new(b"\r\n\r\n"), &frames).await;
    round_trip_over_tcp(DelimiterCodec::any_of(b",;"), &frames).await;
    round_trip_over_tcp(FixedSizeCodec::new(5), &["12345", "abcde"]).await;
}

/// Writes `wire` and closes the writer: the frame `first`, then the
/// truncation error naming `buffered`, then the end, for good.
async fn ends_with_truncated<D>(codec: D, wire: &[u8], first: &str, buffered: usize)
where
    D: Decoder<Error = FrameError> + Debug,
    D::Item: AsRef<[u8]>,
{
    let (mut tx, mut frames) = reader(codec);
    tx.write_all(wire).await.unwrap();
    drop(tx);
    let truncated = format!("error: stream ended inside a frame: {buffered} bytes buffered");
    assert_eq!(
        steps(&mut frames, 5),
        [first, &truncated, "end", "end", "end"],
        "{:?}",
        frames.decoder()
    );
}

#[tokio::test]
async fn a_stream_ending_inside_a_frame_yields_truncated_last_then_ends() {
    ends_with_truncated(LineCodec::new(), b"ok\npart", "ok", 4).await;
    ends_with_truncated(Utf8LineCodec::new(), b"ok\npart\r", "ok", 5).await;
    ends_with_truncated(LengthPrefixedCodec::new(), b"\0\0\0\x02ok\0\0", "ok", 2).await;
    ends_with_truncated(
        LengthPrefixedCodec::new(),
        b"\0\0\0\x02ok\0\0\0\x09abc",
        "ok",
        7,
    )
    .await;
    ends_with_truncated(DelimiterCodec::new(b"##"), b"ok##part#", "ok", 5).await;
    ends_with_truncated(DelimiterCodec::any_of(b",;"), b"ok;part", "ok", 4).await;
    ends_with_truncated(FixedSizeCodec::new(2), b"okp", "ok", 1).await;
}

#[tokio::test]
async fn a_stream_ending_on_a_frame_boundary_ends_without_an_error() {
    let (mut tx, mut frames) = reader(LineCodec::new());
    tx.write_all(b"a\n\nb\r\n").await.unwrap();
    drop(tx);
    assert_eq!(steps(&mut frames, 5), ["a", "", "b", "end", "end"]);
    // Bytes the peer never finished, allowed as a last line.
    let (mut tx, mut frames) = reader(DelimiterCodec::any_of(b",").with_partial_at_eof(true));
    tx.write_all(b"a,tail").await.unwrap();
    drop(tx);
    assert_eq!(steps(&mut frames, 4), ["a", "tail", "end", "end"]);
}

/// Writes a frame too long for the codec and a good frame in one write,
/// then `more` (one good frame) and closes. The error, the end, and then,
/// polled again, the good frames: the one that came with the bad frame
/// only after the next read.
struct GoesOnWhenPolledAfterTheEnd;

impl OverLong for GoesOnWhenPolledAfterTheEnd {
    async fn check<D>(&mut self, codec: D, bad_then_ok: &[u8], more: &[u8], error: &str)
    where
        D: Decoder<Error = FrameError> + Debug,
        D::Item: AsRef<[u8]>,
    {
        let (mut tx, mut frames) = reader(codec);
        tx.write_all(bad_then_ok).await.unwrap();
        let error = format!("error: {error}");
        assert_eq!(
            steps(&mut frames, 3),
            [&*error, "end", "waiting"],
            "{:?}",
            frames.decoder()
        );
        tx.write_all(more).await.unwrap();
        assert_eq!(steps(&mut frames, 3), ["ok", "more", "waiting"]);
        drop(tx);
        assert_eq!(steps(&mut frames, 2), ["end", "end"]);
    }
}

#[tokio::test]
async fn after_an_over_long_frame_the_stream_ends_and_goes_on_if_polled_again() {
    each_over_long(&mut GoesOnWhenPolledAfterTheEnd).await;
}

#[tokio::test]
async fn under_the_skip_policy_an_over_long_frame_never_stops_the_stream() {
    let codec = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .max_frame_length(4)
        .oversize(Oversize::Skip)
        .build();
    let (mut tx, mut frames) = reader(codec);
    tx.write_all(b"\x08too").await.unwrap();
    assert_eq!(step(&mut frames), "waiting");
    tx.write_all(b" long\x02ok\x04more\x09cut").await.unwrap();
    assert_eq!(steps(&mut frames, 3), ["ok", "more", "waiting"]);
    // The stream ends inside a skipped frame: already counted, not an error.
    drop(tx);
    assert_eq!(steps(&mut frames, 2), ["end", "end"]);
    assert_eq!(frames.decoder().skipped_frames(), 2);
}

/// A reader that gives one of its reads per call, then the end.
struct Reads(VecDeque<Vec<u8>>);

impl AsyncRead for Reads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(read) = self.0.pop_front() {
            // Reads are far smaller than `FramedRead`'s buffer.
            buf.put_slice(&read);
        }
        Poll::Ready(Ok(()))
    }
}

/// What the crate docs say a `FramedRead` yields for `reads` with
/// `codec`, its `None`s left out: after each read, frames up to the first
/// error; at the end, frames up to the first error, which ends the stream.
fn as_documented<D>(mut codec: D, reads: &[Vec<u8>]) -> Vec<String>
where
    D: Decoder<Error = FrameError>,
    D::Item: AsRef<[u8]>,
{
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let until_error = |seen: &mut Vec<String>, got: Result<Option<D::Item>, FrameError>| match got {
        Ok(None) => false,
        Ok(Some(frame)) => {
            seen.push(item::<D::Item>(Ok(frame)));
            true
        }
        Err(e) => {
            seen.push(item::<D::Item>(Err(e)));
            false
        }
    };
    for read in reads.iter().filter(|read| !read.is_empty()) {
        buf.extend_from_slice(read);
        while until_error(&mut seen, codec.decode(&mut buf)) {}
    }
    while until_error(&mut seen, codec.decode_eof(&mut buf)) {}
    seen
}

/// What a `FramedRead` with `codec` yields for `reads`, polled until it
/// gives two `None`s in a row, its `None`s left out.
fn driven<D>(codec: D, reads: &[Vec<u8>]) -> Vec<String>
where
    D: Decoder<Error = FrameError>,
    D::Item: AsRef<[u8]>,
{
    let reads = reads.iter().filter(|read| !read.is_empty()).cloned();
    let mut frames = FramedRead::new(Reads(reads.collect()), codec);
    let mut seen = Vec::new();
    let mut ends = 0;
    while ends < 2 {
        match frames
            .next()
            .now_or_never()
            .expect("the reader is always ready")
        {
            Some(got) => {
                ends = 0;
                seen.push(item(got));
            }
            None => ends += 1,
        }
    }
    seen
}

/// `FramedRead` yields for these reads what the crate docs describe.
struct AsDocumented<'a>(&'a [Vec<u8>]);

impl Check for AsDocumented<'_> {
    fn check<D>(&mut self, codec: &D) -> Result<(), TestCaseError>
    where
        D: Decoder<Error = FrameError> + Clone + Debug,
        D::Item: AsRef<[u8]>,
    {
        prop_assert_eq!(
            driven(codec.clone(), self.0),
            as_documented(codec.clone(), self.0),
            "{:?}",
            codec
        );
        Ok(())
    }
}

proptest! {
    /// Whatever the input, errors included, a `FramedRead` polled on after
    /// each `None` yields what the crate docs describe.
    #[test]
    fn framed_read_goes_on_after_errors_as_documented(
        reads in reads(),
        max in 0usize..5,
        partial in any::<bool>(),
        skip in any::<bool>(),
    ) {
        every_codec(max, partial, skip, &mut AsDocumented(&reads))?;
    }
}

#[tokio::test]
async fn at_the_end_of_the_stream_an_error_ends_it_for_good() {
    // Two bad lines and a good one arrive with the end of the stream: the
    // second error, met at the end, ends the stream, and `ok` is not read.
    let (mut tx, mut lines) = reader(LineCodec::new().with_max_length(2));
    tx.write_all(b"bad\nbad\nok\n").await.unwrap();
    drop(tx);
    let too_long = "error: frame of 3 bytes exceeds the maximum of 2 bytes";
    assert_eq!(
        steps(&mut lines, 5),
        [too_long, "end", too_long, "end", "end"]
    );
}

#[tokio::test]
async fn frames_that_came_with_a_bad_one_are_decoded_from_the_read_buffer() {
    // The peer sends a bad request and a good one together, then waits for
    // both replies: polling the stream again would wait for its next read.
    let (mut tx, mut lines) = reader(LineCodec::new().with_max_length(4));
    tx.write_all(b"too long\nok\nfine\npar").await.unwrap();
    assert!(matches!(
        lines.next().await,
        Some(Err(FrameError::TooLong { len: 8, max: 4 }))
    ));
    assert!(lines.next().await.is_none());
    let mut codec = lines.decoder().clone();
    let mut buffered = Vec::new();
    while let Some(line) = codec.decode(lines.read_buffer_mut()).unwrap() {
        buffered.push(line);
    }
    *lines.decoder_mut() = codec;
    assert_eq!(buffered, ["ok", "fine"]);
    // The stream goes on with the rest of the partial line.
    tx.write_all(b"t\n").await.unwrap();
    assert_eq!(steps(&mut lines, 2), ["part", "waiting"]);
}

#[tokio::test]
async fn the_length_prefixed_builder_makes_each_driver_with_its_settings() {
    let mut builder = LengthPrefixedCodec::builder();
    builder
        .length_field_width(2)
        .little_endian()
        .max_frame_length(4);
    let mut writer = builder.new_write(Vec::new());
    writer.send("ok").await.unwrap();
    assert!(matches!(
        writer.send("too long").await,
        Err(FrameError::PayloadOverMax { len: 8, max: 4 })
    ));
    assert_eq!(writer.get_ref(), b"\x02\0ok");

    let (mut tx, rx) = tokio::io::duplex(64);
    let mut reader = builder.new_read(rx);
    tx.write_all(b"\x02\0ok\x05\0").await.unwrap();
    assert_eq!(
        steps(&mut reader, 3),
        [
            "ok",
            "error: frame of 5 bytes exceeds the maximum of 4 bytes",
            "end"
        ]
    );

    let (a, b) = tokio::io::duplex(64);
    let (mut client, mut server) = (builder.new_framed(a), builder.new_framed(b));
    client.send("ping").await.unwrap();
    assert_eq!(step(&mut server), "ping");
    // Both ends frame alike.
    server.send("pong").await.unwrap();
    assert_eq!(step(&mut client), "pong");
}
