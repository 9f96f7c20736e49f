//! Read-buffer housekeeping shared by the decoders: giving spare capacity
//! back after a large frame, and dropping a partial frame at end of stream.

use bytes::BytesMut;

use crate::FrameError;

/// Default frame size above which a decoder gives the read buffer's spare
/// capacity back (256 KiB).
pub(crate) const DEFAULT_RELEASE_THRESHOLD: usize = 256 * 1024;

/// After a frame of `frame_len` bytes, replaces `buf` by a right-sized copy of
/// its remaining bytes when the frame was larger than `threshold` and the
/// bytes to copy are few (at most `threshold`). The old allocation is then owned only by
/// the frames split from it and is freed when they are dropped.
#[inline]
pub(crate) fn release_excess(buf: &mut BytesMut, frame_len: usize, threshold: usize) {
    if frame_len > threshold {
        release_slow(buf, threshold);
    }
}

#[cold]
fn release_slow(buf: &mut BytesMut, threshold: usize) {
    // `buf` still holds the frame's allocation even when its own view has
    // no spare room (the read ended with the frame): once the frame is
    // dropped, the next `reserve` would take all of it back. So the copy is
    // made whatever `capacity()` says.
    if buf.len() <= threshold {
        *buf = BytesMut::from(&buf[..]);
    }
}

/// At end of stream, drops the partial frame left in `buf` and names how
/// many bytes it had.
#[cold]
pub(crate) fn truncated(buf: &mut BytesMut) -> FrameError {
    let buffered = buf.len();
    buf.clear();
    FrameError::Truncated { buffered }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_frame_gives_capacity_back() {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(&[7; 1000]);
        release_excess(&mut buf, 600_000, 1024);
        assert_eq!(&buf[..], &[7; 1000][..]);
        assert!(buf.capacity() < 4096, "capacity {}", buf.capacity());
    }

    #[test]
    fn a_buffer_emptied_by_a_large_frame_lets_its_allocation_go() {
        // The read ended with the frame: no spare room in view.
        let mut buf = BytesMut::from(&[7; 600_000][..]);
        let frame = buf.split_to(600_000);
        assert_eq!(buf.capacity(), 0);
        release_excess(&mut buf, frame.len(), 1024);
        drop(frame);
        // Without the copy, this would take the frame's allocation back.
        buf.reserve(10);
        assert!(buf.capacity() < 4096, "capacity {}", buf.capacity());
    }

    #[test]
    fn small_frame_keeps_capacity() {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(b"abc");
        release_excess(&mut buf, 100, 1024);
        assert!(buf.capacity() >= 1 << 20);
    }

    #[test]
    fn many_buffered_bytes_are_not_copied() {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(&[1; 4096]);
        release_excess(&mut buf, 600_000, 1024);
        assert!(buf.capacity() >= 1 << 20);
    }
}
