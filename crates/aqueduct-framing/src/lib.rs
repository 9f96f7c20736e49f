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
//! next error, which ends the stream for good. A server that answers a bad
//! frame and keeps the connection decodes them from the read buffer first:
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
pub mod writer;

pub use delimiter::DelimiterCodec;
pub use error::FrameError;
pub use fixed::FixedSizeCodec;
pub use length::{Endian, LengthField, LengthPrefixedBuilder, LengthPrefixedCodec, Oversize};
pub use lines::{LineCodec, Utf8Bytes, Utf8LineCodec};
pub use writer::FrameWriter;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
