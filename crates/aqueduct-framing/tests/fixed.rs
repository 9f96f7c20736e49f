//! Behaviour of `FixedSizeCodec`.

use aqueduct_framing::{FixedSizeCodec, FrameError};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

#[test]
fn frames_of_exactly_n_bytes_across_reads() {
    let mut codec = FixedSizeCodec::new(3);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in [&b"ab"[..], b"cd", b"efg", b"h"] {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(
        frames,
        [Bytes::from_static(b"abc"), Bytes::from_static(b"def")]
    );
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(FrameError::Truncated { buffered: 2 })
    ));
}

#[test]
fn empty_input_and_clean_eof() {
    let mut codec = FixedSizeCodec::new(2);
    assert_eq!(codec.decode_eof(&mut BytesMut::new()).unwrap(), None);
    let mut buf = BytesMut::from("xy");
    assert_eq!(&codec.decode_eof(&mut buf).unwrap().unwrap()[..], b"xy");
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn encoder_requires_the_exact_size() {
    let mut codec = FixedSizeCodec::new(2);
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode(&b"abc"[..], &mut out),
        Err(FrameError::WrongSize {
            len: 3,
            expected: 2
        })
    ));
    codec.encode(vec![1, 2], &mut out).unwrap();
    codec.encode(Bytes::from_static(b"34"), &mut out).unwrap();
    assert_eq!(&out[..], b"\x01\x0234");
}

#[test]
#[should_panic(expected = "at least one byte")]
fn zero_size_is_refused() {
    let _ = FixedSizeCodec::new(0);
}

#[test]
#[should_panic(expected = "fixed frame size 18446744073709551615 is above isize::MAX")]
fn a_size_no_buffer_can_hold_is_refused_at_construction() {
    // Accepted, it would panic inside the first decode, reserving room
    // for the frame.
    let mut codec = FixedSizeCodec::new(usize::MAX);
    let _ = codec.decode(&mut BytesMut::from(&b"abc"[..]));
}

#[test]
fn the_largest_buffer_size_is_accepted() {
    let codec = FixedSizeCodec::new(isize::MAX.unsigned_abs());
    assert_eq!(codec.frame_size(), isize::MAX.unsigned_abs());
}
