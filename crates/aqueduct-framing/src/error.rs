//! The error every codec of this crate returns.
//!
//! One enum, [`FrameError`], covers decoding and encoding. Each variant names
//! the limit that was crossed and the value that crossed it, so a server can
//! answer a misbehaving peer precisely:
//!
//! ```
//! use aqueduct_framing::{FrameError, LineCodec};
//! use bytes::BytesMut;
//! use tokio_util::codec::Decoder;
//!
//! let mut codec = LineCodec::new().with_max_length(4);
//! let mut buf = BytesMut::from("far too long\n");
//! match codec.decode(&mut buf) {
//!     Err(FrameError::TooLong { len, max }) => {
//!         assert_eq!(max, 4);
//!         assert!(len > 4);
//!     }
//!     other => panic!("expected TooLong, got {other:?}"),
//! }
//! ```
//!
//! Where an [`io::Error`] is needed, a `FrameError` converts into one of
//! the matching kind and stays inside it (see its `From` implementation).

use std::io;

/// What went wrong while decoding or encoding a frame.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a
/// catch-all arm.
///
/// ```
/// use aqueduct_framing::FrameError;
///
/// let err = FrameError::Truncated { buffered: 3 };
/// assert_eq!(err.to_string(), "stream ended inside a frame: 3 bytes buffered");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame from the peer is longer than the configured maximum.
    ///
    /// `len` is the announced payload length, after the length adjustment
    /// (length-prefixed), or the number of bytes seen without a terminator
    /// so far (lines, delimiters), which is at least `max + 1`. An encoder
    /// refusing an over-long payload says
    /// [`PayloadOverMax`](FrameError::PayloadOverMax) instead.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLong {
        /// Length of the offending frame (see above).
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended in the middle of a frame. The partial frame is
    /// dropped, and room above the codec's release threshold that it took
    /// is given back to the allocator.
    #[error("stream ended inside a frame: {buffered} bytes buffered")]
    Truncated {
        /// Bytes of the incomplete frame that were buffered at end of stream.
        buffered: usize,
    },
    /// A payload handed to an encoder is longer than the codec's maximum
    /// frame (or line) length: a peer decoding with the same settings
    /// would refuse it, so nothing is written.
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadOverMax {
        /// Length of the payload.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A payload is longer than the length field can express.
    #[error("payload of {len} bytes does not fit the length field (at most {max} bytes)")]
    PayloadTooLong {
        /// Length of the payload.
        len: usize,
        /// The largest payload the configured length field can announce.
        max: u64,
    },
    /// A payload is shorter than the length adjustment, so no length field
    /// value can announce it.
    #[error("payload of {len} bytes is shorter than the minimum of {min} bytes")]
    PayloadTooShort {
        /// Length of the payload.
        len: usize,
        /// The shortest payload the configured adjustment allows.
        min: u64,
    },
    /// A length field, after the length adjustment, announced a negative
    /// payload length.
    #[error("length field value {value} with adjustment {adjustment} gives a negative length")]
    NegativeLength {
        /// The raw value of the length field.
        value: u64,
        /// The configured length adjustment.
        adjustment: i64,
    },
    /// A varint length field is longer than 10 bytes or overflows `u64`.
    #[error("varint length field overflows u64 after {bytes} bytes")]
    VarintOverflow {
        /// Bytes of the field read before the overflow was detected.
        bytes: usize,
    },
    /// A payload handed to an encoder contains the delimiter, which would
    /// split it into two frames on the wire.
    #[error("payload contains the delimiter at byte {position}")]
    DelimiterInPayload {
        /// Offset of the first delimiter byte inside the payload.
        position: usize,
    },
    /// A payload handed to a [`FixedSizeCodec`](crate::FixedSizeCodec)
    /// encoder is not exactly the frame size.
    #[error("payload of {len} bytes, but frames are exactly {expected} bytes")]
    WrongSize {
        /// Length of the payload.
        len: usize,
        /// The fixed frame size.
        expected: usize,
    },
    /// A line decoded by [`Utf8LineCodec`](crate::Utf8LineCodec) (or bytes
    /// given to [`Utf8Bytes::try_from_bytes`](crate::Utf8Bytes::try_from_bytes)
    /// or its `TryFrom` conversions) are not valid UTF-8. The message names
    /// the first bad byte.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, Utf8LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut buf = BytesMut::from(&b"caf\xe9\nok\n"[..]);
    /// let mut codec = Utf8LineCodec::new();
    /// let err = codec.decode(&mut buf).unwrap_err();
    /// assert_eq!(err.to_string(), "text is not valid UTF-8 from byte 3 on");
    /// // The bad line is gone; the next one decodes.
    /// assert_eq!(codec.decode(&mut buf)?.unwrap(), "ok");
    /// # Ok::<(), FrameError>(())
    /// ```
    #[error("text is not valid UTF-8 from byte {} on", .source.valid_up_to())]
    InvalidUtf8 {
        /// The validation error, with the offset of the first bad byte.
        #[source]
        source: std::str::Utf8Error,
    },
    /// Bytes handed to a [`Utf8LineCodec`](crate::Utf8LineCodec) encoder
    /// are not valid UTF-8; nothing is written.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, Utf8LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut out = BytesMut::new();
    /// let err = Utf8LineCodec::new().encode(&b"caf\xe9"[..], &mut out).unwrap_err();
    /// assert!(matches!(err, FrameError::PayloadNotUtf8 { .. }));
    /// assert_eq!(err.to_string(), "payload is not valid UTF-8 from byte 3 on");
    /// assert!(out.is_empty());
    /// ```
    #[error("payload is not valid UTF-8 from byte {} on", .source.valid_up_to())]
    PayloadNotUtf8 {
        /// The validation error, with the offset of the first bad byte.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The underlying reader or writer failed.
    #[error("i/o error")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// `Ok` if an encoder may write a payload of `len` bytes under the
    /// codec's maximum `max`, else [`PayloadOverMax`](Self::PayloadOverMax).
    pub(crate) fn check_payload(len: usize, max: usize) -> Result<(), Self> {
        if len > max {
            return Err(Self::PayloadOverMax { len, max });
        }
        Ok(())
    }

    /// Returns `true` for errors caused by the peer's bytes (as opposed to
    /// I/O failures or payloads rejected by an encoder).
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// assert!(FrameError::Truncated { buffered: 1 }.is_protocol());
    /// let io = std::io::Error::other("reset");
    /// assert!(!FrameError::from(io).is_protocol());
    /// // Our own over-long reply is not the peer's fault.
    /// let mut codec = LineCodec::new().with_max_length(3);
    /// let err = codec.encode("abcd", &mut BytesMut::new()).unwrap_err();
    /// assert!(matches!(err, FrameError::PayloadOverMax { len: 4, max: 3 }));
    /// assert!(!err.is_protocol());
    /// ```
    #[must_use]
    pub fn is_protocol(&self) -> bool {
        matches!(
            self,
            Self::TooLong { .. }
                | Self::Truncated { .. }
                | Self::NegativeLength { .. }
                | Self::VarintOverflow { .. }
                | Self::InvalidUtf8 { .. }
        )
    }
}

/// Turns a [`FrameError`] into an [`io::Error`], for code that speaks
/// `io::Result` (an `AsyncRead` adapter over a `FramedRead`, a function
/// shared with plain socket code).
///
/// - [`FrameError::Io`] gives back the I/O error it holds.
/// - [`FrameError::Truncated`] is [`io::ErrorKind::UnexpectedEof`].
/// - The peer's malformed or over-long input ([`TooLong`](FrameError::TooLong),
///   [`NegativeLength`](FrameError::NegativeLength),
///   [`VarintOverflow`](FrameError::VarintOverflow),
///   [`InvalidUtf8`](FrameError::InvalidUtf8)) is
///   [`io::ErrorKind::InvalidData`].
/// - A payload an encoder refused is [`io::ErrorKind::InvalidInput`].
///
/// Except for [`FrameError::Io`], the `FrameError` is kept as the inner
/// error: [`io::Error::into_inner`] and `get_ref().downcast_ref()` give it
/// back with its limit and value.
///
/// ```
/// use std::io;
/// use aqueduct_framing::{FrameError, LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = LineCodec::new().with_max_length(4);
/// let err = codec.decode(&mut BytesMut::from("far too long\n")).unwrap_err();
/// let err = io::Error::from(err);
/// assert_eq!(err.kind(), io::ErrorKind::InvalidData);
/// let inner = err.get_ref().and_then(|e| e.downcast_ref::<FrameError>());
/// assert!(matches!(inner, Some(FrameError::TooLong { max: 4, .. })));
///
/// let eof = io::Error::from(FrameError::Truncated { buffered: 3 });
/// assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
///
/// let reset = io::Error::from(FrameError::from(io::Error::from(io::ErrorKind::ConnectionReset)));
/// assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset);
/// ```
impl From<FrameError> for io::Error {
    fn from(err: FrameError) -> Self {
        let kind = match err {
            FrameError::Io(inner) => return inner,
            FrameError::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            FrameError::TooLong { .. }
            | FrameError::NegativeLength { .. }
            | FrameError::VarintOverflow { .. }
            | FrameError::InvalidUtf8 { .. } => io::ErrorKind::InvalidData,
            FrameError::PayloadOverMax { .. }
            | FrameError::PayloadTooLong { .. }
            | FrameError::PayloadTooShort { .. }
            | FrameError::DelimiterInPayload { .. }
            | FrameError::WrongSize { .. }
            | FrameError::PayloadNotUtf8 { .. } => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_and_inner(err: FrameError) -> (io::ErrorKind, String) {
        let text = err.to_string();
        let err = io::Error::from(err);
        let kind = err.kind();
        let inner = err
            .into_inner()
            .and_then(|e| e.downcast::<FrameError>().ok())
            .expect("the FrameError is kept");
        assert_eq!(inner.to_string(), text);
        (kind, text)
    }

    #[test]
    fn every_variant_has_its_io_kind_and_stays_inside() {
        let bad = bytes::Bytes::from_static(b"\xff");
        let Err(FrameError::InvalidUtf8 { source: utf8 }) = crate::Utf8Bytes::try_from_bytes(bad)
        else {
            panic!("0xFF is not UTF-8");
        };
        let cases = [
            (
                FrameError::Truncated { buffered: 2 },
                io::ErrorKind::UnexpectedEof,
            ),
            (
                FrameError::TooLong { len: 9, max: 8 },
                io::ErrorKind::InvalidData,
            ),
            (
                FrameError::NegativeLength {
                    value: 1,
                    adjustment: -2,
                },
                io::ErrorKind::InvalidData,
            ),
            (
                FrameError::VarintOverflow { bytes: 10 },
                io::ErrorKind::InvalidData,
            ),
            (
                FrameError::InvalidUtf8 { source: utf8 },
                io::ErrorKind::InvalidData,
            ),
            (
                FrameError::PayloadOverMax { len: 9, max: 8 },
                io::ErrorKind::InvalidInput,
            ),
            (
                FrameError::PayloadTooLong { len: 256, max: 255 },
                io::ErrorKind::InvalidInput,
            ),
            (
                FrameError::PayloadTooShort { len: 1, min: 2 },
                io::ErrorKind::InvalidInput,
            ),
            (
                FrameError::DelimiterInPayload { position: 0 },
                io::ErrorKind::InvalidInput,
            ),
            (
                FrameError::WrongSize {
                    len: 1,
                    expected: 2,
                },
                io::ErrorKind::InvalidInput,
            ),
            (
                FrameError::PayloadNotUtf8 { source: utf8 },
                io::ErrorKind::InvalidInput,
            ),
        ];
        for (err, kind) in cases {
            let (got, text) = kind_and_inner(err);
            assert_eq!(got, kind, "{text}");
        }
    }

    #[test]
    fn an_io_error_comes_back_as_it_was() {
        let original = io::Error::other("reset by test");
        let back = io::Error::from(FrameError::from(original));
        assert_eq!(back.kind(), io::ErrorKind::Other);
        assert_eq!(back.to_string(), "reset by test");
        assert!(
            back.get_ref()
                .unwrap()
                .downcast_ref::<FrameError>()
                .is_none()
        );
    }
}
