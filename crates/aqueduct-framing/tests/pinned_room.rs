//! After a frame above the release threshold, a connection that goes on
//! with small frames does not keep the large frame's room for good.

use aqueduct_framing::{DelimiterCodec, LengthPrefixedCodec, LineCodec};
use bytes::{BufMut, BytesMut};
use tokio_util::codec::Decoder;

/// The default release threshold: the room a connection may keep.
const THRESHOLD: usize = 256 * 1024;

/// Decodes all of `input` as `FramedRead` would from a peer that always
/// has bytes ready (reserve a byte, then fill the buffer's spare room),
/// dropping each frame at once. The room the last read got.
fn room_of_last_read<D: Decoder>(codec: &mut D, input: &[u8]) -> usize
where
    D::Error: std::fmt::Debug,
{
    room_going_on_after_errors(codec, input, 0)
}

/// As [`room_of_last_read`], going on after the `errors` decoding errors
/// expected (and no more).
fn room_going_on_after_errors<D: Decoder>(codec: &mut D, mut input: &[u8], errors: usize) -> usize
where
    D::Error: std::fmt::Debug,
{
    let mut seen = 0;
    let mut buf = BytesMut::new();
    let mut room = 0;
    while !input.is_empty() {
        buf.reserve(1);
        room = buf.capacity() - buf.len();
        let n = room.min(input.len());
        buf.put_slice(&input[..n]);
        input = &input[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) if seen < errors => seen += 1,
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
    }
    assert_eq!(seen, errors, "errors seen");
    room
}

/// A 1 MiB frame, then 4 MiB of two-byte frames. The read that ends the
/// large frame brings more than the release threshold (256 KiB) of small
/// ones with it.
fn large_then_small(terminator: u8) -> Vec<u8> {
    let mut input = vec![b'a'; 1 << 20];
    input.push(terminator);
    for _ in 0..(4 << 20) / 2 {
        input.extend_from_slice(&[b'c', terminator]);
    }
    input
}

#[test]
fn small_frames_after_a_large_one_do_not_keep_its_room() {
    let mut lines = LineCodec::new().with_max_length(2 << 20);
    let room = room_of_last_read(&mut lines, &large_then_small(b'\n'));
    assert!(room <= THRESHOLD, "lines: reads still get {room} bytes");

    let mut delimited = DelimiterCodec::new(b";").with_max_length(2 << 20);
    let room = room_of_last_read(&mut delimited, &large_then_small(b';'));
    assert!(room <= THRESHOLD, "delimited: reads still get {room} bytes");
}

#[test]
fn small_length_prefixed_frames_after_large_ones_do_not_keep_their_room() {
    // A 4 MiB frame whose room is kept for the 300 KiB frame announced
    // behind it; the read that brings that frame fills the room with
    // small frames.
    let mut input = Vec::new();
    for len in [4 << 20, 300 * 1024] {
        input.put_u32(len);
        input.put_bytes(b'a', len as usize);
    }
    for _ in 0..(8 << 20) / 5 {
        input.put_u32(1);
        input.put_u8(b'c');
    }
    let room = room_of_last_read(&mut LengthPrefixedCodec::new(), &input);
    assert!(room <= THRESHOLD, "reads still get {room} bytes");
}
