//! A stream that ends inside a frame gives back the room that frame took:
//! the read buffer can outlive the end (`UdpFramed` keeps its buffer from
//! one datagram to the next), and no frame would complete to give it back.

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, LengthPrefixedCodec, LineCodec, Utf8LineCodec,
};
use bytes::{BufMut, BytesMut};
use tokio_util::codec::Decoder;

/// The default release threshold: 256 KiB.
const THRESHOLD: usize = 256 * 1024;

/// Feeds `partial` (a frame cut short) in a buffer with `room` bytes of
/// capacity, then ends the stream: the frame is `Truncated` and the room
/// left is at most the release threshold.
fn ends_inside_a_frame<D>(mut codec: D, partial: &[u8], room: usize)
where
    D: Decoder<Error = FrameError>,
{
    let mut buf = BytesMut::with_capacity(room);
    buf.put_slice(partial);
    assert!(matches!(codec.decode(&mut buf), Ok(None)));
    assert!(
        buf.capacity() >= room,
        "the frame kept its room while it lasted"
    );
    match codec.decode_eof(&mut buf) {
        Err(FrameError::Truncated { buffered }) => assert_eq!(buffered, partial.len()),
        other => panic!("expected Truncated, got {:?}", other.map(|f| f.is_some())),
    }
    assert!(buf.is_empty());
    assert!(buf.capacity() <= THRESHOLD, "{} bytes kept", buf.capacity());
}

#[test]
fn a_length_header_that_reserved_its_frame_gives_the_room_back() {
    let codec = || {
        LengthPrefixedCodec::builder()
            .max_frame_length(1 << 20)
            .build()
    };
    let header = (1u32 << 20).to_be_bytes();
    // Into an empty buffer, the header alone reserves the whole frame.
    let mut buf = BytesMut::from(&header[..]);
    assert!(matches!(codec().decode(&mut buf), Ok(None)));
    assert!(buf.capacity() > 1 << 20, "the header reserved its frame");
    ends_inside_a_frame(codec(), &header, 1 << 20);
}

#[test]
fn a_fixed_frame_cut_short_gives_the_room_back() {
    ends_inside_a_frame(FixedSizeCodec::new(1 << 20), b"only a few bytes", 1 << 20);
}

#[test]
fn a_long_line_cut_short_gives_the_room_back() {
    let line = vec![b'a'; 300 * 1024];
    ends_inside_a_frame(LineCodec::new().with_max_length(1 << 20), &line, 1 << 20);
    ends_inside_a_frame(
        Utf8LineCodec::new().with_max_length(1 << 20),
        &line,
        1 << 20,
    );
    ends_inside_a_frame(
        DelimiterCodec::new(b"\r\n\r\n").with_max_length(1 << 20),
        &line,
        1 << 20,
    );
}

#[test]
fn a_threshold_of_the_codec_is_the_one_kept_to() {
    // A lower release threshold gives back more.
    let mut codec = LineCodec::new().with_release_threshold(4096);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.put_slice(&[b'a'; 10_000]);
    assert!(codec.decode_eof(&mut buf).is_err());
    assert!(buf.capacity() <= 4096, "{} bytes kept", buf.capacity());
    // A partial frame in a buffer already within the threshold keeps it.
    let mut codec = LineCodec::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.put_slice(b"no newline");
    assert!(codec.decode_eof(&mut buf).is_err());
    assert!(
        buf.capacity() >= 64 * 1024 - 16,
        "{} bytes kept",
        buf.capacity()
    );
}
