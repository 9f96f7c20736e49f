//! Delimiter-terminated frames: [`DelimiterCodec`].
//!
//! # Wire format
//!
//! With a multi-byte delimiter ([`DelimiterCodec::new`]), a frame is any run
//! of bytes that does not contain the delimiter, followed by it. The HTTP/1
//! header-block delimiter `\r\n\r\n` after `a:1`:
//!
//! ```text
//! byte:  0     1     2     3     4     5     6
//!      +-----+-----+-----+-----+-----+-----+-----+
//!      | 'a' | ':' | '1' | \r  | \n  | \r  | \n  |
//!      +-----+-----+-----+-----+-----+-----+-----+
//!      |     frame       |       delimiter       |
//!      decodes to b"a:1" (or b"a:1\r\n\r\n" with the delimiter kept)
//! ```
//!
//! The encoder takes the frame without its delimiter and appends it:
//!
//! ```
//! use aqueduct_framing::DelimiterCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = DelimiterCodec::new(b"\r\n\r\n");
//! let mut wire = BytesMut::new();
//! codec.encode("a:1", &mut wire)?;
//! assert_eq!(&wire[..], b"a:1\r\n\r\n");
//!
//! let mut kept = wire.clone();
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"a:1");
//! let mut keep = DelimiterCodec::new(b"\r\n\r\n").with_keep_delimiter(true);
//! assert_eq!(&keep.decode(&mut kept)?.unwrap()[..], b"a:1\r\n\r\n");
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! With a byte set ([`DelimiterCodec::any_of`]), any one byte of the set ends
//! a frame. With the set `,;`:
//!
//! ```text
//! byte:  0     1     2     3     4
//!      +-----+-----+-----+-----+-----+
//!      | 'x' | ',' | 'y' | 'z' | ';' |
//!      +-----+-----+-----+-----+-----+
//!      | f1  | d   |    f2     | d   |
//!      decodes to b"x" and b"yz"
//! ```
//!
//! The encoder cannot know which byte of the set a frame should end with:
//! it writes the set's first byte after every frame, so `x` and `yz` go out
//! as `x,yz,`, which decodes to the same frames:
//!
//! ```
//! use aqueduct_framing::DelimiterCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = DelimiterCodec::any_of(b",;");
//! let mut drawn = BytesMut::from("x,yz;");
//! assert_eq!(&codec.decode(&mut drawn)?.unwrap()[..], b"x");
//! assert_eq!(&codec.decode(&mut drawn)?.unwrap()[..], b"yz");
//!
//! let mut wire = BytesMut::new();
//! codec.encode("x", &mut wire)?;
//! codec.encode("yz", &mut wire)?;
//! assert_eq!(&wire[..], b"x,yz,");
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"x");
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"yz");
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! # Limits and cost
//!
//! A frame longer than the maximum (64 KiB by default, not counting the
//! delimiter) is [`FrameError::TooLong`] as soon as the codec has seen more
//! than `max` bytes without a delimiter, and the bytes past the maximum
//! cannot be the start of one; it then discards through the next
//! delimiter and goes on. Searches use `memchr` (`memmem` for sequences,
//! `memchr`/`memchr2`/`memchr3` for sets of up to three bytes, a byte table
//! beyond) and resume where the last call stopped. Frames are [`Bytes`]
//! split from the read buffer, never copied. While a frame comes in, the
//! read buffer grows to at most the maximum, a delimiter and one read
//! (8 KiB): never to twice the maximum, as a buffer left to double its way
//! up would.
//!
//! At end of stream, bytes after the last delimiter are
//! [`FrameError::Truncated`] unless [`DelimiterCodec::with_partial_at_eof`]
//! allows a final unterminated frame.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::memmem;
use tokio_util::codec::Decoder;

use crate::FrameError;
use crate::buf::{DEFAULT_RELEASE_THRESHOLD, Sizing, truncated};

/// Default maximum frame length for delimited frames: 64 KiB.
///
/// ```
/// use aqueduct_framing::{DelimiterCodec, delimiter::DEFAULT_MAX_DELIMITED_LENGTH};
/// assert_eq!(DelimiterCodec::any_of(b",").max_length(), DEFAULT_MAX_DELIMITED_LENGTH);
/// ```
pub const DEFAULT_MAX_DELIMITED_LENGTH: usize = 64 * 1024;

#[derive(Clone)]
enum Search {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
    Table(Box<[bool; 256]>),
    Sequence(Box<memmem::Finder<'static>>),
}

impl fmt::Debug for Search {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::One(a) => f.debug_tuple("One").field(a).finish(),
            Self::Two(a, b) => f.debug_tuple("Two").field(a).field(b).finish(),
            Self::Three(a, b, c) => f.debug_tuple("Three").field(a).field(b).field(c).finish(),
            Self::Table(t) => f
                .debug_tuple("Table")
                .field(
                    &(0..=255u8)
                        .filter(|&b| t[usize::from(b)])
                        .collect::<Vec<_>>(),
                )
                .finish(),
            Self::Sequence(s) => f.debug_tuple("Sequence").field(&s.needle()).finish(),
        }
    }
}

impl Search {
    /// Position of the first delimiter (start of it) in `hay`.
    #[inline]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            Self::One(a) => memchr::memchr(*a, hay),
            Self::Two(a, b) => memchr::memchr2(*a, *b, hay),
            Self::Three(a, b, c) => memchr::memchr3(*a, *b, *c, hay),
            Self::Table(t) => hay.iter().position(|&b| t[usize::from(b)]),
            Self::Sequence(finder) => finder.find(hay),
        }
    }
}

/// Decodes and encodes frames ended by a delimiter: a byte sequence
/// ([`DelimiterCodec::new`]) or any byte of a set
/// ([`DelimiterCodec::any_of`]).
///
/// See the [module docs](self) for the wire format and limits. Encoders take
/// `&[u8]`, `&str`, `Vec<u8>`, `String`, [`Bytes`] and [`Utf8Bytes`](crate::Utf8Bytes),
/// refuse a payload that contains the delimiter, and append the delimiter
/// (for a set, its first byte).
///
/// A clone carries the decoding state: see [Codecs as
/// values](crate#codecs-as-values).
///
/// ```
/// use aqueduct_framing::DelimiterCodec;
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = DelimiterCodec::new(b"\r\n\r\n");
/// let mut buf = BytesMut::from("a: 1\r\nb: 2\r\n\r\nrest");
/// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"a: 1\r\nb: 2");
/// assert_eq!(codec.decode(&mut buf)?, None);
///
/// let mut csv = DelimiterCodec::any_of(b",;");
/// let mut out = BytesMut::new();
/// csv.encode("x", &mut out)?;
/// assert_eq!(&out[..], b"x,");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
///
/// # Errors
///
/// Decoding:
///
/// - [`FrameError::TooLong`]: a frame longer than the maximum. The codec
///   drops it through its delimiter, across calls if the delimiter has not
///   come yet, and the next call goes on with the next frame.
/// - [`FrameError::Truncated`], from `decode_eof` only: bytes after the
///   last delimiter at end of stream, which are dropped (the rest of an
///   over-long frame being dropped is not reported again). With
///   [`with_partial_at_eof`](DelimiterCodec::with_partial_at_eof) they are
///   a final frame instead (or `TooLong`, if longer than the maximum).
///
/// Encoding writes nothing and refuses a payload longer than the maximum
/// ([`FrameError::PayloadOverMax`]) or one holding the delimiter
/// ([`FrameError::DelimiterInPayload`]): for a set, any of its bytes; for
/// a sequence, the sequence, or an end that would run into the appended
/// delimiter and make it appear early.
///
/// ```
/// use aqueduct_framing::{DelimiterCodec, FrameError};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = DelimiterCodec::new(b"\r\n\r\n").with_max_length(4);
/// let mut buf = BytesMut::from("too long\r\n\r\nok\r\n\r\ncut");
/// let err = codec.decode(&mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::TooLong { len: 8, max: 4 }));
/// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"ok");
/// let err = codec.decode_eof(&mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::Truncated { buffered: 3 }));
///
/// // `a\r\n` and the delimiter would read as `a`, then an empty frame.
/// let err = codec.encode("a\r\n", &mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::DelimiterInPayload { position: 1 }));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DelimiterCodec {
    search: Search,
    /// Bytes the encoder appends; for a set, its first byte.
    delimiter: Box<[u8]>,
    /// Length of a delimiter occurrence on the wire.
    delimiter_len: usize,
    keep: bool,
    max_length: usize,
    next_index: usize,
    discarding: bool,
    partial_at_eof: bool,
    release_threshold: usize,
    /// Gives capacity back after a large frame, and sizes for the next one.
    sizing: Sizing,
}

impl DelimiterCodec {
    /// Frames ended by the byte sequence `delimiter`.
    ///
    /// # Panics
    ///
    /// If `delimiter` is empty.
    ///
    /// ```
    /// use aqueduct_framing::DelimiterCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DelimiterCodec::new(b"--");
    /// let mut buf = BytesMut::from("a-b--c--");
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"a-b");
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"c");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn new(delimiter: &[u8]) -> Self {
        assert!(!delimiter.is_empty(), "the delimiter must not be empty");
        let search = if delimiter.len() == 1 {
            Search::One(delimiter[0])
        } else {
            Search::Sequence(Box::new(memmem::Finder::new(delimiter).into_owned()))
        };
        Self::with_search(search, delimiter.into(), delimiter.len())
    }

    /// Frames ended by any one byte of `set`.
    ///
    /// # Panics
    ///
    /// If `set` is empty.
    ///
    /// ```
    /// use aqueduct_framing::DelimiterCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DelimiterCodec::any_of(b",;");
    /// let mut buf = BytesMut::from("a;b,");
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"a");
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"b");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn any_of(set: &[u8]) -> Self {
        assert!(!set.is_empty(), "the delimiter set must not be empty");
        let search = match *set {
            [a] => Search::One(a),
            [a, b] => Search::Two(a, b),
            [a, b, c] => Search::Three(a, b, c),
            _ => {
                let mut table = Box::new([false; 256]);
                for &b in set {
                    table[usize::from(b)] = true;
                }
                Search::Table(table)
            }
        };
        Self::with_search(search, set[..1].into(), 1)
    }

    fn with_search(search: Search, delimiter: Box<[u8]>, delimiter_len: usize) -> Self {
        Self {
            search,
            delimiter,
            delimiter_len,
            keep: false,
            max_length: DEFAULT_MAX_DELIMITED_LENGTH,
            next_index: 0,
            discarding: false,
            partial_at_eof: false,
            release_threshold: DEFAULT_RELEASE_THRESHOLD,
            sizing: Sizing::default(),
        }
    }

    /// Whether decoded frames keep their delimiter (default `false`: strip).
    /// The encoder takes frames without their delimiter either way, and
    /// refuses one that holds it.
    ///
    /// ```
    /// use aqueduct_framing::DelimiterCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DelimiterCodec::any_of(b",;").with_keep_delimiter(true);
    /// let mut buf = BytesMut::from("a;");
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"a;");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_keep_delimiter(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Sets the maximum frame length, not counting the delimiter.
    ///
    /// ```
    /// use aqueduct_framing::{DelimiterCodec, FrameError};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DelimiterCodec::new(b"\0").with_max_length(2);
    /// let mut buf = BytesMut::from(&b"abc\0ok\0"[..]);
    /// assert!(matches!(codec.decode(&mut buf), Err(FrameError::TooLong { max: 2, .. })));
    /// assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"ok");
    /// # Ok::<(), FrameError>(())
    /// ```
    #[must_use]
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length;
        self
    }

    /// The maximum frame length, not counting the delimiter.
    ///
    /// ```
    /// assert_eq!(aqueduct_framing::DelimiterCodec::new(b";").max_length(), 64 * 1024);
    /// ```
    #[must_use]
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Whether bytes after the last delimiter at end of stream are yielded
    /// as a final frame (`true`) or reported as [`FrameError::Truncated`]
    /// (`false`, the default).
    ///
    /// In `UdpFramed` every datagram ends a stream: allow a final frame to
    /// read datagrams whose last frame has no delimiter (see [the crate
    /// docs](crate#in-udpframed)).
    ///
    /// ```
    /// use aqueduct_framing::DelimiterCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DelimiterCodec::any_of(b",").with_partial_at_eof(true);
    /// let mut buf = BytesMut::from("last");
    /// assert_eq!(&codec.decode_eof(&mut buf)?.unwrap()[..], b"last");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_partial_at_eof(mut self, allow: bool) -> Self {
        self.partial_at_eof = allow;
        self
    }

    /// After a frame longer than `threshold` bytes (default 256 KiB), yielded
    /// or dropped as over-long, the decoder gives the read buffer's spare
    /// capacity back, so one large frame does not pin memory for the life
    /// of the connection. It keeps room for one read: 8 KiB, or `threshold`
    /// if that is lower.
    ///
    /// Large frames tend to come in runs: once the next frame passes 8 KiB,
    /// the decoder sizes the buffer for the last large frame in one step,
    /// instead of letting it double its way there and copy the frame at
    /// each step. If that frame then ends below `threshold`, the room is
    /// given back and the size forgotten.
    ///
    /// ```
    /// use aqueduct_framing::DelimiterCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DelimiterCodec::new(b";")
    ///     .with_max_length(1 << 20)
    ///     .with_release_threshold(4096);
    /// let mut buf = BytesMut::new();
    /// buf.extend_from_slice(&[b'x'; 100_000]);
    /// buf.extend_from_slice(b";next");
    /// assert_eq!(codec.decode(&mut buf)?.unwrap().len(), 100_000);
    /// assert!(buf.capacity() <= 4096);
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_release_threshold(mut self, threshold: usize) -> Self {
        self.release_threshold = threshold;
        self
    }

    fn encode_slice(&self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        FrameError::check_payload(payload.len(), self.max_length)?;
        if let Some(position) = self.search.find(payload) {
            return Err(FrameError::DelimiterInPayload { position });
        }
        if self.delimiter_len > 1 {
            // The payload's tail and the delimiter must not form an earlier
            // occurrence: `x\r\n` + `\r\n\r\n` would end the frame at `x`.
            let tail_len = payload.len().min(self.delimiter_len - 1);
            let tail = &payload[payload.len() - tail_len..];
            let mut joined = [0u8; 64];
            let mut heap;
            let joined: &mut [u8] = if tail_len + self.delimiter_len <= joined.len() {
                &mut joined[..tail_len + self.delimiter_len]
            } else {
                heap = vec![0u8; tail_len + self.delimiter_len];
                &mut heap
            };
            joined[..tail_len].copy_from_slice(tail);
            joined[tail_len..].copy_from_slice(&self.delimiter);
            if let Some(at) = self.search.find(joined) {
                if at < tail_len {
                    return Err(FrameError::DelimiterInPayload {
                        position: payload.len() - tail_len + at,
                    });
                }
            }
        }
        dst.reserve(payload.len() + self.delimiter.len());
        dst.put_slice(payload);
        dst.put_slice(&self.delimiter);
        Ok(())
    }
}

impl Decoder for DelimiterCodec {
    type Item = Bytes;
    type Error = FrameError;

    /// Always inlined: the hot path is one search and one split, and
    /// inlining keeps the result out of memory.
    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.discarding && !self.discard(buf) {
            return Ok(None);
        }
        let dlen = self.delimiter_len;
        let len = buf.len();
        let window_end = len.min(self.max_length.saturating_add(dlen));
        let start = self.next_index.min(window_end);
        match self.search.find(&buf[start..window_end]) {
            Some(offset) => {
                let at = start + offset;
                self.next_index = 0;
                let mut frame = buf.split_to(at + dlen);
                if !self.keep {
                    frame.truncate(at);
                }
                self.sizing.frame(buf, at, self.release_threshold);
                Ok(Some(frame.freeze()))
            }
            None if window_end > self.max_length && !self.may_end_by_max(buf, window_end) => {
                Err(self.too_long(buf))
            }
            None => {
                // Resume where a delimiter could still begin.
                self.next_index = window_end.saturating_sub(dlen - 1);
                self.sizing
                    .partial(buf, self.max_length.saturating_add(dlen));
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        self.next_index = 0;
        if self.discarding {
            self.discarding = false;
            buf.clear();
            return Ok(None);
        }
        if buf.is_empty() {
            return Ok(None);
        }
        if self.partial_at_eof {
            let tail = buf.split();
            if tail.len() > self.max_length {
                return Err(FrameError::TooLong {
                    len: tail.len() as u64,
                    max: self.max_length,
                });
            }
            return Ok(Some(tail.freeze()));
        }
        Err(truncated(buf, self.release_threshold))
    }
}

impl DelimiterCodec {
    /// Drops bytes through the next delimiter; `true` once it was found.
    #[cold]
    fn discard(&mut self, buf: &mut BytesMut) -> bool {
        let dlen = self.delimiter_len;
        if let Some(at) = self.search.find(buf) {
            buf.advance(at + dlen);
            self.discarding = false;
            return true;
        }
        // Keep a tail that may be the start of a delimiter.
        buf.advance(buf.len().saturating_sub(dlen - 1));
        false
    }

    /// Whether a delimiter may still begin at or before the maximum, with
    /// more than `max` bytes buffered and no delimiter found before
    /// `window_end`: the bytes from such a start to `window_end` are the
    /// beginning of the delimiter. Never for a byte set, whose delimiter is
    /// one byte.
    #[cold]
    fn may_end_by_max(&self, buf: &[u8], window_end: usize) -> bool {
        let first = window_end.saturating_sub(self.delimiter_len - 1);
        (first..=self.max_length).any(|start| self.delimiter.starts_with(&buf[start..window_end]))
    }

    /// More than `max` bytes and no delimiter can begin within them: the
    /// frame is longer than `max`. Drops it through its delimiter if
    /// buffered, else drops all but a tail that may start a delimiter and
    /// keeps discarding.
    #[cold]
    fn too_long(&mut self, buf: &mut BytesMut) -> FrameError {
        let dlen = self.delimiter_len;
        self.next_index = 0;
        // No delimiter begins at or before the maximum, and more than
        // `max` bytes are buffered.
        let from = self.max_length + 1;
        let len = match self.search.find(&buf[from..]) {
            Some(offset) => {
                let at = from + offset;
                buf.advance(at + dlen);
                at
            }
            None => {
                let len = buf.len();
                buf.advance(len.saturating_sub(dlen - 1));
                self.discarding = true;
                len
            }
        };
        // Dropped, not yielded, but it took as much room as a frame would.
        self.sizing.dropped(buf, len, self.release_threshold);
        FrameError::TooLong {
            len: len as u64,
            max: self.max_length,
        }
    }
}

encoders!(DelimiterCodec, encode_slice);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Encoder;

    #[test]
    fn sequence_split_across_calls_is_found() {
        let mut codec = DelimiterCodec::new(b"\r\n\r\n");
        let mut buf = BytesMut::from("abc\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\nz");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert_eq!(&buf[..], b"z");
    }

    #[test]
    fn encoder_rejects_overlap_with_the_delimiter() {
        let mut codec = DelimiterCodec::new(b"\r\n\r\n");
        let mut out = BytesMut::new();
        assert!(matches!(
            codec.encode("x\r\n", &mut out),
            Err(FrameError::DelimiterInPayload { position: 1 })
        ));
        assert!(matches!(
            codec.encode("ab\r\n", &mut out),
            Err(FrameError::DelimiterInPayload { position: 2 })
        ));
        codec.encode("x\r\n\r", &mut out).unwrap();
        assert_eq!(&codec.decode(&mut out).unwrap().unwrap()[..], b"x\r\n\r");
        codec.encode("x\r", &mut out).unwrap();
        assert_eq!(&codec.decode(&mut out).unwrap().unwrap()[..], b"x\r");
        codec.encode("x\n", &mut out).unwrap();
        assert_eq!(&codec.decode(&mut out).unwrap().unwrap()[..], b"x\n");
    }

    #[test]
    fn large_sets_use_the_table() {
        let mut codec = DelimiterCodec::any_of(b",;|\t");
        assert!(matches!(codec.search, Search::Table(_)));
        let mut buf = BytesMut::from("a\tb|c");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"a");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"b");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn too_long_discards_through_a_split_delimiter() {
        let mut codec = DelimiterCodec::new(b"##").with_max_length(3);
        let mut buf = BytesMut::from("abcdef#");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLong { max: 3, .. })
        ));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"#ok##");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"ok");
    }
}
