//! Helpers shared by the decoders' tests.

use aqueduct_framing::FrameError;
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Feeds `abcd` one byte at a time to `codec`, whose maximum is 4, with no
/// frame found, then `e`, and asserts that this fifth byte is reported as
/// making the frame too long. Returns the buffer, for the codec to go on.
pub(crate) fn too_long_at_the_fifth_byte<D>(codec: &mut D) -> BytesMut
where
    D: Decoder<Error = FrameError>,
    D::Item: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    for &byte in b"abcd" {
        buf.extend_from_slice(&[byte]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }
    buf.extend_from_slice(b"e");
    let got = codec.decode(&mut buf);
    assert!(
        matches!(got, Err(FrameError::TooLong { len: 5, max: 4 })),
        "{got:?}"
    );
    buf
}

/// Feeds `byte` to `codec` in reads of `read` bytes, decoding after each,
/// until it fails: the error, and how many bytes were fed by then. A frame
/// decoded on the way fails the test.
pub(crate) fn feed_until_error<D>(
    codec: &mut D,
    buf: &mut BytesMut,
    byte: u8,
    read: usize,
) -> (D::Error, usize)
where
    D: Decoder,
    D::Item: AsRef<[u8]>,
{
    let mut fed = 0;
    loop {
        buf.extend(std::iter::repeat_n(byte, read));
        fed += read;
        match codec.decode(buf) {
            Ok(None) => {}
            Ok(Some(frame)) => panic!("unexpected frame of {} bytes", frame.as_ref().len()),
            Err(e) => return (e, fed),
        }
    }
}

/// The room the next read gets: `FramedRead` reserves a byte first, which
/// takes back an allocation the buffer alone still holds.
pub(crate) fn room_for_next_read(buf: &mut BytesMut) -> usize {
    buf.reserve(1);
    buf.capacity()
}

/// What [`read_as_framed_read`] saw.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    /// Lengths of the frames decoded, in order.
    pub(crate) frames: Vec<usize>,
    /// Decoding errors, decoding going on after each.
    pub(crate) errors: usize,
    /// The largest capacity the read buffer had on the way.
    pub(crate) most_room: usize,
}

/// Feeds `wire` to `codec` as `FramedRead` does: before each read it
/// reserves a byte, then the read fills at most `read` bytes of the room
/// the buffer has; after each read it decodes until no frame is left,
/// going on after errors. Frames are dropped as they come.
pub(crate) fn read_as_framed_read<D>(codec: &mut D, wire: &[u8], read: usize) -> Reading
where
    D: Decoder,
    D::Item: AsRef<[u8]>,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut seen = Reading::default();
    let mut rest = wire;
    while !rest.is_empty() {
        buf.reserve(1);
        let n = (buf.capacity() - buf.len()).min(read).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        seen.most_room = seen.most_room.max(buf.capacity());
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => seen.frames.push(frame.as_ref().len()),
                Ok(None) => break,
                Err(_) => seen.errors += 1,
            }
            seen.most_room = seen.most_room.max(buf.capacity());
        }
        seen.most_room = seen.most_room.max(buf.capacity());
    }
    seen
}
