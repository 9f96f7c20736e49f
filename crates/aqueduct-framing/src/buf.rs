//! Read-buffer housekeeping shared by the decoders: giving spare capacity
//! back after a large frame, and dropping a partial frame at end of stream.

use bytes::BytesMut;

use crate::FrameError;

/// Default frame size above which a decoder gives the read buffer's spare
/// capacity back (256 KiB).
pub(crate) const DEFAULT_RELEASE_THRESHOLD: usize = 256 * 1024;

/// Room a decoder adds past a frame it sizes the buffer for: the read that
/// brings a frame's last bytes usually brings the next frame's first ones
/// too, and would otherwise grow (copy) the whole frame to fit them. One
/// typical socket read: 8 KiB, `FramedRead`'s initial buffer.
pub(crate) const READ_SLACK: usize = 8 * 1024;

/// Bytes a frame must have buffered, after a frame above the release
/// threshold, before [`Sizing`] takes it for another large one.
const LARGE_EVIDENCE: usize = 8 * 1024;

/// Smallest frame whose length [`Sizing`] reserves for the next frame.
/// Below this, moving a partial frame to the front of the buffer is cheap.
const SIZED_MIN: usize = 4 * 1024;

/// Buffer sizing for decoders that learn a frame's length only at its end
/// (lines, delimiters).
///
/// Frames of one connection tend to have like sizes, so the next frame is
/// given room for the last one's length (plus [`READ_SLACK`]) while it is
/// still short. Without this, the buffer runs out of room partway through
/// a frame and moves (or doubles and copies) the part already read.
///
/// After a frame above the release threshold the buffer's spare capacity
/// is given back, so an idle connection does not pin it. The next frame is
/// then given room for the large length only once it passes
/// [`LARGE_EVIDENCE`] bytes. A frame so sized that turns out small gives
/// the room back too, and the large length is forgotten.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sizing {
    /// Length of the last frame of at least [`SIZED_MIN`] bytes, or of the
    /// last large one while `large` is set; 0 if none.
    last: usize,
    /// Whether `last` is above the release threshold.
    large: bool,
    /// Whether the frame in progress was given room for a large `last`.
    sized: bool,
    /// Whether giving the room back after a large frame was put off: more
    /// than the threshold was buffered behind it. It is given back after
    /// the first frame that leaves no more than that.
    release_pending: bool,
}

impl Sizing {
    /// A frame is in progress with `buf` holding its first bytes, and
    /// needs at most `limit` bytes of room: the longest frame and its
    /// terminator.
    #[inline(always)]
    pub(crate) fn partial(&mut self, buf: &mut BytesMut, limit: usize) {
        if self.last >= SIZED_MIN
            && !self.sized
            && buf.capacity() < self.last.saturating_add(READ_SLACK)
        {
            self.size_for_last(buf);
        }
        if buf.len() == buf.capacity() && buf.len() >= SIZED_MIN {
            grow_within(buf, limit);
        }
    }

    #[cold]
    fn size_for_last(&mut self, buf: &mut BytesMut) {
        if self.large {
            if buf.len() < LARGE_EVIDENCE {
                return;
            }
            self.sized = true;
        }
        let want = self.last.saturating_add(READ_SLACK);
        if want > buf.len() {
            reserve_exact(buf, want - buf.len());
        }
    }

    /// A frame of `frame_len` bytes was split from the front of `buf`.
    #[inline(always)]
    pub(crate) fn frame(&mut self, buf: &mut BytesMut, frame_len: usize, threshold: usize) {
        if frame_len > threshold || self.sized {
            self.after_large(buf, frame_len, threshold);
        } else {
            if !self.large {
                self.last = frame_len;
            }
            if self.release_pending && buf.len() <= threshold {
                self.release_pending = !release_slow(buf, threshold);
            }
        }
    }

    #[cold]
    fn after_large(&mut self, buf: &mut BytesMut, frame_len: usize, threshold: usize) {
        self.sized = false;
        self.large = frame_len > threshold;
        self.last = if self.large { frame_len } else { 0 };
        self.release_pending = !release_slow(buf, threshold);
    }

    /// A frame of `frame_len` bytes was dropped from the front of `buf`
    /// (it was too long): gives the room back as after a frame yielded,
    /// without taking its length for the next frame's.
    #[cold]
    pub(crate) fn dropped(&mut self, buf: &mut BytesMut, frame_len: usize, threshold: usize) {
        if frame_len > threshold {
            self.release_pending = !release_slow(buf, threshold);
        }
    }
}

/// Makes room for `additional` more bytes in `buf`, in an allocation of
/// `buf.len() + additional` bytes if a new one is needed.
///
/// `BytesMut::reserve` may double the allocation it grows, and double a
/// shared one from its start, however little is asked: a frame that needs
/// a few bytes more than the last one's room would take twice the maximum
/// frame length. The decoders know how much they need, so they take that:
/// the room the buffer already has, room reclaimed in place, or a new
/// allocation of exactly the size asked.
pub(crate) fn reserve_exact(buf: &mut BytesMut, additional: usize) {
    if buf.capacity() - buf.len() >= additional || buf.try_reclaim(additional) {
        return;
    }
    grow_exact(buf, additional);
}

#[cold]
fn grow_exact(buf: &mut BytesMut, additional: usize) {
    let mut fresh = BytesMut::with_capacity(buf.len().saturating_add(additional));
    fresh.extend_from_slice(buf);
    *buf = fresh;
}

/// `buf` is full with part of a frame that needs at most `limit` bytes:
/// doubles its room, as the next read's `reserve` would, but to no more
/// than `limit` plus one read ([`READ_SLACK`]). Left to `reserve`, the
/// allocation could double past twice the maximum frame length.
#[cold]
pub(crate) fn grow_within(buf: &mut BytesMut, limit: usize) {
    let len = buf.len();
    let room = len
        .max(READ_SLACK)
        .min(limit.saturating_add(READ_SLACK).saturating_sub(len))
        .max(1);
    reserve_exact(buf, room);
}

/// `buf` is empty: starts its view again at the front of its allocation,
/// if no frame split from that allocation is still alive (nothing is
/// copied). The next read then lands at the front, and the frame it begins
/// gets its room behind it without the move it would need if it had landed
/// behind the frame before.
#[cold]
pub(crate) fn rewind(buf: &mut BytesMut) {
    debug_assert!(buf.is_empty());
    // Asks for more than the view has, so that the allocation is looked at:
    // with nothing buffered, taking it back moves no byte.
    let _ = buf.try_reclaim(buf.capacity().saturating_add(1));
}

/// After a frame larger than `threshold`, replaces `buf` by a copy of its
/// remaining bytes when they are few (at most `threshold`). The old
/// allocation is then owned only by the frames split from it and is freed
/// when they are dropped.
///
/// The copy keeps room for one typical read ([`READ_SLACK`], at most
/// `threshold`): an exactly-sized copy would leave `FramedRead` reading a
/// few bytes per call while the buffer grows back by doubling.
///
/// Returns `false` when the copy was put off (more than `threshold` bytes
/// are buffered): the caller tries again after a later frame, once no more
/// than that is left. Until then the buffer keeps the room; were it never
/// tried again, a fast peer would keep that room filled with small frames
/// for the life of the connection.
#[cold]
#[must_use]
pub(crate) fn release_slow(buf: &mut BytesMut, threshold: usize) -> bool {
    // `buf` still holds the frame's allocation even when its own view has
    // no spare room (the read ended with the frame): once the frame is
    // dropped, the next `reserve` would take all of it back. So the copy is
    // made whatever `capacity()` says.
    if buf.len() > threshold {
        return false;
    }
    let mut fresh = BytesMut::with_capacity(buf.len().max(READ_SLACK.min(threshold)));
    fresh.extend_from_slice(buf);
    *buf = fresh;
    true
}

/// At end of stream, drops the partial frame left in `buf` and names how
/// many bytes it had. Room above `threshold` that the frame took (a length
/// header reserves its whole frame) is given back, as after a large frame:
/// the buffer can outlive the stream's end, as `UdpFramed`'s does each
/// datagram's, and no frame would complete to give it back.
#[cold]
pub(crate) fn truncated(buf: &mut BytesMut, threshold: usize) -> FrameError {
    let buffered = buf.len();
    buf.clear();
    if buf.capacity() > threshold {
        // Empty: never put off.
        let _ = release_slow(buf, threshold);
    }
    FrameError::Truncated { buffered }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_frame_gives_capacity_back() {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(&[7; 1000]);
        assert!(release_slow(&mut buf, 1024));
        assert_eq!(&buf[..], &[7; 1000][..]);
        assert!(buf.capacity() < 4096, "capacity {}", buf.capacity());
    }

    #[test]
    fn a_buffer_emptied_by_a_large_frame_lets_its_allocation_go() {
        // The read ended with the frame: no spare room in view.
        let mut buf = BytesMut::from(&[7; 600_000][..]);
        let frame = buf.split_to(600_000);
        assert_eq!(buf.capacity(), 0);
        assert!(release_slow(&mut buf, 1024));
        drop(frame);
        // Without the copy, this would take the frame's allocation back.
        buf.reserve(10);
        assert!(buf.capacity() < 4096, "capacity {}", buf.capacity());
    }

    #[test]
    fn a_released_buffer_keeps_room_for_one_read() {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(&[7; 10]);
        assert!(release_slow(&mut buf, DEFAULT_RELEASE_THRESHOLD));
        assert_eq!(&buf[..], &[7; 10][..]);
        // As `FramedRead` asks before each read.
        buf.reserve(1);
        assert!(
            (READ_SLACK..4 * READ_SLACK).contains(&buf.capacity()),
            "capacity {}",
            buf.capacity()
        );
        // Never more than the threshold, when that is set lower.
        let mut buf = BytesMut::from(&[7; 600_000][..]);
        let _frame = buf.split_to(599_990);
        assert!(release_slow(&mut buf, 1024));
        assert_eq!(buf.capacity(), 1024);
    }

    #[test]
    fn many_buffered_bytes_are_not_copied() {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(&[1; 4096]);
        assert!(!release_slow(&mut buf, 1024), "put off");
        assert!(buf.capacity() >= 1 << 20);
        // Once no more than the threshold is left, the room goes.
        let _ = buf.split_to(3100);
        assert!(release_slow(&mut buf, 1024));
        assert!(buf.capacity() <= 1024, "capacity {}", buf.capacity());
    }

    #[test]
    fn a_release_put_off_after_a_dropped_frame_happens_later() {
        // A 600 kB frame was dropped (too long) with 300 kB buffered
        // behind it, more than the threshold: the room stays for now.
        let mut sizing = Sizing::default();
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.extend_from_slice(&[1; 300_000]);
        sizing.dropped(&mut buf, 600_000, DEFAULT_RELEASE_THRESHOLD);
        assert!(buf.capacity() >= 1 << 20);
        // Small frames go; the first that leaves no more than the
        // threshold buffered lets the room go.
        let mut frames = 0;
        while buf.capacity() > DEFAULT_RELEASE_THRESHOLD {
            let _ = buf.split_to(1000);
            sizing.frame(&mut buf, 1000, DEFAULT_RELEASE_THRESHOLD);
            frames += 1;
        }
        assert_eq!(frames, (300_000 - DEFAULT_RELEASE_THRESHOLD).div_ceil(1000));
        assert!(buf.capacity() <= DEFAULT_RELEASE_THRESHOLD);
        assert_eq!(buf.len(), 300_000 - frames * 1000);
        // Done: later frames copy nothing.
        let before = buf.as_ptr();
        let _ = buf.split_to(1000);
        sizing.frame(&mut buf, 1000, DEFAULT_RELEASE_THRESHOLD);
        assert_eq!(buf.as_ptr(), before.wrapping_add(1000));
    }
}
