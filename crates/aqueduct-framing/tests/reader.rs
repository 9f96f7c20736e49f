//! `FrameReader`: every frame and error the codec decodes, in order, with
//! no stall after an error and no repeated error for the same bytes.

mod streams;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use aqueduct_framing::{FrameError, FrameReader, LineCodec, Utf8LineCodec};
use bytes::{Buf, BytesMut};
use futures::{FutureExt, StreamExt};
use proptest::prelude::*;
use streams::{Check, OverLong, each_over_long, every_codec, item, reads, steps};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio_util::codec::{Decoder, FramedRead};

fn too_long(len: usize, max: usize) -> String {
    format!("error: frame of {len} bytes exceeds the maximum of {max} bytes")
}

/// The peer sends a bad frame and the frame `ok` in one write, then
/// waits: the error and `ok` come without another read. `more` comes
/// after its read.
async fn no_stall_after<D>(codec: D, bad_then_ok: &[u8], more: &[u8], error: &str)
where
    D: Decoder<Error = FrameError> + Debug,
    D::Item: AsRef<[u8]>,
{
    let (mut tx, rx) = tokio::io::duplex(1 << 16);
    let mut frames = FrameReader::new(rx, codec);
    tx.write_all(bad_then_ok).await.unwrap();
    let error = format!("error: {error}");
    assert_eq!(
        steps(&mut frames, 3),
        [&*error, "ok", "waiting"],
        "{:?}",
        frames.decoder()
    );
    tx.write_all(more).await.unwrap();
    assert_eq!(steps(&mut frames, 2), ["more", "waiting"]);
    drop(tx);
    assert_eq!(steps(&mut frames, 3), ["end", "end", "end"]);
}

struct NoStall;

impl OverLong for NoStall {
    async fn check<D>(&mut self, codec: D, bad_then_ok: &[u8], more: &[u8], error: &str)
    where
        D: Decoder<Error = FrameError> + Debug,
        D::Item: AsRef<[u8]>,
    {
        no_stall_after(codec, bad_then_ok, more, error).await;
    }
}

#[tokio::test]
async fn frames_that_came_with_a_bad_one_are_yielded_without_waiting_for_the_peer() {
    each_over_long(&mut NoStall).await;
    no_stall_after(
        Utf8LineCodec::new(),
        b"caf\xe9\nok\n",
        b"more\n",
        "text is not valid UTF-8 from byte 3 on",
    )
    .await;
}

#[tokio::test]
async fn the_same_input_stalls_in_framed_read() {
    // What `FrameReader` is for: `FramedRead` ends its stream after the
    // error, and polled again waits for the peer with `ok` buffered.
    let (mut tx, rx) = tokio::io::duplex(1 << 16);
    let mut frames = FramedRead::new(rx, LineCodec::new().with_max_length(4));
    tx.write_all(b"too long\nok\n").await.unwrap();
    assert_eq!(steps(&mut frames, 3), [&*too_long(8, 4), "end", "waiting"]);
}

#[tokio::test]
async fn at_the_end_of_the_input_frames_after_an_error_are_still_yielded() {
    let (mut tx, rx) = tokio::io::duplex(1 << 16);
    let mut lines = FrameReader::new(rx, LineCodec::new().with_max_length(2));
    tx.write_all(b"bad\nbad\nok\npa").await.unwrap();
    drop(tx);
    let bad = too_long(3, 2);
    assert_eq!(
        steps(&mut lines, 6),
        [
            &*bad,
            &*bad,
            "ok",
            "error: stream ended inside a frame: 2 bytes buffered",
            "end",
            "end"
        ]
    );
}

/// Splits off one byte per call; fails on a `!` that starts the buffer,
/// consuming nothing (as a codec that cannot go on might).
#[derive(Debug)]
struct Picky;

impl Decoder for Picky {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match src.first() {
            None => Ok(None),
            Some(b'!') => Err(io::Error::other("refused").into()),
            Some(_) => Ok(Some(src.split_to(1))),
        }
    }
}

#[tokio::test]
async fn an_error_that_consumes_nothing_is_not_repeated_before_the_next_read() {
    let (mut tx, rx) = tokio::io::duplex(1 << 16);
    let mut frames = FrameReader::new(rx, Picky);
    tx.write_all(b"a!").await.unwrap();
    assert_eq!(steps(&mut frames, 3), ["a", "error: i/o error", "waiting"]);
    // A read, then the same bytes are decoded again.
    tx.write_all(b"b").await.unwrap();
    assert_eq!(steps(&mut frames, 2), ["error: i/o error", "waiting"]);
    // At the end, it would be said for good: it is said once, then the end.
    drop(tx);
    assert_eq!(steps(&mut frames, 3), ["error: i/o error", "end", "end"]);
}

/// Decodes only at the end of the input: one byte per frame, and an error
/// for each `!`, which it consumes.
#[derive(Debug)]
struct AtEof;

impl Decoder for AtEof {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, _: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        Ok(None)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match src.first() {
            None => Ok(None),
            Some(b'!') => {
                src.advance(1);
                Err(io::Error::other("refused").into())
            }
            Some(_) => Ok(Some(src.split_to(1))),
        }
    }
}

#[tokio::test]
async fn at_the_end_an_error_that_consumed_bytes_is_followed_by_the_rest() {
    let mut frames = FrameReader::new(&b"a!b!"[..], AtEof);
    assert_eq!(
        steps(&mut frames, 6),
        [
            "a",
            "error: i/o error",
            "b",
            "error: i/o error",
            "end",
            "end"
        ]
    );
}

/// Gives `data` once, then fails every read.
struct Failing(Option<&'static [u8]>);

impl AsyncRead for Failing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.0.take() {
            Some(data) => {
                buf.put_slice(data);
                Poll::Ready(Ok(()))
            }
            None => Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))),
        }
    }
}

#[tokio::test]
async fn a_failed_read_is_the_last_item() {
    let mut lines = FrameReader::new(Failing(Some(b"a\npart")), LineCodec::new());
    assert_eq!(lines.next().await.unwrap().unwrap(), "a");
    match lines.next().await {
        Some(Err(FrameError::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected the read's error, got {other:?}"),
    }
    assert!(lines.next().await.is_none());
    assert!(lines.next().await.is_none());
    // The bytes read before the failure are still there to look at.
    assert_eq!(lines.read_buffer()[..], b"part"[..]);
}

#[tokio::test]
async fn frames_come_through_loopback_tcp_and_the_stream_ends_with_the_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"one\nmuch too long\ntwo\n")
            .await
            .unwrap();
        socket.write_all(b"three\n").await.unwrap();
    });
    let (socket, _) = listener.accept().await.unwrap();
    let lines = FrameReader::new(socket, LineCodec::new().with_max_length(8));
    let got: Vec<String> = lines
        .map(|line| match line {
            Ok(line) => String::from_utf8(line.to_vec()).unwrap(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
        .await;
    client.await.unwrap();
    assert_eq!(got, ["one", &*too_long(13, 8), "two", "three"]);
}

/// A reader that gives its reads in order, each cut to the room offered,
/// and logs each read as it gave it; then the end.
struct Reads {
    left: VecDeque<Vec<u8>>,
    given: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl AsyncRead for Reads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut read) = self.left.pop_front() {
            let rest = read.split_off(read.len().min(buf.remaining()));
            if !rest.is_empty() {
                self.left.push_front(rest);
            }
            buf.put_slice(&read);
            self.given.borrow_mut().push(read);
        }
        Poll::Ready(Ok(()))
    }
}

/// What the module docs say a `FrameReader` yields for `reads`: after each
/// read, every frame and error up to the codec's `None`, or up to an error
/// that consumed nothing; at the end, the same with `decode_eof`.
fn as_documented<D>(mut codec: D, reads: &[Vec<u8>]) -> Vec<String>
where
    D: Decoder<Error = FrameError>,
    D::Item: AsRef<[u8]>,
{
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let mut drain = |buf: &mut BytesMut, eof: bool| loop {
        let before = buf.len();
        let got = if eof {
            codec.decode_eof(buf)
        } else {
            codec.decode(buf)
        };
        match got {
            Ok(None) => return,
            Ok(Some(frame)) => seen.push(item::<D::Item>(Ok(frame))),
            Err(e) => {
                seen.push(item::<D::Item>(Err(e)));
                if buf.len() >= before {
                    return;
                }
            }
        }
    };
    for read in reads {
        buf.extend_from_slice(read);
        drain(&mut buf, false);
    }
    drain(&mut buf, true);
    seen
}

/// What a `FrameReader` with `codec` yields for `reads`, up to its end,
/// and the reads it was given.
fn driven<D>(codec: D, reads: &[Vec<u8>]) -> (Vec<String>, Vec<Vec<u8>>)
where
    D: Decoder<Error = FrameError>,
    D::Item: AsRef<[u8]>,
{
    let given = Rc::new(RefCell::new(Vec::new()));
    let reader = Reads {
        left: reads.iter().filter(|r| !r.is_empty()).cloned().collect(),
        given: Rc::clone(&given),
    };
    let mut frames = FrameReader::new(reader, codec);
    let mut seen = Vec::new();
    while let Some(got) = frames
        .next()
        .now_or_never()
        .expect("the reader is always ready")
    {
        seen.push(item(got));
    }
    assert!(frames.next().now_or_never().unwrap().is_none());
    let given = given.borrow().clone();
    (seen, given)
}

/// What a `FramedRead` with `codec` yields for `reads` up to its first end.
fn framed_read<D>(codec: D, reads: &[Vec<u8>]) -> Vec<String>
where
    D: Decoder<Error = FrameError>,
    D::Item: AsRef<[u8]>,
{
    let reader = Reads {
        left: reads.iter().cloned().collect(),
        given: Rc::default(),
    };
    let frames = FramedRead::new(reader, codec);
    frames
        .map(item)
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("the reader is always ready")
}

/// `FrameReader` yields for these reads what its docs describe, and
/// without errors what `FramedRead` yields.
struct AsDocumented<'a>(&'a [Vec<u8>]);

impl Check for AsDocumented<'_> {
    fn check<D>(&mut self, codec: &D) -> Result<(), TestCaseError>
    where
        D: Decoder<Error = FrameError> + Clone + Debug,
        D::Item: AsRef<[u8]>,
    {
        let (seen, given) = driven(codec.clone(), self.0);
        prop_assert_eq!(&seen, &as_documented(codec.clone(), &given), "{:?}", codec);
        prop_assert_eq!(given.concat(), self.0.concat());
        if !seen
            .iter()
            .any(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
        {
            // No error: `FramedRead` agrees.
            prop_assert_eq!(seen, framed_read(codec.clone(), &given), "{:?}", codec);
        }
        Ok(())
    }
}

proptest! {
    /// Whatever the input, errors included, a `FrameReader` yields what its
    /// docs describe, and without errors what a `FramedRead` yields.
    #[test]
    fn frame_reader_yields_what_its_docs_describe(
        reads in reads(),
        max in 0usize..5,
        partial in any::<bool>(),
        skip in any::<bool>(),
    ) {
        every_codec(max, partial, skip, &mut AsDocumented(&reads))?;
    }
}
