//! Newline-terminated frames: [`LineCodec`] (bytes) and [`Utf8LineCodec`]
//! (validated text).
//!
//! # Wire format
//!
//! A line is any run of bytes other than `\n`, followed by `\n`. A `\r`
//! right before the `\n` belongs to the terminator, not to the line. Two
//! lines, `hi` and an empty one, the first ending in CRLF:
//!
//! ```text
//! byte:  0     1     2     3     4
//!      +-----+-----+-----+-----+-----+
//!      | 'h' | 'i' | \r  | \n  | \n  |
//!      +-----+-----+-----+-----+-----+
//!      |  line 1   | terminator| terminator of line 2 (empty)
//!      decodes to  b"hi"       and  b""
//! ```
//!
//! The encoders write exactly these bytes (the first line with
//! [`LineCodec::with_crlf`]), and the decoder reads them back:
//!
//! ```
//! use aqueduct_framing::LineCodec;
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut wire = BytesMut::new();
//! LineCodec::new().with_crlf(true).encode("hi", &mut wire)?;
//! LineCodec::new().encode("", &mut wire)?;
//! assert_eq!(&wire[..], b"hi\r\n\n");
//!
//! let mut codec = LineCodec::new();
//! assert_eq!(codec.decode(&mut wire)?.unwrap(), "hi");
//! assert_eq!(codec.decode(&mut wire)?.unwrap(), "");
//! assert!(wire.is_empty());
//! # Ok::<(), aqueduct_framing::FrameError>(())
//! ```
//!
//! # Limits
//!
//! A line longer than [`LineCodec::max_length`] (64 KiB by default, not
//! counting the terminator) is reported as
//! [`FrameError::TooLong`] as soon as the codec
//! has seen `max + 1` bytes of it, or `max + 2` when byte `max + 1` is a
//! `\r` (it may begin the `\r\n` ending a line of exactly `max` bytes), so
//! memory stays bounded whatever the peer sends. The codec then discards
//! everything up to the next `\n` and carries on with the following line.
//!
//! # Cost
//!
//! Each decoded line is a [`Bytes`] split from the read buffer: no copy,
//! but it keeps the buffer's allocation alive while it lives (see
//! [`Utf8Bytes`]'s [Memory](Utf8Bytes#memory) section for lines kept long). A
//! line that arrives in many reads is scanned once: the codec remembers where
//! its last search stopped. After a line of 4 KiB or more, the read buffer is
//! given room for one as long while the next is still short, so a long line
//! is not moved (or copied into a grown buffer) once read. While a line
//! comes in, the read buffer grows to at most the maximum, a `\r\n` and
//! one read (8 KiB): never to twice the maximum, as a buffer left to
//! double its way up would.
//!
//! At end of stream, bytes after the last `\n` are a
//! [`FrameError::Truncated`] error, unless
//! [`LineCodec::with_partial_at_eof`] allows a final unterminated line.

use std::fmt;
use std::ops::{Deref, RangeBounds};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::FrameError;
use crate::buf::{DEFAULT_RELEASE_THRESHOLD, Sizing, truncated};

/// Default maximum line length: 64 KiB.
///
/// ```
/// use aqueduct_framing::{LineCodec, lines::DEFAULT_MAX_LINE_LENGTH};
/// assert_eq!(LineCodec::new().max_length(), DEFAULT_MAX_LINE_LENGTH);
/// ```
pub const DEFAULT_MAX_LINE_LENGTH: usize = 64 * 1024;

/// Decodes newline-terminated lines as [`Bytes`], and encodes lines.
///
/// Lines come out without their `\n` or `\r\n`, split from the read buffer
/// without a copy. See the [module docs](self) for the wire format and
/// limits.
///
/// Encoders take `&str`, `String`, `&[u8]`, `Vec<u8>`, [`Bytes`] and
/// [`Utf8Bytes`] and append `\n` (or `\r\n`, see
/// [`LineCodec::with_crlf`]). They write nothing and refuse, so that every
/// line written decodes back to itself:
///
/// - a line holding a `\n`: [`FrameError::DelimiterInPayload`];
/// - a line ending in `\r` when lines end with `\n`, as the `\r` would be
///   read as part of the terminator: [`FrameError::DelimiterInPayload`]
///   (with `\r\n` endings such a line is written and reads back whole);
/// - a line longer than [`LineCodec::max_length`]:
///   [`FrameError::PayloadOverMax`].
///
/// A clone carries the decoding state: see [Codecs as
/// values](crate#codecs-as-values).
///
/// ```
/// use aqueduct_framing::{FrameError, LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut out = BytesMut::new();
/// let mut lf = LineCodec::new().with_max_length(8);
/// assert!(matches!(
///     lf.encode("a\r", &mut out),
///     Err(FrameError::DelimiterInPayload { position: 1 })
/// ));
/// assert!(matches!(
///     lf.encode("123456789", &mut out),
///     Err(FrameError::PayloadOverMax { len: 9, max: 8 })
/// ));
/// assert!(out.is_empty());
///
/// let mut crlf = LineCodec::new().with_crlf(true);
/// crlf.encode("a\r", &mut out)?;
/// assert_eq!(&out[..], b"a\r\r\n");
/// assert_eq!(crlf.decode(&mut out)?.unwrap(), "a\r");
/// # Ok::<(), FrameError>(())
/// ```
///
/// ```
/// use aqueduct_framing::LineCodec;
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = LineCodec::new();
/// let mut buf = BytesMut::from("GET /\r\nHost: a\n");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "GET /");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "Host: a");
/// assert_eq!(codec.decode(&mut buf)?, None);
///
/// let mut out = BytesMut::new();
/// codec.encode("pong", &mut out)?;
/// assert_eq!(&out[..], b"pong\n");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
///
/// # Errors
///
/// Decoding:
///
/// - [`FrameError::TooLong`]: a line longer than the maximum. The codec
///   drops it through its `\n`, across calls if the `\n` has not come yet,
///   and the next call goes on with the next line.
/// - [`FrameError::Truncated`], from `decode_eof` only: bytes after the
///   last `\n` at end of stream, which are dropped (the rest of an
///   over-long line being dropped is not reported again). With
///   [`with_partial_at_eof`](LineCodec::with_partial_at_eof) they are a
///   final line instead (or `TooLong`, if longer than the maximum).
///
/// Encoding refuses the lines listed above, and writes nothing then.
///
/// ```
/// use aqueduct_framing::{FrameError, LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = LineCodec::new().with_max_length(4);
/// let mut buf = BytesMut::from("far too long\r\nok\r\ncut");
/// let err = codec.decode(&mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::TooLong { len: 12, max: 4 }));
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "ok");
/// assert_eq!(codec.decode(&mut buf)?, None); // `cut` waits for its `\n`
/// let err = codec.decode_eof(&mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::Truncated { buffered: 3 }));
/// assert!(buf.is_empty());
///
/// // A stream that ends inside an over-long line ends without a second error.
/// let mut buf = BytesMut::from("endless");
/// assert!(matches!(codec.decode(&mut buf), Err(FrameError::TooLong { len: 7, max: 4 })));
/// assert_eq!(codec.decode_eof(&mut buf)?, None);
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LineCodec {
    /// Where the next search for `\n` starts in the read buffer.
    next_index: usize,
    max_length: usize,
    /// Set after an over-long line: drop bytes up to the next `\n`.
    discarding: bool,
    crlf: bool,
    partial_at_eof: bool,
    release_threshold: usize,
    /// Gives capacity back after a large line, and sizes for the next one.
    sizing: Sizing,
    /// Validate lines as UTF-8 (for `Utf8LineCodec`).
    utf8: bool,
    /// Bytes searched so far (tests check that nothing is searched twice).
    #[cfg(test)]
    scanned: usize,
    /// Bytes handed to UTF-8 validation so far (tests check that a line is
    /// validated once, however many reads it took).
    #[cfg(test)]
    validated: usize,
}

/// The codec of [`LineCodec::new`].
///
/// ```
/// use aqueduct_framing::LineCodec;
///
/// let codec = LineCodec::default();
/// assert_eq!(codec.max_length(), LineCodec::new().max_length());
/// ```
impl Default for LineCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LineCodec {
    /// A codec with a 64 KiB maximum line length that writes `\n` after each
    /// encoded line.
    ///
    /// ```
    /// let codec = aqueduct_framing::LineCodec::new();
    /// assert_eq!(codec.max_length(), 64 * 1024);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            next_index: 0,
            max_length: DEFAULT_MAX_LINE_LENGTH,
            discarding: false,
            crlf: false,
            partial_at_eof: false,
            release_threshold: DEFAULT_RELEASE_THRESHOLD,
            sizing: Sizing::default(),
            utf8: false,
            #[cfg(test)]
            scanned: 0,
            #[cfg(test)]
            validated: 0,
        }
    }

    /// Sets the maximum line length in bytes, not counting the terminator.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LineCodec::new().with_max_length(3);
    /// let mut buf = BytesMut::from("abc\r\nabcd\nok\n");
    /// assert_eq!(codec.decode(&mut buf)?.unwrap(), "abc");
    /// assert!(matches!(codec.decode(&mut buf), Err(FrameError::TooLong { max: 3, .. })));
    /// assert_eq!(codec.decode(&mut buf)?.unwrap(), "ok");
    /// # Ok::<(), FrameError>(())
    /// ```
    #[must_use]
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length;
        self
    }

    /// The maximum line length in bytes, not counting the terminator.
    ///
    /// ```
    /// let codec = aqueduct_framing::LineCodec::new().with_max_length(80);
    /// assert_eq!(codec.max_length(), 80);
    /// ```
    #[must_use]
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Makes the encoder end lines with `\r\n` instead of `\n`. Decoding
    /// accepts both either way.
    ///
    /// ```
    /// use aqueduct_framing::LineCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = LineCodec::new().with_crlf(true);
    /// let mut out = BytesMut::new();
    /// codec.encode("HELO", &mut out)?;
    /// assert_eq!(&out[..], b"HELO\r\n");
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_crlf(mut self, crlf: bool) -> Self {
        self.crlf = crlf;
        self
    }

    /// Whether bytes after the last `\n` at end of stream are yielded as a
    /// final line (`true`) or reported as
    /// [`FrameError::Truncated`] (`false`, the default).
    ///
    /// In `UdpFramed` every datagram ends a stream: allow a final line to
    /// read datagrams whose last line has no `\n` (see [the crate
    /// docs](crate#in-udpframed)).
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut strict = LineCodec::new();
    /// let err = strict.decode_eof(&mut BytesMut::from("tail")).unwrap_err();
    /// assert!(matches!(err, FrameError::Truncated { buffered: 4 }));
    ///
    /// let mut lenient = LineCodec::new().with_partial_at_eof(true);
    /// assert_eq!(lenient.decode_eof(&mut BytesMut::from("tail"))?.unwrap(), "tail");
    /// # Ok::<(), FrameError>(())
    /// ```
    #[must_use]
    pub fn with_partial_at_eof(mut self, allow: bool) -> Self {
        self.partial_at_eof = allow;
        self
    }

    /// After yielding a line longer than `threshold` bytes (default 256 KiB),
    /// or dropping one (over-long or not UTF-8), the decoder gives the read
    /// buffer's spare capacity back, so one large line does not pin memory
    /// for the life of the connection. It keeps room for one read: 8 KiB,
    /// or `threshold` if that is lower.
    ///
    /// Large lines tend to come in runs: once the next line passes 8 KiB,
    /// the decoder sizes the buffer for the last large line in one step,
    /// instead of letting it double its way there and copy the line at each
    /// step. If that line then ends below `threshold`, the room is given
    /// back and the size forgotten.
    ///
    /// ```
    /// use aqueduct_framing::LineCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LineCodec::new().with_max_length(1 << 20).with_release_threshold(1024);
    /// let mut buf = BytesMut::with_capacity(1 << 20);
    /// buf.extend_from_slice(&[b'x'; 100_000]);
    /// buf.extend_from_slice(b"\nnext");
    /// let line = codec.decode(&mut buf)?.unwrap();
    /// assert_eq!(line.len(), 100_000);
    /// assert!(buf.capacity() <= 1024);
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_release_threshold(mut self, threshold: usize) -> Self {
        self.release_threshold = threshold;
        self
    }

    /// Decodes one line. With `self.utf8` set, the line is also known to be
    /// valid UTF-8. Always inlined: the result then stays in registers
    /// instead of making a round trip through memory.
    #[inline(always)]
    fn decode_line(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.discarding && !self.discard(buf) {
            return Ok(None);
        }
        let len = buf.len();
        // A line of `max` bytes may be followed by `\r\n`: search up to
        // `max + 2` bytes, never more, so memory stays bounded.
        let window_end = len.min(self.max_length.saturating_add(2));
        let start = self.next_index.min(window_end);
        #[cfg(test)]
        {
            self.scanned += window_end - start;
        }
        match find_newline(&buf[start..window_end]) {
            Some(offset) => {
                let newline = start + offset;
                self.next_index = 0;
                let content = if newline > 0 && buf[newline - 1] == b'\r' {
                    newline - 1
                } else {
                    newline
                };
                if content > self.max_length {
                    return Err(self.too_long_at(buf, newline, content));
                }
                // Validated here, in the call that yields the line: the
                // buffer is the caller's and may change between calls.
                if self.utf8 {
                    #[cfg(test)]
                    {
                        self.validated += content;
                    }
                    if let Err(source) = check_utf8(&buf[..content]) {
                        buf.advance(newline + 1);
                        self.sizing.frame(buf, content, self.release_threshold);
                        return Err(FrameError::InvalidUtf8 { source });
                    }
                }
                let mut line = buf.split_to(newline + 1);
                line.truncate(content);
                self.sizing.frame(buf, content, self.release_threshold);
                Ok(Some(line.freeze()))
            }
            // Past the maximum, only a `\r` just after it, as the last
            // byte buffered, may still begin the terminator of a line that
            // fits.
            None if window_end > self.max_length
                && (window_end - self.max_length > 1 || buf[self.max_length] != b'\r') =>
            {
                Err(self.too_long_unterminated(buf, window_end))
            }
            None => {
                self.next_index = window_end;
                // A line of `max` bytes and its `\r\n`.
                self.sizing.partial(buf, self.max_length.saturating_add(2));
                Ok(None)
            }
        }
    }

    /// Drops bytes through the next `\n`; `true` once it was found.
    #[cold]
    fn discard(&mut self, buf: &mut BytesMut) -> bool {
        if let Some(i) = memchr::memchr(b'\n', buf) {
            buf.advance(i + 1);
            self.discarding = false;
            return true;
        }
        buf.clear();
        false
    }

    /// A complete line (ending at `newline`) is longer than the maximum.
    #[cold]
    fn too_long_at(&mut self, buf: &mut BytesMut, newline: usize, content: usize) -> FrameError {
        buf.advance(newline + 1);
        // Dropped, not yielded, but it took as much room as a line would.
        self.sizing.dropped(buf, content, self.release_threshold);
        FrameError::TooLong {
            len: content as u64,
            max: self.max_length,
        }
    }

    /// More than `max` bytes without a newline, and no `\r` right after the
    /// maximum that may begin the terminator: this line cannot fit. Drops
    /// it through its newline if buffered, else drops everything and keeps
    /// discarding.
    #[cold]
    fn too_long_unterminated(&mut self, buf: &mut BytesMut, window_end: usize) -> FrameError {
        self.next_index = 0;
        let len = match memchr::memchr(b'\n', &buf[window_end..]) {
            Some(offset) => {
                let newline = window_end + offset;
                let content = if buf[newline - 1] == b'\r' {
                    newline - 1
                } else {
                    newline
                };
                buf.advance(newline + 1);
                content
            }
            None => {
                let len = buf.len();
                buf.clear();
                self.discarding = true;
                len
            }
        };
        self.sizing.dropped(buf, len, self.release_threshold);
        FrameError::TooLong {
            len: len as u64,
            max: self.max_length,
        }
    }

    fn decode_line_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(line) = self.decode_line(buf)? {
            return Ok(Some(line));
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
            let mut content = buf.len();
            if buf[content - 1] == b'\r' {
                content -= 1;
            }
            let mut line = buf.split();
            if content > self.max_length {
                return Err(FrameError::TooLong {
                    len: content as u64,
                    max: self.max_length,
                });
            }
            line.truncate(content);
            if self.utf8 {
                if let Err(source) = check_utf8(&line) {
                    return Err(FrameError::InvalidUtf8 { source });
                }
            }
            return Ok(Some(line.freeze()));
        }
        Err(truncated(buf, self.release_threshold))
    }

    fn encode_line(&self, line: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        FrameError::check_payload(line.len(), self.max_length)?;
        if let Some(position) = memchr::memchr(b'\n', line) {
            return Err(FrameError::DelimiterInPayload { position });
        }
        if !self.crlf && line.last() == Some(&b'\r') {
            // `abc\r` + `\n` would decode as `abc`.
            return Err(FrameError::DelimiterInPayload {
                position: line.len() - 1,
            });
        }
        let ending: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        dst.reserve(line.len() + ending.len());
        dst.put_slice(line);
        dst.put_slice(ending);
        Ok(())
    }
}

/// The first `\n` in `hay`.
///
/// `memchr::memchr` picks its searcher through a function pointer on every
/// call and sets up the needle again, which costs about as much as
/// searching a 64-byte line: short lines, the common case of text
/// protocols, paid it once per line. The AVX2 searcher is chosen once
/// (when the CPU has AVX2) and called directly; elsewhere `memchr` does
/// the search.
#[inline(always)]
fn find_newline(hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use memchr::arch::x86_64::avx2::memchr::One;
        static AVX2: std::sync::OnceLock<Option<One>> = std::sync::OnceLock::new();
        if let Some(searcher) = AVX2.get_or_init(|| One::new(b'\n')) {
            return searcher.find(hay);
        }
    }
    memchr::memchr(b'\n', hay)
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = FrameError;

    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_line(buf)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_line_eof(buf)
    }
}

encoders!(LineCodec, encode_line);

/// Text backed by [`Bytes`]: a cheaply clonable, immutable `str` that shares
/// the read buffer it was split from.
///
/// [`Utf8LineCodec`] yields it. It dereferences to `str`, so every string
/// method works on it; [`Utf8Bytes::slice`] and [`Utf8Bytes::slice_ref`]
/// give parts of it that share its memory, [`Utf8Bytes::into_bytes`]
/// gives the bytes back without a copy, and [`Utf8Bytes::copy_from_str`]
/// makes text that shares nothing.
///
/// ```
/// use aqueduct_framing::Utf8Bytes;
///
/// let text = Utf8Bytes::from_static("héllo");
/// assert_eq!(text.len(), 6);
/// assert!(text.starts_with("hé"));
/// assert_eq!(text, "héllo");
/// let copy = text.clone(); // a reference count, not a copy
/// assert_eq!(copy.as_str(), "héllo");
/// ```
///
/// # Memory
///
/// Text from the codec, its clones and its slices share the read
/// buffer's allocation, and that allocation stays alive as long as any of
/// them does: a 3-byte line kept from a 64 KiB buffer keeps the 64 KiB,
/// and the codec's buffer takes new memory for the lines after it. That is
/// right for text handled and dropped; text kept for long (a map key, a
/// name stored per connection) is better copied out with
/// [`Utf8Bytes::copy_from_str`].
///
/// ```
/// use aqueduct_framing::{Utf8Bytes, Utf8LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = Utf8LineCodec::new();
/// let mut buf = BytesMut::from("NICK zoë\n");
/// let line = codec.decode(&mut buf)?.unwrap();
/// let nick = Utf8Bytes::copy_from_str(&line[5..]); // its own 4 bytes
/// drop(line); // the read buffer's memory is free to be reused
/// assert_eq!(nick, "zoë");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

/// Hashes as the `str` it holds, as [`Borrow<str>`](std::borrow::Borrow)
/// requires: a map keyed by `Utf8Bytes` is searched with a `&str`.
///
/// ```
/// use std::collections::HashMap;
/// use aqueduct_framing::Utf8Bytes;
///
/// let mut counts = HashMap::new();
/// counts.insert(Utf8Bytes::from_static("GET"), 1);
/// assert_eq!(counts.get("GET"), Some(&1));
/// ```
impl std::hash::Hash for Utf8Bytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Utf8Bytes {
    /// Wraps a static string.
    ///
    /// ```
    /// let text = aqueduct_framing::Utf8Bytes::from_static("ok");
    /// assert_eq!(&*text, "ok");
    /// ```
    #[must_use]
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// A copy of `text` in memory of its own, shared with nothing else.
    ///
    /// Use it for text kept long after it was decoded: see
    /// [Memory](Utf8Bytes#memory).
    ///
    /// ```
    /// use aqueduct_framing::Utf8Bytes;
    ///
    /// let line = Utf8Bytes::from(String::from("key=value"));
    /// let key = Utf8Bytes::copy_from_str(&line[..3]);
    /// assert_eq!(key, "key");
    /// assert_ne!(key.as_ptr(), line.as_ptr());
    /// ```
    #[must_use]
    pub fn copy_from_str(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// Validates `bytes` as UTF-8 and wraps them without a copy.
    ///
    /// # Errors
    ///
    /// [`FrameError::InvalidUtf8`] if `bytes` is not valid UTF-8.
    ///
    /// ```
    /// use aqueduct_framing::Utf8Bytes;
    /// use bytes::Bytes;
    ///
    /// assert_eq!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"ok"))?, "ok");
    /// assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xff")).is_err());
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, FrameError> {
        match check_utf8(&bytes) {
            Ok(_) => Ok(Self(bytes)),
            Err(source) => Err(FrameError::InvalidUtf8 { source }),
        }
    }

    /// The text as a `&str`.
    ///
    /// ```
    /// let text = aqueduct_framing::Utf8Bytes::from("abc".to_string());
    /// assert_eq!(text.as_str(), "abc");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor stores valid UTF-8: `from_static`,
        // `copy_from_str`, `From<String>`, `From<Box<str>>` and
        // `From<&'static str>` take a `str`; `try_from_bytes` and the
        // `TryFrom` conversions validate; `slice` and `slice_ref` keep the
        // bytes of a `str` inside this one; `Utf8LineCodec` only wraps
        // lines its inner codec validated. And the bytes are immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The text in `range` (byte offsets), sharing this text's memory: no
    /// copy.
    ///
    /// # Panics
    ///
    /// As `&text[range]` does: if the range is out of bounds, if its start
    /// is after its end, or if either end is not on a character boundary.
    /// To slice at offsets that may be invalid, such as ones read from the
    /// peer, check them with [`str::get`] and slice with
    /// [`slice_ref`](Self::slice_ref), as the example does.
    ///
    /// ```
    /// use aqueduct_framing::Utf8Bytes;
    ///
    /// let text = Utf8Bytes::from_static("grüße, world");
    /// let word = text.slice(..7);
    /// assert_eq!(word, "grüße");
    /// assert_eq!(word.as_ptr(), text.as_ptr()); // the same bytes, not a copy
    /// assert_eq!(text.slice(9..), "world");
    ///
    /// // Byte 3 is inside 'ü': `text.slice(3..)` would panic, as `&text[3..]`
    /// // does. Checked first, the bad offset is refused without a panic.
    /// assert_eq!(text.get(3..).map(|s| text.slice_ref(s)), None);
    /// assert_eq!(text.get(4..7).map(|s| text.slice_ref(s)).unwrap(), "ße");
    /// ```
    #[must_use]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        self.slice_ref(&self.as_str()[bounds])
    }

    /// The text of `subset`, a `&str` borrowed from this text (from
    /// [`split`](str::split), [`trim`](str::trim), [`find`](str::find)
    /// offsets and so on), as a `Utf8Bytes` sharing this text's memory: no
    /// copy.
    ///
    /// # Panics
    ///
    /// If `subset` is not a part of this text's bytes (an empty `subset`
    /// is always accepted and gives empty text).
    ///
    /// ```
    /// use aqueduct_framing::Utf8Bytes;
    ///
    /// let line = Utf8Bytes::from_static("SET  café 1 ");
    /// let words: Vec<Utf8Bytes> = line.split_whitespace().map(|w| line.slice_ref(w)).collect();
    /// assert_eq!(words, ["SET", "café", "1"]);
    /// // Each word is a view into the line, kept alive after the line is dropped.
    /// assert_eq!(words[1].as_ptr(), line[5..].as_ptr());
    /// drop(line);
    /// assert_eq!(words[1], "café");
    /// ```
    #[must_use]
    pub fn slice_ref(&self, subset: &str) -> Self {
        // A `str` inside valid UTF-8 is itself valid UTF-8.
        Self(self.0.slice_ref(subset.as_bytes()))
    }

    /// The underlying bytes, without a copy.
    ///
    /// ```
    /// let text = aqueduct_framing::Utf8Bytes::from_static("abc");
    /// assert_eq!(&text.into_bytes()[..], b"abc");
    /// ```
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

/// Every `str` method works on the text.
///
/// ```
/// let text = aqueduct_framing::Utf8Bytes::from_static("a=1");
/// assert_eq!(text.split_once('='), Some(("a", "1")));
/// ```
impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// For functions that take `impl AsRef<str>`.
///
/// ```
/// fn shout(text: impl AsRef<str>) -> String {
///     text.as_ref().to_uppercase()
/// }
/// assert_eq!(shout(aqueduct_framing::Utf8Bytes::from_static("hi")), "HI");
/// ```
impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The text's UTF-8 bytes, for functions that take `impl AsRef<[u8]>`.
///
/// ```
/// use aqueduct_framing::Utf8Bytes;
///
/// let text = Utf8Bytes::from_static("é");
/// assert_eq!(AsRef::<[u8]>::as_ref(&text), [0xC3, 0xA9]);
/// ```
impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A set or map of `Utf8Bytes` is searched with a `&str`.
///
/// ```
/// use std::collections::BTreeSet;
/// use aqueduct_framing::Utf8Bytes;
///
/// let seen: BTreeSet<Utf8Bytes> = [Utf8Bytes::from_static("zoë")].into();
/// assert!(seen.contains("zoë"));
/// ```
impl std::borrow::Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Formats as the `str` it holds: quoted and escaped, not as bytes.
///
/// ```
/// let text = aqueduct_framing::Utf8Bytes::from_static("zoë\n");
/// assert_eq!(format!("{text:?}"), r#""zoë\n""#);
/// ```
impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Writes the text as it is.
///
/// ```
/// let text = aqueduct_framing::Utf8Bytes::from_static("zoë");
/// assert_eq!(format!("[{text:>5}]"), "[  zoë]");
/// ```
impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

/// Takes the string's buffer over: no copy.
///
/// ```
/// let owned = String::from("grüße");
/// let at = owned.as_ptr();
/// let text = aqueduct_framing::Utf8Bytes::from(owned);
/// assert_eq!(text.as_ptr(), at);
/// ```
impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text.into_bytes()))
    }
}

/// Wraps a static string without a copy, as
/// [`from_static`](Utf8Bytes::from_static) does.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::Encoder;
///
/// let mut out = BytesMut::new();
/// let line: aqueduct_framing::Utf8Bytes = "PONG".into();
/// aqueduct_framing::Utf8LineCodec::new().encode(line, &mut out)?;
/// assert_eq!(&out[..], b"PONG\n");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
impl From<&'static str> for Utf8Bytes {
    fn from(text: &'static str) -> Self {
        Self::from_static(text)
    }
}

/// Gives the bytes back without a copy, as
/// [`into_bytes`](Utf8Bytes::into_bytes) does.
///
/// ```
/// use aqueduct_framing::Utf8Bytes;
/// use bytes::Bytes;
///
/// let bytes = Bytes::from(Utf8Bytes::from_static("ok"));
/// assert_eq!(bytes, &b"ok"[..]);
/// ```
impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

/// Validates the bytes and keeps them without a copy, as
/// [`try_from_bytes`](Utf8Bytes::try_from_bytes) does.
///
/// # Errors
///
/// [`FrameError::InvalidUtf8`] if the bytes are not UTF-8.
///
/// ```
/// use aqueduct_framing::{FrameError, Utf8Bytes};
/// use bytes::Bytes;
///
/// let text = Utf8Bytes::try_from(Bytes::from_static(b"ok"))?;
/// assert_eq!(text, "ok");
/// let err = Utf8Bytes::try_from(Bytes::from_static(b"\xff")).unwrap_err();
/// assert!(matches!(err, FrameError::InvalidUtf8 { .. }));
/// # Ok::<(), FrameError>(())
/// ```
impl TryFrom<Bytes> for Utf8Bytes {
    type Error = FrameError;

    fn try_from(bytes: Bytes) -> Result<Self, FrameError> {
        Self::try_from_bytes(bytes)
    }
}

/// Validates the bytes and keeps them without a copy.
///
/// # Errors
///
/// [`FrameError::InvalidUtf8`] if the bytes are not UTF-8.
///
/// ```
/// use aqueduct_framing::{FrameError, Utf8Bytes};
///
/// let text = Utf8Bytes::try_from(b"caf\xc3\xa9".to_vec())?;
/// assert_eq!(text, "café");
/// let err = Utf8Bytes::try_from(b"caf\xc3".to_vec()).unwrap_err();
/// assert!(matches!(err, FrameError::InvalidUtf8 { source } if source.valid_up_to() == 3));
/// # Ok::<(), FrameError>(())
/// ```
impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = FrameError;

    fn try_from(bytes: Vec<u8>) -> Result<Self, FrameError> {
        // `Bytes` takes the vector's allocation: no copy.
        Self::try_from_bytes(Bytes::from(bytes))
    }
}

/// Validates the bytes and freezes them without a copy.
///
/// # Errors
///
/// [`FrameError::InvalidUtf8`] if the bytes are not UTF-8.
///
/// ```
/// use aqueduct_framing::Utf8Bytes;
/// use bytes::BytesMut;
///
/// let mut buf = BytesMut::from("key=välue");
/// let value = Utf8Bytes::try_from(buf.split_off(4))?;
/// assert_eq!(value, "välue");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
impl TryFrom<BytesMut> for Utf8Bytes {
    type Error = FrameError;

    fn try_from(bytes: BytesMut) -> Result<Self, FrameError> {
        Self::try_from_bytes(bytes.freeze())
    }
}

/// Keeps the string's bytes without a copy.
///
/// ```
/// let text = aqueduct_framing::Utf8Bytes::from(Box::<str>::from("ok"));
/// assert_eq!(text, "ok");
/// ```
impl From<Box<str>> for Utf8Bytes {
    fn from(text: Box<str>) -> Self {
        Self(Bytes::from(text.into_boxed_bytes()))
    }
}

/// Copies the text into a new `String` (a `Utf8Bytes` shares memory it
/// cannot hand over).
///
/// ```
/// use aqueduct_framing::Utf8Bytes;
///
/// let owned: String = Utf8Bytes::from_static("grüße").into();
/// assert_eq!(owned, "grüße");
/// ```
impl From<Utf8Bytes> for String {
    fn from(text: Utf8Bytes) -> Self {
        text.as_str().to_owned()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// Text compares with `str`, `&str` and `String` from either side, as
/// `String` does.
///
/// ```
/// use aqueduct_framing::Utf8Bytes;
///
/// let verb = Utf8Bytes::from_static("GET");
/// assert!("GET" == verb && verb == "GET");
/// let owned = String::from("GET");
/// assert!(owned == verb && verb == owned);
/// assert!(*"GET" == verb && verb == *"GET");
/// assert!("PUT" != verb);
/// ```
impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

/// Decodes newline-terminated lines as validated UTF-8 text
/// ([`Utf8Bytes`]), and encodes lines.
///
/// Same framing, limits and options as [`LineCodec`] (it wraps one); each
/// line is validated once, when complete (with SIMD where the CPU has it,
/// so text in any script is checked at memory speed, not only ASCII), and
/// shares the read buffer instead of being copied into a `String`. A line
/// that is not UTF-8 is a [`FrameError::InvalidUtf8`] error; the codec
/// stays in sync and the next call decodes the next line.
///
/// Its encoders take text (`&str`, `String`, [`Utf8Bytes`]) and bytes
/// (`&[u8]`, `Vec<u8>`, [`Bytes`]); bytes that are not UTF-8 are refused
/// with [`FrameError::PayloadNotUtf8`], so the codec never writes a line
/// its own decoder would reject.
///
/// A clone carries the decoding state: see [Codecs as
/// values](crate#codecs-as-values).
///
/// ```
/// use aqueduct_framing::{LineCodec, Utf8LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = Utf8LineCodec::new();
/// let mut buf = BytesMut::from("grüße\r\n");
/// let line = codec.decode(&mut buf)?.unwrap();
/// assert_eq!(line, "grüße");
///
/// // It has the options of the LineCodec it wraps, and can be made from one.
/// let codec = Utf8LineCodec::new().with_max_length(80).with_crlf(true);
/// assert_eq!(codec.max_length(), 80);
/// let codec = Utf8LineCodec::from(LineCodec::new().with_max_length(80));
/// assert_eq!(codec.max_length(), 80);
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
///
/// # Errors
///
/// Those of [`LineCodec`](LineCodec#errors), and:
///
/// - [`FrameError::InvalidUtf8`] when decoding a line (the final one at end
///   of stream included) that is not UTF-8. The line is dropped and the
///   next call goes on with the next line.
/// - [`FrameError::PayloadNotUtf8`] when encoding bytes that are not UTF-8.
///
/// ```
/// use aqueduct_framing::{FrameError, Utf8LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = Utf8LineCodec::new();
/// let mut buf = BytesMut::from(&b"ok\n\xc3(\nnext\n"[..]);
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "ok");
/// let err = codec.decode(&mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::InvalidUtf8 { .. }));
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "next");
///
/// let err = codec.encode(&b"\xc3("[..], &mut buf).unwrap_err();
/// assert!(matches!(err, FrameError::PayloadNotUtf8 { .. }));
/// assert!(buf.is_empty());
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Utf8LineCodec {
    inner: LineCodec,
}

/// The codec of [`Utf8LineCodec::new`].
///
/// ```
/// use aqueduct_framing::Utf8LineCodec;
///
/// let codec = Utf8LineCodec::default();
/// assert_eq!(codec.max_length(), Utf8LineCodec::new().max_length());
/// ```
impl Default for Utf8LineCodec {
    fn default() -> Self {
        Self::from(LineCodec::new())
    }
}

/// Lines of at most this many bytes are checked for ASCII first: below
/// it `simdutf8` hands them to std's check (its SIMD blocks are this
/// long), and for one block a word-at-a-time ASCII scan is cheaper than
/// setting up the SIMD check (about 4 ns against 6 ns per line).
const SIMD_BLOCK: usize = 64;

/// Whether `bytes` are UTF-8, with the standard library's error (which
/// says where the first invalid sequence is) when they are not.
///
/// Text longer than a SIMD block is checked with SIMD where the CPU has it
/// (`simdutf8`, which picks AVX2 or SSE 4.2 at run time): std's check goes
/// byte by byte through each multi-byte character, several times slower
/// on text that is not ASCII. Only invalid input is looked at twice, to
/// say where the error is.
#[inline]
fn check_utf8(bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
    if bytes.len() <= SIMD_BLOCK && bytes.is_ascii() {
        return Ok(());
    }
    match simdutf8::basic::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(_) => std::str::from_utf8(bytes).map(drop),
    }
}

impl Utf8LineCodec {
    /// A codec with a 64 KiB maximum line length that writes `\n` after each
    /// encoded line.
    ///
    /// ```
    /// let codec = aqueduct_framing::Utf8LineCodec::new();
    /// assert_eq!(codec.max_length(), 64 * 1024);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the maximum line length in bytes, not counting the terminator.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, Utf8LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// // Four bytes, however many characters: "añb" is, "añbc" is not.
    /// let mut codec = Utf8LineCodec::new().with_max_length(4);
    /// let mut buf = BytesMut::from("añb\nañbc\nok\n");
    /// assert_eq!(codec.decode(&mut buf)?.unwrap(), "añb");
    /// let err = codec.decode(&mut buf).unwrap_err();
    /// assert!(matches!(err, FrameError::TooLong { len: 5, max: 4 }));
    /// assert_eq!(codec.decode(&mut buf)?.unwrap(), "ok");
    /// # Ok::<(), FrameError>(())
    /// ```
    #[must_use]
    pub fn with_max_length(self, max_length: usize) -> Self {
        Self {
            inner: self.inner.with_max_length(max_length),
        }
    }

    /// The maximum line length in bytes, not counting the terminator.
    ///
    /// ```
    /// assert_eq!(aqueduct_framing::Utf8LineCodec::new().max_length(), 65536);
    /// ```
    #[must_use]
    pub fn max_length(&self) -> usize {
        self.inner.max_length
    }

    /// Makes the encoder end lines with `\r\n` instead of `\n`, as
    /// [`LineCodec::with_crlf`] does. Decoding accepts both either way.
    ///
    /// ```
    /// use aqueduct_framing::Utf8LineCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Encoder;
    ///
    /// let mut codec = Utf8LineCodec::new().with_crlf(true);
    /// let mut out = BytesMut::new();
    /// codec.encode("grüß dich", &mut out)?;
    /// assert_eq!(&out[..], "grüß dich\r\n".as_bytes());
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_crlf(self, crlf: bool) -> Self {
        Self {
            inner: self.inner.with_crlf(crlf),
        }
    }

    /// Whether text after the last `\n` at end of stream is yielded as a
    /// final line (`true`) or reported as [`FrameError::Truncated`]
    /// (`false`, the default), as [`LineCodec::with_partial_at_eof`]
    /// does. A final line is validated like the others.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, Utf8LineCodec};
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = Utf8LineCodec::new().with_partial_at_eof(true);
    /// assert_eq!(codec.decode_eof(&mut BytesMut::from("fin"))?.unwrap(), "fin");
    /// let err = codec.decode_eof(&mut BytesMut::from(&b"fin\xff"[..])).unwrap_err();
    /// assert!(matches!(err, FrameError::InvalidUtf8 { .. }));
    /// # Ok::<(), FrameError>(())
    /// ```
    #[must_use]
    pub fn with_partial_at_eof(self, allow: bool) -> Self {
        Self {
            inner: self.inner.with_partial_at_eof(allow),
        }
    }

    /// After yielding or dropping a line longer than `threshold` bytes
    /// (default 256 KiB), gives the read buffer's spare capacity back, as
    /// [`LineCodec::with_release_threshold`] describes.
    ///
    /// ```
    /// use aqueduct_framing::Utf8LineCodec;
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = Utf8LineCodec::new()
    ///     .with_max_length(1 << 20)
    ///     .with_release_threshold(1024);
    /// let mut buf = BytesMut::with_capacity(1 << 20);
    /// buf.extend_from_slice("é".repeat(50_000).as_bytes());
    /// buf.extend_from_slice(b"\nnext");
    /// assert_eq!(codec.decode(&mut buf)?.unwrap().chars().count(), 50_000);
    /// assert!(buf.capacity() <= 1024);
    /// # Ok::<(), aqueduct_framing::FrameError>(())
    /// ```
    #[must_use]
    pub fn with_release_threshold(self, threshold: usize) -> Self {
        Self {
            inner: self.inner.with_release_threshold(threshold),
        }
    }
}

/// Takes every setting of the line codec, and validates its lines.
///
/// ```
/// use aqueduct_framing::{LineCodec, Utf8LineCodec};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let lines = LineCodec::new().with_max_length(16).with_partial_at_eof(true);
/// let mut codec = Utf8LineCodec::from(lines);
/// assert_eq!(codec.max_length(), 16);
/// assert_eq!(codec.decode_eof(&mut BytesMut::from("zoë"))?.unwrap(), "zoë");
/// # Ok::<(), aqueduct_framing::FrameError>(())
/// ```
impl From<LineCodec> for Utf8LineCodec {
    fn from(mut inner: LineCodec) -> Self {
        inner.utf8 = true;
        Self { inner }
    }
}

impl Decoder for Utf8LineCodec {
    type Item = Utf8Bytes;
    type Error = FrameError;

    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Utf8Bytes>, FrameError> {
        // The inner codec validates each line when `utf8` is set.
        Ok(self.inner.decode_line(buf)?.map(Utf8Bytes))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Utf8Bytes>, FrameError> {
        Ok(self.inner.decode_line_eof(buf)?.map(Utf8Bytes))
    }
}

encoders!(Utf8LineCodec, encode_line:
    &str => |line| line.as_bytes(),
    String => |line| line.as_bytes(),
    &[u8] => |line| text(line)?,
    Vec<u8> => |line| text(&line)?,
    Bytes => |line| text(&line)?,
    Utf8Bytes => |line| line.as_bytes(),
);

/// `bytes`, if they are UTF-8.
fn text(bytes: &[u8]) -> Result<&[u8], FrameError> {
    match check_utf8(bytes) {
        Ok(_) => Ok(bytes),
        Err(source) => Err(FrameError::PayloadNotUtf8 { source }),
    }
}

impl Utf8LineCodec {
    fn encode_line(&self, line: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        self.inner.encode_line(line, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Encoder;

    /// The searcher chosen once finds what a plain scan finds, at every
    /// length (below, at and above a vector's width) and position.
    #[test]
    fn find_newline_finds_the_first_newline_at_any_length_and_position() {
        for len in 0..200 {
            let hay = vec![b'x'; len];
            assert_eq!(find_newline(&hay), None, "len {len}");
            for at in 0..len {
                let mut hay = hay.clone();
                hay[at] = b'\n';
                if at + 7 < len {
                    hay[at + 7] = b'\n';
                }
                assert_eq!(find_newline(&hay), Some(at), "len {len}, at {at}");
                // Offset views start at any alignment.
                assert_eq!(
                    find_newline(&hay[1.min(len)..]),
                    hay[1.min(len)..].iter().position(|&b| b == b'\n')
                );
            }
        }
    }

    /// Feeds `input` to `codec` in 4 KiB reads; the frames it yields.
    fn in_4k_reads<D: Decoder>(codec: &mut D, input: &[u8]) -> Vec<D::Item>
    where
        D::Error: fmt::Debug,
    {
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in input.chunks(4096) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        frames
    }

    #[test]
    fn one_mebibyte_line_in_4k_chunks_is_scanned_once() {
        let len = 1 << 20;
        let mut codec = LineCodec::new().with_max_length(len);
        let mut input = vec![b'a'; len];
        input.push(b'\n');
        let lines = in_4k_reads(&mut codec, &input);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), len);
        assert_eq!(codec.scanned, len + 1, "every byte searched exactly once");
    }

    #[test]
    fn one_mebibyte_text_line_in_4k_chunks_is_validated_once() {
        let text = "añb€c𝄞".repeat((1 << 20) / 12);
        let mut codec = Utf8LineCodec::new().with_max_length(text.len());
        let mut input = text.clone().into_bytes();
        input.extend_from_slice(b"\r\nok\n");
        // 4 KiB reads cut characters of two, three and four bytes.
        let lines = in_4k_reads(&mut codec, &input);
        assert_eq!(lines, [text.as_str(), "ok"]);
        assert_eq!(codec.inner.scanned, input.len(), "searched once");
        assert_eq!(
            codec.inner.validated,
            text.len() + 2,
            "each line validated once, when complete"
        );
    }

    #[test]
    fn max_length_crlf_line_fed_a_byte_at_a_time_is_scanned_once() {
        // The hostile case for a resuming scan: every call brings one byte,
        // and the last two are the `\r` just past the maximum (which must
        // wait) and the `\n`. Work stays one search per byte.
        let len = 64 * 1024;
        let mut codec = LineCodec::new().with_max_length(len);
        let mut input = vec![b'a'; len];
        input.extend_from_slice(b"\r\nok\n");
        let mut buf = BytesMut::new();
        let mut lines = Vec::new();
        for byte in &input {
            buf.extend_from_slice(std::slice::from_ref(byte));
            while let Some(line) = codec.decode(&mut buf).unwrap() {
                lines.push(line);
            }
        }
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), len);
        assert_eq!(lines[1], "ok");
        assert_eq!(
            codec.scanned,
            input.len(),
            "every byte searched exactly once"
        );
    }

    #[test]
    fn max_plus_one_without_newline_waits_for_possible_crlf() {
        let mut codec = LineCodec::new().with_max_length(4);
        let mut buf = BytesMut::from("abcd\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "abcd");
    }

    #[test]
    fn too_long_then_discards_across_calls() {
        let mut codec = LineCodec::new().with_max_length(4);
        let mut buf = BytesMut::from("abcdefgh");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLong { len: 8, max: 4 })
        ));
        assert!(buf.is_empty());
        buf.extend_from_slice(b"ijkl");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"mn\nok\n");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "ok");
    }

    #[test]
    fn encoder_rejects_newline_and_trailing_cr() {
        let mut codec = LineCodec::new();
        let mut out = BytesMut::new();
        assert!(matches!(
            codec.encode("a\nb", &mut out),
            Err(FrameError::DelimiterInPayload { position: 1 })
        ));
        assert!(matches!(
            codec.encode("ab\r", &mut out),
            Err(FrameError::DelimiterInPayload { position: 2 })
        ));
        assert!(out.is_empty());
        let mut crlf = LineCodec::new().with_crlf(true);
        crlf.encode("ab\r", &mut out).unwrap();
        assert_eq!(&out[..], b"ab\r\r\n");
    }

    /// Exercises the one `unsafe` block (`Utf8Bytes::as_str`) on text
    /// decoded from a shared read buffer; run under miri with
    /// `cargo +nightly miri test -p aqueduct-framing --lib utf8_bytes`.
    #[test]
    fn utf8_bytes_from_decoded_lines_read_as_str() {
        let mut codec = Utf8LineCodec::new();
        let mut buf = BytesMut::from("añb\r\n€uro\n\nlast");
        let first = codec.decode(&mut buf).unwrap().unwrap();
        let second = codec.decode(&mut buf).unwrap().unwrap();
        let third = codec.decode(&mut buf).unwrap().unwrap();
        drop(buf);
        let copy = second.clone();
        assert_eq!(first.as_str(), "añb");
        assert_eq!(copy.chars().count(), 4);
        assert_eq!(&*third, "");
        assert_eq!(second.into_bytes(), "€uro".as_bytes());
        assert_eq!(Utf8Bytes::from(String::from("ü")).as_str(), "ü");
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xc3")).is_err());
    }

    #[test]
    fn invalid_utf8_keeps_the_stream_in_sync() {
        let mut codec = Utf8LineCodec::new();
        let mut buf = BytesMut::from(&b"\xff\xfe\nfine\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::InvalidUtf8 { .. })
        ));
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "fine");
    }

    /// Text long enough for the SIMD check, each sort of invalid sequence
    /// placed behind ASCII, behind multi-byte text and at the very end:
    /// the check agrees with std's, error position included.
    #[test]
    fn utf8_check_agrees_with_std_on_long_text() {
        let prefixes: [&[u8]; 3] = [
            &[b'a'; 100],
            "漢字とかなの文章、ελληνικά, émoji 🦀 ".as_bytes(),
            b"",
        ];
        let bad: [&[u8]; 8] = [
            b"\xff",             // never valid
            b"\x80",             // continuation without a lead
            b"\xc3",             // lead without its continuation
            b"\xe6\xbc",         // three-byte character cut short
            b"\xc0\xaf",         // overlong '/'
            b"\xed\xa0\x80",     // a UTF-16 surrogate
            b"\xf4\x90\x80\x80", // above U+10FFFF
            b"\xf8\x88\x80\x80", // five-byte lead
        ];
        for prefix in prefixes {
            for bad in bad {
                for suffix in [&b""[..], "つづき".as_bytes(), &[b'z'; 80]] {
                    let input = [prefix, bad, suffix].concat();
                    let std = std::str::from_utf8(&input).map(drop);
                    assert!(std.is_err());
                    assert_eq!(check_utf8(&input), std, "{input:x?}");
                }
            }
            let good = [prefix, "終わり".repeat(40).as_bytes()].concat();
            assert!(good.len() > SIMD_BLOCK);
            assert_eq!(check_utf8(&good), Ok(()));
        }
    }

    proptest::proptest! {
        /// Any bytes at all, short or long: the same answer as std.
        #[test]
        fn utf8_check_agrees_with_std_on_any_bytes(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)
        ) {
            proptest::prop_assert_eq!(check_utf8(&bytes), std::str::from_utf8(&bytes).map(drop));
        }

        /// Valid text of any script with one byte changed: mostly invalid,
        /// with the error somewhere inside a long line.
        #[test]
        fn utf8_check_agrees_with_std_on_damaged_text(
            text in "\\PC{20,120}",
            at in proptest::num::usize::ANY,
            byte in proptest::num::u8::ANY,
        ) {
            let mut bytes = text.into_bytes();
            let at = at % bytes.len();
            bytes[at] = byte;
            proptest::prop_assert_eq!(check_utf8(&bytes), std::str::from_utf8(&bytes).map(drop));
        }
    }
}
