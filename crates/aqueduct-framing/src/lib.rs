//! Zero-copy, bounded frame codecs for tokio-util's
//! [`Framed`](tokio_util::codec::Framed).
//!
//! Every codec here implements tokio-util's [`Decoder`](tokio_util::codec::Decoder)
//! and [`Encoder`](tokio_util::codec::Encoder), so it plugs into `Framed`,
//! `FramedRead`, `FramedWrite` and `UdpFramed` unchanged. Compared with
//! tokio-util's own codecs they:
//!
//! - never copy a frame: frames are [`Bytes`](bytes::Bytes) (or
//!   [`Utf8Bytes`] for text) split from the read buffer (a frame kept
//!   alive keeps that buffer's allocation alive: copy out what you keep
//!   for long, see [`Utf8Bytes`]'s [Memory](Utf8Bytes#memory) section);
//! - are bounded by default: every codec has a maximum frame length, checked
//!   before memory is reserved, and an over-long frame is a typed
//!   [`FrameError::TooLong`] naming the length and the limit;
//! - resume each search where the last one stopped, however the input is
//!   chunked: a byte is searched once (for a delimiter of several bytes,
//!   only its last `len - 1` bytes are looked at again, as they may begin
//!   one);
//! - report a stream that ends mid-frame as [`FrameError::Truncated`];
//! - give the read buffer's spare capacity back after a very large frame,
//!   and after a stream (or, in `UdpFramed`, a datagram) that ends inside
//!   one: a length header that announced a large frame reserved its room.
//!
//! | codec | module | frames |
//! |---|---|---|
//! | [`LineCodec`], [`Utf8LineCodec`] | [`lines`] | `\n` or `\r\n` terminated lines |
//! | [`LengthPrefixedCodec`] | [`length`] | 1/2/3/4/8-byte or varint length prefix |
//! | [`DelimiterCodec`] | [`delimiter`] | a byte sequence, or any byte of a set |
//! | [`FixedSizeCodec`] | [`fixed`] | exactly `n` bytes |
//! | [`FrameWriter`] | [`writer`] | length-prefixed, written with one `writev` and no copy |
//! | [`FrameReader`] | [`reader`] | any codec's frames; the stream goes on after a bad frame |
//!
//! Each module's docs draw its wire format byte by byte.
//!
//! ```
//! use aqueduct_framing::LineCodec;
//! use futures::StreamExt;
//! use tokio_util::codec::FramedRead;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), aqueduct_framing::FrameError> {
//! let input: &[u8] = b"one\r\ntwo\n";
//! let mut lines = FramedRead::new(input, LineCodec::new());
//! assert_eq!(lines.next().await.unwrap()?, "one");
//! assert_eq!(lines.next().await.unwrap()?, "two");
//! assert!(lines.next().await.is_none());
//! # Ok(()) }
//! ```
//!
//! # Coming from tokio-util
//!
//! | tokio-util | here |
//! |---|---|
//! | `LinesCodec::new()` (no limit) | [`Utf8LineCodec::new()`](Utf8LineCodec::new) (64 KiB limit), or [`LineCodec`] for lines as bytes |
//! | `LinesCodec::new_with_max_length(n)` | `Utf8LineCodec::new().with_max_length(n)` |
//! | `LengthDelimitedCodec::new()` | [`LengthPrefixedCodec::new()`](LengthPrefixedCodec::new): the same 4-byte big-endian field and 8 MiB maximum |
//! | `LengthDelimitedCodec::builder()` | [`LengthPrefixedCodec::builder()`](LengthPrefixedCodec::builder) |
//! | `.length_field_length(n)`, `.length_field_type::<u16>()` | [`.length_field_width(n)`](LengthPrefixedBuilder::length_field_width) (1, 2, 3, 4 or 8), [`.length_field(LengthField::U16)`](LengthPrefixedBuilder::length_field); also [`.varint()`](LengthPrefixedBuilder::varint) |
//! | `.big_endian()`, `.little_endian()`, `.native_endian()`, `.length_field_offset(n)` | the same |
//! | `.length_adjustment(n)` (header skipped, the default) | `.length_adjustment(n)` |
//! | `.length_adjustment(n).num_skip(0)` (header kept) | `.length_adjustment(n - offset - width).strip_header(false)` |
//! | `.num_skip(k)`, other `k` | no equivalent: keep the header, then [`Bytes::slice`](bytes::Bytes::slice) the frame |
//! | `.max_frame_length(n)` | `.max_frame_length(n)` |
//! | `.new_codec()`, `.new_read(io)`, `.new_write(io)`, `.new_framed(io)` | [`.build()`](LengthPrefixedBuilder::build), the same three |
//! | `AnyDelimiterCodec::new(seek, write)` | [`DelimiterCodec::any_of(&seek)`](DelimiterCodec::any_of), or [`DelimiterCodec::new(seq)`](DelimiterCodec::new) when frames end with a whole sequence of bytes |
//! | `AnyDelimiterCodec::new_with_max_length(seek, write, n)` | `DelimiterCodec::any_of(&seek).with_max_length(n)` |
//! | `LinesCodecError::MaxLineLengthExceeded`, `AnyDelimiterCodecError::MaxChunkLengthExceeded`, `LengthDelimitedCodecError` | [`FrameError::TooLong { len, max }`](FrameError::TooLong) |
//! | a stream that ends inside a frame: the tail as a last line or chunk (lines, delimiters), a "bytes remaining on stream" I/O error (length) | [`FrameError::Truncated { buffered }`](FrameError::Truncated); [`.with_partial_at_eof(true)`](LineCodec::with_partial_at_eof) yields the tail |
//!
//! What differs beyond the names:
//!
//! - **Bounded by default.** `LinesCodec::new()` and `AnyDelimiterCodec::new`
//!   accept frames of any length, so a peer that never sends a newline
//!   fills memory; here lines and delimited frames stop at 64 KiB unless
//!   told otherwise. A line's limit does not count its `\r\n`: a line of
//!   exactly `max` bytes ending in `\r\n` is accepted, where `LinesCodec`
//!   counts the `\r` and refuses it.
//! - **Frames are not copied.** `LinesCodec` yields a `String` copied out
//!   of the read buffer; [`Utf8LineCodec`] yields [`Utf8Bytes`], text that
//!   shares the buffer and dereferences to `str` (`String::from` copies it
//!   where a `String` is needed), and [`LineCodec`] yields the line's
//!   [`Bytes`](bytes::Bytes) without checking UTF-8.
//! - **One typed error.** Every codec's error is [`FrameError`], whose
//!   variants name the limit and the value. It converts from `io::Error`
//!   (as `Framed` requires) and into one, keeping itself inside, for code
//!   that speaks `io::Result` (see its `From` implementation). Text that is
//!   not UTF-8 is [`FrameError::InvalidUtf8`], not an `InvalidData` I/O
//!   error.
//! - **The stream goes on after an over-long frame.** Like `LinesCodec`,
//!   the line and delimiter codecs drop an over-long frame through its
//!   terminator and decode the next one. `LengthDelimitedCodec` leaves an
//!   over-long header in the buffer, so decoding again fails again;
//!   [`LengthPrefixedCodec`] consumes it and skips that frame's payload
//!   (or, under [`Oversize::Skip`], skips it without an error at all).
//! - **The length limit applies to the payload.** `LengthDelimitedCodec`
//!   compares its maximum with the length field's raw value;
//!   [`LengthPrefixedCodec`] compares it with the payload length after
//!   the adjustment. They differ only with a nonzero adjustment.
//! - **A truncated stream is reported.** At end of stream, `LinesCodec` and
//!   `AnyDelimiterCodec` yield an unterminated tail as a last frame; here
//!   it is [`FrameError::Truncated`] unless the codec is built
//!   [`with_partial_at_eof(true)`](LineCodec::with_partial_at_eof).
//! - **Encoders refuse what would not read back.** A line holding `\n`, a
//!   frame holding its delimiter, a payload over the maximum or one the
//!   length field cannot express is an error, and nothing is written.
//!   `LinesCodec` and `AnyDelimiterCodec` write them as given. Encoders
//!   take `&str`, `String`, `&[u8]`, `Vec<u8>`, `Bytes` and [`Utf8Bytes`],
//!   not any `AsRef<str>` as `LinesCodec`'s does: send a `&String` as
//!   `s.as_str()`, a `Cow<str>` as `&*s`.
//! - **What the encoders write.** [`DelimiterCodec::any_of`] ends each
//!   frame with the set's first byte, where `AnyDelimiterCodec` writes
//!   the separate `sequence_writer` it was given: put the byte to write
//!   first in the set (`new(b",;".to_vec(), b";".to_vec())` becomes
//!   `any_of(b";,")`). With a length field offset,
//!   `LengthDelimitedCodec`'s encoder writes no bytes before the field, so
//!   its decoder cannot read its own frames back; [`LengthPrefixedCodec`]
//!   writes zeros there.
//!
//! The same bytes, decoded by both:
//!
//! ```
//! use aqueduct_framing::{DelimiterCodec, LengthPrefixedCodec, Utf8LineCodec};
//! use bytes::BytesMut;
//! use tokio_util::codec::{AnyDelimiterCodec, Decoder, Encoder, LengthDelimitedCodec, LinesCodec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Lines. LinesCodec yields the unterminated tail at end of stream.
//! let wire = "GET /\r\nHost: a\ntail";
//! let mut theirs = LinesCodec::new_with_max_length(1024);
//! let mut ours = Utf8LineCodec::new().with_max_length(1024).with_partial_at_eof(true);
//! let (mut a, mut b) = (BytesMut::from(wire), BytesMut::from(wire));
//! while let Some(line) = theirs.decode_eof(&mut a)? {
//!     let mine = ours.decode_eof(&mut b)?.unwrap();
//!     assert_eq!(line, mine);
//!     let _owned: String = mine.into(); // a copy, only where a String is needed
//! }
//! assert_eq!(ours.decode_eof(&mut b)?, None);
//!
//! // Encoding writes the same bytes; a `&String` goes in as a `&str`.
//! let reply = String::from("PONG");
//! theirs.encode(&reply, &mut a)?;
//! ours.encode(reply.as_str(), &mut b)?;
//! assert_eq!((&a[..], &b[..]), (&b"PONG\n"[..], &b"PONG\n"[..]));
//!
//! // A 1-byte tag, then a 2-byte little-endian length counting the whole
//! // frame, header kept.
//! let wire = &b"\x07\x05\x00hi"[..];
//! let mut theirs = LengthDelimitedCodec::builder()
//!     .length_field_offset(1)
//!     .length_field_length(2)
//!     .little_endian()
//!     .length_adjustment(0)
//!     .num_skip(0)
//!     .new_codec();
//! let mut ours = LengthPrefixedCodec::builder()
//!     .length_field_offset(1)
//!     .length_field_width(2)
//!     .little_endian()
//!     .length_adjustment(0 - 1 - 2)
//!     .strip_header(false)
//!     .build();
//! let frame = theirs.decode(&mut BytesMut::from(wire))?.unwrap();
//! assert_eq!(frame, ours.decode(&mut BytesMut::from(wire))?.unwrap());
//!
//! // Any byte of a set; the one the encoder writes comes first.
//! let wire = "a,b;c,";
//! let mut theirs = AnyDelimiterCodec::new(b",;".to_vec(), b";".to_vec());
//! let mut ours = DelimiterCodec::any_of(b";,");
//! let (mut a, mut b) = (BytesMut::from(wire), BytesMut::from(wire));
//! while let Some(chunk) = theirs.decode(&mut a)? {
//!     assert_eq!(chunk, ours.decode(&mut b)?.unwrap());
//! }
//! assert_eq!(ours.decode(&mut b)?, None);
//! theirs.encode("d", &mut a)?;
//! ours.encode("d", &mut b)?;
//! assert_eq!((&a[..], &b[..]), (&b"d;"[..], &b"d;"[..]));
//! # Ok(()) }
//! ```
//!
//! Where they part, the errors here name the limit, and the stream goes on:
//!
//! ```
//! use aqueduct_framing::{FrameError, LengthPrefixedCodec, Oversize};
//! use bytes::{BufMut, BytesMut};
//! use tokio_util::codec::Decoder;
//!
//! let mut codec = LengthPrefixedCodec::builder().max_frame_length(4).build();
//! let mut buf = BytesMut::new();
//! buf.put_u32(9);
//! buf.put_slice(b"too long!");
//! buf.put_u32(2);
//! buf.put_slice(b"ok");
//! let err = codec.decode(&mut buf).unwrap_err();
//! assert!(matches!(err, FrameError::TooLong { len: 9, max: 4 }));
//! assert_eq!(&codec.decode(&mut buf)?.unwrap()[..], b"ok");
//!
//! // A stream that ends inside a frame.
//! let err = codec.decode_eof(&mut BytesMut::from(&b"\0\0\0\x03ab"[..])).unwrap_err();
//! assert!(matches!(err, FrameError::Truncated { buffered: 6 }));
//! # Ok::<(), FrameError>(())
//! ```
//!
//! # Codecs as values
//!
//! Every codec is `Send`, `Sync`, `Clone` and `Debug`, and those whose
//! settings all have defaults ([`LineCodec`], [`Utf8LineCodec`],
//! [`LengthPrefixedCodec`]) are `Default`. Apart from [`FixedSizeCodec`],
//! which holds only its size, a codec also holds the state of the stream it
//! decodes: where its last search stopped, an over-long frame being
//! discarded, a length-prefixed header already read or a payload being
//! skipped, the count of [skipped
//! frames](LengthPrefixedCodec::skipped_frames). A clone carries that
//! state: given a copy of the read buffer, it goes on exactly where the
//! original is; given another stream, it would misread that stream's first
//! bytes. For a codec per connection,
//! clone one that has not decoded:
//!
//! ```
//! use aqueduct_framing::LineCodec;
//! use tokio_util::codec::FramedRead;
//!
//! let template = LineCodec::new().with_max_length(1024).with_crlf(true);
//! let first = FramedRead::new(&b"one\n"[..], template.clone());
//! let second = FramedRead::new(&b"two\n"[..], template.clone());
//! assert_eq!(first.decoder().max_length(), 1024);
//! assert_eq!(second.decoder().max_length(), 1024);
//! ```
//!
//! # In `Framed` and `FramedRead`
//!
//! A stream that ends on a frame boundary ends with `None`. One that ends
//! inside a frame yields [`FrameError::Truncated`] as its last item, then
//! `None` for good.
//!
//! After any other decoding error (an over-long frame, a bad length, a
//! line that is not UTF-8), `Framed` and `FramedRead` yield `None` once,
//! so a `while let Some(..)` loop ends there. The connection is not over:
//! polled again, the stream goes on where the codec does (after an
//! over-long frame, with the next frame: see each codec's docs), but only
//! after its next read. Frames that came in the same read as the bad one
//! wait in the read buffer until more bytes come, so a peer that sent a bad
//! request and a good one together and waits for both replies would wait
//! forever. If the stream ends instead, they are yielded then, up to the
//! next error, which ends the stream for good.
//!
//! A server that answers a bad frame and keeps the connection reads with
//! [`FrameReader`] instead, which yields those frames at once (see the
//! [`reader`] module). With `Framed` or `FramedRead`, it decodes them from
//! the read buffer first:
//!
//! ```
//! use aqueduct_framing::{FrameError, LineCodec};
//! use futures::StreamExt;
//! use tokio::io::AsyncWriteExt;
//! use tokio_util::codec::{Decoder, FramedRead};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), FrameError> {
//! let (mut peer, socket) = tokio::io::duplex(1024);
//! peer.write_all(b"far too long\nPING\n").await?; // and waits for replies
//! let mut lines = FramedRead::new(socket, LineCodec::new().with_max_length(8));
//! let err = lines.next().await.unwrap().unwrap_err();
//! assert!(matches!(err, FrameError::TooLong { len: 12, max: 8 }));
//! assert!(lines.next().await.is_none());
//! // `lines.next()` would now wait for the peer: PING is buffered already.
//! let mut codec = lines.decoder().clone();
//! while let Some(line) = codec.decode(lines.read_buffer_mut())? {
//!     assert_eq!(line, "PING");
//! }
//! *lines.decoder_mut() = codec;
//! // Then the stream goes on with the peer's next bytes.
//! peer.write_all(b"QUIT\n").await?;
//! assert_eq!(lines.next().await.unwrap()?, "QUIT");
//! # Ok(()) }
//! ```
//!
//! An over-long length-prefixed frame under [`Oversize::Skip`] is no error:
//! the stream never stops for it.
//!
//! # In `UdpFramed`
//!
//! `UdpFramed` sends each frame as a datagram of its own, and decodes each
//! datagram on its own with `decode_eof`: a datagram may hold several
//! frames, and what follows its last whole frame is
//! [`FrameError::Truncated`] and dropped. Whatever a datagram leaves
//! unfinished (part of a frame, an over-long frame being discarded or
//! skipped) ends with it, and the next datagram starts with a new frame.
//! An empty datagram yields nothing. After an error `UdpFramed` goes on
//! with the next frame or datagram: the stream does not end.
//!
//! Many datagram protocols leave the newline (or delimiter) off the last
//! line of a datagram. For those, allow a final unterminated frame with
//! [`LineCodec::with_partial_at_eof`] (or [`Utf8LineCodec`]'s and
//! [`DelimiterCodec`]'s): a datagram `a\nb` is then the lines `a` and `b`,
//! instead of `a` and a `Truncated` error. The encoders always write the
//! terminator, which either setting reads.
//!
//! ```
//! use aqueduct_framing::LineCodec;
//! use futures::StreamExt;
//! use tokio::net::UdpSocket;
//! use tokio_util::udp::UdpFramed;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = UdpSocket::bind("127.0.0.1:0").await?;
//! let addr = socket.local_addr()?;
//! let mut metrics = UdpFramed::new(socket, LineCodec::new().with_partial_at_eof(true));
//!
//! let peer = UdpSocket::bind("127.0.0.1:0").await?;
//! peer.send_to(b"hits:1|c\nload:7|g", addr).await?;
//! let (line, from) = metrics.next().await.unwrap()?;
//! assert_eq!((line, from), ("hits:1|c".into(), peer.local_addr()?));
//! assert_eq!(metrics.next().await.unwrap()?.0, "load:7|g");
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is this workspace's model-checking build, not a user's choice.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]

/// Implements `Encoder<T>` for a codec by handing `$method` the payload's
/// bytes: for the six payload types every codec takes, framed as they are,
/// or for the types and conversions given.
macro_rules! encoders {
    ($codec:ty, $method:ident) => {
        encoders!($codec, $method:
            &[u8] => |payload| payload,
            &str => |payload| payload.as_bytes(),
            Vec<u8> => |payload| &payload,
            String => |payload| payload.as_bytes(),
            bytes::Bytes => |payload| &payload,
            $crate::Utf8Bytes => |payload| payload.as_bytes(),
        );
    };
    ($codec:ty, $method:ident: $($item:ty => |$v:ident| $bytes:expr),* $(,)?) => {$(
        impl tokio_util::codec::Encoder<$item> for $codec {
            type Error = $crate::FrameError;

            fn encode(
                &mut self,
                $v: $item,
                dst: &mut bytes::BytesMut,
            ) -> Result<(), $crate::FrameError> {
                self.$method($bytes, dst)
            }
        }
    )*};
}

mod buf;
pub mod delimiter;
pub mod error;
pub mod fixed;
pub mod length;
pub mod lines;
pub mod reader;
pub mod writer;

pub use delimiter::DelimiterCodec;
pub use error::FrameError;
pub use fixed::FixedSizeCodec;
pub use length::{Endian, LengthField, LengthPrefixedBuilder, LengthPrefixedCodec, Oversize};
pub use lines::{LineCodec, Utf8Bytes, Utf8LineCodec};
pub use reader::FrameReader;
pub use writer::FrameWriter;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
