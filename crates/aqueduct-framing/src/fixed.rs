//! Fixed-size frames: [`FixedSizeCodec`].
//!
//! # Wire format
//!
//! Frames are exactly `n` bytes, back to back, with nothing between them.
//! With `n = 3`:
//!
//! ```text
//! byte:  0     1     2     3     4     5
//!      +-----+-----+-----+-----+-----+-----+
//!      | 'a' | 'b' | 'c' | 'd' | 'e' | 'f' |
//!      +-----+-----+-----+-----+-----+-----+
//!      |     frame 1     |     frame 2     |
//! ```
//!
//! The encoder writes the frames as they are, and the decoder cuts them
//! back out:
//!
//! ```
//! use aqueduct_framing::FixedSizeCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FixedSizeCodec::new(3);
//! let mut wire = BytesMut::new();
//! codec.encode("abc", &mut wire)?;
//! codec.encode("def", &mut wire)?;
//! assert_eq!(&wire[..], b"abcdef");
//!
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"abc");
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"def");
//! assert!(wire.is_empty());
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! At end of stream, fewer than `n` leftover bytes are
//! [`FrameError::Truncated`].
//!
//! # Memory
//!
//! `n` is the application's choice, not the peer's, and is the codec's
//! maximum: while a frame is awaited the read buffer is given room for the
//! whole of it, so it is not reallocated on the way in. As every frame has
//! that size, the room is kept between frames rather than given back (the
//! other codecs give it back after a frame above their release threshold,
//! since their next frame may be small).

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::FrameError;
use crate::buf::{DEFAULT_RELEASE_THRESHOLD, reserve_exact, truncated};

/// Decodes and encodes frames of exactly `n` bytes.
///
/// Decoded frames are [`Bytes`] split from the read buffer, never copied.
/// The codec holds no decoding state, only its size: a copy is a fresh
/// codec.
/// Encoders take `&[u8]`, `&str`, `Vec<u8>`, `String`, [`Bytes`] and
/// [`Utf8Bytes`](crate::Utf8Bytes) and refuse a payload that is not exactly `n` bytes.
///
/// ```
/// use aqueduct_framing::FixedSizeCodec;
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = FixedSizeCodec::new(4);
/// let mut buf = BytesMut::from("abcdefg");
/// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"abcd");
/// assert_eq!(codec.decode(&mut buf)?, None);
///
/// let mut out = BytesMut::new();
/// codec.encode(&b"wxyz"[..], &mut out)?;
/// assert!(codec.encode(&b"short"[..], &mut out).is_err());
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
///
/// # Errors
///
/// Decoding fails only at end of stream: `decode_eof` reports fewer than
/// `n` leftover bytes as [`FrameError::Truncated`] and drops them.
/// Encoding refuses a payload that is not exactly `n` bytes with
/// [`FrameError::WrongSize`], and writes nothing.
///
/// ```
/// use aqueduct_framing::{FixedSizeCodec, FrameError};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = FixedSizeCodec::new(4);
/// let mut buf = BytesMut::from("abcdef");
/// assert_eq!(&codec.decode_eof(&mut buf)?.unwrap()[..], b"abcd");
/// let err = codec.decode_eof(&mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::Truncated { buffered: 2 }));
///
/// let err = codec.encode("abc", &mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::WrongSize { len: 3, expected: 4 }));
/// assert!(buf.is_empty());
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedSizeCodec {
    size: usize,
}

impl FixedSizeCodec {
    /// Frames of exactly `size` bytes.
    ///
    /// The read buffer is given room for a whole frame while one is awaited
    /// (see [Memory](self#memory)), so `size` is memory the codec asks for
    /// on its first decode.
    ///
    /// # Panics
    ///
    /// If `size` is zero, or above `isize::MAX`, the most a buffer can
    /// hold: no frame of that size could ever be buffered.
    ///
    /// ```
    /// let codec = aqueduct_framing::FixedSizeCodec::new(16);
    /// assert_eq!(codec.frame_size(), 16);
    /// ```
    #[must_use]
    pub fn new(size: usize) -> Self {
        assert!(size > 0, "fixed frames must be at least one byte");
        assert!(
            isize::try_from(size).is_ok(),
            "fixed frame size {size} is above isize::MAX ({}), the most a buffer can hold",
            isize::MAX
        );
        Self { size }
    }

    /// The frame size in bytes.
    ///
    /// ```
    /// assert_eq!(aqueduct_framing::FixedSizeCodec::new(3).frame_size(), 3);
    /// ```
    #[must_use]
    pub fn frame_size(&self) -> usize {
        self.size
    }

    /// Makes room for the rest of the frame, so it is not reallocated on
    /// the way in.
    #[inline(never)]
    fn wait(self, buf: &mut BytesMut) {
        reserve_exact(buf, self.size - buf.len());
    }

    fn encode_slice(self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        if payload.len() != self.size {
            return Err(FrameError::WrongSize {
                len: payload.len(),
                expected: self.size,
            });
        }
        dst.extend_from_slice(payload);
        Ok(())
    }
}

impl Decoder for FixedSizeCodec {
    type Item = Bytes;
    type Error = FrameError;

    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if buf.len() >= self.size {
            return Ok(Some(buf.split_to(self.size).freeze()));
        }
        self.wait(buf);
        Ok(None)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        Err(truncated(buf, DEFAULT_RELEASE_THRESHOLD))
    }
}

encoders!(FixedSizeCodec, encode_slice);
