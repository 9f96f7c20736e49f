//! Every codec inside tokio-util's `UdpFramed` on loopback: one datagram
//! per frame, and each datagram decoded on its own.

use std::fmt::Display;

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, LengthPrefixedCodec, LineCodec, Oversize,
    Utf8LineCodec,
};
use futures::{SinkExt, StreamExt};
use tokio::net::UdpSocket;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::udp::UdpFramed;

/// Sends each of `frames` with a `UdpFramed` and `codec`, and receives
/// them with another: each frame is a datagram of its own, decoded whole.
async fn one_datagram_per_frame<C>(codec: C, frames: &[&'static str])
where
    C: Encoder<&'static str, Error = FrameError> + Decoder<Error = FrameError> + Clone,
    <C as Decoder>::Item: AsRef<[u8]>,
{
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b.local_addr().unwrap();
    // A plain socket reads the datagrams as they are on the wire.
    let wire = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let wire_addr = wire.local_addr().unwrap();
    let mut sender = UdpFramed::new(a, codec.clone());
    let mut receiver = UdpFramed::new(b, codec.clone());
    for &frame in frames {
        sender.send((frame, b_addr)).await.unwrap();
        sender.send((frame, wire_addr)).await.unwrap();
        let (got, from) = receiver.next().await.unwrap().unwrap();
        assert_eq!(got.as_ref(), frame.as_bytes());
        assert_eq!(from, sender.get_ref().local_addr().unwrap());
        let mut datagram = [0; 64];
        let n = wire.recv(&mut datagram).await.unwrap();
        let mut alone = bytes::BytesMut::new();
        codec.clone().encode(frame, &mut alone).unwrap();
        assert_eq!(
            &datagram[..n],
            &alone[..],
            "{frame:?}: one frame a datagram"
        );
    }
}

#[tokio::test]
async fn every_codec_sends_one_datagram_per_frame() {
    let frames = ["one", "", "grüß"];
    one_datagram_per_frame(LineCodec::new(), &frames).await;
    one_datagram_per_frame(Utf8LineCodec::new().with_crlf(true), &frames).await;
    one_datagram_per_frame(LengthPrefixedCodec::builder().varint().build(), &frames).await;
    one_datagram_per_frame(DelimiterCodec::new(b"\r\n"), &frames).await;
    one_datagram_per_frame(DelimiterCodec::any_of(b",;"), &frames).await;
    one_datagram_per_frame(FixedSizeCodec::new(3), &["one", "two"]).await;
}

/// What a `UdpFramed` with `codec` yields for `datagrams`, each frame as
/// text and each error as its message. The count is known, and a last
/// datagram, `last` (which decodes to `end`, or `e` with a 2-byte
/// maximum), proves nothing else was waiting.
async fn received<D>(codec: D, datagrams: &[&[u8]], count: usize, last: &[u8]) -> Vec<String>
where
    D: Decoder,
    D::Item: AsRef<[u8]>,
    D::Error: Display + From<std::io::Error>,
{
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b.local_addr().unwrap();
    let mut receiver = UdpFramed::new(b, codec);
    for datagram in datagrams {
        a.send_to(datagram, b_addr).await.unwrap();
    }
    a.send_to(last, b_addr).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..=count {
        got.push(match receiver.next().await.unwrap() {
            Ok((frame, _)) => String::from_utf8_lossy(frame.as_ref()).into_owned(),
            Err(e) => format!("error: {e}"),
        });
    }
    let end = got.pop().unwrap();
    assert!(end == "end" || end == "e", "{end:?} after {got:?}");
    got
}

fn truncated(buffered: usize) -> String {
    format!("error: stream ended inside a frame: {buffered} bytes buffered")
}

#[tokio::test]
async fn a_datagram_ending_without_a_terminator_is_truncated_unless_allowed() {
    let datagrams: &[&[u8]] = &[b"a\nb", b"c\n", b"d"];
    let strict = ["a", &truncated(1), "c", &truncated(1)];
    let lenient = ["a", "b", "c", "d"];
    assert_eq!(
        received(LineCodec::new(), datagrams, 4, b"end\n").await,
        strict
    );
    assert_eq!(
        received(Utf8LineCodec::new(), datagrams, 4, b"end\n").await,
        strict
    );
    assert_eq!(
        received(
            LineCodec::new().with_partial_at_eof(true),
            datagrams,
            4,
            b"end"
        )
        .await,
        lenient
    );
    assert_eq!(
        received(
            Utf8LineCodec::new().with_partial_at_eof(true),
            &[b"a\r\nb\r", b"c\r\n", b"d"],
            4,
            b"end"
        )
        .await,
        lenient
    );
    let datagrams: &[&[u8]] = &[b"a;b", b"c;", b"d"];
    let set = || DelimiterCodec::any_of(b";");
    assert_eq!(received(set(), datagrams, 4, b"end;").await, strict);
    assert_eq!(
        received(set().with_partial_at_eof(true), datagrams, 4, b"end").await,
        lenient
    );
    let datagrams: &[&[u8]] = &[b"a##b#", b"c##", b"d"];
    let sequence = || DelimiterCodec::new(b"##");
    assert_eq!(
        received(sequence(), datagrams, 4, b"end##").await,
        ["a", &truncated(2), "c", &truncated(1)]
    );
    assert_eq!(
        received(sequence().with_partial_at_eof(true), datagrams, 4, b"end").await,
        ["a", "b#", "c", "d"]
    );
    assert_eq!(
        received(FixedSizeCodec::new(3), &[b"abcde", b"fgh"], 3, b"end").await,
        ["abc", &truncated(2), "fgh"]
    );
}

#[tokio::test]
async fn an_empty_datagram_yields_nothing() {
    let empty: &[&[u8]] = &[b"", b"a\n\n", b""];
    assert_eq!(
        received(LineCodec::new(), empty, 2, b"end\n").await,
        ["a", ""]
    );
    assert_eq!(
        received(LineCodec::new().with_partial_at_eof(true), empty, 2, b"end").await,
        ["a", ""]
    );
    assert_eq!(
        received(
            DelimiterCodec::any_of(b",").with_partial_at_eof(true),
            &[b"", b","],
            1,
            b"end"
        )
        .await,
        [""]
    );
    assert_eq!(
        received(
            LengthPrefixedCodec::new(),
            &[b"", b"\0\0\0\0"],
            1,
            b"\0\0\0\x03end"
        )
        .await,
        [""]
    );
    assert_eq!(
        received(FixedSizeCodec::new(3), &[b""], 0, b"end").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn what_an_over_long_frame_leaves_ends_with_its_datagram() {
    let too_long = |len| format!("error: frame of {len} bytes exceeds the maximum of 2 bytes");
    // The line's end is not in the datagram: the codec discards until the
    // datagram's end, not into the next one.
    assert_eq!(
        received(
            LineCodec::new().with_max_length(2),
            &[b"abcdef", b"ok\n", b"abcd\nxy\n"],
            4,
            b"e\n"
        )
        .await,
        [&*too_long(6), "ok", &too_long(4), "xy"]
    );
    // A datagram being discarded ends with a delimiter's first byte: the
    // next one's first byte does not complete that delimiter.
    assert_eq!(
        received(
            DelimiterCodec::new(b"##").with_max_length(2),
            &[b"abcde#", b"#k##"],
            2,
            b"e##"
        )
        .await,
        [&*too_long(6), "#k"]
    );
    // A length-prefixed frame skipped past its datagram's end.
    let codec = |oversize| {
        LengthPrefixedCodec::builder()
            .length_field_width(1)
            .max_frame_length(2)
            .oversize(oversize)
            .build()
    };
    let datagrams: &[&[u8]] = &[b"\x05abc", b"\x02ok", b"\x03abc\x01z"];
    assert_eq!(
        received(codec(Oversize::Error), datagrams, 4, b"\x01e").await,
        [&*too_long(5), "ok", &too_long(3), "z"]
    );
    assert_eq!(
        received(codec(Oversize::Skip), datagrams, 2, b"\x01e").await,
        ["ok", "z"]
    );
}

#[tokio::test]
async fn a_datagram_ending_inside_a_large_frame_does_not_pin_its_room() {
    // A 4-byte datagram announcing an 8 MiB frame: the header reserves
    // room for the frame, and that room must not outlive the datagram,
    // or one such datagram pins megabytes for the life of the socket.
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b.local_addr().unwrap();
    let mut receiver = UdpFramed::new(b, LengthPrefixedCodec::new());
    a.send_to(b"\0\x7f\xff\xff", b_addr).await.unwrap();
    a.send_to(b"\0\0\0\x02ok", b_addr).await.unwrap();
    assert!(matches!(
        receiver.next().await.unwrap(),
        Err(FrameError::Truncated { buffered: 4 })
    ));
    assert_eq!(&receiver.next().await.unwrap().unwrap().0[..], b"ok");
    // `UdpFramed` itself keeps 64 KiB for a datagram.
    let room = receiver.read_buffer().capacity();
    assert!(room <= 256 * 1024, "{room} bytes kept");
}
