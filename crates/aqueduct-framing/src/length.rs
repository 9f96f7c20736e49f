//! Length-prefixed frames: [`LengthPrefixedCodec`].
//!
//! # Wire format
//!
//! Each frame is an optional run of `offset` bytes the codec does not
//! interpret, a length field, and the payload. The length field holds the
//! payload length minus the length adjustment; it is 1, 2, 3, 4 or 8 bytes,
//! big or little endian, or an unsigned LEB128 varint of 1 to 10 bytes.
//!
//! The default (4-byte big-endian field, no offset, no adjustment, header
//! stripped) frames `hi` like this:
//!
//! ```text
//! byte:  0      1      2      3      4      5
//!      +------+------+------+------+------+------+
//!      | 0x00 | 0x00 | 0x00 | 0x02 | 'h'  | 'i'  |
//!      +------+------+------+------+------+------+
//!      |  length field: 2 (u32 BE) |   payload   |
//!      decodes to b"hi"
//! ```
//!
//! ```
//! use aqueduct_framing::LengthPrefixedCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = LengthPrefixedCodec::new();
//! let mut wire = BytesMut::new();
//! codec.encode("hi", &mut wire)?;
//! assert_eq!(&wire[..], b"\x00\x00\x00\x02hi");
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"hi");
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! A 1-byte type tag before a 2-byte little-endian length that counts the
//! whole frame (offset 1, width 2, adjustment -3), header kept:
//!
//! ```text
//! byte:  0      1      2      3      4
//!      +------+------+------+------+------+
//!      | 0x07 | 0x05 | 0x00 | 'h'  | 'i'  |
//!      +------+------+------+------+------+
//!      | tag  | len 5 (LE)  |   payload   |
//!      decodes to all five bytes
//! ```
//!
//! The encoder takes the payload alone, whether the decoder keeps the
//! header or not, and writes the header itself. It does not know the
//! bytes before the length field and writes zeros there: a protocol that
//! puts a tag there sets it in the written bytes.
//!
//! ```
//! use aqueduct_framing::LengthPrefixedCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = LengthPrefixedCodec::builder()
//!     .length_field_offset(1)
//!     .length_field_width(2)
//!     .little_endian()
//!     .length_adjustment(-3)
//!     .strip_header(false)
//!     .build();
//! let mut wire = BytesMut::new();
//! codec.encode("hi", &mut wire)?;
//! assert_eq!(&wire[..], b"\x00\x05\x00hi");
//! wire[0] = 0x07; // the tag
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"\x07\x05\x00hi");
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! A varint length of 300 (`0xAC 0x02`, seven bits per byte, low bits first,
//! high bit set on every byte but the last):
//!
//! ```text
//! byte:  0      1      2 ...                 301
//!      +------+------+------------------------+
//!      | 0xAC | 0x02 |  300 payload bytes     |
//!      +------+------+------------------------+
//! ```
//!
//! ```
//! use aqueduct_framing::LengthPrefixedCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = LengthPrefixedCodec::builder().varint().build();
//! let mut wire = BytesMut::new();
//! codec.encode(vec![b'x'; 300], &mut wire)?;
//! assert_eq!(wire.len(), 302);
//! assert_eq!(&wire[..2], [0xAC, 0x02]);
//! assert_eq!(codec.decode(&mut wire)?.unwrap(), vec![b'x'; 300]);
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! # Limits
//!
//! The payload length, after the adjustment, is checked against
//! [`max_frame_length`](LengthPrefixedBuilder::max_frame_length) (8 MiB by
//! default) as soon as the header is complete, before any payload byte is
//! buffered or any memory reserved: a peer announcing 4 GiB costs nothing.
//! What happens next is the [`Oversize`] policy: an error (default) or a
//! silent skip of that frame's bytes as they arrive.
//!
//! # Cost
//!
//! Decoded frames are [`Bytes`] split from the read buffer, never copied.
//! Once a header is complete the codec reserves room for the whole frame, so
//! a large frame arriving in small reads is not reallocated on the way; a
//! frame with more than 8 KiB still to come when its header is read gets
//! 8 KiB more, so the read that brings its last bytes and the next header
//! does not move it either. A header alone never
//! reserves more than [`DEFAULT_MAX_FRAME_LENGTH`] (plus those 8 KiB): with
//! a larger maximum configured, a larger frame gets the rest of its room as
//! its bytes arrive, so a peer's header cannot claim more memory than the
//! peer goes on to send. Either way the read buffer grows to the frame
//! and one read (8 KiB) at most: a frame a few bytes longer than the room
//! the last one left does not double the buffer.
//!
//! Besides a frame above that cap growing as it comes, the decoder copies
//! only bytes that are not yet a frame: when a read brings a frame's last
//! bytes and the next frame's first ones, those first bytes (at most one
//! read) are moved to the front of the buffer if the rest of their frame
//! does not fit behind them. When a read ends exactly with a frame there
//! is nothing to move: once the frames split from the buffer are dropped,
//! the next read starts at its front again. Frames are split off where
//! they lie.
//!
//! At end of stream, a partial header or payload is
//! [`FrameError::Truncated`]. The one exception is an oversized frame being
//! skipped: it was refused already (reported under [`Oversize::Error`],
//! counted under [`Oversize::Skip`]), so a stream that ends inside it ends
//! with `Ok(None)`, not with a second report of the same frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Framed, FramedRead, FramedWrite};

use crate::FrameError;
use crate::buf::{
    DEFAULT_RELEASE_THRESHOLD, READ_SLACK, grow_within, release_slow, reserve_exact, rewind,
    truncated,
};

/// Most memory a header alone makes the decoder reserve: the default
/// maximum frame length and one read.
const UP_FRONT: usize = DEFAULT_MAX_FRAME_LENGTH + READ_SLACK;

/// The room a frame's header makes in the read buffer, past the bytes
/// buffered, when `need` more bytes of the frame are still to come: all of
/// them, once. A large frame gets one read's worth more: the read that
/// brings its last bytes usually brings the next header too, and would
/// otherwise grow (copy) the whole frame to fit it. Capped at
/// [`UP_FRONT`] (see the module docs on cost): with a maximum of
/// `usize::MAX` the header alone could ask for any amount.
#[inline(always)]
fn room_for(need: usize) -> usize {
    let room = if need > READ_SLACK {
        need.saturating_add(READ_SLACK)
    } else {
        need
    };
    room.min(UP_FRONT)
}

/// Default maximum frame length: 8 MiB.
///
/// ```
/// use aqueduct_framing::{LengthPrefixedCodec, length::DEFAULT_MAX_FRAME_LENGTH};
/// assert_eq!(LengthPrefixedCodec::new().max_frame_length(), DEFAULT_MAX_FRAME_LENGTH);
/// ```
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// The longest varint length field: 10 bytes hold 64 bits.
const MAX_VARINT_BYTES: usize = 10;

/// The encoding of the length field.
///
/// ```
/// use aqueduct_framing::LengthField;
///
/// assert_eq!(LengthField::U16.width(), Some(2));
/// assert_eq!(LengthField::Varint.width(), None);
/// assert_eq!(LengthField::U24.max_value(), 0xFF_FFFF);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LengthField {
    /// One byte.
    U8,
    /// Two bytes.
    U16,
    /// Three bytes.
    U24,
    /// Four bytes (the default).
    #[default]
    U32,
    /// Eight bytes.
    U64,
    /// Unsigned LEB128: 7 bits per byte, least significant group first,
    /// 1 to 10 bytes. Endianness does not apply.
    Varint,
}

impl LengthField {
    /// The width in bytes, or `None` for the variable-width varint.
    ///
    /// ```
    /// assert_eq!(aqueduct_framing::LengthField::U64.width(), Some(8));
    /// ```
    #[must_use]
    pub const fn width(self) -> Option<usize> {
        match self {
            Self::U8 => Some(1),
            Self::U16 => Some(2),
            Self::U24 => Some(3),
            Self::U32 => Some(4),
            Self::U64 => Some(8),
            Self::Varint => None,
        }
    }

    /// The largest value the field can hold.
    ///
    /// ```
    /// assert_eq!(aqueduct_framing::LengthField::U8.max_value(), 255);
    /// ```
    #[must_use]
    pub const fn max_value(self) -> u64 {
        match self {
            Self::U8 => 0xFF,
            Self::U16 => 0xFFFF,
            Self::U24 => 0xFF_FFFF,
            Self::U32 => 0xFFFF_FFFF,
            Self::U64 | Self::Varint => u64::MAX,
        }
    }
}

/// Byte order of a fixed-width length field.
///
/// ```
/// use aqueduct_framing::{Endian, LengthPrefixedCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::Encoder;
///
/// for (endian, header) in [(Endian::Big, b"\0\x02"), (Endian::Little, b"\x02\0")] {
///     let mut codec = LengthPrefixedCodec::builder()
///         .length_field_width(2)
///         .endian(endian)
///         .build();
///     let mut out = BytesMut::new();
///     codec.encode(&b"hi"[..], &mut out)?;
///     assert_eq!(&out[..2], header);
/// }
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Endian {
    /// Most significant byte first (network order, the default).
    #[default]
    Big,
    /// Least significant byte first.
    Little,
}

/// What the decoder does with a frame longer than the maximum.
///
/// ```
/// use aqueduct_framing::{LengthPrefixedCodec, Oversize};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = LengthPrefixedCodec::builder()
///     .length_field_width(1)
///     .max_frame_length(2)
///     .oversize(Oversize::Skip)
///     .build();
/// let mut buf = BytesMut::from(&b"\x03abc\x02ok"[..]);
/// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"ok");
/// assert_eq!(codec.skipped_frames(), 1);
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Oversize {
    /// Return [`FrameError::TooLong`] (the default). If decoding goes on
    /// after the error (a `FramedRead` polled again after the `None` that
    /// follows it: see [the crate docs](crate#in-framed-and-framedread)),
    /// the frame's payload is skipped and the next frame decodes normally.
    #[default]
    Error,
    /// Discard the frame's bytes as they arrive, count it in
    /// [`LengthPrefixedCodec::skipped_frames`], and go on with the next
    /// frame.
    Skip,
}

/// Configures a [`LengthPrefixedCodec`]; from
/// [`LengthPrefixedCodec::builder`]. It builds the codec alone
/// ([`build`](Self::build)) or wrapped around an I/O object in tokio-util's
/// drivers ([`new_read`](Self::new_read), [`new_write`](Self::new_write),
/// [`new_framed`](Self::new_framed)), as many times as asked: each call
/// gives a fresh codec.
///
/// The second format drawn in the [module docs](self): a 1-byte tag, then
/// a 2-byte little-endian length that counts the whole frame, header
/// kept.
///
/// ```
/// use aqueduct_framing::{Endian, LengthField, LengthPrefixedCodec, Oversize};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = LengthPrefixedCodec::builder()
///     .length_field(LengthField::U16)
///     .endian(Endian::Little)
///     .length_field_offset(1)
///     .length_adjustment(-3)
///     .strip_header(false)
///     .max_frame_length(64 * 1024)
///     .oversize(Oversize::Error)
///     .build();
/// let mut buf = BytesMut::from(&b"\x07\x05\x00hi"[..]);
/// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"\x07\x05\x00hi");
/// assert_eq!(codec.max_frame_length(), 64 * 1024);
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthPrefixedBuilder {
    config: Config,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    field: LengthField,
    endian: Endian,
    offset: usize,
    adjustment: i64,
    strip: bool,
    max_frame_length: usize,
    oversize: Oversize,
    release_threshold: usize,
}

impl LengthPrefixedBuilder {
    /// The length field encoding (default [`LengthField::U32`]).
    ///
    /// ```
    /// use aqueduct_framing::{LengthField, LengthPrefixedCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().length_field(LengthField::U24).build();
    /// let mut out = BytesMut::new();
    /// codec.encode(&b"hi"[..], &mut out)?;
    /// assert_eq!(&out[..], b"\0\0\x02hi");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn length_field(&mut self, field: LengthField) -> &mut Self {
        self.config.field = field;
        self
    }

    /// A fixed-width length field of `width` bytes: 1, 2, 3, 4 or 8.
    ///
    /// # Panics
    ///
    /// If `width` is not one of 1, 2, 3, 4, 8.
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().length_field_width(2).build();
    /// let mut buf = BytesMut::from(&b"\0\x02hi"[..]);
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"hi");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn length_field_width(&mut self, width: usize) -> &mut Self {
        self.config.field = match width {
            1 => LengthField::U8,
            2 => LengthField::U16,
            3 => LengthField::U24,
            4 => LengthField::U32,
            8 => LengthField::U64,
            other => panic!("length field width must be 1, 2, 3, 4 or 8, not {other}"),
        };
        self
    }

    /// An unsigned LEB128 varint length field.
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().varint().build();
    /// let mut out = BytesMut::new();
    /// codec.encode(&[0u8; 300][..], &mut out)?;
    /// assert_eq!(&out[..2], &[0xAC, 0x02]);
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn varint(&mut self) -> &mut Self {
        self.config.field = LengthField::Varint;
        self
    }

    /// Byte order of a fixed-width field (default big endian). A varint
    /// has its own order (least significant group first) and ignores it.
    ///
    /// ```
    /// use aqueduct_framing::{Endian, LengthPrefixedCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().endian(Endian::Little).build();
    /// let mut buf = BytesMut::from(&b"\x02\0\0\0hi"[..]);
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"hi");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn endian(&mut self, endian: Endian) -> &mut Self {
        self.config.endian = endian;
        self
    }

    /// Shorthand for `endian(Endian::Big)`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = aqueduct_framing::LengthPrefixedCodec::builder().big_endian().build();
    /// let mut out = BytesMut::new();
    /// codec.encode(&[0u8; 258][..], &mut out)?;
    /// assert_eq!(&out[..4], b"\0\0\x01\x02"); // 258 = 0x0102
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn big_endian(&mut self) -> &mut Self {
        self.endian(Endian::Big)
    }

    /// Shorthand for `endian(Endian::Little)`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = aqueduct_framing::LengthPrefixedCodec::builder().little_endian().build();
    /// let mut out = BytesMut::new();
    /// codec.encode(&[0u8; 258][..], &mut out)?;
    /// assert_eq!(&out[..4], b"\x02\x01\0\0"); // 258 = 0x0102
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn little_endian(&mut self) -> &mut Self {
        self.endian(Endian::Little)
    }

    /// Shorthand for the byte order of the machine the code runs on:
    /// `endian(Endian::Little)` on x86-64 and most ARM systems. For
    /// processes on one machine that frame with `u32::to_ne_bytes` and the
    /// like; across machines, pick an order.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = aqueduct_framing::LengthPrefixedCodec::builder().native_endian().build();
    /// let mut out = BytesMut::new();
    /// codec.encode(&[0u8; 258][..], &mut out)?;
    /// assert_eq!(&out[..4], 258u32.to_ne_bytes());
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn native_endian(&mut self) -> &mut Self {
        if cfg!(target_endian = "big") {
            self.endian(Endian::Big)
        } else {
            self.endian(Endian::Little)
        }
    }

    /// Number of bytes before the length field (default 0). The decoder
    /// passes them through (with the header kept) or drops them (header
    /// stripped); the encoder writes zeros there.
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder()
    ///     .length_field_offset(1)
    ///     .length_field_width(1)
    ///     .build();
    /// let mut buf = BytesMut::from(&b"\x09\x02hi"[..]);
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"hi");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn length_field_offset(&mut self, offset: usize) -> &mut Self {
        self.config.offset = offset;
        self
    }

    /// Added to the length field's value to get the payload length (the
    /// bytes after the length field). Use a negative adjustment when the
    /// field counts the header too: with a 4-byte field that counts itself,
    /// `-4`.
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().length_adjustment(-4).build();
    /// let mut buf = BytesMut::from(&b"\0\0\0\x06hi"[..]);
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"hi");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn length_adjustment(&mut self, adjustment: i64) -> &mut Self {
        self.config.adjustment = adjustment;
        self
    }

    /// Whether decoded frames are the payload only (`true`, default) or the
    /// whole frame: offset bytes, length field and payload. The encoder
    /// takes the payload alone either way and writes the header itself, so
    /// a kept-header frame sent back as it was read would be framed twice.
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder()
    ///     .length_field_width(1)
    ///     .strip_header(false)
    ///     .build();
    /// let mut buf = BytesMut::from(&b"\x02hi"[..]);
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"\x02hi");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn strip_header(&mut self, strip: bool) -> &mut Self {
        self.config.strip = strip;
        self
    }

    /// The largest payload length accepted, after the adjustment (default
    /// 8 MiB). A codec in use takes a new one with
    /// [`LengthPrefixedCodec::set_max_frame_length`].
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, LengthPrefixedCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().max_frame_length(1 << 20).build();
    /// // A 4 GiB announcement fails as soon as the four header bytes are in.
    /// let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
    /// let err = codec.decode(&mut buf).unwrap_err();
    /// assert!(matches!(err, FrameError::TooLong { len: 0xFFFF_FFFF, max: 1_048_576 }));
    /// ```
    pub fn max_frame_length(&mut self, max: usize) -> &mut Self {
        self.config.max_frame_length = max;
        self
    }

    /// What to do with a frame longer than the maximum (default
    /// [`Oversize::Error`]).
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, LengthPrefixedCodec, Oversize};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let input = &b"\0\0\0\x09too long!\0\0\0\x02ok"[..];
    /// let mut strict = LengthPrefixedCodec::builder().max_frame_length(8).build();
    /// let err = strict.decode(&mut BytesMut::from(input)).unwrap_err();
    /// assert!(matches!(err, FrameError::TooLong { len: 9, max: 8 }));
    ///
    /// let mut lenient = LengthPrefixedCodec::builder()
    ///     .max_frame_length(8)
    ///     .oversize(Oversize::Skip)
    ///     .build();
    /// assert_eq!(&lenient.decode(&mut BytesMut::from(input))?.unwrap()[..], b"ok");
    /// assert_eq!(lenient.skipped_frames(), 1);
    /// # Ok::<(), FrameError>(())
    /// ```
    pub fn oversize(&mut self, policy: Oversize) -> &mut Self {
        self.config.oversize = policy;
        self
    }

    /// After a frame longer than `threshold` bytes (default 256 KiB), the
    /// decoder gives the read buffer's spare capacity back, so one large
    /// frame does not pin memory for the life of the connection. It keeps
    /// the capacity when the bytes already buffered announce another frame
    /// above `threshold` (and within the maximum), which is about to need
    /// it. What it gives back keeps room for one read: 8 KiB, or
    /// `threshold` if that is lower.
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use bytes::{BufMut, BytesMut};
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder().release_threshold(4096).build();
    /// let mut buf = BytesMut::new();
    /// buf.put_u32(100_000);
    /// buf.extend_from_slice(&[7; 100_000]);
    /// buf.put_u32(2);
    /// assert_eq!(codec.decode(&mut buf)?.unwrap().len(), 100_000);
    /// assert!(buf.capacity() <= 4096);
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn release_threshold(&mut self, threshold: usize) -> &mut Self {
        self.config.release_threshold = threshold;
        self
    }

    /// Builds the codec.
    ///
    /// # Panics
    ///
    /// If the length adjustment is so negative that every value of the
    /// length field gives a negative payload length (below `-255` with a
    /// 1-byte field, for instance), or so positive that every value gives a
    /// payload longer than the maximum frame length (above it, since even a
    /// field of 0 announces `adjustment` bytes): no frame could be decoded
    /// or encoded.
    /// If the length field offset is so large that the offset and the
    /// field together do not fit a `usize`.
    ///
    /// ```
    /// let codec = aqueduct_framing::LengthPrefixedCodec::builder().build();
    /// assert_eq!(codec.max_frame_length(), 8 * 1024 * 1024);
    /// ```
    ///
    /// A 1-byte field holds at most 255: with an adjustment of -300 every
    /// frame would be shorter than nothing.
    ///
    /// ```should_panic
    /// let _ = aqueduct_framing::LengthPrefixedCodec::builder()
    ///     .length_field_width(1)
    ///     .length_adjustment(-300)
    ///     .build();
    /// ```
    #[must_use]
    pub fn build(&self) -> LengthPrefixedCodec {
        let Config {
            field,
            adjustment,
            offset,
            max_frame_length,
            ..
        } = self.config;
        // Every length field, the varint included, is at most 10 bytes.
        assert!(
            offset <= usize::MAX - MAX_VARINT_BYTES,
            "length field offset {offset} leaves no room for the length field in a usize"
        );
        assert!(
            adjustment >= 0 || adjustment.unsigned_abs() <= field.max_value(),
            "length adjustment {adjustment} is below minus the largest value of a {field:?} \
             length field ({}): every frame would have a negative length",
            field.max_value()
        );
        assert_adjustment_within(adjustment, max_frame_length);
        LengthPrefixedCodec {
            config: self.config,
            state: State::Head,
            skipped: 0,
            release_pending: false,
        }
    }

    /// Builds a codec and wraps `io` in a [`FramedRead`] with it: a
    /// stream of the frames `io` brings.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build).
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use futures::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let wire: &[u8] = b"\x02hi\x00";
    /// let mut frames = LengthPrefixedCodec::builder().length_field_width(1).new_read(wire);
    /// assert_eq!(&frames.next().await.unwrap()?[..], b"hi");
    /// assert_eq!(&frames.next().await.unwrap()?[..], b"");
    /// assert!(frames.next().await.is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new_read<T: AsyncRead>(&self, io: T) -> FramedRead<T, LengthPrefixedCodec> {
        FramedRead::new(io, self.build())
    }

    /// Builds a codec and wraps `io` in a [`FramedWrite`] with it: a
    /// [`Sink`](futures_sink::Sink) of payloads, each written as a frame.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build).
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use futures::SinkExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let mut frames = LengthPrefixedCodec::builder()
    ///     .length_field_width(1)
    ///     .new_write(Vec::new());
    /// frames.send("hi").await?;
    /// assert_eq!(frames.get_ref(), b"\x02hi");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new_write<T: AsyncWrite>(&self, io: T) -> FramedWrite<T, LengthPrefixedCodec> {
        FramedWrite::new(io, self.build())
    }

    /// Builds a codec and wraps `io` in a [`Framed`] with it: both a
    /// stream of the frames `io` brings and a sink of payloads to write.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build).
    ///
    /// ```
    /// use aqueduct_framing::LengthPrefixedCodec;
    /// use futures::{SinkExt, StreamExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let (a, b) = tokio::io::duplex(64);
    /// let mut builder = LengthPrefixedCodec::builder();
    /// builder.varint().max_frame_length(1024);
    /// let (mut client, mut server) = (builder.new_framed(a), builder.new_framed(b));
    /// client.send("ping").await?;
    /// assert_eq!(&server.next().await.unwrap()?[..], b"ping");
    /// server.send("pong").await?;
    /// assert_eq!(&client.next().await.unwrap()?[..], b"pong");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new_framed<T: AsyncRead + AsyncWrite>(&self, io: T) -> Framed<T, LengthPrefixedCodec> {
        Framed::new(io, self.build())
    }
}

/// The builder of [`LengthPrefixedCodec::builder`]: the defaults of
/// [`LengthPrefixedCodec::new`].
///
/// ```
/// use aqueduct_framing::{LengthPrefixedBuilder, LengthPrefixedCodec};
///
/// let codec = LengthPrefixedBuilder::default().max_frame_length(512).build();
/// assert_eq!(codec.max_frame_length(), 512);
/// assert_eq!(LengthPrefixedBuilder::default().build().max_frame_length(), 8 << 20);
/// ```
impl Default for LengthPrefixedBuilder {
    fn default() -> Self {
        LengthPrefixedCodec::builder()
    }
}

/// Decodes and encodes length-prefixed frames.
///
/// See the [module docs](self) for the wire format. Configure it with
/// [`LengthPrefixedCodec::builder`]; [`LengthPrefixedCodec::new`] gives the
/// defaults: a 4-byte big-endian length, header stripped, 8 MiB maximum.
///
/// Encoders take `&[u8]`, `&str`, `Vec<u8>`, `String`, [`Bytes`] and
/// [`Utf8Bytes`](crate::Utf8Bytes). For large payloads on a
/// socket, [`FrameWriter`](crate::FrameWriter) sends the header and the
/// payload without copying the payload into a write buffer.
///
/// A clone carries the decoding state: see [Codecs as
/// values](crate#codecs-as-values).
///
/// ```
/// use aqueduct_framing::LengthPrefixedCodec;
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = LengthPrefixedCodec::new();
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from_static(b"hello"), &mut wire)?;
/// assert_eq!(&wire[..], b"\0\0\0\x05hello");
/// assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"hello");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
///
/// # Errors
///
/// Decoding:
///
/// - [`FrameError::TooLong`]: the header announces a payload (after the
///   adjustment) longer than the maximum, under [`Oversize::Error`]. The
///   header is consumed; a call after the error skips the payload as it
///   comes and goes on with the next frame. Under [`Oversize::Skip`] there
///   is no error.
/// - [`FrameError::NegativeLength`]: the length field plus a negative
///   adjustment is below zero. [`FrameError::VarintOverflow`]: a varint
///   field of more than 10 bytes, or above `u64::MAX`. The bad header is
///   consumed so a caller that goes on is not stuck on it, but where its
///   frame ends is unknown: the bytes after it are read as the next
///   header, and a connection is best closed after either error.
/// - [`FrameError::Truncated`], from `decode_eof` only: a stream that ends
///   inside a header or payload (not inside a frame being skipped: that
///   one was reported or counted already). The partial frame is dropped.
///
/// Encoding writes nothing and refuses:
///
/// - [`FrameError::PayloadOverMax`]: a payload longer than the maximum;
/// - [`FrameError::PayloadTooLong`]: one the length field cannot announce
///   (with a 1-byte field, over 255 bytes plus the adjustment);
/// - [`FrameError::PayloadTooShort`]: one shorter than a positive
///   adjustment, which would need a negative field value.
///
/// ```
/// use aqueduct_framing::{FrameError, LengthPrefixedCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// // The field counts itself too: the payload is the field's value less 1.
/// let mut codec = LengthPrefixedCodec::builder()
///     .length_field_width(1)
///     .length_adjustment(-1)
///     .max_frame_length(4)
///     .build();
/// let err = codec.decode(&mut BytesMut::from(&b"\x00"[..])).unwrap_err();
/// assert!(matches!(err, FrameError::NegativeLength { value: 0, adjustment: -1 }));
/// let err = codec.decode(&mut BytesMut::from(&b"\x09"[..])).unwrap_err();
/// assert!(matches!(err, FrameError::TooLong { len: 8, max: 4 }));
///
/// let mut codec = LengthPrefixedCodec::builder().length_field_width(1).build();
/// let err = codec.decode_eof(&mut BytesMut::from(&b"\x03ab"[..])).unwrap_err();
/// assert!(matches!(err, FrameError::Truncated { buffered: 3 }));
/// let err = codec.encode(&[0; 256][..], &mut BytesMut::new()).unwrap_err();
/// assert!(matches!(err, FrameError::PayloadTooLong { len: 256, max: 255 }));
///
/// let mut varint = LengthPrefixedCodec::builder().varint().build();
/// let err = varint.decode(&mut BytesMut::from(&[0xFF; 10][..])).unwrap_err();
/// assert!(matches!(err, FrameError::VarintOverflow { bytes: 10 }));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthPrefixedCodec {
    config: Config,
    state: State,
    skipped: u64,
    /// Whether giving the room of a large frame back was put off: more
    /// than the release threshold was buffered behind it.
    release_pending: bool,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for a complete header.
    Head,
    /// Header parsed and checked; waiting for `header + payload` bytes.
    Data { header: usize, payload: usize },
    /// Discarding the payload of an oversized frame.
    Skip { remaining: u64 },
}

/// The codec of [`LengthPrefixedCodec::new`].
///
/// ```
/// use aqueduct_framing::LengthPrefixedCodec;
/// use bytes::BytesMut;
/// use tokio_util::codec::Encoder;
///
/// let mut out = BytesMut::new();
/// LengthPrefixedCodec::default().encode("hi", &mut out)?;
/// assert_eq!(&out[..], b"\0\0\0\x02hi");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
impl Default for LengthPrefixedCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LengthPrefixedCodec {
    /// The default codec: 4-byte big-endian length, no offset or adjustment,
    /// header stripped, 8 MiB maximum, oversize is an error.
    ///
    /// ```
    /// let codec = aqueduct_framing::LengthPrefixedCodec::new();
    /// assert_eq!(codec.max_frame_length(), 8 << 20);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder starting from the defaults of [`LengthPrefixedCodec::new`].
    ///
    /// ```
    /// let codec = aqueduct_framing::LengthPrefixedCodec::builder()
    ///     .length_field_width(2)
    ///     .max_frame_length(4096)
    ///     .build();
    /// assert_eq!(codec.max_frame_length(), 4096);
    /// ```
    #[must_use]
    pub fn builder() -> LengthPrefixedBuilder {
        LengthPrefixedBuilder {
            config: Config {
                field: LengthField::U32,
                endian: Endian::Big,
                offset: 0,
                adjustment: 0,
                strip: true,
                max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
                oversize: Oversize::Error,
                release_threshold: DEFAULT_RELEASE_THRESHOLD,
            },
        }
    }

    /// The largest payload length accepted.
    ///
    /// ```
    /// let codec = aqueduct_framing::LengthPrefixedCodec::builder().max_frame_length(9).build();
    /// assert_eq!(codec.max_frame_length(), 9);
    /// ```
    #[must_use]
    pub fn max_frame_length(&self) -> usize {
        self.config.max_frame_length
    }

    /// Sets the largest payload length accepted, as
    /// [`LengthPrefixedBuilder::max_frame_length`] does, on a codec in use:
    /// to raise the limit for a peer once it has authenticated, say, through
    /// `Framed::codec_mut`.
    ///
    /// The encoder holds payloads to the new maximum at once, the decoder
    /// from the next header on: a frame whose header was read before the
    /// call is held to the maximum of then (it is being read, or skipped).
    ///
    /// # Panics
    ///
    /// If the length adjustment is above `max`, as
    /// [`build`](LengthPrefixedBuilder::build) does: every frame would be
    /// too long.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, LengthPrefixedCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder()
    ///     .length_field_width(1)
    ///     .max_frame_length(2)
    ///     .build();
    /// let mut buf = BytesMut::from(&b"\x03abc\x03def"[..]);
    /// let err = codec.decode(&mut buf).unwrap_err();
    /// assert!(matches!(err, FrameError::TooLong { len: 3, max: 2 }));
    ///
    /// codec.set_max_frame_length(255);
    /// assert_eq!(codec.max_frame_length(), 255);
    /// // The refused frame is skipped; the next is held to the new maximum.
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"def");
    /// # Ok::<(), FrameError>(())
    /// ```
    pub fn set_max_frame_length(&mut self, max: usize) {
        assert_adjustment_within(self.config.adjustment, max);
        self.config.max_frame_length = max;
    }

    /// How many oversized frames were skipped under [`Oversize::Skip`].
    ///
    /// ```
    /// use aqueduct_framing::{LengthPrefixedCodec, Oversize};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthPrefixedCodec::builder()
    ///     .length_field_width(1)
    ///     .max_frame_length(1)
    ///     .oversize(Oversize::Skip)
    ///     .build();
    /// assert_eq!(codec.skipped_frames(), 0);
    /// let mut buf = BytesMut::from(&b"\x02ab\x03abc\x01!"[..]);
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"!");
    /// assert_eq!(codec.skipped_frames(), 2);
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn skipped_frames(&self) -> u64 {
        self.skipped
    }

    /// Parses the header at the front of `buf`: `(header length, field value)`.
    #[inline(always)]
    fn read_head(&self, buf: &[u8]) -> Result<Option<(usize, u64)>, FrameError> {
        let offset = self.config.offset;
        let Some(width) = self.config.field.width() else {
            return read_varint(buf.get(offset..).unwrap_or_default())
                .map(|v| v.map(|(n, value)| (offset + n, value)));
        };
        let header = offset + width;
        let Some(field) = buf.get(offset..header) else {
            return Ok(None);
        };
        let value = match (self.config.field, self.config.endian) {
            (LengthField::U32, Endian::Big) => {
                u64::from(u32::from_be_bytes([field[0], field[1], field[2], field[3]]))
            }
            (LengthField::U32, Endian::Little) => {
                u64::from(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
            }
            (LengthField::U16, Endian::Big) => u64::from(u16::from_be_bytes([field[0], field[1]])),
            (LengthField::U16, Endian::Little) => {
                u64::from(u16::from_le_bytes([field[0], field[1]]))
            }
            (_, Endian::Big) => field.iter().fold(0, |acc, &b| acc << 8 | u64::from(b)),
            (_, Endian::Little) => field
                .iter()
                .rev()
                .fold(0, |acc, &b| acc << 8 | u64::from(b)),
        };
        Ok(Some((header, value)))
    }

    /// The payload length announced by a field value, after the adjustment.
    #[inline]
    fn payload_length(&self, value: u64) -> Result<u64, FrameError> {
        let adjustment = self.config.adjustment;
        let adjusted = if adjustment >= 0 {
            value.checked_add(adjustment.unsigned_abs())
        } else {
            value.checked_sub(adjustment.unsigned_abs())
        };
        match adjusted {
            Some(len) => Ok(len),
            None if adjustment < 0 => Err(FrameError::NegativeLength { value, adjustment }),
            // Beyond u64: longer than any maximum.
            None => Ok(u64::MAX),
        }
    }

    /// Writes the header (offset zeros and length field) for a payload of
    /// `len` bytes.
    pub(crate) fn put_header(&self, len: usize, dst: &mut BytesMut) -> Result<(), FrameError> {
        let config = &self.config;
        FrameError::check_payload(len, config.max_frame_length)?;
        let adjustment = i128::from(config.adjustment);
        let value = len as i128 - adjustment;
        let max_value = i128::from(config.field.max_value());
        if value < 0 {
            return Err(FrameError::PayloadTooShort {
                len,
                min: u64::try_from(adjustment).unwrap_or(0),
            });
        }
        if value > max_value {
            return Err(FrameError::PayloadTooLong {
                len,
                max: u64::try_from(max_value + adjustment).unwrap_or(0),
            });
        }
        // In range 0..=u64::MAX, checked above.
        let value = value as u64;
        dst.reserve(config.offset + MAX_VARINT_BYTES);
        dst.put_bytes(0, config.offset);
        match (config.field.width(), config.endian) {
            (None, _) => put_varint(value, dst),
            (Some(width), Endian::Big) => dst.put_uint(value, width),
            (Some(width), Endian::Little) => dst.put_uint_le(value, width),
        }
        Ok(())
    }

    fn encode_slice(&self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        self.put_header(payload.len(), dst)?;
        dst.extend_from_slice(payload);
        Ok(())
    }
}

/// Panics if a positive length `adjustment` is above the maximum frame
/// length `max`: even a length field of 0 would announce a frame too long.
fn assert_adjustment_within(adjustment: i64, max: usize) {
    assert!(
        adjustment <= 0 || adjustment.unsigned_abs() <= max as u64,
        "length adjustment {adjustment} is above the maximum frame length \
         ({max} bytes): every frame would be too long"
    );
}

/// Parses an unsigned LEB128 varint: `(bytes used, value)`.
#[inline]
fn read_varint(buf: &[u8]) -> Result<Option<(usize, u64)>, FrameError> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().take(MAX_VARINT_BYTES).enumerate() {
        let bits = u64::from(byte & 0x7F);
        if i == MAX_VARINT_BYTES - 1 && bits > 1 {
            return Err(FrameError::VarintOverflow { bytes: i + 1 });
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((i + 1, value)));
        }
    }
    if buf.len() >= MAX_VARINT_BYTES {
        return Err(FrameError::VarintOverflow {
            bytes: MAX_VARINT_BYTES,
        });
    }
    Ok(None)
}

fn put_varint(mut value: u64, dst: &mut BytesMut) {
    while value >= 0x80 {
        dst.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    dst.put_u8(value as u8);
}

impl Decoder for LengthPrefixedCodec {
    type Item = Bytes;
    type Error = FrameError;

    /// Always inlined: the common cases are a few instructions each, and
    /// inlining keeps the result out of memory. A whole frame buffered is
    /// split off, whether its header was read in this call or an earlier
    /// one. A frame still arriving, with room already made for it, waits
    /// here: a 64 KiB frame fed in 4 KiB reads is decoded sixteen times,
    /// and a read that ends inside a small frame leaves one.
    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let (header, payload, known) = match self.state {
            State::Head => match self.read_head(buf) {
                Ok(Some((header, value))) => match self.payload_length(value) {
                    // `payload <= max`, a usize.
                    Ok(payload) if payload <= self.config.max_frame_length as u64 => {
                        (header, payload as usize, false)
                    }
                    _ => return self.decode_slow(buf),
                },
                _ => return self.decode_slow(buf),
            },
            State::Data { header, payload } => (header, payload, true),
            State::Skip { .. } => return self.decode_slow(buf),
        };
        let total = header.saturating_add(payload);
        if buf.len() >= total {
            return Ok(Some(self.take(buf, header, payload)));
        }
        // Still arriving. A frame whose header came earlier waits while
        // the buffer has room for the next read (a full one grows in the
        // slow path). A header just read waits here when the buffer has the
        // room the slow path would make for the frame.
        let waits = if known {
            buf.len() < buf.capacity()
        } else {
            buf.capacity() - buf.len() >= room_for(total - buf.len())
        };
        if waits {
            self.state = State::Data { header, payload };
            return Ok(None);
        }
        self.decode_slow(buf)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let skipping = matches!(self.state, State::Skip { .. });
        self.state = State::Head;
        if buf.is_empty() || skipping {
            buf.clear();
            return Ok(None);
        }
        Err(truncated(buf, self.config.release_threshold))
    }
}

impl LengthPrefixedCodec {
    /// Splits a complete frame off the front of `buf`.
    #[inline(always)]
    fn take(&mut self, buf: &mut BytesMut, header: usize, payload: usize) -> Bytes {
        self.state = State::Head;
        let total = header + payload;
        let mut frame = buf.split_to(total).freeze();
        if self.config.strip {
            // Moving a `Bytes` start is two field updates; moving the
            // buffer's start first would cost a call.
            frame.advance(header);
        }
        let threshold = self.config.release_threshold;
        // Put off while more than the threshold is buffered behind a large
        // frame: tried again after each frame until that is no longer so.
        if (total > threshold || (self.release_pending && buf.len() <= threshold))
            && !self.next_is_large(buf)
        {
            self.release_pending = !release_slow(buf, threshold);
        }
        frame
    }

    /// Whether the bytes left in `buf` already announce another frame
    /// above the release threshold: then the capacity is about to be needed
    /// again and is kept. A frame over the maximum is never buffered, so it
    /// does not count.
    #[cold]
    fn next_is_large(&self, buf: &[u8]) -> bool {
        match self.read_head(buf) {
            Ok(Some((_, value))) => self.payload_length(value).is_ok_and(|len| {
                len > self.config.release_threshold as u64
                    && len <= self.config.max_frame_length as u64
            }),
            _ => false,
        }
    }

    /// Every case but a whole frame at the front of the buffer: partial
    /// header or payload, oversize, skipping, errors.
    #[inline(never)]
    fn decode_slow(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            match self.state {
                State::Head => {
                    // A header that cannot be valid is consumed with its
                    // error, so a caller that goes on is not stuck on it.
                    let (header, value) = match self.read_head(buf) {
                        Ok(Some(head)) => head,
                        Ok(None) => {
                            if buf.is_empty() {
                                rewind(buf);
                            }
                            return Ok(None);
                        }
                        Err(e) => {
                            if let FrameError::VarintOverflow { bytes } = e {
                                buf.advance((self.config.offset + bytes).min(buf.len()));
                            }
                            return Err(e);
                        }
                    };
                    let payload = match self.payload_length(value) {
                        Ok(payload) => payload,
                        Err(e) => {
                            buf.advance(header);
                            return Err(e);
                        }
                    };
                    let max = self.config.max_frame_length;
                    if payload > max as u64 {
                        buf.advance(header);
                        self.state = State::Skip { remaining: payload };
                        match self.config.oversize {
                            Oversize::Skip => {
                                self.skipped += 1;
                                continue;
                            }
                            Oversize::Error => {
                                return Err(FrameError::TooLong { len: payload, max });
                            }
                        }
                    }
                    // `payload <= max`, a usize.
                    let payload = payload as usize;
                    self.state = State::Data { header, payload };
                    // Room for the whole frame, once, now that its length
                    // is known to be within the maximum.
                    let total = header.saturating_add(payload);
                    if buf.len() < total {
                        reserve_exact(buf, room_for(total - buf.len()));
                        return Ok(None);
                    }
                }
                State::Data { header, payload } => {
                    let total = header.saturating_add(payload);
                    if buf.len() < total {
                        // Past the room reserved up front (a frame longer
                        // than that cap): grow with the frame, never past
                        // it.
                        if buf.len() == buf.capacity() {
                            grow_within(buf, total);
                        }
                        return Ok(None);
                    }
                    return Ok(Some(self.take(buf, header, payload)));
                }
                State::Skip { remaining } => {
                    let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    buf.advance(n);
                    let remaining = remaining - n as u64;
                    if remaining > 0 {
                        self.state = State::Skip { remaining };
                        return Ok(None);
                    }
                    self.state = State::Head;
                }
            }
        }
    }
}

encoders!(LengthPrefixedCodec, encode_slice);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Encoder;

    #[test]
    fn varint_round_trips_edges() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = BytesMut::new();
            put_varint(value, &mut out);
            assert_eq!(read_varint(&out).unwrap(), Some((out.len(), value)));
            assert_eq!(read_varint(&out[..out.len() - 1]).unwrap(), None);
        }
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let too_big = [0xFF; 9].iter().copied().chain([0x02]).collect::<Vec<_>>();
        assert!(matches!(
            read_varint(&too_big),
            Err(FrameError::VarintOverflow { bytes: 10 })
        ));
        assert!(matches!(
            read_varint(&[0x80; 11]),
            Err(FrameError::VarintOverflow { .. })
        ));
    }

    #[test]
    fn encoder_rejects_what_the_field_cannot_express() {
        let mut codec = LengthPrefixedCodec::builder().length_field_width(1).build();
        let mut out = BytesMut::new();
        assert!(matches!(
            codec.encode(&[0u8; 256][..], &mut out),
            Err(FrameError::PayloadTooLong { len: 256, max: 255 })
        ));
        codec.encode(&[0u8; 255][..], &mut out).unwrap();
        assert_eq!(out.len(), 256);
    }

    #[test]
    fn encoder_with_adjustment() {
        let mut codec = LengthPrefixedCodec::builder()
            .length_field_width(1)
            .length_adjustment(2)
            .build();
        let mut out = BytesMut::new();
        assert!(matches!(
            codec.encode(&b"a"[..], &mut out),
            Err(FrameError::PayloadTooShort { len: 1, min: 2 })
        ));
        codec.encode(&b"abc"[..], &mut out).unwrap();
        assert_eq!(&out[..], b"\x01abc");
        assert_eq!(&codec.decode(&mut out).unwrap().unwrap()[..], b"abc");
    }

    #[test]
    fn negative_length_is_an_error() {
        let mut codec = LengthPrefixedCodec::builder()
            .length_field_width(1)
            .length_adjustment(-4)
            .build();
        let mut buf = BytesMut::from(&b"\x02ab"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::NegativeLength {
                value: 2,
                adjustment: -4
            })
        ));
        // The bad header is consumed: a caller that goes on is not stuck.
        assert_eq!(&buf[..], b"ab");
    }

    #[test]
    fn a_large_frame_read_in_pieces_is_never_moved() {
        let mut codec = LengthPrefixedCodec::new();
        let mut wire = BytesMut::new();
        codec.encode(vec![5u8; 100_000], &mut wire).unwrap();
        codec.encode(&b"next"[..], &mut wire).unwrap();
        let mut buf = BytesMut::new();
        let mut region = None;
        let mut frames = Vec::new();
        // 4 KiB reads: the one that brings the frame's last bytes also brings
        // the next frame, which must fit without moving the first.
        for chunk in wire.chunks(4096) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
            if region.is_none() && buf.capacity() > 4096 {
                region = Some(buf.as_ptr() as usize);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].len(), 100_000);
        assert_eq!(&frames[1][..], b"next");
        assert_eq!(
            frames[0].as_ptr() as usize,
            region.unwrap() + 4,
            "the frame was moved after its room was reserved"
        );
    }

    #[test]
    fn an_unlimited_maximum_reserves_a_bounded_room_for_a_huge_header() {
        let mut codec = LengthPrefixedCodec::builder()
            .length_field_width(8)
            .max_frame_length(usize::MAX)
            .build();
        let mut buf = BytesMut::from(&(u64::MAX - 100).to_be_bytes()[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        // The 8 header bytes and the capped room: not 2^64 bytes.
        assert_eq!(buf.capacity(), 8 + UP_FRONT);
        // A frame above the cap still decodes, its room growing as it comes.
        let mut codec = LengthPrefixedCodec::builder()
            .max_frame_length(usize::MAX)
            .build();
        let len = UP_FRONT + 1;
        let mut wire = BytesMut::new();
        codec.encode(vec![7u8; len], &mut wire).unwrap();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in wire.chunks(1 << 20) {
            buf.extend_from_slice(chunk);
            assert!(buf.capacity() < 2 * len, "{}", buf.capacity());
            frames.extend(codec.decode(&mut buf).unwrap());
        }
        assert_eq!(frames.len(), 1);
        assert!(frames[0].len() == len && frames[0].iter().all(|&b| b == 7));
    }

    #[test]
    fn a_short_frame_that_fits_waits_in_place_and_one_that_does_not_gets_room() {
        let mut wire = BytesMut::new();
        LengthPrefixedCodec::new()
            .encode(vec![9u8; 100], &mut wire)
            .unwrap();
        // Room for the whole frame already: nothing is reserved or moved,
        // and the frame is split off where it lies once it is complete.
        let mut codec = LengthPrefixedCodec::new();
        let mut buf = BytesMut::with_capacity(1024);
        buf.extend_from_slice(&wire[..10]);
        let (start, capacity) = (buf.as_ptr(), buf.capacity());
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!((buf.as_ptr(), buf.capacity()), (start, capacity));
        buf.extend_from_slice(&wire[10..60]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&wire[60..]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!((frame.as_ptr(), frame.len()), (start.wrapping_add(4), 100));
        assert!(buf.is_empty());
        // No room behind the bytes read: the header makes room for the rest
        // of the frame at once.
        let mut buf = BytesMut::from(&wire[..10]);
        assert_eq!(buf.capacity(), 10);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= wire.len(), "{}", buf.capacity());
        buf.extend_from_slice(&wire[10..]);
        assert_eq!(
            &codec.decode(&mut buf).unwrap().unwrap()[..],
            &[9u8; 100][..]
        );
    }

    #[test]
    fn an_emptied_buffer_starts_again_at_the_front_once_its_frames_are_gone() {
        let mut wire = BytesMut::new();
        let mut encoder = LengthPrefixedCodec::new();
        encoder.encode(vec![1u8; 60_000], &mut wire).unwrap();
        encoder.encode(vec![2u8; 60_000], &mut wire).unwrap();
        let first = 60_004;
        let mut codec = LengthPrefixedCodec::new();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&wire[..1000]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        let start = buf.as_ptr();
        // The read that completes the first frame ends with it.
        buf.extend_from_slice(&wire[1000..first]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.as_ptr(), start.wrapping_add(4));
        // While the frame is alive its allocation is not taken back.
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.as_ptr(), start.wrapping_add(first));
        drop(frame);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.as_ptr(), start, "the empty buffer starts at the front");
        // The next frame's first read lands there, and its room is made
        // behind it.
        buf.extend_from_slice(&wire[first..first + 1000]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.as_ptr(), start);
        buf.extend_from_slice(&wire[first + 1000..]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.as_ptr(), start.wrapping_add(4));
        assert!(frame.len() == 60_000 && frame.iter().all(|&b| b == 2));
    }

    #[test]
    fn capacity_is_kept_when_another_large_frame_follows() {
        let mut codec = LengthPrefixedCodec::builder()
            .release_threshold(1024)
            .build();
        let mut wire = BytesMut::new();
        codec.encode(vec![1u8; 4096], &mut wire).unwrap();
        codec.encode(vec![2u8; 4096], &mut wire).unwrap();
        codec.encode(&b"tiny"[..], &mut wire).unwrap();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.extend_from_slice(&wire[..4100 + 10]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 4096);
        assert!(buf.capacity() > 4096, "kept for the next large frame");
        buf.extend_from_slice(&wire[4100 + 10..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 4096);
        assert!(buf.capacity() <= 1024, "given back before the small frame");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"tiny");
    }

    #[test]
    fn capacity_is_not_kept_for_an_oversized_next_frame() {
        // The next header announces more than the maximum: that frame is
        // never buffered, so the room must not be kept for it.
        for policy in [Oversize::Skip, Oversize::Error] {
            let mut codec = LengthPrefixedCodec::builder()
                .release_threshold(1024)
                .max_frame_length(8192)
                .oversize(policy)
                .build();
            let mut buf = BytesMut::with_capacity(64 * 1024);
            buf.put_u32(4096);
            buf.extend_from_slice(&[1; 4096]);
            buf.put_u32(1 << 30);
            assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 4096);
            assert!(
                buf.capacity() < 4096,
                "{policy:?}: capacity {} kept for a frame over the maximum",
                buf.capacity()
            );
        }
    }

    #[test]
    fn varint_overflow_consumes_the_field() {
        let mut codec = LengthPrefixedCodec::builder().varint().build();
        let mut buf = BytesMut::from(&[0xFF; 12][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::VarintOverflow { .. })
        ));
        assert!(buf.len() < 12);
    }

    #[test]
    fn error_policy_resyncs_if_decoding_continues() {
        let mut codec = LengthPrefixedCodec::builder()
            .length_field_width(1)
            .max_frame_length(2)
            .build();
        let mut buf = BytesMut::from(&b"\x03ab"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLong { len: 3, max: 2 })
        ));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"c\x01z");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"z");
    }
}
