//! Behaviour of `DelimiterCodec`.

mod common;

use aqueduct_framing::{DelimiterCodec, FrameError};
use bytes::{Bytes, BytesMut};
use common::{
    feed_until_error, read_as_framed_read, room_for_next_read, too_long_at_the_fifth_byte,
};
use tokio_util::codec::{Decoder, Encoder};

#[test]
fn multi_byte_delimiter_arriving_byte_by_byte() {
    let mut codec = DelimiterCodec::new(b"\r\n\r\n");
    let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nnext\r\n\r\n";
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in input {
        buf.extend_from_slice(&[*byte]);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(
        frames,
        [
            Bytes::from_static(b"GET / HTTP/1.1\r\nHost: x"),
            Bytes::from_static(b"next")
        ]
    );
}

#[test]
fn keep_delimiter() {
    let mut codec = DelimiterCodec::new(b"||").with_keep_delimiter(true);
    let mut buf = BytesMut::from("a||b||");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"a||");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"b||");
}

#[test]
fn byte_sets_of_every_size() {
    for set in [&b","[..], b",;", b",;|", b",;|\t"] {
        let mut codec = DelimiterCodec::any_of(set);
        let input: Vec<u8> = set.iter().flat_map(|&d| [b'x', d]).collect();
        let mut buf = BytesMut::from(&input[..]);
        for _ in set {
            assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"x");
        }
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }
}

#[test]
fn empty_frames_and_empty_input() {
    let mut codec = DelimiterCodec::any_of(b",");
    let mut buf = BytesMut::from(",,");
    assert!(codec.decode(&mut buf).unwrap().unwrap().is_empty());
    assert!(codec.decode(&mut buf).unwrap().unwrap().is_empty());
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn exactly_max_is_accepted_and_max_plus_one_rejected() {
    let mut codec = DelimiterCodec::new(b"\r\n").with_max_length(4);
    let mut buf = BytesMut::from("abcd\r\nabcde\r\nok\r\n");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abcd");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong { len: 5, max: 4 })
    ));
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"ok");
}

#[test]
fn over_long_frame_is_reported_once_no_delimiter_can_start_within_the_max() {
    // Byte by byte, maximum 4: the fifth byte makes the frame too long,
    // unless it may begin a delimiter that ends the frame at 4 bytes.
    let mut codec = DelimiterCodec::new(b"\r\n").with_max_length(4);
    let mut buf = too_long_at_the_fifth_byte(&mut codec);
    buf.extend_from_slice(b"f\r\nok\r\n");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"ok");

    let mut codec = DelimiterCodec::new(b"\r\n\r\n").with_max_length(4);
    let mut buf = BytesMut::from("abcd\r\n");
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\r\n");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abcd");
    buf.extend_from_slice(b"abcd\r\nx");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong { len: 7, max: 4 })
    ));
    // A maximum below the delimiter's length.
    let mut codec = DelimiterCodec::new(b"\r\n\r\n").with_max_length(0);
    let mut buf = BytesMut::from("a");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong { len: 1, max: 0 })
    ));
    buf.extend_from_slice(b"b\r\n\r\n\r\n\r\n");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"");
}

#[test]
fn the_read_buffer_never_takes_twice_the_maximum() {
    let max = 64 * 1024;
    for delimiter in [&b";"[..], b"\r\n\r\n"] {
        let mut wire = Vec::new();
        for _ in 0..4 {
            wire.extend(std::iter::repeat_n(b'a', max));
            wire.extend_from_slice(delimiter);
        }
        for read in [4096, 8192, 12_401, 65_536] {
            let seen = read_as_framed_read(&mut DelimiterCodec::new(delimiter), &wire, read);
            assert_eq!(seen.frames, [max; 4], "reads of {read}");
            assert!(
                seen.most_room <= max + 16 * 1024,
                "reads of {read}: capacity {}",
                seen.most_room
            );
        }
    }
}

#[test]
fn eof_inside_a_frame_is_truncated() {
    let mut codec = DelimiterCodec::new(b"\r\n\r\n");
    let mut buf = BytesMut::from("head\r\n\r");
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(FrameError::Truncated { buffered: 7 })
    ));
}

#[test]
fn encoder_refuses_payloads_containing_the_delimiter() {
    let mut codec = DelimiterCodec::any_of(b",;");
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode("a;b", &mut out),
        Err(FrameError::DelimiterInPayload { position: 1 })
    ));
    codec.encode(String::from("ab"), &mut out).unwrap();
    codec.encode(&b"c"[..], &mut out).unwrap();
    codec.encode(Bytes::from_static(b"d"), &mut out).unwrap();
    codec.encode(vec![b'e'], &mut out).unwrap();
    assert_eq!(&out[..], b"ab,c,d,e,");
}

#[test]
fn after_a_large_frame_the_next_is_sized_at_once_and_small_ones_give_room_back() {
    let mut codec = DelimiterCodec::new(b";")
        .with_max_length(4 << 20)
        .with_release_threshold(64 * 1024);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[b'a'; 1 << 20]);
    buf.extend_from_slice(b";");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 1 << 20);
    assert!(buf.capacity() < 64 * 1024, "capacity {}", buf.capacity());

    buf.extend_from_slice(&[b'b'; 16 * 1024]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() >= 1 << 20, "capacity {}", buf.capacity());
    buf.extend_from_slice(b";");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 16 * 1024);
    assert!(buf.capacity() < 64 * 1024, "capacity {}", buf.capacity());
}

#[test]
fn a_dropped_over_long_frame_gives_the_room_back_like_a_yielded_one() {
    const READ: usize = 64 * 1024;
    let codec = || {
        DelimiterCodec::new(b"\r\n")
            .with_max_length(1 << 20)
            .with_release_threshold(READ)
    };

    // Reported before its delimiter arrives, then discarded through it.
    let mut frames = codec();
    let mut buf = BytesMut::new();
    let (err, _) = feed_until_error(&mut frames, &mut buf, b'x', READ);
    assert!(matches!(err, FrameError::TooLong { .. }));
    buf.extend_from_slice(b"xx\r\nsmall\r\n");
    assert_eq!(&frames.decode(&mut buf).unwrap().unwrap()[..], b"small");
    let room = room_for_next_read(&mut buf);
    assert!(room < READ, "discarded frame: room {room}");

    // Over-long by one byte, its delimiter already buffered.
    let mut frames = codec();
    let mut buf = BytesMut::from(&[b'x'; (1 << 20) + 1][..]);
    buf.extend_from_slice(b"\r\nsmall\r\n");
    assert!(matches!(
        frames.decode(&mut buf),
        Err(FrameError::TooLong { len, .. }) if len == (1 << 20) + 1
    ));
    assert_eq!(&frames.decode(&mut buf).unwrap().unwrap()[..], b"small");
    let room = room_for_next_read(&mut buf);
    assert!(room < READ, "terminated frame: room {room}");
}
